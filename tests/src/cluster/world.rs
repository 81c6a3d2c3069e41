//! The simulated cluster: nodes running real clustered rooms, one ordered
//! log, per-node delivery delays, scripted framed clients, virtual time.
//!
//! The driver keeps the core's contract (`Input::Logged` hands each node
//! the log's entries in order, with no gap; `LogDown` when a node loses
//! the log; on heal the entries it missed, then `LogUp`; `LogReset` when
//! the log loses its entries, noticed at once or at the node's next read;
//! `FellBehind` and the stored snapshot when the entries after a node's
//! position were trimmed) and calls the checkers after every input.
//!
//! # Invariants
//! - `log` holds the current epoch's entries, `times` when each was
//!   appended; `epochs` the model of every epoch so far (the last is the
//!   current one) and has applied exactly the entries of `log`.
//! - A node's `cursor` counts the entries of its `epoch` it was handed.
//! - Every [`SNAPSHOT_EVERY`] the most advanced serving node's snapshot is
//!   `stored` with its position, and the entries appended more than
//!   [`TRIM_LAG`] before its last one are `trimmed` (as the Redis log's
//!   driver does): `trimmed <= stored position`. A node handed entries
//!   from before `trimmed` falls behind instead: it is restored from the
//!   stored snapshot.
//! - A node whose `epoch` is not the current one appends nothing to the
//!   log (its appends are refused) and is handed nothing of it; it notices
//!   the new epoch at `reset_at`, at its heal or at the end of its pause.
//! - Connection ids are unique in the whole simulation.
//! - A paused node (`paused_until` is `Some`) is handed no input: what its
//!   users do waits in `queued`, in order, and nothing else is fed to it
//!   (the ops that would are no-ops on it). When the pause ends it is
//!   ticked, then fed `queued`, then handed the log as any other node.

use super::check;
use super::model::EpochModel;
use super::reader::Reader;
use super::scenario::{COp, ClusterScenario};
use crate::words;
use chat_core::{
    Action, CloseMode, ClusterConfig, Config, ConnId, Entry, EntryKind, Input, NodeId, Room,
    Snapshot, Time,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// At most this many node slots (restarts add slots).
const MAX_SLOTS: usize = 6;
/// At most this many clients.
const MAX_CLIENTS: usize = 100;
/// How often a snapshot is stored (the Redis log's driver's period).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);
/// How far behind the stored snapshot's last entry the log is trimmed (the
/// Redis log's driver's lag).
const TRIM_LAG: Duration = Duration::from_secs(10);

/// A broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which checker.
    pub checker: &'static str,
    /// What was seen.
    pub message: String,
    /// The virtual time, in ms.
    pub at_ms: u128,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] at {} ms: {}",
            self.checker, self.at_ms, self.message
        )
    }
}

/// One server of the cluster.
#[derive(Debug)]
pub struct Node {
    /// Its room; `None` once it crashed or shut down.
    pub room: Option<Room>,
    /// Its name in the log.
    pub name: String,
    /// The incarnation it was started with (once stopped: the last it had).
    pub incarnation: u64,
    /// How long the log takes to hand it an entry.
    pub delay: Duration,
    /// It is handed nothing before this (a burst).
    pub hold_until: Time,
    /// Entries of `epoch` handed to it.
    pub cursor: usize,
    /// Which epoch of the log it is in.
    pub epoch: usize,
    /// Its appends are dropped and it is handed nothing.
    pub cut: bool,
    /// It was told `LogDown` (and not `LogUp` since).
    pub down_fed: bool,
    /// When its driver notices it is cut off.
    pub down_at: Option<Time>,
    /// Its process is stopped until then (a pause).
    pub paused_until: Option<Time>,
    /// When its driver notices that the log's epoch changed.
    pub reset_at: Option<Time>,
    /// What its users did while it was paused, in order.
    queued: Vec<Queued>,
}

/// An input that waits for a paused node (a socket event the stopped
/// process has not read yet).
#[derive(Clone, Debug)]
enum Queued {
    Connected {
        conn: ConnId,
        peer: std::net::IpAddr,
    },
    Received {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Written {
        conn: ConnId,
        len: usize,
        sends: usize,
    },
    Closed {
        conn: ConnId,
    },
}

impl Queued {
    /// The input to wait with, if a socket event; `None` for the driver's
    /// own inputs, which are never made to a paused node.
    fn of(input: &Input<'_>) -> Option<Queued> {
        Some(match *input {
            Input::Connected { conn, peer } => Queued::Connected { conn, peer },
            Input::Received { conn, bytes } => Queued::Received {
                conn,
                bytes: bytes.to_vec(),
            },
            Input::Written { conn, len, sends } => Queued::Written { conn, len, sends },
            Input::Closed { conn } => Queued::Closed { conn },
            _ => return None,
        })
    }

    fn input(&self) -> Input<'_> {
        match self {
            Queued::Connected { conn, peer } => Input::Connected {
                conn: *conn,
                peer: *peer,
            },
            Queued::Received { conn, bytes } => Input::Received { conn: *conn, bytes },
            Queued::Written { conn, len, sends } => Input::Written {
                conn: *conn,
                len: *len,
                sends: *sends,
            },
            Queued::Closed { conn } => Input::Closed { conn: *conn },
        }
    }
}

/// One scripted client.
#[derive(Debug)]
pub struct Client {
    /// Its node slot.
    pub node: usize,
    /// Its connection.
    pub conn: ConnId,
    /// The epoch of its last claim (of its connect, before it claims).
    pub epoch: usize,
    /// What the core sent it, read.
    pub reader: Reader,
    /// Bytes its socket has not taken (it stalls).
    pub unwritten: usize,
    /// The non-empty sends those bytes came in.
    pub unwritten_sends: usize,
    /// It does not read.
    pub stalled: bool,
    /// How the core closed it.
    pub closed: Option<CloseMode>,
    /// It hung up, or its node died.
    pub gone: bool,
    /// Nicks it sent.
    pub nicks_sent: u32,
    /// The node that appended its last claim.
    pub claim_node: Option<NodeId>,
    /// Lines it sent that must reach the log or be reported (checker 6).
    pub lines_sent: Vec<String>,
    /// The tokens of the pings it sent, in order (checker 8).
    pub pings_sent: Vec<String>,
    /// How many of its room lines checker 1 already found in order, for
    /// the `(epoch, joined_at)` it checked them against: those lines never
    /// change, nor do the log's lines they were compared with.
    pub verified: std::cell::Cell<((usize, usize), usize)>,
    seq: u32,
}

impl Client {
    /// Whether the core has it open and it is still there.
    pub fn is_open(&self) -> bool {
        self.closed.is_none() && !self.gone
    }
}

/// The whole simulated cluster.
#[derive(Debug)]
pub struct World {
    /// The rooms' config.
    pub config: Config,
    /// Node slots.
    pub nodes: Vec<Node>,
    /// Clients, in connect order.
    pub clients: Vec<Client>,
    by_conn: BTreeMap<ConnId, usize>,
    /// The current epoch's entries.
    pub log: Vec<Entry>,
    times: Vec<Time>,
    /// The model of each epoch.
    pub epochs: Vec<EpochModel>,
    /// Every user line that ever reached the log: `(conn, line as typed)`.
    pub archive: BTreeSet<(ConnId, String)>,
    /// Virtual time.
    pub now: Time,
    delays: Vec<u16>,
    next_conn: u64,
    /// Inputs handled.
    pub steps: u64,
    /// The first broken rule.
    pub violation: Option<Violation>,
    /// The last inputs, for the report.
    pub recent: Vec<String>,
    /// How often checker 1 found a user's held notices not sent yet.
    pub held_gaps: std::cell::Cell<u64>,
    /// The stored snapshot of the current epoch and the entries it covers.
    stored: Option<(Snapshot, usize)>,
    /// The current epoch's entries before this one are trimmed.
    pub trimmed: usize,
    /// When the next snapshot is stored.
    snapshot_at: Time,
    /// How many times a node fell behind the trim.
    pub fell_behind: u64,
}

impl World {
    /// The cluster a scenario starts with: every node up on an empty log.
    pub fn new(s: &ClusterScenario) -> Self {
        let config = Config {
            notice_hold_per_user: if s.hold {
                Config::default().notice_hold_per_user
            } else {
                Duration::ZERO
            },
            send_queue: s.send_queue as usize,
            history: 3,
            ..Config::default()
        };
        let mut world = World {
            config,
            nodes: Vec::new(),
            clients: Vec::new(),
            by_conn: BTreeMap::new(),
            log: Vec::new(),
            times: Vec::new(),
            epochs: vec![EpochModel::new()],
            archive: BTreeSet::new(),
            now: Time::ZERO,
            delays: s.delays.clone(),
            next_conn: 1,
            steps: 0,
            violation: None,
            recent: Vec::new(),
            held_gaps: std::cell::Cell::new(0),
            stored: None,
            trimmed: 0,
            snapshot_at: Time::ZERO + SNAPSHOT_EVERY,
            fell_behind: 0,
        };
        for _ in 0..s.nodes.clamp(2, 4) {
            let slot = world.nodes.len();
            world.start(slot, None, 0);
        }
        world
    }

    fn delay_of(&self, slot: usize) -> Duration {
        let ms = self
            .delays
            .get(slot % self.delays.len().max(1))
            .copied()
            .unwrap_or(0);
        Duration::from_millis(ms.into())
    }

    /// Starts a room in `slot` (a new one if `slot` is past the end), from
    /// `snapshot` at `cursor` of the current epoch.
    fn start(&mut self, slot: usize, snapshot: Option<&Snapshot>, cursor: usize) {
        let incarnation = self.nodes.get(slot).map_or(1, |n| n.incarnation + 1);
        let name = format!("n{slot}");
        let id = NodeId::new(&name, incarnation);
        let room = Room::clustered(self.config.clone(), ClusterConfig::new(id), snapshot);
        let node = Node {
            room: Some(room),
            name,
            incarnation,
            delay: self.delay_of(slot),
            hold_until: self.now,
            cursor,
            epoch: self.epochs.len() - 1,
            cut: false,
            down_fed: false,
            down_at: None,
            paused_until: None,
            reset_at: None,
            queued: Vec::new(),
        };
        if slot < self.nodes.len() {
            self.nodes[slot] = node;
        } else {
            self.nodes.push(node);
        }
        let end = self.log.len();
        self.hand(slot, end);
        self.input(slot, Input::LogUp);
    }

    fn fail(&mut self, checker: &'static str, message: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                checker,
                message,
                at_ms: self.now.as_duration().as_millis(),
            });
        }
    }

    fn note(&mut self, what: String) {
        if self.recent.len() == 40 {
            self.recent.remove(0);
        }
        self.recent
            .push(format!("{} ms: {what}", self.now.as_duration().as_millis()));
    }

    /// Hands `input` to node `slot`, drains it, and runs every checker; if
    /// the node is paused, a socket event waits for the pause's end.
    pub fn input(&mut self, slot: usize, input: Input<'_>) {
        let now = self.now;
        if self.nodes[slot].paused_until.is_some() {
            match Queued::of(&input) {
                Some(queued) => self.nodes[slot].queued.push(queued),
                None => {
                    let name = self.nodes[slot].name.clone();
                    self.fail("sim", format!("{name} was fed {input:?} while paused"));
                }
            }
            return;
        }
        let Some(room) = self.nodes[slot].room.as_mut() else {
            return;
        };
        self.steps += 1;
        room.handle(now, input);
        self.drain(slot);
        self.after_input(slot);
    }

    /// Every checker, after node `slot` handled an input.
    fn after_input(&mut self, slot: usize) {
        if let Some(room) = self.nodes[slot].room.as_ref() {
            if let Err(broken) = room.check_invariants() {
                let name = &self.nodes[slot].name;
                self.fail("5 invariants", format!("node {name}: {broken}"));
            }
        }
        check::after_step(self);
    }

    fn drain(&mut self, slot: usize) {
        // Bounded: the core's queue of actions is finite, and `Written`
        // adds none.
        loop {
            let now = self.now;
            let Some(room) = self.nodes[slot].room.as_mut() else {
                return;
            };
            while room.poll_event().is_some() {}
            let Some(action) = room.poll_action() else {
                return;
            };
            match action {
                Action::Send { conn, bytes } => {
                    let Some(&i) = self.by_conn.get(&conn) else {
                        continue;
                    };
                    let client = &mut self.clients[i];
                    client.reader.absorb(&bytes);
                    if client.stalled {
                        client.unwritten += bytes.len();
                        client.unwritten_sends += usize::from(!bytes.is_empty());
                    } else {
                        let (len, sends) = (bytes.len(), usize::from(!bytes.is_empty()));
                        room.handle(now, Input::Written { conn, len, sends });
                    }
                }
                Action::Close { conn, mode } => {
                    if let Some(&i) = self.by_conn.get(&conn) {
                        self.clients[i].closed = Some(mode);
                    }
                }
                Action::Append { entry } => self.append(slot, *entry),
                Action::StopReading { .. } | Action::ResumeReading { .. } => {}
            }
        }
    }

    fn append(&mut self, slot: usize, entry: Entry) {
        if self.nodes[slot].cut {
            return;
        }
        if self.nodes[slot].epoch + 1 != self.epochs.len() {
            // The stream is of another epoch: refused, and the driver
            // declares the log down.
            if !self.nodes[slot].down_fed {
                self.nodes[slot].down_at = Some(self.now);
            }
            return;
        }
        let typed = match &entry.kind {
            EntryKind::Say { conn, text } => Some((*conn, text.clone())),
            EntryKind::Me { conn, text } => Some((*conn, format!("/me {text}"))),
            EntryKind::Private { conn, to, text } => Some((*conn, format!("/msg {to} {text}"))),
            EntryKind::Join { conn, .. } => {
                if let Some(&i) = self.by_conn.get(conn) {
                    self.clients[i].claim_node = Some(entry.node.clone());
                    self.clients[i].epoch = self.epochs.len() - 1;
                }
                None
            }
            _ => None,
        };
        if let Some(typed) = typed {
            self.archive.insert(typed);
        }
        let model = self.epochs.last_mut().expect("an epoch");
        if let Err(broken) = model.apply(&entry) {
            self.fail("model", broken);
        }
        self.log.push(entry);
        self.times.push(self.now);
    }

    /// Hands node `slot` the log up to `end`; if entries it has not read
    /// were trimmed, it falls behind first.
    fn hand(&mut self, slot: usize, end: usize) {
        let node = &self.nodes[slot];
        let (from, epoch) = (node.cursor, node.epoch);
        if end <= from || epoch + 1 != self.epochs.len() {
            return;
        }
        if from < self.trimmed {
            self.fall_behind(slot);
            return;
        }
        let before = node.room.as_ref().and_then(|r| r.node().cloned());
        let users = self.open_joined(slot);
        let entries = self.log[from..end].to_vec();
        self.nodes[slot].cursor = end;
        self.note(format!(
            "{} handed entries {from}..{end}",
            self.nodes[slot].name
        ));
        self.input(slot, Input::Logged { entries: &entries });
        let lost = before.is_some_and(|id| {
            self.epochs[epoch]
                .lost_at
                .get(&id)
                .is_some_and(|&at| (from..end).contains(&at))
        });
        check::lost_users(self, slot, &users, lost);
    }

    /// Clients of `slot` that are open and joined.
    fn open_joined(&self, slot: usize) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| {
                let c = &self.clients[i];
                c.node == slot && c.is_open() && c.reader.joined
            })
            .collect()
    }

    fn live(&self, slot: usize) -> bool {
        self.nodes[slot].room.is_some()
    }

    fn paused(&self, slot: usize) -> bool {
        self.nodes[slot].paused_until.is_some()
    }

    /// The pause of `slot` ends: if the log was reset meanwhile its driver
    /// finds the new epoch first; then the overdue tick, then what its
    /// users sent meanwhile (all appended after whatever the log decided
    /// while it was stopped). The entries it missed come after, from
    /// `run_due`.
    fn end_pause(&mut self, slot: usize) {
        self.nodes[slot].paused_until = None;
        self.note(format!("{} resumes", self.nodes[slot].name));
        if !self.nodes[slot].cut && self.nodes[slot].epoch + 1 != self.epochs.len() {
            self.feed_down(slot);
            self.reset_node(slot);
            self.serve_again(slot);
        }
        self.input(slot, Input::Tick);
        let queued = std::mem::take(&mut self.nodes[slot].queued);
        for q in &queued {
            self.input(slot, q.input());
        }
    }

    /// Runs everything due now; whether anything was.
    fn run_due(&mut self) -> bool {
        let mut progressed = false;
        if self.snapshot_at <= self.now {
            self.store_snapshot();
            progressed = true;
        }
        for slot in 0..self.nodes.len() {
            if !self.live(slot) {
                continue;
            }
            if let Some(until) = self.nodes[slot].paused_until {
                if until > self.now {
                    continue;
                }
                self.end_pause(slot);
                progressed = true;
            }
            if self.nodes[slot].down_at.is_some_and(|at| at <= self.now) {
                self.nodes[slot].down_at = None;
                self.feed_down(slot);
                progressed = true;
            }
            if self.nodes[slot].reset_at.is_some_and(|at| at <= self.now) {
                self.notice_reset(slot);
                progressed = true;
            }
            let node = &self.nodes[slot];
            if !node.cut && node.hold_until <= self.now && node.epoch + 1 == self.epochs.len() {
                let mut end = node.cursor;
                while end < self.log.len() && self.times[end] + node.delay <= self.now {
                    end += 1;
                }
                if end > node.cursor {
                    self.hand(slot, end);
                    progressed = true;
                }
            }
            let due = self.nodes[slot]
                .room
                .as_ref()
                .and_then(Room::poll_timeout)
                .is_some_and(|at| at <= self.now);
            if due {
                self.input(slot, Input::Tick);
                progressed = true;
            }
        }
        progressed
    }

    /// The next time something is due after now, if anything is.
    fn next_event(&self) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Time| next = Some(next.map_or(t, |n| n.min(t)));
        consider(self.snapshot_at);
        for node in self.nodes.iter().filter(|n| n.room.is_some()) {
            if let Some(t) = node.paused_until {
                consider(t);
                continue;
            }
            if let Some(t) = node.room.as_ref().and_then(Room::poll_timeout) {
                consider(t);
            }
            if let Some(t) = node.down_at {
                consider(t);
            }
            if let Some(t) = node.reset_at {
                consider(t);
            }
            if !node.cut && node.epoch + 1 == self.epochs.len() && node.cursor < self.log.len() {
                consider((self.times[node.cursor] + node.delay).max(node.hold_until));
            }
        }
        next
    }

    /// Lets time pass until `target`, doing all that falls due. `false` if
    /// it did not settle within its budget.
    pub fn advance_to(&mut self, target: Time) -> bool {
        for _ in 0..200_000 {
            if self.violation.is_some() {
                return true;
            }
            if self.run_due() {
                continue;
            }
            match self.next_event() {
                Some(next) if next > self.now && next <= target => self.now = next,
                _ if self.now < target => self.now = target,
                _ => return true,
            }
        }
        false
    }

    fn feed_down(&mut self, slot: usize) {
        if !self.nodes[slot].down_fed {
            self.nodes[slot].down_fed = true;
            self.note(format!("{} LogDown", self.nodes[slot].name));
            self.input(slot, Input::LogDown);
        }
    }

    fn heal(&mut self, slot: usize) {
        if !self.live(slot) || !self.nodes[slot].cut || self.paused(slot) {
            return;
        }
        self.feed_down(slot);
        self.nodes[slot].cut = false;
        self.nodes[slot].down_at = None;
        if self.nodes[slot].epoch + 1 != self.epochs.len() {
            self.reset_node(slot);
        }
        self.serve_again(slot);
    }

    fn reset_node(&mut self, slot: usize) {
        let users = self.open_joined(slot);
        self.nodes[slot].epoch = self.epochs.len() - 1;
        self.nodes[slot].reset_at = None;
        let stored = self.stored.clone();
        self.nodes[slot].cursor = stored.as_ref().map_or(0, |(_, at)| *at);
        self.note(format!("{} LogReset", self.nodes[slot].name));
        self.input_restoring(slot, Input::LogReset, stored.as_ref().map(|(s, _)| s));
        check::reset_users(self, &users);
    }

    /// The driver of `slot` finds, at a read, that the log's epoch changed:
    /// the log is down, the room is reset, then handed the new epoch.
    fn notice_reset(&mut self, slot: usize) {
        self.nodes[slot].reset_at = None;
        let node = &self.nodes[slot];
        if !self.live(slot)
            || node.cut
            || node.paused_until.is_some()
            || node.epoch + 1 == self.epochs.len()
        {
            return; // it notices at its heal or at the end of its pause
        }
        self.feed_down(slot);
        self.reset_node(slot);
        self.serve_again(slot);
    }

    /// The entries after the position of `slot` were trimmed: its driver
    /// declares the log down, the room falls behind and is restored from
    /// the stored snapshot, then handed the entries after it.
    fn fall_behind(&mut self, slot: usize) {
        let Some((snapshot, at)) = self.stored.clone() else {
            self.fail("sim", "entries were trimmed with no snapshot stored".into());
            return;
        };
        self.fell_behind += 1;
        let users = self.open_joined(slot);
        self.feed_down(slot);
        self.nodes[slot].cursor = at;
        self.note(format!(
            "{} FellBehind (trimmed before {}), restored at {at}",
            self.nodes[slot].name, self.trimmed
        ));
        self.input_restoring(slot, Input::FellBehind, Some(&snapshot));
        check::fell_behind_users(self, &users);
        self.serve_again(slot);
    }

    /// Hands `slot` the rest of the log, then `LogUp`.
    fn serve_again(&mut self, slot: usize) {
        if !self.live(slot) {
            return;
        }
        let end = self.log.len();
        self.hand(slot, end);
        self.nodes[slot].down_fed = false;
        self.note(format!("{} LogUp", self.nodes[slot].name));
        self.input(slot, Input::LogUp);
    }

    /// Hands `slot` a reset (`LogReset`, `FellBehind`) and, in the same
    /// step (the driver does both for one event), restores `snapshot`.
    fn input_restoring(&mut self, slot: usize, input: Input<'_>, snapshot: Option<&Snapshot>) {
        let Some(snapshot) = snapshot else {
            self.input(slot, input);
            return;
        };
        let Some(room) = self.nodes[slot].room.as_mut() else {
            return;
        };
        self.steps += 1;
        room.handle(self.now, input);
        let restored = room.restore_snapshot(snapshot);
        self.drain(slot);
        if !restored {
            let name = self.nodes[slot].name.clone();
            self.fail("sim", format!("{name} refused the stored snapshot"));
        }
        self.after_input(slot);
    }

    /// Stores the snapshot of the most advanced serving node of the
    /// current epoch, and trims the log behind it.
    fn store_snapshot(&mut self) {
        self.snapshot_at = self.now + SNAPSHOT_EVERY;
        let current = self.epochs.len() - 1;
        let donor = (0..self.nodes.len())
            .filter(|&s| {
                let n = &self.nodes[s];
                n.room.as_ref().is_some_and(|r| !r.is_shutting_down())
                    && !n.cut
                    && !n.down_fed
                    && n.paused_until.is_none()
                    && n.epoch == current
            })
            .max_by_key(|&s| (self.nodes[s].cursor, std::cmp::Reverse(s)));
        let Some(donor) = donor else {
            return;
        };
        let at = self.nodes[donor].cursor;
        if at == 0 || self.stored.as_ref().is_some_and(|(_, old)| *old >= at) {
            return;
        }
        let Some(snapshot) = self.nodes[donor].room.as_ref().and_then(Room::snapshot) else {
            return;
        };
        let horizon = self.times[at - 1];
        let trimmed = self.times[..at].partition_point(|&t| t + TRIM_LAG <= horizon);
        self.note(format!(
            "{}'s snapshot at {at} is stored; trimmed before {trimmed}",
            self.nodes[donor].name
        ));
        self.stored = Some((snapshot, at));
        self.trimmed = self.trimmed.max(trimmed);
    }

    fn client_of(&self, n: u8) -> Option<usize> {
        if self.clients.is_empty() {
            return None;
        }
        let i = usize::from(n) % self.clients.len();
        let c = &self.clients[i];
        (c.is_open() && self.live(c.node)).then_some(i)
    }

    /// A joined, open client.
    fn joined_client(&self, n: u8) -> Option<usize> {
        self.client_of(n).filter(|&i| self.clients[i].reader.joined)
    }

    fn send(&mut self, i: usize, line: &str) {
        let (slot, conn) = (self.clients[i].node, self.clients[i].conn);
        self.note(format!(
            "{conn} on {} sends {line:?}",
            self.nodes[slot].name
        ));
        let bytes = format!("{line}\n");
        self.input(
            slot,
            Input::Received {
                conn,
                bytes: bytes.as_bytes(),
            },
        );
    }

    /// A fresh token for client `i`.
    fn token(&mut self, i: usize, kind: char) -> String {
        let c = &mut self.clients[i];
        c.seq += 1;
        format!("{kind}{}.{}", c.conn.0, c.seq)
    }

    /// A user line that must reach the log or be reported (checker 6).
    fn send_tracked(&mut self, i: usize, line: String) {
        self.clients[i].lines_sent.push(line.clone());
        self.send(i, &line);
    }

    /// Runs one op of the script, then lets what is due now happen.
    pub fn op(&mut self, op: COp) {
        let slots = self.nodes.len();
        let node = |n: u8| usize::from(n) % slots;
        match op {
            COp::Connect { node: n } => {
                self.connect(node(n));
            }
            COp::Nick { client, nick } => {
                let Some(i) = self.client_of(client) else {
                    return;
                };
                let c = &self.clients[i];
                if c.reader.joined || c.reader.prompts <= c.nicks_sent {
                    return;
                }
                self.clients[i].nicks_sent += 1;
                self.send(i, words::nick(nick));
            }
            COp::Say { client } => {
                if let Some(i) = self.joined_client(client) {
                    let line = self.token(i, 's');
                    self.send_tracked(i, line);
                }
            }
            COp::Flood { client, lines } => {
                if let Some(i) = self.joined_client(client) {
                    let lines: Vec<String> = (0..lines)
                        .map(|_| format!("{} {}", self.token(i, 'f'), words::pad(7).repeat(3)))
                        .collect();
                    self.clients[i].lines_sent.extend(lines.iter().cloned());
                    let (slot, conn) = (self.clients[i].node, self.clients[i].conn);
                    self.note(format!("{conn} floods {} lines", lines.len()));
                    let bytes: Vec<u8> = lines
                        .iter()
                        .flat_map(|l| format!("{l}\n").into_bytes())
                        .collect();
                    for chunk in bytes.chunks(chat_core::MAX_READ) {
                        self.input(slot, Input::Received { conn, bytes: chunk });
                    }
                }
            }
            COp::Me { client } => {
                if let Some(i) = self.joined_client(client) {
                    let line = format!("/me {}", self.token(i, 'm'));
                    self.send_tracked(i, line);
                }
            }
            COp::Msg { client, to } => {
                if let Some(i) = self.joined_client(client) {
                    let nick = match to % 4 {
                        0 => "nobody",
                        _ => words::nick(to),
                    };
                    let line = format!("/msg {nick} {}", self.token(i, 'p'));
                    self.send_tracked(i, line);
                }
            }
            COp::Rename { client, nick } => {
                if let Some(i) = self.joined_client(client) {
                    self.send(i, &format!("/nick {}", words::nick(nick)));
                }
            }
            COp::Who { client } => {
                if let Some(i) = self.joined_client(client) {
                    self.send(i, "/who");
                }
            }
            COp::Ping { client } => {
                if let Some(i) = self.joined_client(client) {
                    // Named by the client's index: unique across nodes.
                    let token = format!("ping{i}.{}", self.clients[i].pings_sent.len());
                    self.clients[i].pings_sent.push(token.clone());
                    self.send(i, &format!("/ping {token}"));
                }
            }
            COp::Quit { client } => {
                if let Some(i) = self.joined_client(client) {
                    self.send(i, "/quit");
                }
            }
            COp::Close { client } => {
                if let Some(i) = self.client_of(client) {
                    self.clients[i].gone = true;
                    let (slot, conn) = (self.clients[i].node, self.clients[i].conn);
                    self.note(format!("{conn} hangs up"));
                    self.input(slot, Input::Closed { conn });
                }
            }
            COp::Stall { client } => {
                if let Some(i) = self.client_of(client) {
                    self.clients[i].stalled = true;
                }
            }
            COp::Resume { client } => {
                if let Some(i) = self.client_of(client) {
                    self.resume(i);
                }
            }
            COp::Wait { ms } => {
                let target = self.now + Duration::from_millis(ms.into());
                if !self.advance_to(target) {
                    self.fail("liveness", "time would not advance".into());
                }
            }
            COp::Burst { node: n, ms } => {
                let slot = node(n);
                self.nodes[slot].hold_until = self.now + Duration::from_millis(ms.into());
            }
            COp::Crash { node: n } => {
                let slot = node(n);
                if self.live(slot) {
                    self.note(format!("{} crashes", self.nodes[slot].name));
                    self.stop(slot);
                }
            }
            COp::Cut { node: n, notice_ms } => {
                let slot = node(n);
                if self.live(slot) && !self.nodes[slot].cut {
                    self.note(format!("{} is cut off", self.nodes[slot].name));
                    self.nodes[slot].cut = true;
                    self.nodes[slot].down_at =
                        Some(self.now + Duration::from_millis(notice_ms.into()));
                }
            }
            COp::Heal { node: n } => self.heal(node(n)),
            COp::ResetLog => {
                self.note("the log is reset".into());
                self.new_epoch();
                for slot in 0..slots {
                    if self.live(slot) && !self.nodes[slot].cut && !self.paused(slot) {
                        self.reset_node(slot);
                    }
                }
            }
            COp::FlushLog { notice_ms } => {
                self.note("the log's keys are lost".into());
                self.new_epoch();
                for slot in 0..slots {
                    let after = u64::from(notice_ms) * (slot as u64 + 1) / slots as u64;
                    let delay = self.nodes[slot].delay;
                    self.nodes[slot].reset_at =
                        Some(self.now + delay + Duration::from_millis(after));
                }
            }
            COp::Restart { from } => self.restart(node(from)),
            COp::Start => {
                if let Some(slot) = self.free_slot() {
                    let stored = self.stored.clone();
                    let cursor = stored.as_ref().map_or(0, |(_, at)| *at);
                    self.note(format!("n{slot} starts at {cursor}"));
                    self.start(slot, stored.as_ref().map(|(s, _)| s), cursor);
                }
            }
            COp::Pause { node: n, ms } => {
                let slot = node(n);
                if self.live(slot) && !self.paused(slot) {
                    self.note(format!("{} is paused for {ms} ms", self.nodes[slot].name));
                    self.nodes[slot].paused_until =
                        Some(self.now + Duration::from_millis(ms.into()));
                }
            }
            COp::Crowd { node: n, users } => {
                let slot = node(n);
                for _ in 0..users {
                    let Some(i) = self.connect(slot) else {
                        break;
                    };
                    let c = &self.clients[i];
                    if c.reader.prompts > c.nicks_sent {
                        let nick = format!("u{}", c.conn.0);
                        self.clients[i].nicks_sent += 1;
                        self.send(i, &nick);
                    }
                }
            }
            COp::Shutdown { node: n } => {
                let slot = node(n);
                if self.live(slot) && !self.paused(slot) {
                    self.note(format!("{} shuts down", self.nodes[slot].name));
                    self.input(slot, Input::Shutdown);
                    self.stop(slot);
                }
            }
        }
        let now = self.now;
        if !self.advance_to(now) {
            self.fail("liveness", "what is due now never ends".into());
        }
    }

    /// A new client of `slot`, if the node is up and there is room for one.
    fn connect(&mut self, slot: usize) -> Option<usize> {
        if !self.live(slot) || self.clients.len() >= MAX_CLIENTS {
            return None;
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.by_conn.insert(conn, self.clients.len());
        self.clients.push(Client {
            node: slot,
            conn,
            epoch: self.nodes[slot].epoch,
            reader: Reader::default(),
            unwritten: 0,
            unwritten_sends: 0,
            stalled: false,
            closed: None,
            gone: false,
            nicks_sent: 0,
            claim_node: None,
            lines_sent: Vec::new(),
            pings_sent: Vec::new(),
            verified: std::cell::Cell::new(((0, 0), 0)),
            seq: 0,
        });
        let peer = std::net::IpAddr::from([198, 51, (conn.0 >> 8) as u8, conn.0 as u8]);
        self.note(format!("{conn} connects to {}", self.nodes[slot].name));
        self.input(slot, Input::Connected { conn, peer });
        Some(self.clients.len() - 1)
    }

    fn resume(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.stalled = false;
        let len = std::mem::take(&mut c.unwritten);
        let sends = std::mem::take(&mut c.unwritten_sends);
        if len > 0 && c.is_open() {
            let (slot, conn) = (c.node, c.conn);
            self.input(slot, Input::Written { conn, len, sends });
        }
    }

    /// The node's process is gone, and with it its users' connections. A
    /// later start in this slot takes an incarnation the log never saw:
    /// one past the last the room itself took (it takes a new one when it
    /// reads its own loss or a reset).
    fn stop(&mut self, slot: usize) {
        if let Some(id) = self.nodes[slot].room.take().and_then(|r| r.node().cloned()) {
            self.nodes[slot].incarnation = id.incarnation;
        }
        self.nodes[slot].paused_until = None;
        self.nodes[slot].queued.clear();
        for c in self.clients.iter_mut().filter(|c| c.node == slot) {
            c.gone = true;
        }
    }

    fn restart(&mut self, from: usize) {
        let current = self.epochs.len() - 1;
        if self.paused(from) {
            return;
        }
        let Some(room) = self.nodes[from].room.as_ref() else {
            return;
        };
        if self.nodes[from].epoch != current {
            return;
        }
        let Some(snapshot) = room.snapshot() else {
            self.fail("4 agreement", "a clustered room gave no snapshot".into());
            return;
        };
        let decoded = match Snapshot::decode(&snapshot.encode()) {
            Ok(decoded) if decoded == snapshot => decoded,
            other => {
                self.fail(
                    "4 agreement",
                    format!("a snapshot did not round-trip: {other:?}"),
                );
                return;
            }
        };
        let Some(slot) = self.free_slot() else {
            return;
        };
        let cursor = self.nodes[from].cursor;
        self.note(format!(
            "n{slot} starts from {}'s snapshot at {cursor}",
            self.nodes[from].name
        ));
        self.start(slot, Some(&decoded), cursor);
    }

    /// The first crashed slot, or a new one if there is room.
    fn free_slot(&self) -> Option<usize> {
        match self.nodes.iter().position(|n| n.room.is_none()) {
            Some(slot) => Some(slot),
            None if self.nodes.len() < MAX_SLOTS => Some(self.nodes.len()),
            None => None,
        }
    }

    /// The log starts a new epoch, empty, with no snapshot.
    fn new_epoch(&mut self) {
        self.epochs.push(EpochModel::new());
        self.log.clear();
        self.times.clear();
        self.stored = None;
        self.trimmed = 0;
    }

    /// The end of a run: every node reaches the log, every client reads,
    /// time passes (dead nodes are declared lost), then every node is
    /// handed the whole log.
    pub fn heal_all(&mut self) {
        let paused = self.nodes.iter().filter_map(|n| n.paused_until).max();
        if let Some(until) = paused {
            if !self.advance_to(until) {
                self.fail("liveness", "time would not advance".into());
            }
        }
        for i in 0..self.clients.len() {
            self.resume(i);
        }
        for slot in 0..self.nodes.len() {
            self.heal(slot);
            self.nodes[slot].hold_until = self.now;
        }
        let target = self.now + Duration::from_secs(10);
        if !self.advance_to(target) {
            self.fail("liveness", "time would not advance".into());
        }
        for _ in 0..100 {
            let behind: Vec<usize> = (0..self.nodes.len())
                .filter(|&s| self.live(s) && self.nodes[s].cursor < self.log.len())
                .collect();
            if behind.is_empty() {
                // Held notices go out within the longest hold.
                let target = self.now + chat_core::MAX_NOTICE_HOLD;
                if !self.advance_to(target) {
                    self.fail("liveness", "time would not advance".into());
                }
                return;
            }
            for slot in behind {
                let end = self.log.len();
                self.hand(slot, end);
            }
        }
        self.fail("liveness", "the log never settled".into());
    }
}
