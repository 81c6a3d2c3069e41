//! Flood control: a token bucket computed from `now` (GCRA), no timers.
//!
//! A user may send `burst` lines at once, then `rate` lines a second. The
//! state is one point in time, the *theoretical arrival time*: a line is
//! allowed when it comes no earlier than `tat - (burst - 1) * interval`.

use crate::time::Time;
use std::time::Duration;

/// The flood state of one user.
#[derive(Debug, Default)]
pub(crate) struct FloodBucket {
    tat: Time,
    last_warning: Option<Time>,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Take the line.
    Allow,
    /// Drop the line and tell the sender to slow down.
    DropAndWarn,
    /// Drop the line silently: the sender was warned less than a second ago.
    Drop,
}

/// How often a flooding user is told to slow down, at most.
const WARNING_INTERVAL: Duration = Duration::from_secs(1);

impl FloodBucket {
    /// Charges one line at `now`. `rate == 0` allows everything.
    pub(crate) fn charge(&mut self, now: Time, rate: u32, burst: u32) -> Verdict {
        if rate == 0 {
            return Verdict::Allow;
        }
        let interval = Duration::from_secs(1) / rate;
        let tolerance = interval * burst.saturating_sub(1);
        let tat = self.tat.max(now);
        if tat.saturating_since(now) <= tolerance {
            self.tat = tat + interval;
            return Verdict::Allow;
        }
        match self.last_warning {
            Some(warned) if now.saturating_since(warned) < WARNING_INTERVAL => Verdict::Drop,
            _ => {
                self.last_warning = Some(now);
                Verdict::DropAndWarn
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn flood_burst_is_capped() {
        let mut bucket = FloodBucket::default();
        let allowed = (0..100)
            .filter(|_| bucket.charge(at(1000), 20, 40) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 40);
    }

    #[test]
    fn sustained_rate_is_allowed_forever() {
        let mut bucket = FloodBucket::default();
        for i in 0..10_000 {
            assert_eq!(bucket.charge(at(50 * i), 20, 1), Verdict::Allow, "line {i}");
        }
    }

    #[test]
    fn tokens_come_back_with_time() {
        let mut bucket = FloodBucket::default();
        for _ in 0..40 {
            assert_eq!(bucket.charge(at(0), 20, 40), Verdict::Allow);
        }
        assert_ne!(bucket.charge(at(0), 20, 40), Verdict::Allow);
        assert_eq!(bucket.charge(at(50), 20, 40), Verdict::Allow);
        assert_ne!(bucket.charge(at(50), 20, 40), Verdict::Allow);
    }

    #[test]
    fn warning_is_given_at_most_once_a_second() {
        let mut bucket = FloodBucket::default();
        let verdicts: Vec<_> = (0..5).map(|i| bucket.charge(at(i * 100), 1, 1)).collect();
        assert_eq!(verdicts[0], Verdict::Allow);
        assert_eq!(verdicts[1], Verdict::DropAndWarn);
        assert_eq!(
            &verdicts[2..],
            [Verdict::Drop, Verdict::Drop, Verdict::Drop]
        );
        assert_eq!(bucket.charge(at(1100), 1, 1), Verdict::Allow);
        assert_eq!(bucket.charge(at(1150), 1, 1), Verdict::DropAndWarn);
    }

    #[test]
    fn zero_rate_turns_it_off() {
        let mut bucket = FloodBucket::default();
        assert!((0..1000).all(|_| bucket.charge(at(0), 0, 0) == Verdict::Allow));
    }
}
