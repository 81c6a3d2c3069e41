//! The simulated cluster: nodes running real clustered rooms, one ordered
//! log, per-node delivery delays, scripted framed clients, virtual time.
//!
//! The driver keeps the core's contract (`Input::Logged` hands each node
//! the log's entries in order, with no gap; `LogDown` when a node loses
//! the log; on heal the entries it missed, then `LogUp`; `LogReset` when
//! the log loses its entries) and calls the checkers after every input.
//!
//! # Invariants
//! - `log` holds the current epoch's entries, `times` when each was
//!   appended; `epochs` the model of every epoch so far (the last is the
//!   current one) and has applied exactly the entries of `log`.
//! - A node's `cursor` counts the entries of its `epoch` it was handed.
//! - Connection ids are unique in the whole simulation.

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
const MAX_CLIENTS: usize = 40;

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
}

impl World {
    /// The cluster a scenario starts with: every node up on an empty log.
    pub fn new(s: &ClusterScenario) -> Self {
        let config = Config {
            notice_hold_per_user: Duration::ZERO,
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

    /// Hands `input` to node `slot`, drains it, and runs every checker.
    pub fn input(&mut self, slot: usize, input: Input<'_>) {
        let now = self.now;
        let Some(room) = self.nodes[slot].room.as_mut() else {
            return;
        };
        self.steps += 1;
        room.handle(now, input);
        self.drain(slot);
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
                    } else {
                        let len = bytes.len();
                        room.handle(now, Input::Written { conn, len });
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

    /// Hands node `slot` the log up to `end`.
    fn hand(&mut self, slot: usize, end: usize) {
        let node = &self.nodes[slot];
        let (from, epoch) = (node.cursor, node.epoch);
        if end <= from || epoch + 1 != self.epochs.len() {
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

    /// Runs everything due now; whether anything was.
    fn run_due(&mut self) -> bool {
        let mut progressed = false;
        for slot in 0..self.nodes.len() {
            if !self.live(slot) {
                continue;
            }
            if self.nodes[slot].down_at.is_some_and(|at| at <= self.now) {
                self.nodes[slot].down_at = None;
                self.feed_down(slot);
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
        for node in self.nodes.iter().filter(|n| n.room.is_some()) {
            if let Some(t) = node.room.as_ref().and_then(Room::poll_timeout) {
                consider(t);
            }
            if let Some(t) = node.down_at {
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
        if !self.live(slot) || !self.nodes[slot].cut {
            return;
        }
        self.feed_down(slot);
        self.nodes[slot].cut = false;
        self.nodes[slot].down_at = None;
        if self.nodes[slot].epoch + 1 != self.epochs.len() {
            self.reset_node(slot);
        }
        let end = self.log.len();
        self.hand(slot, end);
        self.nodes[slot].down_fed = false;
        self.note(format!("{} LogUp", self.nodes[slot].name));
        self.input(slot, Input::LogUp);
    }

    fn reset_node(&mut self, slot: usize) {
        let users = self.open_joined(slot);
        self.nodes[slot].epoch = self.epochs.len() - 1;
        self.nodes[slot].cursor = 0;
        self.note(format!("{} LogReset", self.nodes[slot].name));
        self.input(slot, Input::LogReset);
        check::reset_users(self, &users);
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
                let slot = node(n);
                if !self.live(slot) || self.clients.len() >= MAX_CLIENTS {
                    return;
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
                    stalled: false,
                    closed: None,
                    gone: false,
                    nicks_sent: 0,
                    claim_node: None,
                    lines_sent: Vec::new(),
                    seq: 0,
                });
                let peer = std::net::IpAddr::from([198, 51, (conn.0 >> 8) as u8, conn.0 as u8]);
                self.note(format!("{conn} connects to {}", self.nodes[slot].name));
                self.input(slot, Input::Connected { conn, peer });
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
                self.epochs.push(EpochModel::new());
                self.log.clear();
                self.times.clear();
                for slot in 0..slots {
                    if self.live(slot) && !self.nodes[slot].cut {
                        self.reset_node(slot);
                    }
                }
            }
            COp::Restart { from } => self.restart(node(from)),
            COp::Shutdown { node: n } => {
                let slot = node(n);
                if self.live(slot) {
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

    fn resume(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.stalled = false;
        let len = std::mem::take(&mut c.unwritten);
        if len > 0 && c.is_open() {
            let (slot, conn) = (c.node, c.conn);
            self.input(slot, Input::Written { conn, len });
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
        for c in self.clients.iter_mut().filter(|c| c.node == slot) {
            c.gone = true;
        }
    }

    fn restart(&mut self, from: usize) {
        let current = self.epochs.len() - 1;
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
        let slot = match self.nodes.iter().position(|n| n.room.is_none()) {
            Some(slot) => slot,
            None if self.nodes.len() < MAX_SLOTS => self.nodes.len(),
            None => return,
        };
        let cursor = self.nodes[from].cursor;
        self.note(format!(
            "n{slot} starts from {}'s snapshot at {cursor}",
            self.nodes[from].name
        ));
        self.start(slot, Some(&decoded), cursor);
    }

    /// The end of a run: every node reaches the log, every client reads,
    /// time passes (dead nodes are declared lost), then every node is
    /// handed the whole log.
    pub fn heal_all(&mut self) {
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
