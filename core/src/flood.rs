//! Flood control: a token bucket computed from `now` (GCRA), no timers of
//! its own.
//!
//! A user may send `burst` lines at once, then `rate` lines a second. The
//! state is one point in time, the *theoretical arrival time*: a line is
//! allowed when it comes no earlier than `tat - (burst - 1) * interval`.
//! A line that comes earlier is not dropped: [`FloodBucket::charge`] says
//! when it will be allowed, and the room holds it (and everything its
//! sender sends after it) until then.

use crate::time::Time;
use std::time::Duration;

/// The flood state of one user.
#[derive(Debug, Default)]
pub(crate) struct FloodBucket {
    tat: Time,
}

impl FloodBucket {
    /// Charges one line at `now`: `Ok` takes it; `Err(at)` leaves the
    /// bucket as it was and gives the earliest time, after `now`, at which
    /// the line would be taken. `rate == 0` takes everything.
    pub(crate) fn charge(&mut self, now: Time, rate: u32, burst: u32) -> Result<(), Time> {
        if rate == 0 {
            return Ok(());
        }
        self.charge_every(now, Duration::from_secs(1) / rate, burst)
    }

    /// [`charge`](FloodBucket::charge) with one line (or connect) every
    /// `interval` past the burst.
    pub(crate) fn charge_every(
        &mut self,
        now: Time,
        interval: Duration,
        burst: u32,
    ) -> Result<(), Time> {
        let tolerance = interval * burst.saturating_sub(1);
        let tat = self.tat.max(now);
        let ahead = tat.saturating_since(now);
        if ahead <= tolerance {
            self.tat = tat + interval;
            Ok(())
        } else {
            Err(now + (ahead - tolerance))
        }
    }
}

impl FloodBucket {
    /// Whether the bucket is not yet full again at `now` (forgetting it
    /// would allow more than the rate).
    pub(crate) fn is_busy(&self, now: Time) -> bool {
        self.tat > now
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
            .filter(|_| bucket.charge(at(1000), 20, 40).is_ok())
            .count();
        assert_eq!(allowed, 40);
    }

    #[test]
    fn sustained_rate_is_allowed_forever() {
        let mut bucket = FloodBucket::default();
        for i in 0..10_000 {
            assert_eq!(bucket.charge(at(50 * i), 20, 1), Ok(()), "line {i}");
        }
    }

    #[test]
    fn a_refused_line_is_told_when_it_will_pass() {
        let mut bucket = FloodBucket::default();
        for _ in 0..40 {
            assert_eq!(bucket.charge(at(0), 20, 40), Ok(()));
        }
        assert_eq!(bucket.charge(at(0), 20, 40), Err(at(50)));
        // Asking again changes nothing, and at that time it passes.
        assert_eq!(bucket.charge(at(10), 20, 40), Err(at(50)));
        assert_eq!(bucket.charge(at(50), 20, 40), Ok(()));
        assert_eq!(bucket.charge(at(50), 20, 40), Err(at(100)));
    }

    #[test]
    fn held_lines_go_at_the_rate() {
        let mut bucket = FloodBucket::default();
        let mut now = at(0);
        let mut times = Vec::new();
        // Each line is taken as soon as it is allowed.
        for _ in 0..10 {
            match bucket.charge(now, 4, 2) {
                Ok(()) => times.push(now),
                Err(later) => {
                    now = later;
                    assert_eq!(bucket.charge(now, 4, 2), Ok(()));
                    times.push(now);
                }
            }
        }
        assert_eq!(times[..2], [at(0), at(0)]);
        assert!(times
            .windows(2)
            .skip(1)
            .all(|w| w[1].saturating_since(w[0]) == Duration::from_millis(250)));
    }

    #[test]
    fn zero_rate_turns_it_off() {
        let mut bucket = FloodBucket::default();
        assert!((0..1000).all(|_| bucket.charge(at(0), 0, 0).is_ok()));
    }
}
