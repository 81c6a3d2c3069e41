//! Which join, leave and rename notices a person at a terminal sees, and
//! how: presentation only, the room's lines are all received.
//!
//! - The smart filter (weechat's): the notices of users who have not
//!   spoken in the last `window` are hidden — a room of short-lived bots
//!   stays readable. A recent speaker's leave, rename and rejoin are shown;
//!   a silent user who joins and then speaks shows up with their first
//!   line. Our own notices are always shown. `None` shows every notice.
//! - Notices of one kind arriving together (each within [`BURST_GAP`] of the
//!   last, for at most [`BURST_HOLD`]) are collapsed into one line,
//!   `3 joined: a, b, c` (leaves: only those with the same reason). A burst
//!   of one is shown as it came. A held burst is shown before anything else
//!   is.
//!
//! Pure: the caller passes the time in.
//!
//! # Invariants
//! - `burst` holds at least one notice when `Some`, all of its kind, each
//!   received within [`BURST_GAP`] of the one before.
//! - Only speakers of the last `window` are remembered, pruned as it grows.

use chat_core::client::{notice, speaker, Notice};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Notices closer than this to the last one arrived together.
pub(crate) const BURST_GAP: Duration = Duration::from_millis(200);
/// The longest a burst is held before it is shown.
pub(crate) const BURST_HOLD: Duration = Duration::from_secs(1);
/// The most nicks a collapsed line names; the rest are counted.
const MAX_NAMED: usize = 12;
/// Past this many remembered speakers, those out of the window are forgotten.
const PRUNE_AT: usize = 1024;

/// What to show, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Show {
    /// A received line, as it came.
    Line(String),
    /// A collapsed burst: the client's own line, not the server's.
    Burst(String),
}

/// What a burst collects.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Joins,
    /// Leaves with this reason (or none).
    Leaves(Option<String>),
}

#[derive(Debug)]
struct Burst {
    kind: Kind,
    /// `(nick, line)` of each notice, in order.
    notices: Vec<(String, String)>,
    started: Instant,
    last: Instant,
}

/// The filter of one terminal. See the module doc.
#[derive(Debug)]
pub(crate) struct NoticeFilter {
    /// `None`: every notice is shown (`--show-joins`).
    window: Option<Duration>,
    /// When each nick (lowercase) last spoke.
    spoke: HashMap<String, Instant>,
    burst: Option<Burst>,
}

impl NoticeFilter {
    /// Hides the notices of users silent for `window` (`None`: hides none).
    pub(crate) fn new(window: Option<Duration>) -> NoticeFilter {
        NoticeFilter {
            window,
            spoke: HashMap::new(),
            burst: None,
        }
    }

    /// A line received at `now`, `me` our nick: what to show now, in order
    /// (nothing while it is held in a burst, or hidden).
    pub(crate) fn offer(&mut self, line: String, me: Option<&str>, now: Instant) -> Vec<Show> {
        let mut shown = Vec::new();
        if self.due().is_some_and(|due| due <= now) {
            shown.extend(self.flush());
        }
        let is_me = |nick: &str| me.is_some_and(|me| me.eq_ignore_ascii_case(nick));
        let (kind, nick) = match notice(&line) {
            Some(Notice::Joined { nick }) if !is_me(nick) => (Kind::Joins, nick),
            Some(Notice::Left { nick, reason }) if !is_me(nick) => {
                (Kind::Leaves(reason.map(str::to_string)), nick)
            }
            Some(Notice::Renamed { old, new }) => {
                let show = is_me(old) || self.spoke_recently(old, now);
                if let Some(at) = self.spoke.remove(&fold(old)) {
                    self.spoke.insert(fold(new), at);
                }
                shown.extend(self.flush());
                if show {
                    shown.push(Show::Line(line));
                }
                return shown;
            }
            // Our own notices, and everything that is not a notice: at
            // once, after what was held.
            _ => {
                if let Some(nick) = speaker(&line) {
                    self.spoke(nick, now);
                }
                shown.extend(self.flush());
                shown.push(Show::Line(line));
                return shown;
            }
        };
        if !self.spoke_recently(nick, now) {
            return shown;
        }
        match &mut self.burst {
            Some(burst) if burst.kind == kind => {
                burst.notices.push((nick.to_string(), line));
                burst.last = now;
            }
            _ => {
                shown.extend(self.flush());
                self.burst = Some(Burst {
                    kind,
                    notices: vec![(nick.to_string(), line)],
                    started: now,
                    last: now,
                });
            }
        }
        shown
    }

    /// When the held burst must be shown, if one is held.
    pub(crate) fn due(&self) -> Option<Instant> {
        let burst = self.burst.as_ref()?;
        Some((burst.last + BURST_GAP).min(burst.started + BURST_HOLD))
    }

    /// The held burst, to show now: one line however many notices it holds.
    pub(crate) fn flush(&mut self) -> Option<Show> {
        let mut burst = self.burst.take()?;
        if burst.notices.len() == 1 {
            return burst.notices.pop().map(|(_, line)| Show::Line(line));
        }
        let count = burst.notices.len();
        let mut names: Vec<&str> = burst
            .notices
            .iter()
            .take(MAX_NAMED)
            .map(|(nick, _)| nick.as_str())
            .collect();
        let more = count.saturating_sub(MAX_NAMED);
        let more = format!("and {more} more");
        if count > MAX_NAMED {
            names.push(&more);
        }
        let what = match &burst.kind {
            Kind::Joins => "joined".to_string(),
            Kind::Leaves(None) => "left".to_string(),
            Kind::Leaves(Some(reason)) => format!("left ({reason})"),
        };
        Some(Show::Burst(format!("{count} {what}: {}", names.join(", "))))
    }

    /// Whether `nick`'s notices are shown at `now`: the filter is off, or
    /// they spoke within the window.
    fn spoke_recently(&self, nick: &str, now: Instant) -> bool {
        let Some(window) = self.window else {
            return true;
        };
        self.spoke
            .get(&fold(nick))
            .is_some_and(|&at| now.saturating_duration_since(at) <= window)
    }

    fn spoke(&mut self, nick: &str, now: Instant) {
        let Some(window) = self.window else {
            return;
        };
        if self.spoke.len() >= PRUNE_AT {
            self.spoke
                .retain(|_, at| now.saturating_duration_since(*at) <= window);
        }
        self.spoke.insert(fold(nick), now);
    }
}

/// A nick as the server compares them for uniqueness: ignoring case.
fn fold(nick: &str) -> String {
    nick.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn line(text: &str) -> Show {
        Show::Line(text.to_string())
    }

    /// Offers each line at `now` and returns everything shown, the held
    /// burst flushed at the end.
    fn shown(filter: &mut NoticeFilter, lines: &[&str], now: Instant) -> Vec<Show> {
        let mut all: Vec<Show> = lines
            .iter()
            .flat_map(|l| filter.offer(l.to_string(), Some("me"), now))
            .collect();
        all.extend(filter.flush());
        all
    }

    #[test]
    fn silent_users_come_and_go_unseen_and_speakers_do_not() {
        let t0 = Instant::now();
        let mut f = NoticeFilter::new(Some(10 * MINUTE));
        let seen = shown(
            &mut f,
            &[
                "bot joined the chat",
                "bot left the chat!",
                "me joined the chat",
                "ann joined the chat",
                "ann: hi",
                "ann is now known as anne",
            ],
            t0,
        );
        assert_eq!(
            seen,
            [
                line("me joined the chat"),
                line("ann: hi"),
                line("ann is now known as anne")
            ]
        );
        // The rename carried anne's last line: her leave is shown within
        // the window, and a quiet user's is not.
        let later = t0 + 9 * MINUTE;
        let seen = shown(
            &mut f,
            &["anne left the chat! (bye)", "bot2 left the chat!"],
            later,
        );
        assert_eq!(seen, [line("anne left the chat! (bye)")]);
        // Past the window: forgotten, even on her return.
        let seen = shown(
            &mut f,
            &["anne joined the chat", "anne left the chat!"],
            t0 + 11 * MINUTE,
        );
        assert!(seen.is_empty(), "{seen:?}");
        // Our own rename is shown; a silent user's is not.
        let seen = shown(
            &mut f,
            &["me is now known as me2", "bot is now known as bot3"],
            later,
        );
        assert_eq!(seen, [line("me is now known as me2")]);
    }

    #[test]
    fn a_private_line_or_the_history_counts_as_speaking() {
        let t0 = Instant::now();
        let mut f = NoticeFilter::new(Some(MINUTE));
        let seen = shown(
            &mut f,
            &[
                "[pm from ann] psst",
                "[history] * bob waves",
                "ann left the chat!",
                "bob left the chat!",
            ],
            t0,
        );
        assert_eq!(
            seen,
            [
                line("[pm from ann] psst"),
                line("[history] * bob waves"),
                Show::Burst("2 left: ann, bob".into())
            ]
        );
    }

    #[test]
    fn a_burst_is_one_line_and_anything_else_shows_it_first() {
        let t0 = Instant::now();
        let mut f = NoticeFilter::new(None);
        assert!(f.offer("a joined the chat".into(), None, t0).is_empty());
        assert!(f.offer("b joined the chat".into(), None, t0).is_empty());
        let due = f.due().expect("a burst is held");
        assert_eq!(due, t0 + BURST_GAP);
        assert!(f.offer("c joined the chat".into(), None, t0).is_empty());
        assert_eq!(
            f.offer("c: hello".into(), None, t0),
            [Show::Burst("3 joined: a, b, c".into()), line("c: hello")]
        );
        assert_eq!(f.due(), None);
        // Leaves collapse by reason; a lone notice is shown as it came.
        let seen = shown(
            &mut f,
            &[
                "a left the chat! (server lost)",
                "b left the chat! (server lost)",
                "c left the chat!",
                "d joined the chat",
            ],
            t0,
        );
        assert_eq!(
            seen,
            [
                Show::Burst("2 left (server lost): a, b".into()),
                line("c left the chat!"),
                line("d joined the chat")
            ]
        );
    }

    #[test]
    fn a_burst_ends_after_a_gap_or_a_hold_and_names_a_dozen() {
        let t0 = Instant::now();
        let mut f = NoticeFilter::new(None);
        f.offer("a joined the chat".into(), None, t0);
        let late = t0 + BURST_GAP + Duration::from_millis(1);
        assert_eq!(
            f.offer("b joined the chat".into(), None, late),
            [line("a joined the chat")]
        );
        assert_eq!(f.flush(), Some(line("b joined the chat")));
        // A steady stream is held no longer than BURST_HOLD.
        let step = BURST_GAP / 2;
        let bursts: Vec<Show> = (0..30u32)
            .flat_map(|n| f.offer(format!("n{n} joined the chat"), None, late + step * n))
            .collect();
        let tens = |from: u32| {
            let names: Vec<String> = (from..from + 10).map(|n| format!("n{n}")).collect();
            Show::Burst(format!("10 joined: {}", names.join(", ")))
        };
        assert_eq!(bursts, [tens(0), tens(10)]);
        assert_eq!(f.due(), Some(late + step * 20 + BURST_HOLD));
        assert_eq!(f.flush(), Some(tens(20)));
        for n in 0..30u32 {
            f.offer(format!("n{n} joined the chat"), None, late);
        }
        let Some(Show::Burst(text)) = f.flush() else {
            panic!("a burst");
        };
        assert_eq!(
            text,
            "30 joined: n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, and 18 more"
        );
    }
}
