//! The room task: owns the room, turns messages from the other tasks into
//! [`Input`]s, and carries out the [`Action`]s by filling outboxes (it
//! never writes to a socket itself, so no client can stall it). The step
//! itself (input, actions, events, `Written` reports) is the shared
//! [`Stepper`]'s; this module waits and keeps the links.
//!
//! Before each message (and each `Tick`) it reports what the writers' sockets
//! took since the last one ([`Reports`]): those reports never queue behind
//! received bytes, so a burst from one client cannot make the core believe
//! that the readers fell behind.
//!
//! Messages that are already waiting are handled without giving up the
//! thread, so it yields every [`YIELD_AFTER`] inputs: the writers then write
//! (and report) what it sent, and the readers read again.

use crate::link::Link;
use async_channel::Receiver;
use async_io::Timer;
use chat_core::{Action, ConnId, Event, Input, Time};
use chat_runtime_common::driver::{Connections, Stepper};
use chat_runtime_common::log::{LogEvent, LogSink};
use chat_runtime_common::read_pause::ReadPause;
use chat_runtime_common::written::{Released, Reports};
use futures_lite::future;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a clustered room waits, once stopped, for its last appends
/// (the `Down` of the shutdown) to reach the log.
const LOG_FLUSH: Duration = Duration::from_secs(2);

/// Hands a clustered room's log events to the room task (from the log's
/// own threads).
#[derive(Debug)]
pub(crate) struct LogToRoom(pub(crate) async_channel::Sender<LogEvent>);

impl LogSink for LogToRoom {
    fn deliver(&self, event: LogEvent) -> bool {
        self.0.send_blocking(event).is_ok()
    }
}

/// The most inputs the room task handles in a row before it lets the other
/// tasks run. With hundreds of clients sending at once, a room that never
/// yielded would queue hundreds of reads' worth of lines for every writer
/// before any of them could write, and close fast readers as too slow.
const YIELD_AFTER: usize = 64;

/// What the other tasks tell the room task.
#[derive(Debug)]
pub(crate) enum Msg {
    /// The acceptor registered a new connection.
    Connected {
        /// The new, never used id.
        conn: ConnId,
        /// The address it comes from.
        peer: IpAddr,
        /// What the room shares with its task.
        link: Rc<Link>,
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
        reply: async_channel::Sender<bool>,
    },
    /// The handshake of a connection admitted by `Reserve` failed: it
    /// will never be `Connected`.
    Cancel {
        /// Whose reservation.
        conn: ConnId,
    },
}

/// What the room task waits for.
enum Wake {
    Msg(Msg),
    Log(LogEvent),
    Shutdown,
    Tick,
    /// Every sender is gone.
    Done,
}

/// The driver's view of the room's connections.
///
/// # Invariants
/// It holds exactly the ids that were `Connected` and have had no
/// `Action::Close` yet: after a `Close` the core forgot the id, and so do we.
#[derive(Debug, Default)]
pub(crate) struct Links {
    map: HashMap<ConnId, Rc<Link>>,
    /// The read buffers of connections flood control stopped reading.
    paused: ReadPause<Vec<u8>>,
}

impl Connections for Links {
    fn act(&mut self, action: Action) {
        match action {
            Action::Send { bytes, .. } if bytes.is_empty() => {}
            Action::Send { conn, bytes } => match self.map.get(&conn) {
                Some(link) => link.outbox.push(bytes),
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => {
                self.paused.forget(conn);
                match self.map.remove(&conn) {
                    Some(link) => link.close(mode),
                    None => tracing::debug!(%conn, "close of an unknown connection"),
                }
            }
            Action::StopReading { conn } => self.paused.stop(conn),
            Action::ResumeReading { conn } => {
                if let (Some(bytes), Some(link)) = (self.paused.resume(conn), self.map.get(&conn)) {
                    link.credit.give_back(bytes);
                }
            }
            Action::Append { .. } => {} // the stepper's, never passed on
        }
    }

    fn event(&mut self, event: Event) {
        tracing::info!("{event}");
    }

    fn take_written(&mut self, conn: ConnId) -> Released {
        // A closed connection's counter is gone with its link.
        self.map
            .get(&conn)
            .map_or(Released::default(), |l| l.written.take())
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The room task's state.
///
/// # Invariants
/// `timer` is set to `armed` (or never fires when `armed` is `None`).
#[derive(Debug)]
pub(crate) struct Driver {
    stepper: Stepper,
    links: Links,
    shutting_down: bool,
    timer: Timer,
    armed: Option<Time>,
    /// Where the writers list the connections with unreported writes.
    reports: Reports,
    /// Inputs handled since the room task last yielded.
    burst: usize,
    /// A clustered room's log events.
    log: Option<Receiver<LogEvent>>,
}

impl Driver {
    pub(crate) fn new(stepper: Stepper, reports: Reports, log: Option<Receiver<LogEvent>>) -> Self {
        Driver {
            stepper,
            links: Links::default(),
            shutting_down: false,
            timer: Timer::never(),
            armed: None,
            reports,
            burst: 0,
            log,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    ///
    /// A closed `shutdown` channel (every handle dropped) counts as a request.
    pub(crate) async fn run(mut self, inbox: Receiver<Msg>, shutdown: Receiver<()>) {
        while !(self.shutting_down && self.stepper.connections() == 0) {
            self.burst += 1;
            if self.burst > YIELD_AFTER {
                self.burst = 0;
                future::yield_now().await;
            }
            let wake = self.next(&inbox, &shutdown).await;
            self.stepper.report_written(&mut self.links, &self.reports);
            match wake {
                Wake::Msg(msg) => self.handle(msg),
                Wake::Log(event) => self.stepper.log_event(&mut self.links, event),
                Wake::Tick => self.step(Input::Tick),
                Wake::Shutdown => {
                    tracing::info!("shutting down");
                    self.shutting_down = true;
                    self.step(Input::Shutdown);
                }
                Wake::Done => break,
            }
        }
        // A connection accepted after the last input is still in the inbox:
        // its task would wait for a close that never comes.
        inbox.close();
        while let Ok(msg) = inbox.try_recv() {
            if let Msg::Connected { conn, link, .. } = msg {
                self.links.map.insert(conn, link);
            }
        }
        for (conn, link) in self.links.map.drain() {
            tracing::warn!(%conn, "the room stopped with the connection open; aborting it");
            link.close(chat_core::CloseMode::Abort);
        }
        if let Some(mut flush) = self.stepper.flush_log() {
            let deadline = Instant::now() + LOG_FLUSH;
            while !flush.is_done() {
                if Instant::now() >= deadline {
                    tracing::warn!("the last appends did not reach the log in time");
                    break;
                }
                Timer::after(Duration::from_millis(10)).await;
            }
        }
    }

    /// Waits for a shutdown request, a message or the room's deadline, in
    /// that order of preference (`future::or` polls its first future first).
    async fn next(&mut self, inbox: &Receiver<Msg>, shutdown: &Receiver<()>) -> Wake {
        let deadline = self.stepper.deadline();
        // Checked before waiting, so a steady stream of messages cannot
        // starve the timers.
        if self.stepper.is_due(deadline) {
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
        // Before the clients' messages: the log's events are bounded by
        // its reader, and a room waiting for its log refuses every line.
        let log = async {
            match &self.log {
                Some(log) => match log.recv().await {
                    Ok(event) => Wake::Log(event),
                    Err(_) => future::pending().await,
                },
                None => future::pending().await,
            }
        };
        let timer = &mut self.timer;
        let tick = async {
            timer.await;
            Wake::Tick
        };
        let wake = future::or(stop, future::or(log, future::or(msg, tick))).await;
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
        match deadline.and_then(|due| self.stepper.clock().instant(due)) {
            Some(at) => self.timer.set_at(at),
            None => self.timer = Timer::never(),
        }
        self.armed = deadline;
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected { conn, peer, link } => {
                // Registered first: the room's first action for it follows.
                self.links.map.insert(conn, link);
                self.step(Input::Connected { conn, peer });
            }
            Msg::Received { conn, bytes } => {
                self.step(Input::Received {
                    conn,
                    bytes: &bytes,
                });
                // Unless the room just closed it: then the reader has stopped.
                if let Some(link) = self.links.map.get(&conn) {
                    if let Some(bytes) = self.links.paused.after_read(conn, bytes) {
                        link.credit.give_back(bytes);
                    }
                }
            }
            Msg::Closed { conn } => self.step(Input::Closed { conn }),
            Msg::Reserve { conn, peer, reply } => {
                // The asker may be gone; then there is no one to tell.
                let _ = reply.try_send(self.stepper.reserve_address(conn, peer));
            }
            Msg::Cancel { conn } => self.stepper.cancel_reservation(conn),
        }
    }

    /// Feeds one input, then carries out every action and logs every event.
    fn step(&mut self, input: Input<'_>) {
        self.stepper.step(&mut self.links, input);
    }
}
