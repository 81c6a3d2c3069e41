//! Worker threads: each runs a `smol::LocalExecutor` with one task per
//! client it owns (clients `index, index + threads, ...`), on non-blocking
//! sockets. Per thread, not per connection: the 64 KiB read buffer, the
//! latency histogram and the summed counts, so 15 000 idle clients cost
//! little memory and nothing is shared across threads on the hot path but a
//! few relaxed atomics per read.

use super::conn;
use super::scan::{self, Carry};
use super::shared::Shared;
use super::tally::{Counts, Delivery, Tally};
use hdrhistogram::Histogram;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::io::{self, Read};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Bytes asked of one read.
pub(crate) const READ_SIZE: usize = 64 * 1024;
/// Highest latency the histogram tells apart (larger ones count as this), ns.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// What one worker thread measured.
#[derive(Debug)]
pub(crate) struct ThreadReport {
    /// Latency of every distinct delivery, in nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// Counts summed over the thread's clients.
    pub(crate) counts: Counts,
}

/// An empty latency histogram: 1 ns to an hour, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("the bounds are valid")
}

/// Per-thread state every client task on the thread uses.
///
/// # Invariants
/// `buf` and `latency` are borrowed only inside synchronous calls (never
/// across an `.await`), so the tasks of the thread never contend for them.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    buf: RefCell<Vec<u8>>,
    latency: RefCell<Histogram<u64>>,
    counts: RefCell<Counts>,
}

impl Local {
    fn new(shared: Arc<Shared>) -> Self {
        Local {
            shared,
            buf: RefCell::new(vec![0; scan::MAX_CARRY + READ_SIZE]),
            latency: RefCell::new(histogram()),
            counts: RefCell::new(Counts::default()),
        }
    }

    /// One read from `socket` into the thread's buffer, handed to `use_bytes`
    /// when not empty. Returns the byte count (0 at end of stream).
    pub(crate) fn read_into(
        &self,
        mut socket: &TcpStream,
        use_bytes: impl FnOnce(&[u8]),
    ) -> io::Result<usize> {
        let mut buf = self.buf.borrow_mut();
        let n = socket.read(&mut buf[..READ_SIZE])?;
        if n > 0 {
            use_bytes(&buf[..n]);
        }
        Ok(n)
    }

    /// One read from `socket` after the bytes carried from the last one;
    /// counts every marker in `tally` and each new delivery's latency.
    /// Returns the byte count read (0 at end of stream).
    pub(crate) fn read_and_count(
        &self,
        mut socket: &TcpStream,
        carry: &mut Carry,
        tally: &mut Tally,
    ) -> io::Result<usize> {
        let mut buf = self.buf.borrow_mut();
        let kept = carry.bytes().len();
        buf[..kept].copy_from_slice(carry.bytes());
        let n = socket.read(&mut buf[kept..kept + READ_SIZE])?;
        if n == 0 {
            return Ok(0);
        }
        let plan = &self.shared.plan;
        let now = plan.now_ns();
        let before = tally.counts().unique;
        let mut latency = self.latency.borrow_mut();
        let mut malformed = 0;
        let tail = scan::scan(&buf[..kept + n], &mut malformed, |m| {
            if tally.record(m.sender, m.seq) == Delivery::New {
                latency.saturating_record(now.saturating_sub(m.sent_ns));
            }
        });
        carry.set(tail);
        *tally.malformed_counter() += malformed;
        let new = tally.counts().unique - before;
        if new > 0 {
            self.shared.delivered(new, now, tally.is_complete());
        }
        Ok(n)
    }

    /// Adds one finished client's counts to the thread's.
    pub(crate) fn add_counts(&self, counts: &Counts) {
        self.counts.borrow_mut().add(counts);
    }
}

/// Starts worker `index` of `threads`.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    index: u32,
    threads: u32,
) -> io::Result<JoinHandle<ThreadReport>> {
    thread::Builder::new()
        .name(format!("bench-{index}"))
        .spawn(move || {
            let clients = shared.plan.clients;
            let local = Rc::new(Local::new(shared));
            let executor = LocalExecutor::new();
            let tasks: Vec<_> = (index..clients)
                .step_by(threads as usize)
                .map(|id| executor.spawn(conn::client(Rc::clone(&local), id)))
                .collect();
            smol::block_on(executor.run(async {
                for task in tasks {
                    task.await;
                }
            }));
            drop(executor);
            let local = Rc::into_inner(local).expect("every task has ended");
            ThreadReport {
                latency: local.latency.into_inner(),
                counts: local.counts.into_inner(),
            }
        })
}
