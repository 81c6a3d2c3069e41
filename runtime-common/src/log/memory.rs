//! [`MemoryLog`]: a room's log in process, for a room that is the only one
//! on its log.
//!
//! Every append is the next entry of the log, and comes back at the next
//! [`poll_event`](RoomLog::poll_event): the stepper takes it within the
//! same step, so a room of one over it applies what its users do as soon
//! as they do it, as the single room does.

use super::{AppendOverflow, Flush, LogEvent, LogPos, RoomLog};
use chat_core::{Entry, Snapshot};
use std::collections::VecDeque;
use std::sync::Arc;

/// The memory log's epoch: it never loses its entries, so it has one.
pub const MEMORY_EPOCH: &str = "memory";

/// A log in process: up from the start, in generation 0, for good.
///
/// # Invariants
/// - `events` holds what the room was not told yet, in order: first the
///   `Up`, then at most one `Logged` at the back, to which appends are
///   added.
/// - `appended` counts the entries appended; the `N`th is at `0-N`, so
///   positions only grow.
/// - It keeps no entry once it was handed back (a room of one needs none
///   again); only the latest snapshot stored, with its position.
#[derive(Debug)]
pub struct MemoryLog {
    events: VecDeque<LogEvent>,
    appended: u64,
    snapshot: Option<(LogPos, Snapshot)>,
}

impl MemoryLog {
    /// An empty log, up: its first event is `Up { gen: 0 }`.
    pub fn new() -> Self {
        MemoryLog {
            events: VecDeque::from([LogEvent::Up {
                gen: 0,
                epoch: MEMORY_EPOCH.into(),
            }]),
            appended: 0,
            snapshot: None,
        }
    }

    /// The latest snapshot stored, and the position of the last entry it
    /// covers.
    pub fn snapshot(&self) -> Option<(LogPos, &Snapshot)> {
        self.snapshot.as_ref().map(|(at, snapshot)| (*at, snapshot))
    }
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::new()
    }
}

impl RoomLog for MemoryLog {
    /// Makes `entry` the next entry of the log. Never fails: the room
    /// bounds its own appends not yet seen, and the stepper takes them
    /// back after every step.
    fn append(&mut self, _gen: u64, entry: &Entry) -> Result<(), AppendOverflow> {
        self.appended += 1;
        let last = LogPos::new(0, self.appended);
        match self.events.back_mut() {
            Some(LogEvent::Logged { entries, last: at }) => {
                entries.push(entry.clone());
                *at = last;
            }
            _ => self.events.push_back(LogEvent::Logged {
                entries: vec![entry.clone()],
                last,
            }),
        }
        Ok(())
    }

    /// Keeps `snapshot` unless one covering more is kept already.
    fn store_snapshot(&mut self, _epoch: Arc<str>, at: LogPos, snapshot: &Snapshot) {
        if self.snapshot.as_ref().is_none_or(|(kept, _)| *kept < at) {
            self.snapshot = Some((at, snapshot.clone()));
        }
    }

    /// Done at once: nothing is waiting to be written.
    fn flush(&self) -> Box<dyn Flush> {
        Box::new(Flushed)
    }

    fn poll_event(&mut self) -> Option<LogEvent> {
        self.events.pop_front()
    }
}

/// A flush with nothing to wait for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flushed;

impl Flush for Flushed {
    fn is_done(&mut self) -> bool {
        true
    }
}
