//! The room: every connection, the nick index and the outgoing queues.
//!
//! This file holds the state and the dispatch of inputs; the rules live in
//! the submodules: [`handshake`] (nicks and joining), [`chat`] (lines and
//! commands of joined users), [`delivery`] (sending, broadcasting, closing),
//! [`hold`] (join and leave notices held back in large rooms).

mod chat;
mod cluster;
mod delivery;
mod handshake;
mod hold;

use crate::address::AddressTable;
use crate::batch::Batch;
use crate::config::Config;
use crate::conn::Conn;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId, Input, Payload};
use crate::roster::{Member, Roster};
use crate::time::Time;
use crate::timer::{TimerKind, TimerTable};
use crate::wire;
use std::collections::{BTreeMap, VecDeque};

/// The most log events kept undrained; later ones are counted and dropped.
const MAX_EVENTS: usize = 65_536;

/// The whole chat server as a state machine.
///
/// # Contract
/// 1. `now` never goes backwards (debug builds assert it; release builds clamp).
/// 2. After every [`handle`](Room::handle), the driver drains
///    [`poll_action`](Room::poll_action) (and [`poll_event`](Room::poll_event))
///    until `None`, then reads [`poll_timeout`](Room::poll_timeout) and sends
///    [`Input::Tick`] no later than that.
/// 3. Actions for one connection come out in wire order. [`Action::Close`] is
///    the last action for its connection; after it the core has forgotten that
///    id. Every connection the core accepted gets exactly one `Close`, also
///    after [`Input::Closed`].
/// 4. Inputs for an unknown or closed id do nothing. A `Tick` before the
///    deadline does nothing.
/// 5. Memory is bounded: each line buffer by `max_line`, each send account
///    (bytes sent minus bytes written) by `send_queue` plus one line — past
///    it the user is closed as too slow —, the held join and leave notices
///    by a quarter of `send_queue` plus those of one input, and the number
///    of connections by `max_clients`.
/// 6. Every joined user is sent every room line from its own join notice
///    on, once, in the room's one order. In a large room, join and leave
///    notices may wait up to [`Config::notice_hold`] before they are sent
///    (see `poll_timeout`); anything else sent to a user comes after them.
///
/// # Invariants
/// Between two calls to `handle`: the room batch is empty; the nick index
/// holds exactly the joined connections; every stored deadline is in the
/// timer table and no deadline is before `now`; the held notices follow the
/// invariants of the `hold` module.
#[derive(Debug)]
pub struct Room {
    config: Config,
    canned: Canned,
    now: Time,
    conns: BTreeMap<ConnId, Conn>,
    /// The joined users' nicks.
    roster: Roster,
    /// Connections counted per address group, and the ones reserved
    /// before a transport handshake.
    addresses: AddressTable,
    timers: TimerTable,
    /// Room lines accepted during this `handle` and not yet sent to the room.
    batch: Batch,
    /// `Some(conn)` when every line in the batch is one `conn` said (it may
    /// be empty); `None` once a notice was added to it.
    batch_speaker: Option<ConnId>,
    /// Join and leave notices held back, in a large room (see `hold`).
    held: Batch,
    /// Whether `held` holds a leave notice.
    held_leaves: bool,
    /// When the held notices must go out; `Some` exactly when there are some.
    held_until: Option<Time>,
    /// At least the send account of every joined user: a batch that costs
    /// no more than `send_queue - max_unflushed` takes nobody past the limit.
    max_unflushed: usize,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    dropped_events: u64,
    shutting_down: bool,
    /// The last `history` lines said in the room, oldest first.
    history: VecDeque<Box<str>>,
    /// `Some` when the room is shared through a log with other servers;
    /// `None` when this server is the whole room (its log is in-process:
    /// what users do changes the room at once).
    shared: Option<Box<cluster::Shared>>,
}

/// Fixed texts, allocated once and shared by every send.
#[derive(Debug)]
struct Canned {
    prompt: Payload,
    connected: Payload,
    help: Payload,
    line_too_long: Payload,
    server_full: Payload,
    too_many_from_address: Payload,
    shutting_down: Payload,
    http_refusal: Payload,
    too_many_attempts: Payload,
}

impl Canned {
    fn new(config: &Config) -> Self {
        let text = |s: &str| Payload::from(s.as_bytes());
        let line = |s: &str| Payload::from(format!("{s}\n").into_bytes());
        let error = |s: &str| line(&format!("{}{s}", wire::ERROR_PREFIX));
        Canned {
            prompt: text(wire::PROMPT),
            connected: line(wire::CONNECTED),
            help: text(crate::command::HELP),
            line_too_long: error(&format!("line too long (max {} bytes)", config.max_line)),
            server_full: text(wire::SERVER_FULL_LINE),
            too_many_from_address: error("too many connections from your address"),
            shutting_down: line(wire::SHUTTING_DOWN),
            http_refusal: text(crate::sniff::HTTP_REFUSAL),
            too_many_attempts: error("too many failed nick attempts"),
        }
    }
}

impl Room {
    /// A room with no connections.
    pub fn new(config: Config) -> Self {
        Room {
            canned: Canned::new(&config),
            addresses: AddressTable::for_config(&config),
            config,
            now: Time::ZERO,
            conns: BTreeMap::new(),
            roster: Roster::default(),
            timers: TimerTable::default(),
            batch: Batch::default(),
            batch_speaker: None,
            held: Batch::default(),
            held_leaves: false,
            held_until: None,
            max_unflushed: 0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            shutting_down: false,
            history: VecDeque::new(),
            shared: None,
        }
    }

    /// The limits this room enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds one input at time `now`. See the contract on [`Room`].
    pub fn handle(&mut self, now: Time, input: Input<'_>) {
        self.advance_to(now);
        // Deadlines that passed before this input happened come first.
        self.on_tick();
        match input {
            Input::Connected { conn, peer } => self.on_connected(conn, peer),
            Input::Received { conn, bytes } => self.on_received(conn, bytes),
            Input::Written { conn, len, sends } => self.on_written(conn, len, sends),
            Input::Closed { conn } => self.on_closed(conn),
            Input::Tick => {}
            Input::Shutdown => self.on_shutdown(),
            Input::Logged { entries } => self.on_logged(entries),
            Input::LogUp => self.on_log_up(),
            Input::LogDown => self.on_log_down(),
            Input::LogReset => self.on_log_reset(),
            Input::FellBehind => self.on_fell_behind(),
        }
        if self.held.len() > self.held_max() {
            self.release_held();
        }
        // Last: releasing held notices may close someone as too slow.
        self.flush_room();
        self.debug_check_invariants();
    }

    /// The next thing the driver must do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next log event, in order. At most 65 536 are kept undrained.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the driver must send the next [`Input::Tick`], if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        let beat = self.shared.as_ref().and_then(|shared| shared.beat_at);
        [self.timers.next_deadline(), self.held_until, beat]
            .into_iter()
            .flatten()
            .min()
    }

    /// Open connections, joined or not.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Joined users of this server as `(conn, nick)`, ordered by nick
    /// ignoring case.
    pub fn joined(&self) -> impl Iterator<Item = (ConnId, &str)> + '_ {
        self.roster.iter().filter_map(|(member, nick)| {
            let conn = member.local_conn()?;
            self.conns.contains_key(&conn).then_some((conn, &**nick))
        })
    }

    /// Users in the room, on every server: as many as `Online (N)` says.
    pub fn members(&self) -> usize {
        self.roster.len()
    }

    /// The nick of `conn`, if it has joined.
    pub fn nick(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn)?.nick.as_deref()
    }

    /// The send account of `conn`: what the sends to it cost
    /// ([`Config::send_cost`](crate::Config::send_cost)) and its driver has not released
    /// yet; `None` if unknown.
    pub fn unflushed(&self, conn: ConnId) -> Option<usize> {
        Some(self.conns.get(&conn)?.unflushed)
    }

    /// Applies the per-address limits to connection `conn` from `peer` at
    /// `now`, before the room hears of it (a TLS port asks before the
    /// handshake): `false` means its address is over a limit, and the
    /// connection should be closed with nothing done. An admitted one is
    /// counted and charged as the room would; tell the room of it with
    /// [`Input::Connected`] under the same id (it is not charged again),
    /// or [`cancel_reservation`](Room::cancel_reservation).
    pub fn reserve_address(&mut self, conn: ConnId, peer: std::net::IpAddr, now: Time) -> bool {
        self.advance_to(now);
        let admitted = match self.config.address_group(peer) {
            Some(group) => self.addresses.reserve(conn, group, self.now),
            None => true,
        };
        self.debug_check_invariants();
        admitted
    }

    /// Releases the reservation [`reserve_address`](Room::reserve_address)
    /// made for `conn`, which will never reach the room (its handshake
    /// failed); nothing if it has none.
    pub fn cancel_reservation(&mut self, conn: ConnId, now: Time) {
        self.advance_to(now);
        if let Some(group) = self.addresses.take_reservation(conn) {
            self.addresses.release(group, self.now);
        }
        self.debug_check_invariants();
    }

    /// Moves the room's clock to `now` (contract 1: never backwards).
    fn advance_to(&mut self, now: Time) {
        debug_assert!(now >= self.now, "time went backwards: {now} < {}", self.now);
        self.now = self.now.max(now);
    }

    /// Whether [`Input::Shutdown`] was handled.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// No connection is open and no action waits to be drained.
    pub fn is_idle(&self) -> bool {
        self.conns.is_empty() && self.actions.is_empty()
    }

    /// Log events dropped because the driver did not drain them.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    fn on_written(&mut self, conn: ConnId, len: usize, sends: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let credit = sends
                .saturating_mul(self.config.send_overhead)
                .saturating_add(len);
            debug_assert!(
                credit <= c.unflushed,
                "{conn} released {credit} ({len} bytes, {sends} sends) of {} sent",
                c.unflushed
            );
            c.unflushed = c.unflushed.saturating_sub(credit);
        }
    }

    fn on_tick(&mut self) {
        if self.held_until.is_some_and(|due| due <= self.now) {
            self.release_held();
        }
        self.on_beat();
        // Bounded: every iteration removes one deadline from the table.
        while let Some((conn, kind)) = self.timers.pop_due(self.now) {
            let Some(c) = self.conns.get_mut(&conn) else {
                debug_assert!(false, "a deadline outlived {conn}");
                continue;
            };
            match kind {
                TimerKind::Handshake => {
                    c.handshake_deadline = None;
                    self.depart(
                        conn,
                        DisconnectReason::HandshakeTimeout,
                        None,
                        CloseMode::Flush,
                    );
                }
                TimerKind::Settle => {
                    c.settle_deadline = None;
                    self.on_settled(conn);
                }
                TimerKind::Flood => {
                    c.flood_deadline = None;
                    self.on_flood_ready(conn);
                }
            }
        }
    }

    fn on_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if self.shared.as_ref().is_some_and(|shared| shared.up) {
            // One entry takes every user of this server out of the room.
            let down = crate::cluster::EntryKind::Down;
            self.append(down, cluster::OnLoss::Nothing);
        }
        // Everyone is told the server is shutting down and closed: the held
        // join and leave notices are moot, and sending them could close
        // someone as too slow instead.
        self.held = Batch::default();
        self.held_until = None;
        self.held_leaves = false;
        self.flush_room();
        let notice = self.canned.shutting_down.clone();
        for (conn, c) in std::mem::take(&mut self.conns) {
            self.actions.push_back(Action::Send {
                conn,
                bytes: notice.clone(),
            });
            self.actions.push_back(Action::Close {
                conn,
                mode: CloseMode::Flush,
            });
            let nick = c.nick.map(|nick| nick.to_string());
            self.record(Event::Disconnected {
                conn,
                nick,
                reason: DisconnectReason::Shutdown,
            });
        }
        self.roster.clear();
        self.addresses.clear();
        self.timers = TimerTable::default();
    }

    /// Keeps `event` for the driver's log, unless too many wait already.
    fn record(&mut self, event: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(event);
        } else {
            self.dropped_events += 1;
        }
    }

    /// Sets the deadline of `(conn, kind)`, keeping the timer table in step.
    fn set_timer(&mut self, conn: ConnId, kind: TimerKind, at: Option<Time>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let slot = match kind {
            TimerKind::Handshake => &mut c.handshake_deadline,
            TimerKind::Settle => &mut c.settle_deadline,
            TimerKind::Flood => &mut c.flood_deadline,
        };
        let old = std::mem::replace(slot, at);
        self.timers.reset(conn, kind, old, at);
    }

    /// In debug builds, panics unless the invariants hold, all but the
    /// recomputation of every nick's keys (see
    /// [`check_invariants`](Room::check_invariants)).
    fn debug_check_invariants(&self) {
        if cfg!(debug_assertions) {
            if let Err(broken) = self.check_invariants_but_nick_keys() {
                panic!("room invariant broken: {broken}");
            }
        }
    }

    /// Checks the invariants stated on [`Room`] that hold between two
    /// inputs, and says which one is broken. O(connections): simulations
    /// call it after every step. Debug builds check after every input all
    /// of it but the recomputation of every user's nick keys, which is
    /// Unicode normalisation per user and made a room of a few hundred
    /// cubic to build.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.check_invariants_but_nick_keys()?;
        if self.roster.is_consistent() {
            Ok(())
        } else {
            Err("a nick's keys out of date")
        }
    }

    /// [`check_invariants`](Room::check_invariants) without recomputing the
    /// nicks' keys.
    fn check_invariants_but_nick_keys(&self) -> Result<(), &'static str> {
        self.check_shared()?;
        let joined = || self.conns.values().filter(|c| c.is_joined());
        let deadlines: usize = self
            .conns
            .values()
            .map(|c| {
                usize::from(c.handshake_deadline.is_some())
                    + usize::from(c.settle_deadline.is_some())
                    + usize::from(c.flood_deadline.is_some())
            })
            .sum();
        let mut per_group = BTreeMap::new();
        for g in self.conns.values().filter_map(|c| c.group) {
            *per_group.entry(g).or_insert(0usize) += 1;
        }
        // One condition per entry, never two joined by `&&`: each can be
        // seen to fail on its own (see the tests that break each one).
        let held_sum = |c: &Conn| {
            c.held_input
                .as_ref()
                .is_none_or(|held| held.bytes == held.reads.iter().map(|r| r.len()).sum::<usize>())
        };
        let held_bounded = |c: &Conn| {
            c.held_input
                .as_ref()
                .is_none_or(|held| held.bytes <= crate::conn::MAX_HELD_READ_BYTES)
        };
        let addresses = &self.addresses;
        let checks = [
            (self.batch.is_empty(), "room lines left undelivered"),
            (
                joined().all(|c| c.unflushed <= self.max_unflushed),
                "max_unflushed too low",
            ),
            (
                self.shared.is_some() || joined().count() == self.roster.len(),
                "nick index holds another number of users",
            ),
            (
                self.conns.iter().all(|(&conn, c)| match c.nick.as_deref() {
                    Some(n) => self.roster.get(n).is_some_and(|(member, shown)| {
                        *shown == *n && member == Member::local(conn)
                    }),
                    None => true,
                }),
                "a nick not indexed as its user's",
            ),
            (self.roster.indexes_agree(), "look-alike index out of step"),
            (
                self.held.is_empty() == self.held_until.is_none(),
                "held notices and their deadline out of step",
            ),
            (
                !self.held_leaves || !self.held.is_empty(),
                "held leave notices flagged with none held",
            ),
            (
                joined().all(|c| c.held_seen <= self.held.len()),
                "a user saw more held notices than there are",
            ),
            (
                self.held.len() <= self.held_max(),
                "more held notices than the limit",
            ),
            (deadlines == self.timers.len(), "timer table out of step"),
            (
                self.conns
                    .values()
                    .all(|c| !c.is_claiming() || !c.is_joined()),
                "a joined user claims a nick",
            ),
            (
                self.history.len() <= self.config.history,
                "more history than configured",
            ),
            (
                self.conns.values().all(|c| {
                    c.flood_deadline.is_some() == (c.held_input.is_some() && !c.is_claiming())
                }),
                "held reads out of step with their deadline",
            ),
            (
                self.conns
                    .values()
                    .all(|c| c.flood_deadline.is_none() || c.is_joined()),
                "flood control holds reads of a user not joined",
            ),
            (
                self.conns.values().all(|c| {
                    c.is_claiming()
                        || c.held_input
                            .as_ref()
                            .is_none_or(|held| !held.reads.is_empty())
                }),
                "empty held reads",
            ),
            (
                self.conns.values().all(held_sum),
                "held read bytes miscounted",
            ),
            (
                self.conns.values().all(held_bounded),
                "more held read bytes than the bound",
            ),
            (
                self.poll_timeout().is_none_or(|at| at > self.now),
                "a deadline is due",
            ),
            (
                self.conns.len() <= self.config.max_clients,
                "more clients than allowed",
            ),
            (
                addresses.open() == self.conns.values().filter(|c| c.group.is_some()).count(),
                "address counts out of step",
            ),
            (
                per_group.iter().all(|(&g, &n)| addresses.open_in(g) == n),
                "an address group's count out of step",
            ),
            (
                self.config.max_per_address == 0
                    || per_group
                        .values()
                        .all(|&n| n <= self.config.max_per_address),
                "more connections from one address than allowed",
            ),
        ];
        match checks.iter().find(|(holds, _)| !holds) {
            Some(&(_, broken)) => Err(broken),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cluster_tests;
