//! The room task: owns the [`Room`], turns messages from the other tasks into
//! [`Input`]s, and carries out the [`Action`]s by filling [`Outbox`]es (it
//! never writes to a socket itself, so no client can stall it).

use crate::clock::Clock;
use crate::outbox::Outbox;
use async_channel::Receiver;
use async_io::Timer;
use chat_core::{Action, Config, ConnId, Input, Room, Time};
use futures_lite::future;
use std::collections::HashMap;
use std::rc::Rc;

/// What the other tasks tell the room task.
#[derive(Debug)]
pub(crate) enum Msg {
    /// The acceptor registered a new connection.
    Connected {
        /// The new, never used id.
        conn: ConnId,
        /// Its outgoing queue, shared with its writer.
        outbox: Rc<Outbox>,
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
}

/// What the room task waits for.
enum Wake {
    Msg(Msg),
    Shutdown,
    Tick,
    /// Every sender is gone.
    Done,
}

/// The room and the driver's view of its connections.
///
/// # Invariants
/// `outboxes` holds exactly the ids that were `Connected` and have had no
/// `Action::Close` yet: after a `Close` the core forgot the id, and so do we.
/// `timer` is set to `armed` (or never fires when `armed` is `None`).
#[derive(Debug)]
pub(crate) struct Driver {
    room: Room,
    clock: Clock,
    outboxes: HashMap<ConnId, Rc<Outbox>>,
    shutting_down: bool,
    timer: Timer,
    armed: Option<Time>,
}

impl Driver {
    pub(crate) fn new(config: Config) -> Self {
        Driver {
            room: Room::new(config),
            clock: Clock::start(),
            outboxes: HashMap::new(),
            shutting_down: false,
            timer: Timer::never(),
            armed: None,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    ///
    /// A closed `shutdown` channel (every handle dropped) counts as a request.
    pub(crate) async fn run(mut self, inbox: Receiver<Msg>, shutdown: Receiver<()>) {
        while !(self.shutting_down && self.room.connections() == 0) {
            match self.next(&inbox, &shutdown).await {
                Wake::Msg(msg) => self.handle(msg),
                Wake::Tick => self.step(Input::Tick),
                Wake::Shutdown => {
                    tracing::info!("shutting down");
                    self.shutting_down = true;
                    self.step(Input::Shutdown);
                }
                Wake::Done => break,
            }
        }
        for (conn, outbox) in self.outboxes.drain() {
            tracing::warn!(%conn, "the room stopped with the connection open; aborting it");
            outbox.close(chat_core::CloseMode::Abort);
        }
    }

    /// Waits for a shutdown request, a message or the room's deadline, in
    /// that order of preference (`future::or` polls its first future first).
    async fn next(&mut self, inbox: &Receiver<Msg>, shutdown: &Receiver<()>) -> Wake {
        let deadline = self.room.poll_timeout();
        // Checked before waiting, so a steady stream of messages cannot
        // starve the timers.
        if deadline.is_some_and(|due| due <= self.clock.now()) {
            self.armed = None;
            return Wake::Tick;
        }
        self.arm(deadline);
        let listen = !self.shutting_down;
        let stop = async {
            if listen {
                let _ = shutdown.recv().await;
                Wake::Shutdown
            } else {
                future::pending().await
            }
        };
        let msg = async {
            match inbox.recv().await {
                Ok(msg) => Wake::Msg(msg),
                Err(_) => Wake::Done,
            }
        };
        let timer = &mut self.timer;
        let tick = async {
            timer.await;
            Wake::Tick
        };
        let wake = future::or(stop, future::or(msg, tick)).await;
        if matches!(wake, Wake::Tick) {
            self.armed = None; // a fired timer never fires again
        }
        wake
    }

    /// Points the timer at `deadline`, re-registering only when it changed.
    fn arm(&mut self, deadline: Option<Time>) {
        if deadline == self.armed {
            return;
        }
        match deadline.and_then(|due| self.clock.instant(due)) {
            Some(at) => self.timer.set_at(at),
            None => self.timer = Timer::never(),
        }
        self.armed = deadline;
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
            Action::Send { bytes, .. } if bytes.is_empty() => {}
            Action::Send { conn, bytes } => match self.outboxes.get(&conn) {
                Some(outbox) => outbox.push(bytes),
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => match self.outboxes.remove(&conn) {
                Some(outbox) => outbox.close(mode),
                None => tracing::debug!(%conn, "close of an unknown connection"),
            },
        }
    }
}
