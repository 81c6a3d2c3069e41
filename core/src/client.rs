//! The client side of the protocol, sans-IO: answers `alias?`, frames what
//! the user types, splits what the server sends into lines.
//!
//! ```
//! use chat_core::client::{ClientEvent, Compat, Session};
//!
//! let mut session = Session::new(Compat::Framed, Some("alice".to_string()));
//! session.handle_received(b"alias?");
//! assert_eq!(session.poll_event(), Some(ClientEvent::NickSent("alice".into())));
//! assert_eq!(session.poll_transmit().as_deref(), Some(&b"alice\n"[..]));
//! session.handle_received(b"alice joined the chat\nYou are connected to the server!\n");
//! assert_eq!(session.poll_event(), Some(ClientEvent::Line("alice joined the chat".into())));
//! assert_eq!(session.poll_event(), Some(ClientEvent::Line("You are connected to the server!".into())));
//! assert!(session.is_joined());
//! session.send_line("hello");
//! assert_eq!(session.poll_transmit().as_deref(), Some(&b"hello\n"[..]));
//! ```
//!
//! # Invariants
//! - Every [`ClientEvent::Line`] is clean text (see the server's scrubbing):
//!   a hostile server cannot drive the user's terminal either.
//! - The receive buffer holds at most [`MAX_PENDING`] bytes: a longer line
//!   with no terminator is shown in pieces.

use crate::command::{self, Request};
use crate::{nick, text, wire};
use std::collections::VecDeque;

/// The most bytes of an unfinished line kept before it is shown as it is.
pub const MAX_PENDING: usize = 64 * 1024;

/// Which server dialect the session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// This project's protocol: lines end with `\n`.
    Framed,
    /// The seed's Python server: nick and messages sent with no terminator,
    /// own messages prefixed `NICK: `, every received chunk is one line.
    Seed,
}

/// What the session has to tell the user interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A line from the server, terminator removed, control characters scrubbed.
    Line(String),
    /// The server asked for a nick and the session answered with this one.
    NickSent(String),
    /// The server asked for a nick (again, after a rejection, or because none
    /// was given): answer with [`Session::send_nick`].
    NickWanted,
}

/// One client connection's protocol state.
#[derive(Debug)]
pub struct Session {
    compat: Compat,
    /// The nick to answer the next `alias?` with, taken when used.
    next_nick: Option<String>,
    /// The nick last sent.
    nick: Option<String>,
    received: Vec<u8>,
    events: VecDeque<ClientEvent>,
    transmit: Vec<u8>,
    joined: bool,
    /// The user asked to leave.
    leaving: bool,
    /// The transport should close its sending side once `transmit` is written.
    close_write: bool,
}

impl Session {
    /// A session that will answer the first `alias?` with `nick`, if given.
    pub fn new(compat: Compat, nick: Option<String>) -> Self {
        Session {
            compat,
            next_nick: nick,
            nick: None,
            received: Vec::new(),
            events: VecDeque::new(),
            transmit: Vec::new(),
            joined: false,
            leaving: false,
            close_write: false,
        }
    }

    /// Feeds bytes read from the server.
    pub fn handle_received(&mut self, bytes: &[u8]) {
        match self.compat {
            Compat::Framed => self.received_framed(bytes),
            Compat::Seed => self.received_seed(bytes),
        }
    }

    fn received_framed(&mut self, bytes: &[u8]) {
        self.received.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(at) = self.received[start..].iter().position(|&b| b == b'\n') {
            let line = &self.received[start..start + at];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = text::clean(line).into_owned();
            start += at + 1;
            self.show(line);
        }
        self.received.drain(..start);
        if self.received == wire::PROMPT.as_bytes() {
            self.received.clear();
            self.on_prompt();
        } else if self.received.len() > MAX_PENDING {
            let line = text::clean(&self.received).into_owned();
            self.received.clear();
            self.show(line);
        }
    }

    /// The seed server sends no terminators: each read is shown as it is.
    fn received_seed(&mut self, bytes: &[u8]) {
        if bytes == wire::PROMPT.as_bytes() {
            self.on_prompt();
            return;
        }
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                self.show(text::clean(line).into_owned());
            }
        }
        if self.nick.is_some() {
            self.joined = true;
        }
    }

    fn show(&mut self, line: String) {
        if line == wire::CONNECTED {
            self.joined = true;
        }
        self.events.push_back(ClientEvent::Line(line));
    }

    fn on_prompt(&mut self) {
        match self.next_nick.take() {
            Some(nick) => {
                self.send_nick(&nick);
                self.events.push_back(ClientEvent::NickSent(nick));
            }
            None => self.events.push_back(ClientEvent::NickWanted),
        }
    }

    /// The server closed the connection: a partial last line becomes a line.
    pub fn handle_eof(&mut self) {
        if !self.received.is_empty() {
            let line = text::clean(&self.received).into_owned();
            self.received.clear();
            self.show(line);
        }
    }

    /// Answers a [`ClientEvent::NickWanted`].
    pub fn send_nick(&mut self, nick: &str) {
        self.transmit.extend_from_slice(nick.as_bytes());
        if self.compat == Compat::Framed {
            self.transmit.push(b'\n');
        }
        self.nick = Some(nick.to_string());
    }

    /// Sends one line the user typed (a command if it starts with `/`). Line
    /// breaks inside it send several lines; empty lines send nothing. After
    /// a `/quit` the session is [leaving](Session::is_leaving) and sends
    /// nothing more.
    pub fn send_line(&mut self, line: &str) {
        for line in line.lines().filter(|line| !line.trim().is_empty()) {
            if self.leaving {
                return;
            }
            if matches!(command::parse(line.trim()), Request::Quit(_)) {
                self.quit_with(line);
                return;
            }
            match self.compat {
                Compat::Framed => {
                    self.transmit.extend_from_slice(line.as_bytes());
                    self.transmit.push(b'\n');
                }
                Compat::Seed => {
                    let nick = self.nick.as_deref().unwrap_or_default();
                    let message = format!("{nick}{}{line}", wire::SAYS);
                    self.transmit.extend_from_slice(message.as_bytes());
                }
            }
        }
    }

    /// Leaves the room: `/quit` to a framed server; the seed's server has no
    /// commands, so there the session asks the transport to close its
    /// sending side instead ([`Session::poll_close_write`]).
    pub fn quit(&mut self) {
        if !self.leaving {
            self.quit_with("/quit");
        }
    }

    fn quit_with(&mut self, quit_line: &str) {
        self.leaving = true;
        match self.compat {
            Compat::Framed => {
                self.transmit.extend_from_slice(quit_line.trim().as_bytes());
                self.transmit.push(b'\n');
            }
            Compat::Seed => self.close_write = true,
        }
    }

    /// Whether the user asked to leave: the server closing the connection
    /// now is the normal end, not a failure.
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// Whether the transport should now close its sending side, once what
    /// [`Session::poll_transmit`] returned is written. `true` once.
    pub fn poll_close_write(&mut self) -> bool {
        std::mem::take(&mut self.close_write)
    }

    /// The next event for the user interface.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.transmit))
        }
    }

    /// Whether the server confirmed the join.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The dialect this session speaks.
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// The nick last sent to the server, if any.
    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }
}

/// What a line from the server is, for showing it (colours, exit messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind<'a> {
    /// `error: …`: the server refused something.
    Error,
    /// `NICK: TEXT`.
    Message {
        /// Who said it.
        nick: &'a str,
    },
    /// `* NICK TEXT`.
    Action {
        /// Who did it.
        nick: &'a str,
    },
    /// `NICK joined the chat`, `NICK left the chat!…`, `OLD is now known as NEW`.
    Notice {
        /// Whom it is about (the old nick for a rename).
        nick: &'a str,
    },
    /// Anything else: server information, private messages, the online list.
    Other,
}

/// Tells what kind of line `line` (terminator removed) is.
///
/// ```
/// use chat_core::client::{classify, LineKind};
/// assert_eq!(classify("bob: hi"), LineKind::Message { nick: "bob" });
/// assert_eq!(classify("* bob waves"), LineKind::Action { nick: "bob" });
/// assert_eq!(classify("bob left the chat! (bye)"), LineKind::Notice { nick: "bob" });
/// assert_eq!(classify("error: slow down"), LineKind::Error);
/// assert_eq!(classify("Online (1): bob"), LineKind::Other);
/// ```
pub fn classify(line: &str) -> LineKind<'_> {
    let is_nick = |word: &str| nick::validate_form(word).is_ok();
    if line.starts_with(wire::ERROR_PREFIX) {
        return LineKind::Error;
    }
    if let Some((nick, _)) = line
        .split_once(wire::SAYS)
        .filter(|(nick, _)| is_nick(nick))
    {
        return LineKind::Message { nick };
    }
    if let Some(rest) = line.strip_prefix(wire::ACTION) {
        let nick = rest.split_once(' ').map_or(rest, |(nick, _)| nick);
        if is_nick(nick) {
            return LineKind::Action { nick };
        }
    }
    let notice = [wire::JOINED, wire::LEFT, wire::RENAMED]
        .iter()
        .find_map(|marker| line.split_once(marker).map(|(nick, _)| nick))
        .filter(|nick| is_nick(nick));
    match notice {
        Some(nick) => LineKind::Notice { nick },
        None => LineKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(session: &mut Session) -> Vec<ClientEvent> {
        std::iter::from_fn(|| session.poll_event()).collect()
    }

    #[test]
    fn prompt_split_across_reads_is_answered_once() {
        let mut session = Session::new(Compat::Framed, Some("bob".into()));
        session.handle_received(b"ali");
        assert_eq!(lines(&mut session), []);
        session.handle_received(b"as?");
        assert_eq!(lines(&mut session), [ClientEvent::NickSent("bob".into())]);
        assert_eq!(session.poll_transmit(), Some(b"bob\n".to_vec()));
    }

    #[test]
    fn rejected_nick_asks_the_user_again() {
        let mut session = Session::new(Compat::Framed, Some("bob".into()));
        session.handle_received(b"alias?");
        session.handle_received(b"error: nick is already taken\nalias?");
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::NickSent("bob".into()),
                ClientEvent::Line("error: nick is already taken".into()),
                ClientEvent::NickWanted
            ]
        );
        session.poll_transmit();
        session.send_nick("bob2");
        assert_eq!(session.poll_transmit(), Some(b"bob2\n".to_vec()));
        assert_eq!(session.nick(), Some("bob2"));
    }

    #[test]
    fn received_lines_are_scrubbed_and_split() {
        let mut session = Session::new(Compat::Framed, None);
        session.handle_received(b"a: \x1b[2Jhi\r\nb: y");
        session.handle_received(b"o\n");
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::Line("a: [2Jhi".into()),
                ClientEvent::Line("b: yo".into())
            ]
        );
    }

    #[test]
    fn unfinished_line_is_shown_at_eof_and_when_too_long() {
        let mut session = Session::new(Compat::Framed, None);
        session.handle_received(b"server is shut");
        session.handle_eof();
        assert_eq!(
            lines(&mut session),
            [ClientEvent::Line("server is shut".into())]
        );
        session.handle_received(&vec![b'x'; MAX_PENDING + 1]);
        assert!(
            matches!(&lines(&mut session)[..], [ClientEvent::Line(l)] if l.len() == MAX_PENDING + 1)
        );
    }

    #[test]
    fn seed_dialect_sends_no_terminators_and_prefixes_the_nick() {
        let mut session = Session::new(Compat::Seed, Some("kay".into()));
        session.handle_received(b"alias?");
        assert_eq!(session.poll_transmit(), Some(b"kay".to_vec()));
        session.handle_received(b"b'kay' esta conectado ao chat");
        assert!(session.is_joined());
        session.send_line("oi");
        assert_eq!(session.poll_transmit(), Some(b"kay: oi".to_vec()));
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::NickSent("kay".into()),
                ClientEvent::Line("b'kay' esta conectado ao chat".into())
            ]
        );
    }

    #[test]
    fn quit_is_sent_once_and_marks_the_session_leaving() {
        let mut session = Session::new(Compat::Framed, None);
        session.send_line("bye\n/QUIT  see you\nafter");
        session.quit();
        assert!(session.is_leaving());
        assert_eq!(
            session.poll_transmit(),
            Some(b"bye\n/QUIT  see you\n".to_vec())
        );
        assert!(!session.poll_close_write());
    }

    #[test]
    fn quit_to_the_seed_server_closes_the_sending_side() {
        let mut session = Session::new(Compat::Seed, Some("kay".into()));
        session.handle_received(b"alias?");
        session.poll_transmit();
        session.send_line("/quit");
        assert!(session.is_leaving());
        assert_eq!(session.poll_transmit(), None);
        assert!(session.poll_close_write());
        assert!(!session.poll_close_write());
    }

    #[test]
    fn classify_knows_every_room_line_shape() {
        assert_eq!(classify("José: a: b"), LineKind::Message { nick: "José" });
        assert_eq!(
            classify("bob joined the chat"),
            LineKind::Notice { nick: "bob" }
        );
        assert_eq!(
            classify("bob is now known as rob"),
            LineKind::Notice { nick: "bob" }
        );
        assert_eq!(
            classify("You are connected to the server!"),
            LineKind::Other
        );
        assert_eq!(classify("[pm from bob] hi"), LineKind::Other);
        assert_eq!(classify("server is shutting down"), LineKind::Other);
        assert_eq!(classify("not a nick: x"), LineKind::Other);
    }

    #[test]
    fn typed_text_is_framed_line_by_line() {
        let mut session = Session::new(Compat::Framed, None);
        session.send_line("one\ntwo\n\n");
        assert_eq!(session.poll_transmit(), Some(b"one\ntwo\n".to_vec()));
        assert_eq!(session.poll_transmit(), None);
    }
}
