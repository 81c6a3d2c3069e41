//! The one place where the machine's clock becomes the core's [`Time`].

use chat_core::Time;
use std::time::Instant;

/// Converts between [`Instant`]s and [`Time`], relative to an epoch taken at start.
///
/// # Invariants
/// [`Clock::now`] never goes backwards, because [`Instant`] is monotonic: this
/// is what the core's contract 1 ("`now` never goes backwards") relies on.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is this instant.
    pub fn start() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// The current time since the epoch.
    pub fn now(&self) -> Time {
        Time::from(self.epoch.elapsed())
    }

    /// The instant of `time`, or `None` if it lies beyond what `Instant` holds.
    pub fn instant(&self, time: Time) -> Option<Instant> {
        self.epoch.checked_add(time.as_duration())
    }
}
