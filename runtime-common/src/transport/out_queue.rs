//! The payloads a connection's writer holds, not yet (fully) written.

use super::MAX_IOV;
use crate::written::Released;
use chat_core::Payload;
use std::collections::VecDeque;
use std::io::IoSlice;

/// Capacity (in payloads) above which a drained queue gives its memory
/// back: after a burst of notices, an idle connection keeps only a little.
pub const KEEP_CAPACITY: usize = 8;

/// Slices a write builds on the stack before it takes a vector instead.
const ON_STACK: usize = 16;

/// The room's payloads for one connection, front first, with how much of
/// the front one the socket (or a transport's sealing) already took.
///
/// # Invariants
/// No payload is empty, and `offset < payloads[0].len()` whenever there is
/// one. `released` counts the payloads taken whole since the last
/// [`release`](OutQueue::release) that reported bytes.
#[derive(Debug, Default)]
pub struct OutQueue {
    payloads: VecDeque<Payload>,
    offset: usize,
    released: usize,
}

impl OutQueue {
    /// Appends `payload` (an empty one is dropped: it was never charged).
    pub fn push(&mut self, payload: Payload) {
        if !payload.is_empty() {
            self.payloads.push_back(payload);
        }
    }

    /// Moves every payload of `more` (none of them empty) to the back,
    /// leaving it empty. When this queue is empty the two swap buffers, so
    /// both keep their capacity and nothing is copied.
    pub fn append(&mut self, more: &mut VecDeque<Payload>) {
        debug_assert!(more.iter().all(|payload| !payload.is_empty()));
        if self.payloads.is_empty() {
            std::mem::swap(&mut self.payloads, more);
        } else {
            self.payloads.append(more);
            if more.capacity() > KEEP_CAPACITY {
                *more = VecDeque::new();
            }
        }
    }

    /// Whether no payload waits.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// Calls `write` with the front of the queue as slices (the first one
    /// from where the socket stopped), at most `MAX_IOV` of them, and
    /// returns what it returns. A few slices live on the stack; only a long
    /// queue allocates, so a write of one line costs no memory traffic
    /// beyond its slice.
    pub fn with_front_slices<T>(&self, write: impl FnOnce(&[IoSlice<'_>]) -> T) -> T {
        let count = self.payloads.len().min(MAX_IOV);
        if count <= ON_STACK {
            let mut slices = [IoSlice::new(&[]); ON_STACK];
            self.fill(&mut slices[..count]);
            write(&slices[..count])
        } else {
            let mut slices = vec![IoSlice::new(&[]); count];
            self.fill(&mut slices);
            write(&slices)
        }
    }

    /// Fills `slices` with the front of the queue.
    fn fill<'a>(&'a self, slices: &mut [IoSlice<'a>]) {
        for (i, (slot, payload)) in slices.iter_mut().zip(&self.payloads).enumerate() {
            let start = if i == 0 { self.offset } else { 0 };
            *slot = IoSlice::new(&payload[start..]);
        }
    }

    /// Drops `taken` bytes from the front: the socket (or a transport's
    /// sealing) took them.
    ///
    /// # Panics
    /// When `taken` is more than the queue holds: a socket takes no more
    /// than it is given.
    pub fn consume(&mut self, taken: usize) {
        let mut left = taken;
        while left > 0 {
            let front = self
                .payloads
                .front()
                .expect("the socket took no more bytes than it was given")
                .len();
            let rest = front - self.offset;
            if left < rest {
                self.offset += left;
                break;
            }
            left -= rest;
            self.offset = 0;
            self.payloads.pop_front();
            self.released += 1;
        }
        if self.payloads.is_empty() && self.payloads.capacity() > KEEP_CAPACITY {
            self.payloads = VecDeque::new();
        }
    }

    /// What to report now that the socket took `written` more room bytes:
    /// those bytes, with the payloads taken whole since the last report.
    /// Payloads taken with no bytes to report them with wait for the next
    /// bytes (see [`Unreported::add`](crate::written::Unreported::add)).
    pub fn release(&mut self, written: usize) -> Released {
        if written == 0 {
            return Released::default();
        }
        Released {
            len: written,
            sends: std::mem::take(&mut self.released),
        }
    }
}
