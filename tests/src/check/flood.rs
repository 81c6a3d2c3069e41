//! Flood control as the checker sees it: reading stops only past the
//! burst, always resumes, and no user's room lines go out faster than the
//! bucket allows. (That no line is lost is `marks`' rule: every delivered
//! line is relayed; that lines wait only while held, too.)

use super::stream::Phase;
use super::{Checker, Violation};
use chat_core::{ConnId, Time};
use std::time::Duration;

/// The checker's own token bucket (GCRA) over a user's room lines. It is
/// charged only for lines that reached the room, a subset of what the
/// core charges, so it allows at least what the core's allows: a line it
/// refuses went out too fast.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Bucket {
    tat: Time,
}

impl Bucket {
    /// Whether a line at `now` fits `burst` lines at once and `rate` a second.
    fn charge(&mut self, now: Time, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        self.charge_every(now, Duration::from_secs(1) / rate, burst)
    }

    /// Whether one more at `now` fits `burst` at once and one every
    /// `interval` after; if so, it is counted.
    pub(super) fn charge_every(&mut self, now: Time, interval: Duration, burst: u32) -> bool {
        let tat = self.tat.max(now);
        if tat.saturating_since(now) > interval * burst.saturating_sub(1) {
            return false;
        }
        self.tat = tat + interval;
        true
    }
}

impl Checker {
    pub(super) fn on_stop_reading(&mut self, conn: ConnId) -> Result<(), Violation> {
        let log = &self.conns[&conn];
        let stopped = log
            .read_stops
            .last()
            .is_some_and(|(_, resume)| resume.is_none());
        if stopped || log.phase != Phase::Joined {
            return self.fail(
                "reading stops only for a joined user it does not already hold",
                format!(
                    "StopReading {conn} in phase {:?}, stopped {stopped}",
                    log.phase
                ),
            );
        }
        if !self.cfg.flood_on() || log.lines_sent <= self.cfg.flood_burst {
            return self.fail(
                "reading stops only past the flood burst",
                format!(
                    "{conn} after {} lines (burst {}, rate {})",
                    log.lines_sent, self.cfg.flood_burst, self.cfg.flood_rate
                ),
            );
        }
        let step = self.step;
        self.log_mut(conn).read_stops.push((step, None));
        Ok(())
    }

    pub(super) fn on_resume_reading(&mut self, conn: ConnId) -> Result<(), Violation> {
        let step = self.step;
        match self.log_mut(conn).read_stops.last_mut() {
            Some((_, resume @ None)) => {
                *resume = Some(step);
                Ok(())
            }
            _ => self.fail(
                "reading resumes only after it stopped",
                format!("ResumeReading {conn}"),
            ),
        }
    }

    /// An open connection that is not read has a deadline to be read again.
    pub(super) fn check_reading_resumes(&self, deadline: Option<Time>) -> Result<(), Violation> {
        let held = self
            .conns
            .values()
            .find(|l| l.closed.is_none() && l.read_stops.last().is_some_and(|(_, r)| r.is_none()));
        match held {
            Some(log) if deadline.is_none() => self.fail(
                "a connection flood control stopped reading is read again",
                format!("{} is not read and the room has no deadline", log.id),
            ),
            _ => Ok(()),
        }
    }

    /// A room line from `conn` (a message, `/me`, a rename) went out now.
    pub(super) fn charge_room_line(&mut self, conn: ConnId, text: &str) -> Result<(), Violation> {
        let (now, rate, burst) = (self.now, self.cfg.flood_rate, self.cfg.flood_burst);
        if self.log_mut(conn).flood.charge(now, rate, burst) {
            return Ok(());
        }
        self.fail(
            "no user's lines reach the room faster than flood control allows",
            format!("{conn}: {text:?} at {now} (burst {burst}, rate {rate})"),
        )
    }
}
