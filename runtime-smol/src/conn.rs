//! One connection's task: a reader that hands reads to the room, and a writer
//! that writes what the room queued in the [`Outbox`]. Neither knows the protocol.

use crate::credit::ReadCredit;
use crate::link::Link;
use crate::live::LiveGuard;
use crate::outbox::Outbox;
use crate::room::Msg;
use crate::written::Unreported;
use async_channel::Sender;
use async_io::Timer;
use async_net::TcpStream;
use chat_core::{CloseMode, ConnId, Payload, MAX_READ};
use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most payloads handed to one vectored write.
const MAX_IOV: usize = 64;

/// How long a [`CloseMode::Flush`] may take before the writer gives up on a
/// peer that does not read.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one connection until its writer is done (flushed, aborted or failed).
///
/// The reader runs alongside; it is dropped when the writer finishes, so a
/// closed connection leaves no reader behind.
pub(crate) async fn run(
    conn: ConnId,
    stream: TcpStream,
    link: Rc<Link>,
    room: Sender<Msg>,
    _guard: LiveGuard,
) {
    let reader = read_loop(conn, stream.clone(), &link.credit, room.clone());
    let writer = Writer::new(conn, stream, room, &link.written).run(&link.outbox);
    future::or(writer, async {
        reader.await;
        // The room answers the end of the stream with a Close: the writer ends.
        future::pending::<()>().await;
    })
    .await;
}

/// Hands each read (at most [`MAX_READ`] bytes, never empty) to the room
/// until end of stream, an error, or the room is gone. Reads only once the
/// room handed the buffer of the previous read back (see [`ReadCredit`]).
///
/// Once the room forgot the connection, keeps reading and dropping what
/// arrives until the writer shuts the socket down: closing a socket with
/// unread bytes would reset the peer and lose what the writer still flushes.
async fn read_loop(conn: ConnId, mut stream: TcpStream, credit: &ReadCredit, room: Sender<Msg>) {
    while let Some(mut bytes) = credit.acquire().await {
        match read_into(&mut stream, &mut bytes).await {
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
    let mut sink = [0u8; MAX_READ];
    while matches!(read_retrying(&mut stream, &mut sink).await, Ok(n) if n > 0) {}
}

/// One read of at most [`MAX_READ`] bytes into `buffer`, replacing what it
/// held. Returns `false` at end of stream.
async fn read_into(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<bool> {
    buffer.resize(MAX_READ, 0);
    let n = read_retrying(stream, buffer).await?;
    buffer.truncate(n);
    Ok(n > 0)
}

/// One read, retried when interrupted. `Ok(0)` is the end of the stream.
async fn read_retrying(stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buffer).await {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
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

/// The writer's state: the payloads taken from the outbox, not yet fully written.
///
/// # Invariants
/// No payload in `queue` is empty (the room task drops empty ones), and
/// `offset < queue[0].len()` whenever the queue is not empty: it is how much
/// of the front payload the socket already took.
struct Writer<'a> {
    conn: ConnId,
    stream: TcpStream,
    /// Told when the socket fails.
    room: Sender<Msg>,
    /// Told what the socket took.
    written: &'a Unreported,
    queue: VecDeque<Payload>,
    offset: usize,
    /// Set once the room closed with [`CloseMode::Flush`]: give up after it.
    flush_deadline: Option<Instant>,
}

impl<'a> Writer<'a> {
    fn new(conn: ConnId, stream: TcpStream, room: Sender<Msg>, written: &'a Unreported) -> Self {
        Writer {
            conn,
            stream,
            room,
            written,
            queue: VecDeque::new(),
            offset: 0,
            flush_deadline: None,
        }
    }

    /// Writes until closed: flushed, aborted, or the socket failed. Then shuts
    /// the socket down, which also ends the peer's view of the connection.
    async fn run(mut self, outbox: &Outbox) {
        loop {
            if self.queue.is_empty() && self.flush_deadline.is_none() {
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
            if self.queue.is_empty() {
                if self.flush_deadline.is_some() {
                    break; // flushed: everything is written
                }
                continue;
            }
            match self.write_some(outbox).await {
                Step::Wrote(Ok(written)) => self.advance(written),
                Step::Wrote(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Step::Wrote(Err(error)) => {
                    tracing::debug!(conn = %self.conn, %error, "write failed");
                    // The room ignores this if it already closed the connection.
                    let _ = self.room.send(Msg::Closed { conn: self.conn }).await;
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
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// One vectored write of as much of the queue as fits, cut short by a
    /// close (so a blocked write neither delays an abort nor escapes the
    /// flush deadline) or the flush deadline. Dropping an unfinished write
    /// writes nothing.
    async fn write_some(&mut self, outbox: &Outbox) -> Step {
        let deadline = self.flush_deadline;
        let stream = &mut self.stream;
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for (slot, payload) in slices.iter_mut().zip(&self.queue) {
            let start = if count == 0 { self.offset } else { 0 };
            *slot = IoSlice::new(&payload[start..]);
            count += 1;
        }
        let write = async {
            Step::Wrote(match stream.write_vectored(&slices[..count]).await {
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

    /// Drops `written` bytes from the front of the queue and tells the room
    /// (without waiting: the room takes it before its next input; if the
    /// room is gone nobody needs it, and the writer keeps flushing regardless).
    fn advance(&mut self, written: usize) {
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
        }
        self.written.add(written);
    }
}
