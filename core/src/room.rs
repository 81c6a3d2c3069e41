//! The room: every connection, the nick index and the outgoing queue.

use crate::config::Config;
use crate::event::Event;
use crate::io::{Action, ConnId, Input};
use crate::time::Time;
use std::collections::VecDeque;

/// The whole chat server as a state machine.
///
/// # Contract
/// 1. `now` never goes backwards (debug builds assert it; release builds clamp).
/// 2. After every [`handle`](Room::handle), the driver drains
///    [`poll_action`](Room::poll_action) (and [`poll_event`](Room::poll_event))
///    until `None`, then reads [`poll_timeout`](Room::poll_timeout) and sends
///    [`Input::Tick`] no later than that.
/// 3. Actions for one connection come out in wire order. [`Action::Close`] is
///    the last action for its connection; after it the core has forgotten that id.
/// 4. Inputs for an unknown or closed id do nothing. A `Tick` before the
///    deadline does nothing.
/// 5. Memory is bounded: each line buffer by `max_line`, each send account
///    (bytes sent minus bytes written) by `send_queue` plus one batch, and the
///    number of connections by `max_clients`.
#[derive(Debug)]
pub struct Room {
    config: Config,
    now: Time,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl Room {
    /// A room with no connections.
    pub fn new(config: Config) -> Self {
        Room {
            config,
            now: Time::ZERO,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The limits this room enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, now: Time, input: Input<'_>) {
        self.now = self.now.max(now);
        let _ = input;
    }

    /// The next thing the driver must do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next log event, in order. At most a bounded number are kept.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the driver must send the next [`Input::Tick`], if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        None
    }

    /// Open connections, joined or not.
    pub fn connections(&self) -> usize {
        0
    }

    /// Joined users as `(conn, nick)`, ordered by nick ignoring case.
    pub fn joined(&self) -> impl Iterator<Item = (ConnId, &str)> + '_ {
        std::iter::empty()
    }

    /// The nick of `conn`, if it has joined.
    pub fn nick(&self, conn: ConnId) -> Option<&str> {
        let _ = conn;
        None
    }

    /// Bytes sent to `conn` that its socket has not taken yet; `None` if unknown.
    pub fn unflushed(&self, conn: ConnId) -> Option<usize> {
        let _ = conn;
        None
    }

    /// Whether [`Input::Shutdown`] was handled.
    pub fn is_shutting_down(&self) -> bool {
        false
    }

    /// No connection is open and no action waits to be drained.
    pub fn is_idle(&self) -> bool {
        self.actions.is_empty()
    }
}
