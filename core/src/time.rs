//! Time as a value: the core never reads a clock.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time: the time elapsed since the driver's epoch.
///
/// Drivers convert their clock in one place (`Time::from(instant - epoch)`);
/// simulations start at [`Time::ZERO`], so their transcripts are the same text
/// on every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(Duration);

impl Time {
    /// The driver's epoch.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// The time `since_epoch` after the epoch.
    pub const fn from_duration(since_epoch: Duration) -> Self {
        Time(since_epoch)
    }

    /// The time elapsed since the epoch.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<Duration> for Time {
    fn from(since_epoch: Duration) -> Self {
        Time(since_epoch)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    /// Saturates instead of overflowing: a far deadline is simply never reached.
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(rhs))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, rhs: Time) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.0.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_subtract_and_print() {
        let t = Time::from(Duration::from_millis(1_500));
        assert_eq!(t, Time::from_duration(Duration::from_millis(1_500)));
        assert_eq!(t.as_duration(), Duration::from_millis(1_500));
        let later = t + Duration::from_millis(250);
        assert_eq!(later - t, Duration::from_millis(250));
        assert_eq!(t - later, Duration::ZERO, "saturates");
        assert_eq!(later.to_string(), "1.750s");
    }
}
