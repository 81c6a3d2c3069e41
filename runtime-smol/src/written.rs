//! `Written` reports that bypass the room's inbox.
//!
//! A writer adds what its socket took to its connection's counter; the
//! addition that finds the counter at zero also puts the connection on the
//! dirty list. The room task takes the whole list before every input it
//! handles and turns each counter into one `Input::Written` (several writes
//! of one connection coalesce into one report). So the core sees what the
//! sockets took however many messages wait in the inbox, and memory stays
//! bounded: one counter per connection, each on the list at most once.
//! Everything runs on the server's one thread: cells, no locks.

use chat_core::ConnId;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The connections whose counter is non-zero, shared by every writer and
/// the room task.
///
/// # Invariants
/// A connection is on the list exactly when its counter is non-zero (or its
/// counter was dropped with the connection).
#[derive(Debug, Default)]
pub(crate) struct Reports {
    dirty: RefCell<Vec<ConnId>>,
}

impl Reports {
    /// Room side: moves the dirty list to the back of `into` and leaves it
    /// empty. Swaps when `into` is empty, so both buffers keep their capacity.
    pub(crate) fn take(&self, into: &mut Vec<ConnId>) {
        let mut dirty = self.dirty.borrow_mut();
        if into.is_empty() {
            std::mem::swap(into, &mut dirty);
        } else {
            into.append(&mut dirty);
        }
    }
}

/// Bytes one connection's socket took that the room has not reported yet.
#[derive(Debug)]
pub(crate) struct Unreported {
    conn: ConnId,
    bytes: Cell<usize>,
    reports: Rc<Reports>,
}

impl Unreported {
    /// A zero counter for `conn`, reported through `reports`.
    pub(crate) fn new(conn: ConnId, reports: &Rc<Reports>) -> Self {
        Unreported {
            conn,
            bytes: Cell::new(0),
            reports: Rc::clone(reports),
        }
    }

    /// Writer side: the socket took `len` more bytes.
    pub(crate) fn add(&self, len: usize) {
        let before = self.bytes.get();
        self.bytes.set(before + len);
        if before == 0 && len > 0 {
            self.reports.dirty.borrow_mut().push(self.conn);
        }
    }

    /// Room side: the bytes not reported yet, now counted as reported.
    pub(crate) fn take(&self) -> usize {
        self.bytes.replace(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_coalesce_and_each_connection_is_listed_once() {
        let reports = Rc::new(Reports::default());
        let a = Unreported::new(ConnId(1), &reports);
        let b = Unreported::new(ConnId(2), &reports);
        a.add(10);
        b.add(0);
        a.add(5);
        let mut dirty = Vec::new();
        reports.take(&mut dirty);
        assert_eq!(dirty, [ConnId(1)]);
        assert_eq!(a.take(), 15);
        assert_eq!(a.take(), 0);
        assert_eq!(b.take(), 0);

        // Taken to zero: the next write lists the connection again.
        a.add(7);
        dirty.clear();
        reports.take(&mut dirty);
        assert_eq!(dirty, [ConnId(1)]);
        assert_eq!(a.take(), 7);
    }
}
