//! One connection's task: a reader that hands reads to the room, and a writer
//! that writes what the room queued in the [`Outbox`]. Neither knows the protocol.

use crate::credit::ReadCredit;
use crate::link::Link;
use crate::live::LiveGuard;
use crate::outbox::Outbox;
use crate::room::Msg;
use async_channel::Sender;
use async_io::{Async, Timer};
use chat_core::{CloseMode, ConnId, Payload, MAX_READ};
use chat_runtime_common::tls::session::RAW_READ;
use chat_runtime_common::tls::{Plain, TlsReader, TlsWriter};
use chat_runtime_common::written::Unreported;
use futures_lite::future;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The socket, shared by the reader and the writer. Used through `Async`
/// directly: a task woken for the writer's sake polls the reader too, and
/// `Async::readable` answers that poll without a `read` system call.
pub(crate) type Socket = Arc<Async<std::net::TcpStream>>;

/// The two halves of a TLS session whose handshake is over.
pub(crate) type TlsHalves = (TlsReader, TlsWriter);

/// File descriptors each connection holds: its socket, nothing else (the
/// reactor watches it without one of its own).
pub(crate) const DESCRIPTORS_PER_CLIENT: u64 = 1;

/// Most payloads handed to one vectored write (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;

/// Queue capacity (in payloads) above which a drained queue gives its memory
/// back: after a burst of notices, an idle connection keeps only a little.
pub(crate) const KEEP_CAPACITY: usize = 8;

/// How long a [`CloseMode::Flush`] may take before the writer gives up on a
/// peer that does not read.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one connection until its writer is done (flushed, aborted or failed).
///
/// The reader runs alongside; it is dropped when the writer finishes, so a
/// closed connection leaves no reader behind.
pub(crate) async fn run(
    conn: ConnId,
    socket: Socket,
    tls: Option<TlsHalves>,
    link: Rc<Link>,
    room: Sender<Msg>,
    _guard: LiveGuard,
) {
    let (source, tls_writer) = match tls {
        None => (Source::Plain, None),
        Some((reader, writer)) => (Source::Tls(Box::new(reader)), Some(Box::new(writer))),
    };
    // Built in place, not in locals first: a local moved into `or` would
    // still take room in this future's state (and this state is what every
    // connection keeps).
    future::or(
        Writer::new(conn, &socket, room.clone(), &link.written, tls_writer).run(&link.outbox),
        async {
            read_loop(conn, &socket, source, &link.credit, room).await;
            // The room answers the end of the stream with a Close: the writer ends.
            future::pending::<()>().await;
        },
    )
    .await;
}

/// Hands each read (at most [`MAX_READ`] bytes, never empty) to the room
/// until end of stream, an error, or the room is gone. Reads only once the
/// room handed the buffer of the previous read back (see [`ReadCredit`]).
///
/// Once the room forgot the connection, keeps reading and dropping what
/// arrives until the writer shuts the socket down: closing a socket with
/// unread bytes would reset the peer and lose what the writer still flushes.
async fn read_loop(
    conn: ConnId,
    socket: &Socket,
    mut source: Source,
    credit: &ReadCredit,
    room: Sender<Msg>,
) {
    while let Some(mut bytes) = credit.acquire().await {
        match source.read_into(socket, &mut bytes).await {
            Ok(true) => {
                if room.send(Msg::Received { conn, bytes }).await.is_err() {
                    return;
                }
            }
            Ok(false) => {
                let _ = room.send(Msg::Closed { conn }).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                let _ = room.send(Msg::Closed { conn }).await;
                return;
            }
        }
    }
    let mut sink = Vec::new();
    while matches!(read_into(socket, &mut sink).await, Ok(true)) {}
}

/// Where a reader's plaintext comes from.
enum Source {
    /// Straight from the socket.
    Plain,
    /// Decrypted from the socket's bytes (boxed: a plain connection's task
    /// keeps no room for it).
    Tls(Box<TlsReader>),
}

impl Source {
    /// One read of at most [`MAX_READ`] plaintext bytes into `buffer`,
    /// replacing what it held. Returns `false` at end of stream.
    async fn read_into(&mut self, socket: &Socket, buffer: &mut Vec<u8>) -> io::Result<bool> {
        let tls = match self {
            Source::Plain => return read_into(socket, buffer).await,
            Source::Tls(tls) => tls,
        };
        loop {
            match tls.read_plain(buffer)? {
                Plain::Bytes(_) => return Ok(true),
                Plain::Closed => return Ok(false),
                Plain::NeedMore => {
                    let mut raw = vec![0u8; RAW_READ];
                    let n = socket
                        .read_with(|stream| {
                            let mut stream = stream;
                            stream.read(&mut raw)
                        })
                        .await?;
                    tls.feed(&raw[..n])?;
                }
            }
        }
    }
}

/// One read of at most [`MAX_READ`] bytes into `buffer`, replacing what it
/// held, retried when interrupted. Returns `false` at end of stream.
///
/// While the socket has nothing to read, `buffer` holds no memory: an idle
/// connection costs no read buffer, and a busy one allocates it once per
/// wait for the socket (cheap next to that wait's system calls).
async fn read_into(socket: &Socket, buffer: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        buffer.resize(MAX_READ, 0);
        match socket.get_ref().read(buffer) {
            Ok(n) => {
                buffer.truncate(n);
                return Ok(n > 0);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                *buffer = Vec::new();
                socket.readable().await?;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// How one write attempt ended.
enum Step {
    Wrote(io::Result<usize>),
    /// The room closed the connection while the write waited.
    Closed,
    FlushTimedOut,
}

/// The writer's state: the payloads taken from the outbox, not yet fully written.
///
/// # Invariants
/// No payload in `queue` is empty (the room task drops empty ones), and
/// `offset < queue[0].len()` whenever the queue is not empty: it is how much
/// of the front payload the socket already took.
struct Writer<'a> {
    conn: ConnId,
    socket: &'a Socket,
    /// Told when the socket fails.
    room: Sender<Msg>,
    /// Told what the socket took.
    written: &'a Unreported,
    queue: VecDeque<Payload>,
    offset: usize,
    /// Payloads dropped from `queue` and not reported yet: they go with the
    /// next bytes reported (see [`Unreported::add`]).
    released: usize,
    /// Set once the room closed with [`CloseMode::Flush`]: give up after it.
    flush_deadline: Option<Instant>,
    /// On a TLS connection: seals the queue into records.
    tls: Option<Box<TlsWriter>>,
}

impl<'a> Writer<'a> {
    fn new(
        conn: ConnId,
        socket: &'a Socket,
        room: Sender<Msg>,
        written: &'a Unreported,
        tls: Option<Box<TlsWriter>>,
    ) -> Self {
        Writer {
            tls,
            conn,
            socket,
            room,
            written,
            queue: VecDeque::new(),
            offset: 0,
            released: 0,
            flush_deadline: None,
        }
    }

    /// Writes until closed: flushed, aborted, or the socket failed. Then shuts
    /// the socket down, which also ends the peer's view of the connection.
    /// Whether nothing waits to be written: no payload, no sealed record.
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.tls.as_ref().is_some_and(|tls| tls.has_unsent())
    }

    async fn run(mut self, outbox: &Outbox) {
        loop {
            if self.idle() && self.flush_deadline.is_none() {
                outbox.ready().await;
            }
            match outbox.take(&mut self.queue) {
                Some(CloseMode::Abort) => break,
                Some(CloseMode::Flush) => {
                    self.flush_deadline
                        .get_or_insert_with(|| Instant::now() + FLUSH_TIMEOUT);
                }
                None => {}
            }
            if self.idle() {
                if self.flush_deadline.is_some() {
                    self.close_notify();
                    break; // flushed: everything is written
                }
                continue;
            }
            // Boxed: only a connection in the middle of a write pays for
            // the write's state, not every idle one.
            match Box::pin(self.write_some(outbox)).await {
                Step::Wrote(Ok(written)) => self.wrote(written),
                Step::Wrote(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Step::Wrote(Err(error)) => {
                    tracing::debug!(conn = %self.conn, %error, "write failed");
                    // The room ignores this if it already closed the connection.
                    let closed = Msg::Closed { conn: self.conn };
                    let _ = Box::pin(self.room.send(closed)).await;
                    break;
                }
                // Look at the close mode: stop now or flush with a deadline.
                Step::Closed => {}
                Step::FlushTimedOut => {
                    tracing::debug!(conn = %self.conn, "flush timed out");
                    break;
                }
            }
        }
        let _ = self.socket.get_ref().shutdown(Shutdown::Both);
    }

    /// One vectored write of as much of the queue as fits, cut short by a
    /// close (so a blocked write neither delays an abort nor escapes the
    /// flush deadline) or the flush deadline. Dropping an unfinished write
    /// writes nothing.
    async fn write_some(&mut self, outbox: &Outbox) -> Step {
        if self.tls.as_ref().is_some_and(|tls| !tls.has_unsent()) {
            self.seal();
        }
        let deadline = self.flush_deadline;
        let socket = self.socket;
        // On the heap, and only while writing: an idle connection's task
        // keeps no slice array.
        let slices: Vec<IoSlice<'_>> = match &self.tls {
            Some(tls) => vec![IoSlice::new(tls.unsent())],
            None => self
                .queue
                .iter()
                .take(MAX_IOV)
                .enumerate()
                .map(|(i, payload)| IoSlice::new(&payload[if i == 0 { self.offset } else { 0 }..]))
                .collect(),
        };
        let write = async {
            let wrote = socket
                .write_with(|stream| {
                    let mut stream = stream;
                    stream.write_vectored(&slices)
                })
                .await;
            Step::Wrote(match wrote {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                other => other,
            })
        };
        match deadline {
            // After a Flush nothing else can come: Close is the last action.
            Some(deadline) => {
                future::or(write, async {
                    Timer::at(deadline).await;
                    Step::FlushTimedOut
                })
                .await
            }
            None => {
                future::or(write, async {
                    outbox.closed().await;
                    Step::Closed
                })
                .await
            }
        }
    }

    /// On a TLS connection: seals the front of the queue into records (the
    /// last ones are out) and drops it from the queue, unreported.
    fn seal(&mut self) {
        let Some(tls) = self.tls.as_mut() else {
            return;
        };
        let slices: Vec<IoSlice<'_>> = self
            .queue
            .iter()
            .take(MAX_IOV)
            .enumerate()
            .map(|(i, payload)| IoSlice::new(&payload[if i == 0 { self.offset } else { 0 }..]))
            .collect();
        let taken = tls.seal(&slices);
        drop(slices);
        self.drop_front(taken);
    }

    /// The socket took `written` bytes of what [`write_some`](Writer::write_some)
    /// offered: payloads, or records on a TLS connection. Tells the room the
    /// plaintext that is now written (without waiting: the room takes it
    /// before its next input; if the room is gone nobody needs it, and the
    /// writer keeps flushing regardless).
    fn wrote(&mut self, written: usize) {
        let plaintext = match self.tls.as_mut() {
            Some(tls) => tls.wrote(written),
            None => {
                self.drop_front(written);
                written
            }
        };
        if plaintext > 0 {
            self.written
                .add(plaintext, std::mem::take(&mut self.released));
        }
    }

    /// On a TLS connection, tells the peer the session ends (best effort:
    /// one write that does not wait), so it can tell the end from a cut.
    fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            let records = tls.close_notify();
            let _ = self.socket.get_ref().write(&records);
        }
    }

    /// Drops `written` bytes from the front of the queue.
    fn drop_front(&mut self, written: usize) {
        let mut left = written;
        while left > 0 {
            let front = self
                .queue
                .front()
                .expect("the socket took no more bytes than we gave it")
                .len();
            let rest = front - self.offset;
            if left < rest {
                self.offset += left;
                break;
            }
            left -= rest;
            self.offset = 0;
            self.queue.pop_front();
            self.released += 1;
        }
        if self.queue.is_empty() && self.queue.capacity() > KEEP_CAPACITY {
            // Drained after a burst: the memory goes back (the outbox gets
            // this buffer at the next take).
            self.queue = VecDeque::new();
        }
    }
}
