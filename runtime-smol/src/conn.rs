//! One connection's task: a reader that hands reads to the room, and a writer
//! that writes what the room queued in the [`Outbox`]. Neither knows the protocol.

use crate::credit::ReadCredit;
use crate::link::Link;
use crate::live::LiveGuard;
use crate::outbox::Outbox;
use crate::room::Msg;
use async_channel::Sender;
use async_io::{Async, Timer};
use chat_core::{CloseMode, ConnId, MAX_READ};
use chat_runtime_common::transport::{Inbound, OutQueue, Outbound, Transport};
use chat_runtime_common::written::Unreported;
use futures_lite::future;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The socket, shared by the reader and the writer. Used through `Async`
/// directly: a task woken for the writer's sake polls the reader too, and
/// `Async::readable` answers that poll without a `read` system call.
pub(crate) type Socket = Arc<Async<std::net::TcpStream>>;

/// File descriptors each connection holds: its socket, nothing else (the
/// reactor watches it without one of its own).
pub(crate) const DESCRIPTORS_PER_CLIENT: u64 = 1;

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
    transport: Transport,
    link: Rc<Link>,
    room: Sender<Msg>,
    _guard: LiveGuard,
) {
    let Transport { inbound, outbound } = transport;
    // Built in place, not in locals first: a local moved into `or` would
    // still take room in this future's state (and this state is what every
    // connection keeps).
    future::or(
        Writer::new(conn, &socket, room.clone(), &link.written, outbound).run(&link.outbox),
        async {
            read_loop(conn, &socket, inbound, &link.credit, room).await;
            // The room answers the end of the stream with a Close: the writer ends.
            future::pending::<()>().await;
        },
    )
    .await;
}

/// Hands each read (at most [`MAX_READ`] room bytes, never empty) to the
/// room until end of stream, an error, or the room is gone. Reads only once
/// the room handed the buffer of the previous read back (see [`ReadCredit`]).
///
/// Once the room forgot the connection, keeps reading and dropping what
/// arrives until the writer shuts the socket down: closing a socket with
/// unread bytes would reset the peer and lose what the writer still flushes.
async fn read_loop(
    conn: ConnId,
    socket: &Socket,
    mut inbound: Box<dyn Inbound>,
    credit: &ReadCredit,
    room: Sender<Msg>,
) {
    while let Some(mut bytes) = credit.acquire().await {
        match read(socket, inbound.as_mut(), &mut bytes).await {
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
    let mut sink = vec![0u8; MAX_READ];
    while matches!(socket.read_with(|mut stream| stream.read(&mut sink)).await, Ok(n) if n > 0) {}
}

/// One read of room bytes through `inbound` into `buffer`, waiting for the
/// socket as often as it takes. Returns `false` at end of stream.
///
/// `Async::readable` is awaited only after a read found nothing: a task
/// woken for the writer's sake polls the reader too, and that costs no
/// system call.
async fn read(
    socket: &Socket,
    inbound: &mut dyn Inbound,
    buffer: &mut Vec<u8>,
) -> io::Result<bool> {
    loop {
        let mut raw = |into: &mut [u8]| socket.get_ref().read(into);
        match inbound.read(&mut raw, buffer) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => socket.readable().await?,
            other => return other,
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

/// The writer's state: the payloads taken from the outbox, not yet fully
/// written, and the transport they go through.
struct Writer<'a> {
    conn: ConnId,
    socket: &'a Socket,
    /// Told when the socket fails.
    room: Sender<Msg>,
    /// Told what the socket took.
    written: &'a Unreported,
    queue: OutQueue,
    /// Set once the room closed with [`CloseMode::Flush`]: give up after it.
    flush_deadline: Option<Instant>,
    outbound: Box<dyn Outbound>,
}

impl<'a> Writer<'a> {
    fn new(
        conn: ConnId,
        socket: &'a Socket,
        room: Sender<Msg>,
        written: &'a Unreported,
        outbound: Box<dyn Outbound>,
    ) -> Self {
        Writer {
            conn,
            socket,
            room,
            written,
            queue: OutQueue::default(),
            flush_deadline: None,
            outbound,
        }
    }

    /// Whether nothing waits to be written.
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.outbound.has_unsent()
    }

    /// Writes until closed: flushed, aborted, or the socket failed. Then shuts
    /// the socket down, which also ends the peer's view of the connection.
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
                Step::Wrote(Ok(_)) => {}
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

    /// One write through the transport, waiting for the socket as long as
    /// it takes, cut short by a close (so a blocked write neither delays an
    /// abort nor escapes the flush deadline) or the flush deadline. Tells
    /// the room the room bytes now written (without waiting: the room takes
    /// them before its next input; if the room is gone nobody needs them,
    /// and the writer keeps flushing regardless).
    async fn write_some(&mut self, outbox: &Outbox) -> Step {
        let deadline = self.flush_deadline;
        let (socket, queue, outbound, written) = (
            self.socket,
            &mut self.queue,
            &mut self.outbound,
            self.written,
        );
        let write = async {
            let wrote = socket
                .write_with(|stream| {
                    let mut raw = |slices: &[std::io::IoSlice<'_>]| {
                        let mut stream = stream;
                        stream.write_vectored(slices)
                    };
                    outbound.write(queue, &mut raw)
                })
                .await;
            Step::Wrote(wrote.map(|released| {
                if released.len > 0 {
                    written.add(released.len, released.sends);
                }
                released.len
            }))
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

    /// Tells the peer the session ends, where the transport has a way to
    /// (best effort: one write that does not wait), so it can tell the end
    /// from a cut.
    fn close_notify(&mut self) {
        let last = self.outbound.close();
        if !last.is_empty() {
            let _ = self.socket.get_ref().write(&last);
        }
    }
}
