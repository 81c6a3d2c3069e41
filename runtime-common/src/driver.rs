//! The step every driver takes around the [`Room`]: feed one input at the
//! clock's time, carry out every action, log every event; and before each
//! input, the `Written` reports the writers left on the dirty list.
//!
//! A runtime brings its connection table ([`Connections`]: how to queue
//! bytes for a connection's writer, close it, and read its unreported
//! count) and its own way of waiting (a channel with a timeout, a future);
//! the bookkeeping in between is here, once.
//!
//! A clustered room's stepper also holds its log (a [`RoomLog`]): the
//! room's appends go there, and what the log says comes back as
//! [`LogEvent`]s: those the log has at once are taken after every step
//! ([`RoomLog::poll_event`]), and the runtime hands in those the log's own
//! threads deliver ([`Stepper::log_event`]).
//!
//! Around the stepper, the rest of a driver is here too: the room's handle
//! on a connection ([`Link`]), the connection table over it ([`Links`]),
//! the messages a runtime hands the room ([`Msg`]) and the driver that
//! handles them ([`RoomDriver`]).

use crate::admission::Admission;
use crate::clock::Clock;
use crate::log::{Flush, LogEvent, LogPos, Reset, RoomLog, SNAPSHOT_ENTRIES, SNAPSHOT_EVERY};
use crate::written::{Released, Reports};
use chat_core::{Action, ClusterConfig, Config, ConnId, Event, Input, Room, Time};
use std::net::IpAddr;
use std::sync::Arc;

mod link;
mod links;
mod msg;
mod room;

pub use link::Link;
pub use links::Links;
pub use msg::{Msg, ReserveReply};
pub use room::{FlushWait, RoomDriver, LOG_FLUSH};

/// What a driver keeps per connection, as the step needs it.
pub trait Connections {
    /// Carries out one of the room's actions: queue the bytes for the
    /// connection's writer, or close it (and forget it: a `Close` is the
    /// last action for its id).
    fn act(&mut self, action: Action);

    /// Takes one of the room's events (a join, a leave): the runtime logs
    /// it, under its own name.
    fn event(&mut self, event: Event);

    /// What `conn`'s writer released (bytes its socket took, payloads it
    /// dropped) that the room was not told yet, now counted as told;
    /// nothing for an id already forgotten.
    fn take_written(&mut self, conn: ConnId) -> Released;

    /// How many connections the table holds (bounds the report loop).
    fn len(&self) -> usize;

    /// Whether the table holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The room, the clock it is fed by, and the admission it reports its
/// connections to.
///
/// # Invariants
/// Every input is handled at `clock.now()`, which never goes backwards;
/// after every input, no action and no event is left in the room, and
/// `admission` holds the room's connection count.
#[derive(Debug)]
pub struct Stepper {
    room: Room,
    clock: Clock,
    admission: Arc<Admission>,
    log: Option<Clustered>,
}

/// A clustered room's log, as the stepper keeps it.
///
/// # Invariants
/// `gen` is the latest generation the room was told of (by a `Down`, an
/// `Up` or an overflow); `up` whether the last of those was an `Up`.
/// `last` is the position of the last entry handed in (or of the restored
/// snapshot); `fresh` counts the entries handed in since the last snapshot.
#[derive(Debug)]
struct Clustered {
    log: Box<dyn RoomLog>,
    gen: u64,
    up: bool,
    epoch: Option<Arc<str>>,
    last: Option<LogPos>,
    fresh: usize,
    snapshot_at: Time,
}

impl Stepper {
    /// A fresh room, and a clock whose epoch is now. The room's connection
    /// count goes to its [`admission`](Stepper::admission) after every
    /// step, for the TLS ports.
    pub fn new(config: Config) -> Self {
        Self::around(Room::new(config), None)
    }

    /// The stepper of `room`, with its admission and a clock whose epoch is now.
    fn around(room: Room, log: Option<Clustered>) -> Self {
        Stepper {
            admission: Admission::new(room.config()),
            room,
            clock: Clock::start(),
            log,
        }
    }

    /// A clustered room, node `cluster.node`, sharing `log`. It serves
    /// nobody until the log is up.
    pub fn clustered(config: Config, cluster: ClusterConfig, log: impl RoomLog + 'static) -> Self {
        let room = Room::clustered(config, cluster, None);
        Self::around(
            room,
            Some(Clustered {
                log: Box::new(log),
                gen: 0,
                up: false,
                epoch: None,
                last: None,
                fresh: 0,
                snapshot_at: Time::ZERO + SNAPSHOT_EVERY,
            }),
        )
    }

    /// What bounds the TLS handshakes in progress: the accept loops take
    /// their slots from it, and the stepper reports the room's connections
    /// to it.
    pub fn admission(&self) -> Arc<Admission> {
        Arc::clone(&self.admission)
    }

    /// Applies the room's per-address limits to `conn` from `peer` before
    /// the room hears of it (see `Room::reserve_address`): `false` when
    /// its address is over a limit.
    pub fn reserve_address(&mut self, conn: ConnId, peer: IpAddr) -> bool {
        self.room.reserve_address(conn, peer, self.clock.now())
    }

    /// Releases `conn`'s reservation: its handshake failed.
    pub fn cancel_reservation(&mut self, conn: ConnId) {
        self.room.cancel_reservation(conn, self.clock.now());
    }

    /// The clock inputs are handled at.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The room's next deadline, if any.
    pub fn deadline(&self) -> Option<Time> {
        self.room.poll_timeout()
    }

    /// Whether `deadline` has passed (a `Tick` is due).
    pub fn is_due(&self, deadline: Option<Time>) -> bool {
        deadline.is_some_and(|due| due <= self.clock.now())
    }

    /// Connections the room holds, joined or not.
    pub fn connections(&self) -> usize {
        self.room.connections()
    }

    /// Feeds one input, then carries out every action and hands over every
    /// event; then hands the room what its log has for it at once (a
    /// memory log's `Up` comes after the first input, a connection's
    /// arrival, whose greeting does not depend on the log).
    pub fn step(&mut self, conns: &mut impl Connections, input: Input<'_>) {
        self.feed(conns, input);
        self.take_log_events(conns);
    }

    /// Hands the room what the log says (from the log's own threads), and
    /// what the log has for it at once after that.
    pub fn log_event(&mut self, conns: &mut impl Connections, event: LogEvent) {
        self.apply_log_event(conns, event);
        self.take_log_events(conns);
    }

    /// Hands the room every event its log has now ([`RoomLog::poll_event`]).
    ///
    /// Ends: in answer to entries, the room appends only what it appended
    /// before and the log did not get, and its `Up` after its own loss; a
    /// log that hands back every append, in order, gives neither cause
    /// again and again.
    fn take_log_events(&mut self, conns: &mut impl Connections) {
        while let Some(event) = self.log.as_mut().and_then(|log| log.log.poll_event()) {
            self.apply_log_event(conns, event);
        }
    }

    /// Feeds one input, carries out every action and hands over every
    /// event; the room's appends go to the log.
    fn feed(&mut self, conns: &mut impl Connections, input: Input<'_>) {
        self.room.handle(self.clock.now(), input);
        let mut overflow = None;
        while let Some(action) = self.room.poll_action() {
            match (action, &mut self.log) {
                (Action::Append { entry }, Some(log)) => {
                    // After an overflow the rest is dropped: the room is
                    // told `LogDown` below, and appends made before it
                    // must not reach the log.
                    if overflow.is_none() {
                        overflow = log.log.append(log.gen, &entry).err();
                    }
                }
                (Action::Append { entry }, None) => {
                    tracing::error!(?entry, "a room that is not clustered appended to a log");
                }
                (action, _) => conns.act(action),
            }
        }
        while let Some(event) = self.room.poll_event() {
            conns.event(event);
        }
        self.admission.set_room_connections(self.room.connections());
        if let (Some(overflow), Some(log)) = (overflow, &mut self.log) {
            log.gen = log.gen.max(overflow.gen);
            log.up = false;
            // Bounded: a room that is down appends nothing.
            self.feed(conns, Input::LogDown);
        }
    }

    /// Hands the room one event of its log.
    fn apply_log_event(&mut self, conns: &mut impl Connections, event: LogEvent) {
        let Some(log) = self.log.as_mut() else {
            tracing::error!(?event, "a log event for a room that is not clustered");
            return;
        };
        match event {
            LogEvent::Logged { entries, last } => {
                log.last = Some(last);
                log.fresh += entries.len();
                self.feed(conns, Input::Logged { entries: &entries });
                self.maybe_snapshot();
            }
            LogEvent::Up { gen, epoch } => {
                if gen < log.gen {
                    return; // went down since; a later `Up` follows
                }
                log.gen = gen;
                log.up = true;
                log.epoch = Some(epoch);
                self.feed(conns, Input::LogUp);
            }
            LogEvent::Down { gen } => {
                log.gen = log.gen.max(gen);
                log.up = false;
                self.feed(conns, Input::LogDown);
            }
            LogEvent::Restart {
                reset,
                snapshot,
                from,
            } => {
                log.last = Some(from);
                log.fresh = 0;
                match reset {
                    Some(Reset::LogLost) => self.feed(conns, Input::LogReset),
                    Some(Reset::FellBehind) => self.feed(conns, Input::FellBehind),
                    None => {}
                }
                if let Some(snapshot) = snapshot {
                    if self.room.restore_snapshot(&snapshot) {
                        tracing::info!(%from, users = snapshot.members(), "restored the room from its snapshot");
                    } else {
                        tracing::error!(%from, "the room refused its snapshot");
                    }
                }
            }
        }
    }

    /// Stores a snapshot when one is due: only while up (every entry up to
    /// `last` was handed in), and only if entries came since the last one.
    fn maybe_snapshot(&mut self) {
        let now = self.clock.now();
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let due = log.fresh >= SNAPSHOT_ENTRIES || (log.fresh > 0 && now >= log.snapshot_at);
        let (true, true, Some(last), Some(epoch)) = (due, log.up, log.last, log.epoch.clone())
        else {
            return;
        };
        let Some(snapshot) = self.room.snapshot() else {
            return;
        };
        log.log.store_snapshot(epoch, last, &snapshot);
        log.fresh = 0;
        log.snapshot_at = now + SNAPSHOT_EVERY;
    }

    /// For a clustered room: a flush of the appends queued so far (the
    /// shutdown's `Down`), to wait for before the process exits.
    pub fn flush_log(&self) -> Option<Box<dyn Flush>> {
        Some(self.log.as_ref()?.log.flush())
    }

    /// Feeds every write the sockets took since the last call, one
    /// `Written` per connection. Bounded even while writers keep listing:
    /// each connection is on the list at most twice at a time.
    pub fn report_written(&mut self, conns: &mut impl Connections, reports: &Reports) {
        let bound = 2 * conns.len() + 2;
        for _ in 0..bound {
            let Some(conn) = reports.next_dirty() else {
                return;
            };
            let Released { len, sends } = conns.take_written(conn);
            if len > 0 || sends > 0 {
                self.step(conns, Input::Written { conn, len, sends });
            }
        }
    }
}

#[cfg(test)]
mod tests;
