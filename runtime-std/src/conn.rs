//! One connection's two threads: a reader that hands reads to the room, and
//! a writer that writes what the room sends. Neither knows the protocol.

use crate::live::LiveGuard;
use crate::room::Msg;
use chat_core::{ConnId, Payload, MAX_READ};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// Stack size of reader and writer threads: small, so a thousand clients fit.
/// Both keep their buffers small (one `MAX_READ` read buffer, [`MAX_IOV`] slices).
const CONN_STACK: usize = 64 * 1024;

/// Most payloads handed to one vectored write.
const MAX_IOV: usize = 64;

/// How long a [`CloseMode::Flush`](chat_core::CloseMode::Flush) may take
/// before the writer gives up on a peer that does not read.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The write timeout of every writer's socket: a writer blocked on a peer
/// that does not read looks at its inbox (for a `Flush`) and its flush
/// deadline this often.
const WRITE_POLL: Duration = Duration::from_millis(250);

/// What the room thread tells a writer.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// Append these (shared) bytes to the outgoing stream.
    Send(Payload),
    /// Write what is queued, then shut the socket down; give up at `deadline`.
    /// Nothing follows it.
    Flush {
        /// When the writer stops trying.
        deadline: Instant,
    },
}

/// The room thread's handle on one connection.
///
/// Dropping it without sending [`WriterMsg::Flush`] tells the writer to stop
/// at once (an abort).
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Feeds the writer thread.
    pub(crate) tx: Sender<WriterMsg>,
    /// A clone of the socket, to shut it down (waking a blocked read or write)
    /// without ever writing on the room thread.
    pub(crate) stream: TcpStream,
}

impl Outbox {
    /// Queues `bytes` for the writer. If the writer is gone it already told
    /// the room (`Input::Closed`), so there is nothing more to do.
    pub(crate) fn send(&self, bytes: Payload) {
        let _ = self.tx.send(WriterMsg::Send(bytes));
    }

    /// Closes after flushing what is queued, for at most [`FLUSH_TIMEOUT`].
    pub(crate) fn flush_and_close(self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        if self.tx.send(WriterMsg::Flush { deadline }).is_err() {
            // The writer already ended; make sure the reader does too.
            shutdown(&self.stream);
        }
    }

    /// Closes at once: a blocked write or read returns, the writer sees its
    /// channel closed and stops, and what is queued is dropped.
    pub(crate) fn abort(self) {
        shutdown(&self.stream);
    }
}

/// Sets up the threads of an accepted connection and registers it with the room.
///
/// Returns `Err(())` only when the room is gone (the server is stopping).
pub(crate) fn start(
    conn: ConnId,
    stream: TcpStream,
    room: &SyncSender<Msg>,
    writer_guard: LiveGuard,
    reader_guard: LiveGuard,
) -> Result<(), ()> {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%conn, %error, "cannot set TCP_NODELAY");
    }
    let clones = stream
        .try_clone()
        .and_then(|a| Ok((a, stream.try_clone()?)));
    let (read_half, room_half) = match clones {
        Ok(clones) => clones,
        Err(error) => {
            tracing::warn!(%conn, %error, "cannot clone the socket; dropping the connection");
            return Ok(());
        }
    };
    let (tx, rx) = mpsc::channel();
    let writer_room = room.clone();
    let spawned = thread::Builder::new()
        .name(format!("chat-w{}", conn.0))
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _guard = writer_guard;
            Writer::new(conn, stream, writer_room).run(rx);
        });
    if let Err(error) = spawned {
        tracing::warn!(%conn, %error, "cannot spawn a writer thread; dropping the connection");
        return Ok(());
    }
    let outbox = Outbox {
        tx,
        stream: room_half,
    };
    // Connected goes into the room's queue before the reader exists, so the
    // room always sees it before any read of this connection.
    room.send(Msg::Connected { conn, outbox }).map_err(drop)?;
    let reader_room = room.clone();
    let spawned = thread::Builder::new()
        .name(format!("chat-r{}", conn.0))
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _guard = reader_guard;
            read_loop(conn, read_half, &reader_room);
        });
    if let Err(error) = spawned {
        tracing::warn!(%conn, %error, "cannot spawn a reader thread; closing the connection");
        room.send(Msg::Closed { conn }).map_err(drop)?;
    }
    Ok(())
}

/// Hands each read (at most [`MAX_READ`] bytes, never empty) to the room
/// until end of stream, an error, or the room is gone.
fn read_loop(conn: ConnId, mut stream: TcpStream, room: &SyncSender<Msg>) {
    let mut buf = [0u8; MAX_READ];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let bytes = buf[..n].to_vec();
                if room.send(Msg::Received { conn, bytes }).is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                break;
            }
        }
    }
    let _ = room.send(Msg::Closed { conn });
}

/// Whether a write failed only because its timeout passed.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Shuts both directions down; errors (already closed, reset) do not matter here.
fn shutdown(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}

/// The writer thread's state: the payloads not yet fully written.
///
/// # Invariants
/// `offset < queue[0].len()` whenever the queue is not empty: it is how much of
/// the front payload the socket already took.
struct Writer {
    conn: ConnId,
    stream: TcpStream,
    room: SyncSender<Msg>,
    queue: VecDeque<Payload>,
    offset: usize,
    /// Set once [`WriterMsg::Flush`] arrived: give up writing after it.
    flush_deadline: Option<Instant>,
}

impl Writer {
    fn new(conn: ConnId, stream: TcpStream, room: SyncSender<Msg>) -> Self {
        Writer {
            conn,
            stream,
            room,
            queue: VecDeque::new(),
            offset: 0,
            flush_deadline: None,
        }
    }

    /// Writes until closed: flushed, aborted, or the socket failed. Then
    /// shuts the socket down, which also ends the reader.
    fn run(mut self, rx: Receiver<WriterMsg>) {
        if let Err(error) = self.stream.set_write_timeout(Some(WRITE_POLL)) {
            tracing::warn!(conn = %self.conn, %error, "cannot set a write timeout");
        }
        while self.take(&rx) {
            if let Some(deadline) = self.flush_deadline {
                if self.queue.is_empty() {
                    break; // flushed: everything is written
                }
                if Instant::now() >= deadline {
                    tracing::debug!(conn = %self.conn, "flush timed out");
                    break;
                }
            }
            if self.queue.is_empty() {
                continue;
            }
            match self.write_some() {
                Ok(()) => {}
                // The peer does not read: look at the inbox and the deadline again.
                Err(error) if is_timeout(&error) => {}
                Err(error) => {
                    tracing::debug!(conn = %self.conn, %error, "write failed");
                    // The room ignores this if it already closed the connection.
                    let _ = self.room.send(Msg::Closed { conn: self.conn });
                    break;
                }
            }
        }
        shutdown(&self.stream);
    }

    /// Moves every queued message into the local queue, blocking only when
    /// there is nothing to write. Returns `false` when the writer must stop
    /// at once (aborted, or the room is gone).
    fn take(&mut self, rx: &Receiver<WriterMsg>) -> bool {
        if self.queue.is_empty() && self.flush_deadline.is_none() {
            match rx.recv() {
                Ok(msg) => self.apply(msg),
                Err(_) => return false,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(msg) => self.apply(msg),
                Err(TryRecvError::Empty) => return true,
                // After Flush the room drops its sender: that is expected.
                Err(TryRecvError::Disconnected) => return self.flush_deadline.is_some(),
            }
        }
    }

    fn apply(&mut self, msg: WriterMsg) {
        match msg {
            WriterMsg::Send(bytes) if bytes.is_empty() => {}
            WriterMsg::Send(bytes) => self.queue.push_back(bytes),
            WriterMsg::Flush { deadline } => self.flush_deadline = Some(deadline),
        }
    }

    /// One vectored write of as much of the queue as fits, reported to the
    /// room. Blocks for at most [`WRITE_POLL`].
    fn write_some(&mut self) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for (slot, payload) in slices.iter_mut().zip(&self.queue) {
            let start = if count == 0 { self.offset } else { 0 };
            *slot = IoSlice::new(&payload[start..]);
            count += 1;
        }
        let written = match self.stream.write_vectored(&slices[..count]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        };
        self.advance(written);
        // If the room is gone (it stops once every connection is closed),
        // nobody needs the report: keep flushing regardless.
        let _ = self.room.send(Msg::Written {
            conn: self.conn,
            len: written,
        });
        Ok(())
    }

    /// Drops the `written` bytes from the front of the queue.
    fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let front = self
                .queue
                .front()
                .expect("the socket took no more bytes than we gave it")
                .len();
            let left = front - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.queue.pop_front();
        }
    }
}
