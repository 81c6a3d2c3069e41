//! The step every driver takes around the [`Room`]: feed one input at the
//! clock's time, carry out every action, log every event; and before each
//! input, the `Written` reports the writers left on the dirty list.
//!
//! A runtime brings its connection table ([`Connections`]: how to queue
//! bytes for a connection's writer, close it, and read its unreported
//! count) and its own way of waiting (a channel with a timeout, a future);
//! the bookkeeping in between is here, once.

use crate::admission::Admission;
use crate::clock::Clock;
use crate::written::Reports;
use chat_core::{Action, Config, ConnId, Event, Input, Room, Time};
use std::sync::Arc;

/// What a driver keeps per connection, as the step needs it.
pub trait Connections {
    /// Carries out one of the room's actions: queue the bytes for the
    /// connection's writer, or close it (and forget it: a `Close` is the
    /// last action for its id).
    fn act(&mut self, action: Action);

    /// Takes one of the room's events (a join, a leave): the runtime logs
    /// it, under its own name.
    fn event(&mut self, event: Event);

    /// The bytes `conn`'s socket took that the room was not told yet, now
    /// counted as told; 0 for an id already forgotten.
    fn take_written(&mut self, conn: ConnId) -> usize;

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
}

impl Stepper {
    /// A fresh room, and a clock whose epoch is now. The room's connection
    /// count goes to `admission` after every step, for the TLS ports.
    pub fn new(config: Config, admission: Arc<Admission>) -> Self {
        Stepper {
            room: Room::new(config),
            clock: Clock::start(),
            admission,
        }
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

    /// Feeds one input, then carries out every action and hands over every event.
    pub fn step(&mut self, conns: &mut impl Connections, input: Input<'_>) {
        self.room.handle(self.clock.now(), input);
        while let Some(action) = self.room.poll_action() {
            conns.act(action);
        }
        while let Some(event) = self.room.poll_event() {
            conns.event(event);
        }
        self.admission.set_room_connections(self.room.connections());
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
            let len = conns.take_written(conn);
            if len > 0 {
                self.step(conns, Input::Written { conn, len });
            }
        }
    }
}
