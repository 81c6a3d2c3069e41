//! The room thread: owns the [`Room`], turns messages from the other threads
//! into [`Input`]s, and carries out the [`Action`]s (without ever writing to a
//! socket itself, so no client can stall it).
//!
//! The step itself (input, actions, events, `Written` reports) is the shared
//! [`Stepper`]'s; this module waits for messages and keeps the outboxes.
//!
//! Before each message (and each `Tick`) it reports what the writers' sockets
//! took since the last one ([`Reports`]): those reports never queue behind
//! received bytes, so a burst from one client cannot make the core believe
//! that the readers fell behind.
//!
//! It hands what it sends to the writers once per burst of messages: when
//! the inbox is empty, or after [`HAND_OVER_AFTER`] messages. So under load
//! a writer wakes once and writes many lines with one vectored write, rather
//! than waking and writing once per line.

use crate::conn::Outbox;
use crate::pace::{self, Pace};
use chat_core::{Action, CloseMode, ConnId, Event, Input};
use chat_runtime_common::driver::{Connections, Stepper};
use chat_runtime_common::log::{LogEvent, LogSink};
use chat_runtime_common::read_pause::ReadPause;
use chat_runtime_common::written::{Released, Reports};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a clustered room waits, once stopped, for its last appends
/// (the `Down` of the shutdown) to reach the log.
const LOG_FLUSH: Duration = Duration::from_secs(2);

/// The most messages the room thread handles, while more keep coming,
/// before it hands what it sent to the writers: this bounds how long a line
/// waits in the room thread.
const HAND_OVER_AFTER: usize = 64;

/// What the other threads tell the room thread.
#[derive(Debug)]
pub(crate) enum Msg {
    /// The acceptor registered a new connection.
    Connected {
        /// The new, never used id.
        conn: ConnId,
        /// The address it comes from.
        peer: IpAddr,
        /// How to reach its writer.
        outbox: Outbox,
    },
    /// A reader read these bytes (at most `MAX_READ`, never empty). The
    /// buffer goes back to the reader once handled: its credit for the next read.
    Received {
        /// Whose socket.
        conn: ConnId,
        /// The bytes as read.
        bytes: Vec<u8>,
    },
    /// End of stream, reset, or an I/O error.
    Closed {
        /// Whose socket.
        conn: ConnId,
    },
    /// A TLS port asks, before the handshake, whether `conn` is within
    /// its address's limits (`Stepper::reserve_address`); the answer goes
    /// to `reply`.
    Reserve {
        /// The new, never used id.
        conn: ConnId,
        /// The address it comes from.
        peer: IpAddr,
        /// Where the answer goes.
        reply: SyncSender<bool>,
    },
    /// The handshake of a connection admitted by `Reserve` failed: it
    /// will never be `Connected`.
    Cancel {
        /// Whose reservation.
        conn: ConnId,
    },
    /// Stop the server (from a [`ShutdownHandle`](crate::ShutdownHandle)).
    Shutdown,
    /// What a clustered room's log says (from its reader and writer threads).
    Log(LogEvent),
}

/// Hands a clustered room's log events to the room thread, through its inbox.
#[derive(Debug)]
pub(crate) struct LogToRoom(pub(crate) SyncSender<Msg>);

impl LogSink for LogToRoom {
    fn deliver(&self, event: LogEvent) -> bool {
        self.0.send(Msg::Log(event)).is_ok()
    }
}

/// The driver's view of the room's connections.
///
/// # Invariants
/// `map` holds exactly the ids that were `Connected` and have had no
/// `Action::Close` yet: after a `Close` the core forgot the id, and so do we.
/// `unsent` lists, once each, the outboxes with payloads not handed over
/// (and maybe ids closed since).
#[derive(Debug, Default)]
pub(crate) struct Outboxes {
    map: HashMap<ConnId, Outbox>,
    unsent: Vec<ConnId>,
    /// The read buffers of connections flood control stopped reading.
    paused: ReadPause<Vec<u8>>,
}

impl Connections for Outboxes {
    fn act(&mut self, action: Action) {
        match action {
            Action::Send { conn, bytes } => match self.map.get_mut(&conn) {
                Some(outbox) => {
                    if outbox.send(bytes) {
                        self.unsent.push(conn);
                    }
                }
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => {
                self.paused.forget(conn);
                match self.map.remove(&conn) {
                    Some(outbox) if mode == CloseMode::Flush => outbox.flush_and_close(),
                    Some(outbox) => outbox.abort(),
                    None => tracing::debug!(%conn, "close of an unknown connection"),
                }
            }
            Action::StopReading { conn } => self.paused.stop(conn),
            Action::ResumeReading { conn } => {
                if let (Some(bytes), Some(outbox)) = (self.paused.resume(conn), self.map.get(&conn))
                {
                    outbox.give_back(bytes);
                }
            }
            Action::Append { .. } => {} // the stepper's, never passed on
        }
    }

    fn event(&mut self, event: Event) {
        tracing::info!("{event}");
    }

    fn take_written(&mut self, conn: ConnId) -> Released {
        // A closed connection's counter is gone with its outbox.
        self.map
            .get(&conn)
            .map_or(Released::default(), |o| o.written.take())
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The room thread's state.
#[derive(Debug)]
pub(crate) struct Driver {
    stepper: Stepper,
    outboxes: Outboxes,
    shutting_down: bool,
    /// Where the writers list the connections with unreported writes.
    reports: Reports,
    /// How the room waits for writers that fall behind (see [`pace`]).
    pace: Arc<Pace>,
    /// Messages handled since the last hand-over.
    burst: usize,
}

impl Driver {
    pub(crate) fn new(stepper: Stepper, reports: Reports, pace: Arc<Pace>) -> Self {
        Driver {
            stepper,
            outboxes: Outboxes::default(),
            shutting_down: false,
            reports,
            pace,
            burst: 0,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    pub(crate) fn run(mut self, inbox: &Receiver<Msg>) {
        while !(self.shutting_down && self.stepper.connections() == 0) {
            let input = self.next_input(inbox);
            self.stepper
                .report_written(&mut self.outboxes, &self.reports);
            match input {
                Some(Some(msg)) => self.handle(msg),
                Some(None) => self.step(Input::Tick),
                None => break,
            }
        }
        for (conn, outbox) in self.outboxes.map.drain() {
            tracing::warn!(%conn, "the room stopped with the connection open; aborting it");
            outbox.abort();
        }
        if let Some(mut flush) = self.stepper.flush_log() {
            let deadline = Instant::now() + LOG_FLUSH;
            while !flush.is_done() {
                if Instant::now() >= deadline {
                    tracing::warn!("the last appends did not reach the log in time");
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Takes the next message, waiting for it until the room's deadline;
    /// hands the sends over to the writers before waiting.
    /// `Some(None)` means the deadline passed; `None` that every sender is gone.
    fn next_input(&mut self, inbox: &Receiver<Msg>) -> Option<Option<Msg>> {
        // Checked first, so a steady stream of messages cannot starve the timers.
        let deadline = self.stepper.deadline();
        if self.stepper.is_due(deadline) {
            return Some(None);
        }
        if self.burst < HAND_OVER_AFTER {
            match inbox.try_recv() {
                Ok(msg) => {
                    self.burst += 1;
                    return Some(Some(msg));
                }
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
        }
        self.hand_over();
        let msg = match deadline {
            None => inbox.recv().ok()?,
            Some(due) => {
                let now = self.stepper.clock().now();
                if due <= now {
                    return Some(None);
                }
                match inbox.recv_timeout(due - now) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => return Some(None),
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
        };
        self.burst = 1;
        Some(Some(msg))
    }

    /// Hands every payload sent since the last call to its writer, then
    /// waits (bounded) for those writers that fell far behind without being
    /// blocked on their clients (see [`pace`]).
    fn hand_over(&mut self) {
        let outboxes = &mut self.outboxes;
        for conn in &outboxes.unsent {
            // Closed since: `flush_and_close` handed it over, or it was aborted.
            if let Some(outbox) = outboxes.map.get_mut(conn) {
                outbox.hand_over();
            }
        }
        let deadline = Instant::now() + pace::MAX_WAIT;
        for conn in &outboxes.unsent {
            let Some(outbox) = outboxes.map.get(conn) else {
                continue;
            };
            if !self.pace.wait_while(deadline, || outbox.writer_is_behind()) {
                tracing::debug!("writers got no CPU for {:?}; moving on", pace::MAX_WAIT);
                break;
            }
        }
        outboxes.unsent.clear();
        self.burst = 0;
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected { conn, peer, outbox } => {
                // Registered first: the room's first action for it follows.
                self.outboxes.map.insert(conn, outbox);
                self.step(Input::Connected { conn, peer });
            }
            Msg::Received { conn, bytes } => {
                self.step(Input::Received {
                    conn,
                    bytes: &bytes,
                });
                // Unless the room just closed it: then the reader learns it
                // from the dropped outbox.
                if let Some(outbox) = self.outboxes.map.get(&conn) {
                    if let Some(bytes) = self.outboxes.paused.after_read(conn, bytes) {
                        outbox.give_back(bytes);
                    }
                }
            }
            Msg::Closed { conn } => self.step(Input::Closed { conn }),
            Msg::Reserve { conn, peer, reply } => {
                // The asker may be gone; then there is no one to tell.
                let _ = reply.try_send(self.stepper.reserve_address(conn, peer));
            }
            Msg::Cancel { conn } => self.stepper.cancel_reservation(conn),
            Msg::Log(event) => self.stepper.log_event(&mut self.outboxes, event),
            Msg::Shutdown if self.shutting_down => {}
            Msg::Shutdown => {
                tracing::info!("shutting down");
                self.shutting_down = true;
                self.step(Input::Shutdown);
            }
        }
    }

    /// Feeds one input, then carries out every action and logs every event.
    fn step(&mut self, input: Input<'_>) {
        self.stepper.step(&mut self.outboxes, input);
    }
}
