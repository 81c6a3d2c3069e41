//! What a session waits for from the server: the room's copy of each line
//! it said, and the answer to each `/ping` it sent.
//!
//! The server sends a user's lines back in the order it said them, and
//! answers a `/ping` after everything it owed the asker when it read it,
//! the copies of the asker's earlier lines included (docs/protocol.md). So:
//! a copy that comes settles every line said before it too (those were
//! refused: a line too long, the room's log away), and a pong settles
//! every line said before its ping.
//!
//! # Invariants
//! - `copies` is in the order the lines were said (`seq` increasing), at
//!   most [`MAX_COPIES`]; `pings` in the order sent, at most [`MAX_PINGS`].
//! - Each ping's mark is the `seq` of the last line said before it.

use std::collections::VecDeque;

/// The most lines kept waiting for their copy; past it the oldest is
/// forgotten (the server has not answered for a long time: the user was
/// told already).
pub(crate) const MAX_COPIES: usize = 64;

/// The most pings unanswered at once; no more are sent until one is.
pub(crate) const MAX_PINGS: usize = 4;

/// The session's waits. See the module doc.
#[derive(Debug, Default)]
pub(crate) struct Awaiting {
    /// `(seq, copy)`: each line said and the room line that will be its copy.
    copies: VecDeque<(u64, String)>,
    /// `(token, mark)`: each ping sent and the `seq` of the last line said before it.
    pings: VecDeque<(String, u64)>,
    /// Lines said so far: the `seq` of the last one.
    said: u64,
    /// Pings sent so far: numbers the tokens.
    pinged: u64,
}

/// What a received line was to the session's waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The answer to one of our pings: not for the user's eyes.
    Pong,
    /// Anything else (a copy of ours included): shown.
    Other,
}

impl Awaiting {
    /// A line was said whose room copy will read `copy`.
    pub(crate) fn said(&mut self, copy: String) {
        self.said += 1;
        if self.copies.len() == MAX_COPIES {
            self.copies.pop_front();
        }
        self.copies.push_back((self.said, copy));
    }

    /// A new ping's token, or `None` while [`MAX_PINGS`] are unanswered.
    pub(crate) fn ping(&mut self) -> Option<String> {
        if self.pings.len() >= MAX_PINGS {
            return None;
        }
        self.pinged += 1;
        let token = format!("client-{}", self.pinged);
        self.pings.push_back((token.clone(), self.said));
        Some(token)
    }

    /// Pings sent and not answered yet.
    pub(crate) fn pings(&self) -> usize {
        self.pings.len()
    }

    /// `(seq, copy)` of each line said whose copy has not come, oldest first.
    pub(crate) fn copies(&self) -> impl Iterator<Item = (u64, &str)> {
        self.copies.iter().map(|(seq, copy)| (*seq, copy.as_str()))
    }

    /// A line from the server: a pong with one of our tokens (`token`, the
    /// text after `pong `) settles its ping and the lines said before it;
    /// a copy of ours settles its line and the ones before it.
    pub(crate) fn on_line(&mut self, line: &str, token: Option<&str>) -> Answer {
        if let Some(at) = token.and_then(|t| self.pings.iter().position(|(p, _)| p == t)) {
            let mark = self.pings[at].1;
            self.pings.drain(..=at);
            self.settle_through(mark);
            return Answer::Pong;
        }
        if let Some(at) = self.copies.iter().position(|(_, copy)| copy == line) {
            self.copies.drain(..=at);
        }
        Answer::Other
    }

    /// The oldest ping was refused (a server without `/ping`): it settles
    /// as its pong would have.
    pub(crate) fn ping_refused(&mut self) {
        if let Some((_, mark)) = self.pings.pop_front() {
            self.settle_through(mark);
        }
    }

    fn settle_through(&mut self, mark: u64) {
        while self.copies.front().is_some_and(|(seq, _)| *seq <= mark) {
            self.copies.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(a: &Awaiting) -> Vec<&str> {
        a.copies().map(|(_, copy)| copy).collect()
    }

    #[test]
    fn a_copy_settles_its_line_and_the_refused_ones_before_it() {
        let mut a = Awaiting::default();
        for copy in ["me: one", "me: two", "me: three"] {
            a.said(copy.to_string());
        }
        assert_eq!(a.on_line("bob: me: two", None), Answer::Other);
        assert_eq!(waiting(&a), ["me: one", "me: two", "me: three"]);
        assert_eq!(a.on_line("me: two", None), Answer::Other);
        assert_eq!(waiting(&a), ["me: three"]);
        let numbers: Vec<u64> = a.copies().map(|(seq, _)| seq).collect();
        assert_eq!(numbers, [3]);
    }

    #[test]
    fn a_pong_settles_its_ping_and_the_lines_said_before_it() {
        let mut a = Awaiting::default();
        a.said("me: before".into());
        let first = a.ping().expect("room for a ping");
        a.said("me: after".into());
        let second = a.ping().expect("room for a ping");
        assert_eq!(a.pings(), 2);
        assert_eq!(
            a.on_line("pong someone-else", Some("someone-else")),
            Answer::Other
        );
        assert_eq!(
            a.on_line(&format!("pong {first}"), Some(&first)),
            Answer::Pong
        );
        assert_eq!(waiting(&a), ["me: after"]);
        assert_eq!(a.pings(), 1);
        // Answered again: no longer ours, so shown.
        assert_eq!(
            a.on_line(&format!("pong {first}"), Some(&first)),
            Answer::Other
        );
        assert_eq!(
            a.on_line(&format!("pong {second}"), Some(&second)),
            Answer::Pong
        );
        assert!(waiting(&a).is_empty());
        assert_eq!(a.pings(), 0);
    }

    #[test]
    fn waits_are_bounded() {
        let mut a = Awaiting::default();
        for n in 0..MAX_COPIES + 3 {
            a.said(format!("me: {n}"));
        }
        assert_eq!(a.copies().count(), MAX_COPIES);
        assert_eq!(a.copies().next(), Some((4, "me: 3")));
        let tokens: Vec<String> = std::iter::from_fn(|| a.ping()).take(10).collect();
        assert_eq!(tokens.len(), MAX_PINGS);
        assert_eq!(tokens[0], "client-1");
        a.ping_refused();
        assert_eq!(a.pings(), MAX_PINGS - 1);
        assert!(
            a.copies().next().is_none(),
            "the refused ping settled the lines before it"
        );
    }
}
