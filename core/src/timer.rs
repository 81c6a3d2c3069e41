//! The timer table: every pending deadline in one ordered set.
//!
//! Like quinn-proto's `TimerTable`, but for many connections: the earliest
//! deadline is the first element, so [`TimerTable::next_deadline`] is cheap.

use crate::io::ConnId;
use crate::time::Time;
use std::collections::BTreeSet;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// The connection must have joined by then.
    Handshake,
    /// A nick with no terminator is taken as a seed-dialect nick then.
    Settle,
    /// Flood control lets the user's first held line through then.
    Flood,
}

/// Deadlines ordered by time, then connection, then kind.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    queue: BTreeSet<(Time, ConnId, TimerKind)>,
}

impl TimerTable {
    /// Replaces the deadline `old` of `(conn, kind)` with `new`.
    pub(crate) fn reset(
        &mut self,
        conn: ConnId,
        kind: TimerKind,
        old: Option<Time>,
        new: Option<Time>,
    ) {
        if let Some(at) = old {
            let removed = self.queue.remove(&(at, conn, kind));
            debug_assert!(removed, "a stored deadline is always in the table");
        }
        if let Some(at) = new {
            self.queue.insert((at, conn, kind));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.queue.first().map(|&(at, _, _)| at)
    }

    /// Removes and returns the earliest deadline at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Time) -> Option<(ConnId, TimerKind)> {
        match self.queue.first() {
            Some(&(at, conn, kind)) if at <= now => {
                self.queue.pop_first();
                Some((conn, kind))
            }
            _ => None,
        }
    }

    /// The number of pending deadlines.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}
