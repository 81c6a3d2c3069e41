//! One connection's two threads: a reader that hands reads to the room, and
//! a writer that writes what the room sends. Neither knows the protocol.
//!
//! The reader, the writer and the room share one socket ([`Socket`]): a
//! connection costs one file descriptor ([`DESCRIPTORS_PER_CLIENT`]), and
//! setting it up cannot fail for want of another.

use crate::live::LiveGuard;
use crate::pace::{Pace, WriterPace};
use crate::room::Msg;
use chat_core::{ConnId, Payload, MAX_READ};
use chat_runtime_common::transport::{Inbound, OutQueue, Outbound, Transport};
use chat_runtime_common::written::{Counters, Unreported};
use nix::sys::socket::{self, MsgFlags, SockaddrStorage};
use std::io::{self, IoSlice, Read, Write};
use std::net::IpAddr;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The socket of one connection, shared by its reader (`read` on `&TcpStream`),
/// its writer, and the room's [`Outbox`] (to shut it down). Closed when the
/// last of them drops it.
type Socket = Arc<TcpStream>;

/// File descriptors each connection holds: its socket, nothing else.
pub(crate) const DESCRIPTORS_PER_CLIENT: u64 = 1;

/// Stack size of reader and writer threads: small, so a thousand clients fit.
/// Both keep their buffers small (one `MAX_READ` read buffer; a vectored
/// write's slices are on the heap when there are many).
const CONN_STACK: usize = 64 * 1024;

/// Most payloads the room thread writes at once (see [`Outbox::write_directly`]).
const MAX_IOV: usize = 64;

/// Reads of one connection that may wait for the room at once. A reader
/// owns this many buffers and reads only into one the room has handed back,
/// so a client sending faster than the room handles its lines is slowed
/// down by TCP itself, and waits in the inbox stay bounded per connection.
const READS_IN_FLIGHT: usize = 1;

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
/// at once (an abort), and tells the reader that the room forgot the
/// connection (its buffers stop coming back).
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Feeds the writer thread.
    tx: Sender<WriterMsg>,
    /// The socket, to shut it down (waking a blocked read or write) without
    /// ever writing on the room thread.
    stream: Socket,
    /// Hands read buffers back to the reader: each is a credit for one more read.
    buffers: SyncSender<Vec<u8>>,
    /// What the writer's socket took and the room has not reported yet.
    pub(crate) written: Unreported,
    /// Sent by the room, not handed to the writer yet (see [`Outbox::hand_over`]).
    pending: Vec<Payload>,
    /// Bytes handed to the writer in total (wrapping), to compare with
    /// what its socket took.
    handed: usize,
    pace: Arc<WriterPace>,
    /// Whether the transport passes room bytes to the socket unchanged, so
    /// that the room may write to it itself (see [`Outbox::write_directly`]).
    transparent: bool,
}

impl Outbox {
    /// Room side: the room handled the read in `buffer`; the reader may read
    /// into it again.
    pub(crate) fn give_back(&self, buffer: Vec<u8>) {
        match self.buffers.try_send(buffer) {
            // Disconnected: the reader is gone and needs no more reads.
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                debug_assert!(false, "more read buffers than READS_IN_FLIGHT")
            }
        }
    }

    /// Queues `bytes` for the writer, to be handed over with
    /// [`hand_over`](Outbox::hand_over). Returns whether nothing was queued
    /// before: the caller must then make sure `hand_over` follows.
    pub(crate) fn send(&mut self, bytes: Payload) -> bool {
        self.pending.push(bytes);
        self.pending.len() == 1
    }

    /// Hands the writer everything queued since the last call. Handing a
    /// burst over at once wakes the writer once for all of it, where handing
    /// each line over as it comes would wake it (and make it write) once per
    /// line. If the writer is gone it already told the room
    /// (`Input::Closed`), so there is nothing more to do.
    pub(crate) fn hand_over(&mut self) {
        self.write_directly();
        for bytes in self.pending.drain(..) {
            self.handed = self.handed.wrapping_add(bytes.len());
            if self.tx.send(WriterMsg::Send(bytes)).is_err() {
                break;
            }
        }
    }

    /// Writes what is queued straight to the socket, as far as it takes
    /// without blocking, when the writer has written everything handed to
    /// it: a line to every user of a big room then costs a system call per
    /// user instead of waking a thread per user. Only the room thread hands
    /// the writer bytes, so while it writes here the writer has none and
    /// stays off the socket; what the socket does not take (or a failure,
    /// which the writer then meets and reports) goes to the writer as usual.
    fn write_directly(&mut self) {
        if !self.transparent || self.pending.is_empty() || !self.pace.wrote_all(self.handed) {
            return;
        }
        let slices: Vec<IoSlice<'_>> = self
            .pending
            .iter()
            .take(MAX_IOV)
            .map(|payload| IoSlice::new(payload))
            .collect();
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        let sent =
            socket::sendmsg::<SockaddrStorage>(self.stream.as_raw_fd(), &slices, &[], flags, None);
        let Ok(sent) = sent else {
            return;
        };
        let mut left = sent;
        let whole = self
            .pending
            .iter()
            .take_while(|payload| {
                let fits = payload.len() <= left;
                if fits {
                    left -= payload.len();
                }
                fits
            })
            .count();
        // The payloads written whole are released, as the writer releases
        // those it drops (empty ones were never charged); a payload cut
        // short stays one payload, released when its rest is written.
        let released = self.pending[..whole]
            .iter()
            .filter(|payload| !payload.is_empty())
            .count();
        self.written.add(sent, released);
        self.pending.drain(..whole);
        if let Some(first) = self.pending.first_mut() {
            if left > 0 {
                *first = Payload::new(&first[left..]);
            }
        }
    }

    /// Whether the writer, ready to run, is far behind in writing what was
    /// handed over (see [`crate::pace`]).
    pub(crate) fn writer_is_behind(&self) -> bool {
        self.pace.is_behind(self.handed)
    }

    /// Closes after flushing what is queued, for at most [`FLUSH_TIMEOUT`].
    pub(crate) fn flush_and_close(mut self) {
        self.hand_over();
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
#[allow(clippy::too_many_arguments)] // each is one shared piece of the server
pub(crate) fn start(
    (conn, peer): (ConnId, IpAddr),
    stream: TcpStream,
    transport: Transport,
    room: &SyncSender<Msg>,
    counters: &Counters,
    pace: &Arc<Pace>,
    (writer_guard, reader_guard): (LiveGuard, LiveGuard),
) -> Result<(), ()> {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%conn, %error, "cannot set TCP_NODELAY");
    }
    let stream = Arc::new(stream);
    let read_half = Arc::clone(&stream);
    let room_half = Arc::clone(&stream);
    let (tx, rx) = mpsc::channel();
    let written = counters.counter(conn);
    let writer_room = room.clone();
    let writer_written = written.clone();
    let writer_pace = Arc::new(WriterPace::new(pace));
    let room_pace = Arc::clone(&writer_pace);
    let Transport { inbound, outbound } = transport;
    let transparent = outbound.is_transparent();
    let spawned = thread::Builder::new()
        .name(format!("chat-w{}", conn.0))
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _guard = writer_guard;
            Writer::new(
                conn,
                stream,
                writer_room,
                writer_written,
                writer_pace,
                outbound,
            )
            .run(rx);
        });
    if let Err(error) = spawned {
        tracing::warn!(%conn, %error, "cannot spawn a writer thread; turning the client away");
        chat_runtime_common::refuse::turn_away(&room_half);
        return Ok(());
    }
    let (buffers, credits) = mpsc::sync_channel(READS_IN_FLIGHT);
    for _ in 0..READS_IN_FLIGHT {
        buffers
            .try_send(Vec::with_capacity(MAX_READ))
            .expect("the channel has room for every buffer");
    }
    let outbox = Outbox {
        tx,
        stream: room_half,
        buffers,
        written,
        pending: Vec::new(),
        handed: 0,
        pace: room_pace,
        transparent,
    };
    // Connected goes into the room's queue before the reader exists, so the
    // room always sees it before any read of this connection.
    room.send(Msg::Connected {
        conn,
        peer,
        link: outbox,
    })
    .map_err(drop)?;
    let reader_room = room.clone();
    let spawned = thread::Builder::new()
        .name(format!("chat-r{}", conn.0))
        .stack_size(CONN_STACK)
        .spawn(move || {
            let _guard = reader_guard;
            read_loop(conn, &read_half, inbound, &reader_room, &credits);
        });
    if let Err(error) = spawned {
        tracing::warn!(%conn, %error, "cannot spawn a reader thread; closing the connection");
        room.send(Msg::Closed { conn }).map_err(drop)?;
    }
    Ok(())
}

/// Hands each read (at most [`MAX_READ`] room bytes, never empty) to the
/// room until end of stream, an error, or the room is gone. Reads only into
/// a buffer from `credits`, that is once the room handled an earlier read.
///
/// Once the room forgot the connection (its buffers stop coming back), keeps
/// reading and dropping what arrives until the writer shuts the socket down:
/// closing a socket with unread bytes would reset the peer and lose what the
/// writer is still flushing.
fn read_loop(
    conn: ConnId,
    stream: &TcpStream,
    mut inbound: Box<dyn Inbound>,
    room: &SyncSender<Msg>,
    credits: &Receiver<Vec<u8>>,
) {
    let mut raw = |into: &mut [u8]| {
        let mut stream = stream;
        stream.read(into)
    };
    while let Ok(mut bytes) = credits.recv() {
        match inbound.read(&mut raw, &mut bytes) {
            Ok(true) => {
                if room.send(Msg::Received { conn, bytes }).is_err() {
                    return;
                }
            }
            Ok(false) => {
                let _ = room.send(Msg::Closed { conn });
                return;
            }
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                let _ = room.send(Msg::Closed { conn });
                return;
            }
        }
    }
    let mut sink = [0u8; MAX_READ];
    loop {
        match raw(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
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

/// The writer thread's state: the payloads not yet fully written, and the
/// transport they go through.
struct Writer {
    conn: ConnId,
    stream: Socket,
    /// Told when the socket fails.
    room: SyncSender<Msg>,
    /// Told what the socket took.
    written: Unreported,
    /// Told what the socket took, and when a write may block.
    pace: Arc<WriterPace>,
    /// Room bytes the socket took in total (wrapping).
    total: usize,
    queue: OutQueue,
    /// Set once [`WriterMsg::Flush`] arrived: give up writing after it.
    flush_deadline: Option<Instant>,
    outbound: Box<dyn Outbound>,
}

impl Drop for Writer {
    /// Gone, however it ended (even by a panic): the room must not wait for it.
    fn drop(&mut self) {
        self.pace.set_away(true, self.total);
    }
}

impl Writer {
    fn new(
        conn: ConnId,
        stream: Socket,
        room: SyncSender<Msg>,
        written: Unreported,
        pace: Arc<WriterPace>,
        outbound: Box<dyn Outbound>,
    ) -> Self {
        Writer {
            conn,
            stream,
            room,
            written,
            pace,
            total: 0,
            queue: OutQueue::default(),
            flush_deadline: None,
            outbound,
        }
    }

    /// Whether nothing waits to be written.
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.outbound.has_unsent()
    }

    /// Writes until closed: flushed, aborted, or the socket failed. Then
    /// shuts the socket down, which also ends the reader.
    fn run(mut self, rx: Receiver<WriterMsg>) {
        if let Err(error) = self.stream.set_write_timeout(Some(WRITE_POLL)) {
            tracing::warn!(conn = %self.conn, %error, "cannot set a write timeout");
        }
        while self.take(&rx) {
            if let Some(deadline) = self.flush_deadline {
                if self.idle() {
                    self.close_notify();
                    break; // flushed: everything is written
                }
                if Instant::now() >= deadline {
                    tracing::debug!(conn = %self.conn, "flush timed out");
                    break;
                }
            }
            if self.idle() {
                continue;
            }
            match self.write_some() {
                Ok(()) => {}
                // The peer does not read: look at the inbox and the deadline again.
                Err(error) if is_timeout(&error) => {}
                Err(error) => {
                    tracing::debug!(conn = %self.conn, %error, "write failed");
                    // Gone: the room must not wait for it (the send may block).
                    self.pace.set_away(true, self.total);
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
        if self.idle() && self.flush_deadline.is_none() {
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
            WriterMsg::Send(bytes) => self.queue.push(bytes),
            WriterMsg::Flush { deadline } => self.flush_deadline = Some(deadline),
        }
    }

    /// Tells the peer the session ends, where the transport has a way to
    /// (best effort, bounded by the write timeout), so it can tell the end
    /// from a cut.
    fn close_notify(&mut self) {
        let last = self.outbound.close();
        if !last.is_empty() {
            let _ = (&*self.stream).write_all(&last);
        }
    }

    /// One write through the transport, reported to the room. Blocks for
    /// at most [`WRITE_POLL`].
    fn write_some(&mut self) -> io::Result<()> {
        let stream = &*self.stream;
        let mut raw = |slices: &[IoSlice<'_>]| {
            let mut stream = stream;
            stream.write_vectored(slices)
        };
        // The write may block on a client that does not read: the room must
        // not wait for this writer meanwhile.
        self.pace.set_away(true, self.total);
        let result = self.outbound.write(&mut self.queue, &mut raw);
        if let Ok(released) = &result {
            self.total = self.total.wrapping_add(released.len);
        }
        self.pace.set_away(false, self.total);
        let released = result?;
        // Never waits: the room takes it before its next input. If the room
        // is gone, nobody needs it; keep flushing regardless.
        if released.len > 0 {
            self.written.add(released.len, released.sends);
        }
        Ok(())
    }
}
