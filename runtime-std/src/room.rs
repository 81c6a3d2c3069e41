//! The room thread: owns the [`Room`], turns messages from the other threads
//! into [`Input`]s, and carries out the [`Action`]s (without ever writing to a
//! socket itself, so no client can stall it).
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

use crate::clock::Clock;
use crate::conn::Outbox;
use crate::pace::{self, Pace};
use crate::written::Reports;
use chat_core::{Action, CloseMode, Config, ConnId, Input, Room};
use chat_runtime_common::read_pause::ReadPause;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

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
    /// Stop the server (from a [`ShutdownHandle`](crate::ShutdownHandle)).
    Shutdown,
}

/// The room and the driver's view of its connections.
///
/// # Invariants
/// `outboxes` holds exactly the ids that were `Connected` and have had no
/// `Action::Close` yet: after a `Close` the core forgot the id, and so do we.
/// `unsent` lists, once each, the outboxes with payloads not handed over
/// (and maybe ids closed since).
#[derive(Debug)]
pub(crate) struct Driver {
    room: Room,
    clock: Clock,
    outboxes: HashMap<ConnId, Outbox>,
    shutting_down: bool,
    /// Where the writers list the connections with unreported writes.
    reports: Reports,
    unsent: Vec<ConnId>,
    /// How the room waits for writers that fall behind (see [`pace`]).
    pace: Arc<Pace>,
    /// Messages handled since the last hand-over.
    burst: usize,
    /// The read buffers of connections flood control stopped reading.
    paused: ReadPause<Vec<u8>>,
}

impl Driver {
    pub(crate) fn new(config: Config, reports: Reports, pace: Arc<Pace>) -> Self {
        Driver {
            room: Room::new(config),
            clock: Clock::start(),
            outboxes: HashMap::new(),
            shutting_down: false,
            reports,
            unsent: Vec::new(),
            pace,
            burst: 0,
            paused: ReadPause::default(),
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    pub(crate) fn run(mut self, inbox: &Receiver<Msg>) {
        while !(self.shutting_down && self.room.connections() == 0) {
            let input = self.next_input(inbox);
            self.report_written();
            match input {
                Some(Some(msg)) => self.handle(msg),
                Some(None) => self.step(Input::Tick),
                None => break,
            }
        }
        for (conn, outbox) in self.outboxes.drain() {
            tracing::warn!(%conn, "the room stopped with the connection open; aborting it");
            outbox.abort();
        }
    }

    /// Takes the next message, waiting for it until the room's deadline;
    /// hands the sends over to the writers before waiting.
    /// `Some(None)` means the deadline passed; `None` that every sender is gone.
    fn next_input(&mut self, inbox: &Receiver<Msg>) -> Option<Option<Msg>> {
        // Checked first, so a steady stream of messages cannot starve the timers.
        let deadline = self.room.poll_timeout();
        if deadline.is_some_and(|due| due <= self.clock.now()) {
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
                let now = self.clock.now();
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
        for conn in &self.unsent {
            // Closed since: `flush_and_close` handed it over, or it was aborted.
            if let Some(outbox) = self.outboxes.get_mut(conn) {
                outbox.hand_over();
            }
        }
        let deadline = Instant::now() + pace::MAX_WAIT;
        for conn in &self.unsent {
            let Some(outbox) = self.outboxes.get(conn) else {
                continue;
            };
            if !self.pace.wait_while(deadline, || outbox.writer_is_behind()) {
                tracing::debug!("writers got no CPU for {:?}; moving on", pace::MAX_WAIT);
                break;
            }
        }
        self.unsent.clear();
        self.burst = 0;
    }

    /// Feeds every write the sockets took since the last call, one
    /// `Written` per connection.
    fn report_written(&mut self) {
        // Bounded even while writers keep listing: each connection is on
        // the list at most twice at a time (see `written`).
        let bound = 2 * self.outboxes.len() + 2;
        for _ in 0..bound {
            let Some(conn) = self.reports.next_dirty() else {
                return;
            };
            // A closed connection's counter is gone with its outbox; the core
            // forgot the id anyway.
            let len = self.outboxes.get(&conn).map_or(0, |o| o.written.take());
            if len > 0 {
                self.step(Input::Written { conn, len });
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected { conn, peer, outbox } => {
                // Registered first: the room's first action for it follows.
                self.outboxes.insert(conn, outbox);
                self.step(Input::Connected { conn, peer });
            }
            Msg::Received { conn, bytes } => {
                self.step(Input::Received {
                    conn,
                    bytes: &bytes,
                });
                // Unless the room just closed it: then the reader learns it
                // from the dropped outbox.
                if let Some(outbox) = self.outboxes.get(&conn) {
                    if let Some(bytes) = self.paused.after_read(conn, bytes) {
                        outbox.give_back(bytes);
                    }
                }
            }
            Msg::Closed { conn } => self.step(Input::Closed { conn }),
            Msg::Shutdown if self.shutting_down => {}
            Msg::Shutdown => {
                tracing::info!("shutting down");
                self.shutting_down = true;
                self.step(Input::Shutdown);
            }
        }
    }

    /// Feeds one input, then drains every action and event.
    fn step(&mut self, input: Input<'_>) {
        self.room.handle(self.clock.now(), input);
        while let Some(action) = self.room.poll_action() {
            self.act(action);
        }
        while let Some(event) = self.room.poll_event() {
            tracing::info!("{event}");
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Send { conn, bytes } => match self.outboxes.get_mut(&conn) {
                Some(outbox) => {
                    if outbox.send(bytes) {
                        self.unsent.push(conn);
                    }
                }
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => {
                self.paused.forget(conn);
                match self.outboxes.remove(&conn) {
                    Some(outbox) if mode == CloseMode::Flush => outbox.flush_and_close(),
                    Some(outbox) => outbox.abort(),
                    None => tracing::debug!(%conn, "close of an unknown connection"),
                }
            }
            Action::StopReading { conn } => self.paused.stop(conn),
            Action::ResumeReading { conn } => {
                if let (Some(bytes), Some(outbox)) =
                    (self.paused.resume(conn), self.outboxes.get(&conn))
                {
                    outbox.give_back(bytes);
                }
            }
        }
    }
}
