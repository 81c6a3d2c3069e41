//! Worker threads: each runs a `smol::LocalExecutor` with one task per
//! client it owns (clients `index, index + threads, ...`), on non-blocking
//! sockets. Per thread, not per connection: the 64 KiB read buffer, the
//! latency histogram and the summed counts, so 15 000 idle clients cost
//! little memory and nothing is shared across threads on the hot path but a
//! few relaxed atomics per read.

use super::conn;
use super::scan::{self, Carry};
use super::shared::{is_cross_server, Shared};
use super::tally::{Counts, Delivery, Tally};
use chat_runtime_common::tls::session::RAW_READ;
use chat_runtime_common::tls::{Plain, TlsReader};
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
    /// The latency of the distinct deliveries that crossed servers (the
    /// sender's server is not the recipient's), a subset of `latency`;
    /// empty with one server.
    pub(crate) cross_latency: Histogram<u64>,
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
/// `buf`, `raw`, `latency` and `cross_latency` are borrowed only inside synchronous calls
/// (never across an `.await`), so the tasks of the thread never contend for
/// them. `raw` stays empty in plain runs.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    buf: RefCell<Vec<u8>>,
    /// TLS records as read, before they are decrypted into `buf`.
    raw: RefCell<Vec<u8>>,
    latency: RefCell<Histogram<u64>>,
    /// What `latency` records of the deliveries that crossed servers.
    cross_latency: RefCell<Histogram<u64>>,
    counts: RefCell<Counts>,
}

impl Local {
    fn new(shared: Arc<Shared>) -> Self {
        Local {
            shared,
            buf: RefCell::new(vec![0; scan::MAX_CARRY + READ_SIZE]),
            raw: RefCell::new(Vec::new()),
            latency: RefCell::new(histogram()),
            cross_latency: RefCell::new(histogram()),
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
    /// `server` is the index of the server the reader is connected to.
    /// Returns the byte count read (0 at end of stream).
    pub(crate) fn read_and_count(
        &self,
        mut socket: &TcpStream,
        server: u32,
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
        self.count(&buf[..kept + n], server, carry, tally);
        Ok(n)
    }

    /// As [`read_and_count`](Local::read_and_count), over TLS: first what
    /// the session already decrypted, then one raw read (at most
    /// `READ_SIZE` bytes), fed to the session a record-sized slice at a
    /// time, each slice's plaintext decrypted into the buffer and counted
    /// before the next (so rustls's plaintext buffer never fills). Returns
    /// the raw byte count read, or `None` once the session ended.
    pub(crate) fn read_and_count_tls(
        &self,
        mut socket: &TcpStream,
        tls: &mut TlsReader,
        server: u32,
        carry: &mut Carry,
        tally: &mut Tally,
    ) -> io::Result<Option<usize>> {
        if self.count_plain(tls, server, carry, tally)? == Plain::Closed {
            return Ok(None);
        }
        let mut raw = self.raw.borrow_mut();
        raw.resize(READ_SIZE, 0);
        let n = socket.read(&mut raw[..])?;
        if n == 0 {
            tls.feed(&[])?;
        }
        for slice in raw[..n].chunks(RAW_READ) {
            tls.feed(slice)?;
            if self.count_plain(tls, server, carry, tally)? == Plain::Closed {
                return Ok(None);
            }
        }
        if n == 0 {
            return Ok(match self.count_plain(tls, server, carry, tally)? {
                Plain::Closed => None,
                _ => Some(0),
            });
        }
        Ok(Some(n))
    }

    /// Decrypts every plaintext byte `tls` has ready into the buffer, after
    /// the carried bytes, and counts it, a buffer at a time. Returns
    /// `NeedMore` once it is all taken, or `Closed`.
    fn count_plain(
        &self,
        tls: &mut TlsReader,
        server: u32,
        carry: &mut Carry,
        tally: &mut Tally,
    ) -> io::Result<Plain> {
        let mut buf = self.buf.borrow_mut();
        loop {
            let kept = carry.bytes().len();
            buf[..kept].copy_from_slice(carry.bytes());
            let end = kept + READ_SIZE;
            let mut filled = kept;
            let mut last = Plain::NeedMore;
            while filled < end {
                match tls.read_plain_into(&mut buf[filled..end])? {
                    Plain::Bytes(n) => filled += n,
                    other => {
                        last = other;
                        break;
                    }
                }
            }
            if filled > kept {
                self.count(&buf[..filled], server, carry, tally);
            }
            if filled < end {
                return Ok(last);
            }
        }
    }

    /// Counts every marker in `bytes` (the carried bytes, then the new
    /// ones) in `tally`, and each new delivery's latency; keeps the
    /// unfinished tail in `carry`. `server` is the reader's server: a new
    /// delivery from a sender on another one also goes to `cross_latency`.
    fn count(&self, bytes: &[u8], server: u32, carry: &mut Carry, tally: &mut Tally) {
        let plan = &self.shared.plan;
        let now = plan.now_ns();
        let before = tally.counts().unique;
        let servers = plan.servers();
        let mut latency = self.latency.borrow_mut();
        let mut cross_latency = self.cross_latency.borrow_mut();
        let mut malformed = 0;
        let tail = scan::scan(bytes, &mut malformed, |m| {
            if tally.record(m.sender, m.seq) == Delivery::New {
                let ns = now.saturating_sub(m.sent_ns);
                latency.saturating_record(ns);
                if servers > 1 && is_cross_server(m.sender, server, servers) {
                    cross_latency.saturating_record(ns);
                }
            }
        });
        carry.set(tail);
        *tally.malformed_counter() += malformed;
        let new = tally.counts().unique - before;
        if new > 0 {
            self.shared.delivered(new, now, tally.is_complete());
        }
    }

    /// Records one latency that is not a delivery's (in `handshake`: from
    /// the connect to the prompt), in nanoseconds.
    pub(crate) fn record_latency(&self, ns: u64) {
        self.latency.borrow_mut().saturating_record(ns);
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
                cross_latency: local.cross_latency.into_inner(),
                counts: local.counts.into_inner(),
            }
        })
}
