//! Whether the server still answers. After a while with nothing from it the
//! client pings it; when something it sent (a ping, a typed line) gets no
//! answer in time, the user is told, again at growing intervals while it
//! lasts, and once when the server answers again.
//!
//! Pure: the caller passes the time in and does what [`Due`] says.
//!
//! # Invariants
//! - `stall` is `Some` only while `waiting_since` is: the user is told
//!   about a wait that is still on.
//! - Hearing anything from the server ends the wait (the server is there;
//!   what it owes us follows in order).

use std::time::{Duration, Instant};

/// The shortest and longest time an answer may take before the user is
/// told: a third of the silence before a ping, within these bounds.
const MIN_ANSWER_WAIT: Duration = Duration::from_millis(500);
const MAX_ANSWER_WAIT: Duration = Duration::from_secs(5);
/// The longest time between two notices of one stall.
const MAX_NOTICE_INTERVAL: Duration = Duration::from_secs(60);

/// What the caller must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Ping the server (then call [`Liveness::expect_answer`]), or, if it
    /// cannot be pinged, [`Liveness::heard`] nothing and move on.
    Ping,
    /// Tell the user the server has not answered for this long.
    NoAnswer(Duration),
}

/// The liveness check of one connection. See the module doc.
#[derive(Debug)]
pub(crate) struct Liveness {
    /// Silence after which the server is pinged.
    ping_after: Duration,
    /// How long an answer may take before the user is told.
    answer_within: Duration,
    /// When the server last sent something (or the check started).
    last_heard: Instant,
    /// Since when something we sent waits for an answer.
    waiting_since: Option<Instant>,
    /// The user was told of this wait: when to tell again, and the gap
    /// after that.
    stall: Option<(Instant, Duration)>,
    /// Whether pinging is possible (a server without `/ping` is not).
    pings: bool,
}

impl Liveness {
    /// A check that pings after `ping_after` of silence, starting `now`.
    pub(crate) fn new(ping_after: Duration, now: Instant) -> Liveness {
        Liveness {
            ping_after,
            answer_within: (ping_after / 3).clamp(MIN_ANSWER_WAIT, MAX_ANSWER_WAIT),
            last_heard: now,
            waiting_since: None,
            stall: None,
            pings: true,
        }
    }

    /// The server sent something. If the user had been told it did not
    /// answer, returns for how long it did not (to say it answers again).
    pub(crate) fn heard(&mut self, now: Instant) -> Option<Duration> {
        self.last_heard = now;
        let since = self.waiting_since.take();
        self.stall.take()?;
        since.map(|since| now.saturating_duration_since(since))
    }

    /// We sent something the server answers (a ping, a line of ours, a
    /// command): the wait for an answer starts, unless one is on.
    pub(crate) fn expect_answer(&mut self, now: Instant) {
        self.waiting_since.get_or_insert(now);
    }

    /// No more pings: the server has no `/ping` (typed lines are still
    /// waited for).
    pub(crate) fn stop_pinging(&mut self) {
        self.pings = false;
    }

    /// Whether the user was told of a wait still on.
    pub(crate) fn is_stalled(&self) -> bool {
        self.stall.is_some()
    }

    /// When [`Liveness::check`] has something to say next, if ever.
    pub(crate) fn next_check(&self) -> Option<Instant> {
        match (self.waiting_since, self.stall) {
            (_, Some((next, _))) => Some(next),
            (Some(since), None) => Some(since + self.answer_within),
            (None, None) => self.pings.then(|| self.last_heard + self.ping_after),
        }
    }

    /// What is due at `now`, if anything.
    pub(crate) fn check(&mut self, now: Instant) -> Option<Due> {
        if self.next_check().is_none_or(|at| now < at) {
            return None;
        }
        let Some(since) = self.waiting_since else {
            return Some(Due::Ping);
        };
        let gap = match self.stall {
            Some((_, gap)) => (gap * 2).min(MAX_NOTICE_INTERVAL),
            None => self.answer_within * 2,
        };
        self.stall = Some((now + gap, gap));
        Some(Due::NoAnswer(now.saturating_duration_since(since)))
    }
}

/// `duration` in whole seconds for the user, rounded, and at least 1: never
/// `0 s` for a wait that was noticed.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    let rounded = (duration + Duration::from_millis(500)).as_secs();
    rounded.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn silence_brings_a_ping_and_an_answer_ends_the_wait_unnoticed() {
        let t0 = Instant::now();
        let mut l = Liveness::new(15 * S, t0);
        assert_eq!(l.next_check(), Some(t0 + 15 * S));
        assert_eq!(l.check(t0 + 14 * S), None);
        assert_eq!(l.check(t0 + 15 * S), Some(Due::Ping));
        l.expect_answer(t0 + 15 * S);
        assert_eq!(l.next_check(), Some(t0 + 20 * S));
        assert_eq!(
            l.heard(t0 + 16 * S),
            None,
            "nothing was said: nothing to unsay"
        );
        assert_eq!(l.next_check(), Some(t0 + 31 * S));
        assert!(!l.is_stalled());
    }

    #[test]
    fn an_unanswered_wait_is_told_at_growing_intervals_then_its_end_once() {
        let t0 = Instant::now();
        let mut l = Liveness::new(15 * S, t0);
        l.expect_answer(t0 + 2 * S); // a typed line
        l.expect_answer(t0 + 3 * S); // another: the wait is the first one's
        assert_eq!(l.check(t0 + 6 * S), None);
        assert_eq!(l.check(t0 + 7 * S), Some(Due::NoAnswer(5 * S)));
        assert!(l.is_stalled());
        assert_eq!(l.check(t0 + 8 * S), None, "not again at once");
        let told: Vec<u64> = (8..400)
            .filter_map(|s| l.check(t0 + s * S))
            .map(|due| match due {
                Due::NoAnswer(d) => d.as_secs(),
                Due::Ping => panic!("a ping while waiting"),
            })
            .collect();
        assert_eq!(told, [15, 35, 75, 135, 195, 255, 315, 375]);
        assert_eq!(l.heard(t0 + 400 * S), Some(398 * S));
        assert!(!l.is_stalled());
        assert_eq!(l.heard(t0 + 401 * S), None, "said once");
    }

    #[test]
    fn a_short_silence_waits_a_third_of_it_for_an_answer_and_pings_can_stop() {
        let t0 = Instant::now();
        let mut l = Liveness::new(S, t0);
        assert_eq!(l.check(t0 + S), Some(Due::Ping));
        l.expect_answer(t0 + S);
        assert_eq!(
            l.check(t0 + S + MIN_ANSWER_WAIT),
            Some(Due::NoAnswer(MIN_ANSWER_WAIT))
        );
        assert_eq!(whole_seconds(MIN_ANSWER_WAIT), 1);
        assert_eq!(whole_seconds(5 * S), 5);
        assert_eq!(whole_seconds(S + Duration::from_millis(3)), 1);
        assert_eq!(whole_seconds(S + Duration::from_millis(500)), 2);
        let mut quiet = Liveness::new(S, t0);
        quiet.stop_pinging();
        assert_eq!(quiet.next_check(), None);
        quiet.expect_answer(t0);
        assert!(
            quiet.next_check().is_some(),
            "typed lines are still waited for"
        );
    }
}
