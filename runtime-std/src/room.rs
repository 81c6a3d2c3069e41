//! The room thread: owns the [`Room`], turns messages from the other threads
//! into [`Input`]s, and carries out the [`Action`]s (without ever writing to a
//! socket itself, so no client can stall it).

use crate::clock::Clock;
use crate::conn::Outbox;
use chat_core::{Action, CloseMode, Config, ConnId, Input, Room};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};

/// What the other threads tell the room thread.
#[derive(Debug)]
pub(crate) enum Msg {
    /// The acceptor registered a new connection.
    Connected {
        /// The new, never used id.
        conn: ConnId,
        /// How to reach its writer.
        outbox: Outbox,
    },
    /// A reader read these bytes (at most `MAX_READ`, never empty).
    Received {
        /// Whose socket.
        conn: ConnId,
        /// The bytes as read.
        bytes: Vec<u8>,
    },
    /// A writer's socket took `len` more bytes.
    Written {
        /// Whose socket.
        conn: ConnId,
        /// How many bytes.
        len: usize,
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
#[derive(Debug)]
pub(crate) struct Driver {
    room: Room,
    clock: Clock,
    outboxes: HashMap<ConnId, Outbox>,
    shutting_down: bool,
}

impl Driver {
    pub(crate) fn new(config: Config) -> Self {
        Driver {
            room: Room::new(config),
            clock: Clock::start(),
            outboxes: HashMap::new(),
            shutting_down: false,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    pub(crate) fn run(mut self, inbox: &Receiver<Msg>) {
        while !(self.shutting_down && self.room.connections() == 0) {
            match self.next_input(inbox) {
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

    /// Waits for the next message until the room's deadline.
    /// `Some(None)` means the deadline passed; `None` that every sender is gone.
    fn next_input(&self, inbox: &Receiver<Msg>) -> Option<Option<Msg>> {
        let Some(deadline) = self.room.poll_timeout() else {
            return inbox.recv().ok().map(Some);
        };
        // Checked before waiting, so a steady stream of messages cannot
        // starve the timers.
        let now = self.clock.now();
        if deadline <= now {
            return Some(None);
        }
        match inbox.recv_timeout(deadline - now) {
            Ok(msg) => Some(Some(msg)),
            Err(RecvTimeoutError::Timeout) => Some(None),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected { conn, outbox } => {
                // Registered first: the room's first action for it follows.
                self.outboxes.insert(conn, outbox);
                self.step(Input::Connected { conn });
            }
            Msg::Received { conn, bytes } => self.step(Input::Received {
                conn,
                bytes: &bytes,
            }),
            Msg::Written { conn, len } => self.step(Input::Written { conn, len }),
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
            Action::Send { conn, bytes } => match self.outboxes.get(&conn) {
                Some(outbox) => outbox.send(bytes),
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => match self.outboxes.remove(&conn) {
                Some(outbox) if mode == CloseMode::Flush => outbox.flush_and_close(),
                Some(outbox) => outbox.abort(),
                None => tracing::debug!(%conn, "close of an unknown connection"),
            },
        }
    }
}
