//! `Written` reports that bypass the room's inbox.
//!
//! A writer adds what its socket took to its connection's counter (and how
//! many payloads it let go of, for the send account's per-send overhead,
//! `chat_core::SEND_OVERHEAD`); the addition that finds the byte counter at
//! zero also puts the connection on the dirty list, a channel the room owns. The room empties that list before
//! every input it handles (see [`Stepper::report_written`](crate::driver::Stepper::report_written)) and turns each counter into one
//! `Input::Written` (several writes of one connection coalesce into one
//! report). So the core sees what the sockets took however many reads wait
//! in the inbox, and memory stays bounded: one counter per connection, and a
//! list that holds each connection at most twice (once more while the room
//! is taking it).
//!
//! The list is a lock-free channel, not a `Mutex<Vec>`: with hundreds of
//! writer threads on a few cores, a writer preempted while holding a lock
//! would stall every other writer behind it. A runtime on one thread pays
//! an uncontended atomic per write and a channel send per first write
//! between two inputs: nothing next to the write's system call.

use chat_core::ConnId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// A new dirty list: the side that makes counters (for the acceptor) and
/// the side that reads the list (for the room).
pub fn dirty_list() -> (Counters, Reports) {
    let (tx, dirty) = mpsc::channel();
    (Counters { tx }, Reports { dirty })
}

/// Makes the counters of new connections.
#[derive(Clone, Debug)]
pub struct Counters {
    tx: Sender<ConnId>,
}

impl Counters {
    /// A zero counter for `conn`, reported through this dirty list.
    pub fn counter(&self, conn: ConnId) -> Unreported {
        Unreported {
            conn,
            bytes: Arc::new(AtomicUsize::new(0)),
            sends: Arc::new(AtomicUsize::new(0)),
            dirty: self.tx.clone(),
        }
    }
}

/// Room side: the connections whose counter may be non-zero.
///
/// # Invariants
/// A connection whose counter is non-zero is on the list, or its writer is
/// about to put it there (between its addition and its send).
#[derive(Debug)]
pub struct Reports {
    dirty: Receiver<ConnId>,
}

impl Reports {
    /// The next connection on the list, if any (never blocks). A connection
    /// may come twice; its second counter reads zero.
    pub fn next_dirty(&self) -> Option<ConnId> {
        self.dirty.try_recv().ok()
    }
}

/// What one connection's writer released and the room has not reported
/// yet. The writer holds one handle, the room thread another (see
/// [`Unreported::take`]).
///
/// # Invariants
/// A release of payloads comes with bytes (see [`Unreported::add`]), so
/// payloads counted in `sends` are reported at the latest with the bytes
/// added after them.
#[derive(Clone, Debug)]
pub struct Unreported {
    conn: ConnId,
    bytes: Arc<AtomicUsize>,
    sends: Arc<AtomicUsize>,
    dirty: Sender<ConnId>,
}

/// What a writer released since the last report: `Input::Written`'s fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Bytes the socket took.
    pub len: usize,
    /// Non-empty payloads the writer dropped.
    pub sends: usize,
}

impl Unreported {
    /// Writer side: the socket took `len` more bytes, and the writer dropped
    /// `sends` more payloads. A writer adds payloads only with bytes
    /// (`len > 0`): it keeps the count of payloads it drops otherwise (a TLS
    /// writer seals them before their records are written) for its next
    /// addition.
    pub fn add(&self, len: usize, sends: usize) {
        debug_assert!(len > 0 || sends == 0, "payloads released without bytes");
        if sends > 0 {
            self.sends.fetch_add(sends, Ordering::AcqRel);
        }
        if len > 0 && self.bytes.fetch_add(len, Ordering::AcqRel) == 0 {
            // Fails only once the room is gone: then nobody needs it.
            let _ = self.dirty.send(self.conn);
        }
    }

    /// Room side: what was not reported yet, now counted as reported.
    pub fn take(&self) -> Released {
        let len = self.bytes.swap(0, Ordering::AcqRel);
        let sends = self.sends.swap(0, Ordering::AcqRel);
        Released { len, sends }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_coalesce_and_each_connection_is_listed_once() {
        let (counters, reports) = dirty_list();
        let a = counters.counter(ConnId(1));
        let b = counters.counter(ConnId(2));
        let released = |len, sends| Released { len, sends };
        a.add(10, 1);
        b.add(0, 0);
        a.add(5, 2);
        assert_eq!(reports.next_dirty(), Some(ConnId(1)));
        assert_eq!(reports.next_dirty(), None);
        assert_eq!(a.take(), released(15, 3));
        assert_eq!(a.take(), released(0, 0));
        assert_eq!(b.take(), released(0, 0));

        // Taken to zero: the next write lists the connection again.
        a.add(7, 0);
        assert_eq!(reports.next_dirty(), Some(ConnId(1)));
        assert_eq!(a.take(), released(7, 0));
    }
}
