//! A room shared by several servers through an ordered log (see the
//! crate's `cluster` module for the rules the log decides).
//!
//! A clustered room keeps what is local as before (handshakes, framing,
//! flood control, send queues) but changes the room only when the log says
//! so: what its users do is appended ([`Action::Append`]), and applied when
//! it comes back in the log's order, by the same code on every server and
//! by the same functions that change a room of one server at once.
//!
//! # Invariants
//! - `pending` lists this incarnation's appends not yet seen in the log,
//!   in `seq` order, at most [`MAX_PENDING`]; `seq` is the last one's.
//! - Nothing is appended while the log is down; leaves are `deferred` and
//!   appended at the next [`Input::LogUp`].
//! - `nodes` maps this incarnation to [`NodeIx::LOCAL`]; a node is live
//!   from its first entry until it is lost or goes down, then in `lost`.
//!
//! [`Action::Append`]: crate::Action::Append
//! [`Input::LogUp`]: crate::Input::LogUp

use super::delivery::Speaker;
use super::Room;
use crate::cluster::codec::{MemberState, NodeState};
use crate::cluster::{ClusterConfig, Entry, EntryKind, NodeId, Snapshot};
use crate::config::MAX_MAX_LINE;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId};
use crate::nick::NickError;
use crate::roster::{Member, NodeIx};
use crate::text;
use crate::time::Time;
use crate::wire;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The most appends waiting to be seen in the log: past it, users' lines
/// are refused as if the log were down.
pub(crate) const MAX_PENDING: usize = 16_384;

/// The most lost nodes remembered (to ignore their late entries).
const MAX_LOST: usize = 1024;

/// The most live nodes; entries of more are ignored.
const MAX_NODES: usize = 1024;

/// What the room must do if an append of its own never reaches the log.
#[derive(Debug)]
pub(super) enum OnLoss {
    /// A user's line (as typed): it is told the line was not sent.
    Line { conn: ConnId, line: Box<str> },
    /// A nick claim: the user is asked again.
    Claim { conn: ConnId },
    /// Appended again at the next `LogUp` (a leave, `Up`).
    Again(EntryKind),
    /// Nothing (a heartbeat).
    Nothing,
}

/// The room's part in a cluster.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) config: ClusterConfig,
    pub(super) seq: u64,
    pub(super) up: bool,
    /// Whether this incarnation's `Up` was appended.
    pub(super) announced: bool,
    pub(super) pending: VecDeque<(u64, OnLoss)>,
    pub(super) deferred: Vec<EntryKind>,
    pub(super) beat_at: Option<Time>,
    pub(super) nodes: Nodes,
}

/// The servers of the room, live and lost.
#[derive(Debug, Default)]
pub(super) struct Nodes {
    ix_of: BTreeMap<NodeId, NodeIx>,
    id_of: BTreeMap<NodeIx, NodeId>,
    /// For each live node: the heartbeats each other node appended since
    /// its last entry.
    quiet: BTreeMap<NodeIx, BTreeMap<NodeIx, u32>>,
    lost: BTreeSet<NodeId>,
    lost_order: VecDeque<NodeId>,
    next_ix: u32,
}

impl Nodes {
    fn new(local: &NodeId) -> Self {
        let mut nodes = Nodes {
            next_ix: 1,
            ..Nodes::default()
        };
        nodes.ix_of.insert(local.clone(), NodeIx::LOCAL);
        nodes.id_of.insert(NodeIx::LOCAL, local.clone());
        nodes
    }

    /// The index of `node`, numbering it if new; `None` if it was lost or
    /// there are too many.
    fn ix(&mut self, node: &NodeId) -> Option<NodeIx> {
        if self.lost.contains(node) {
            return None;
        }
        if let Some(&ix) = self.ix_of.get(node) {
            return Some(ix);
        }
        if self.id_of.len() >= MAX_NODES {
            return None;
        }
        let ix = NodeIx(self.next_ix);
        self.next_ix += 1;
        self.ix_of.insert(node.clone(), ix);
        self.id_of.insert(ix, node.clone());
        Some(ix)
    }

    fn id(&self, ix: NodeIx) -> Option<&NodeId> {
        self.id_of.get(&ix)
    }

    /// `ix` appended an entry: it is live, and nobody has beaten since.
    fn heard(&mut self, ix: NodeIx) {
        self.quiet.entry(ix).or_default().clear();
    }

    /// `from` appended a heartbeat: the live nodes that missed `lease` of
    /// its beats, ordered by name (the same order on every server).
    fn beat(&mut self, from: NodeIx, lease: u32) -> Vec<NodeIx> {
        let mut lost = Vec::new();
        for (&node, quiet) in &mut self.quiet {
            if node != from {
                let beats = quiet.entry(from).or_default();
                *beats += 1;
                if *beats >= lease {
                    lost.push(node);
                }
            }
        }
        lost.sort_by(|a, b| self.id_of.get(a).cmp(&self.id_of.get(b)));
        lost
    }

    /// `ix` is lost (or went down): its later entries are ignored.
    fn forget(&mut self, ix: NodeIx) {
        self.quiet.remove(&ix);
        for quiet in self.quiet.values_mut() {
            quiet.remove(&ix);
        }
        let Some(id) = self.id_of.remove(&ix) else {
            return;
        };
        self.ix_of.remove(&id);
        self.lost.insert(id.clone());
        self.lost_order.push_back(id);
        while self.lost_order.len() > MAX_LOST {
            if let Some(old) = self.lost_order.pop_front() {
                self.lost.remove(&old);
            }
        }
    }

    /// This server starts again as `new`: [`NodeIx::LOCAL`] names it.
    fn reincarnate(&mut self, new: &NodeId) {
        self.forget(NodeIx::LOCAL);
        self.ix_of.insert(new.clone(), NodeIx::LOCAL);
        self.id_of.insert(NodeIx::LOCAL, new.clone());
    }

    fn is_live(&self, ix: NodeIx) -> bool {
        self.quiet.contains_key(&ix)
    }
}

impl Room {
    /// A room shared through a log, as node `cluster.node`; from
    /// `snapshot` if the log's start was trimmed (the driver hands in the
    /// entries after it). It serves nobody until the first
    /// [`Input::LogUp`](crate::Input::LogUp).
    pub fn clustered(
        config: crate::Config,
        cluster: ClusterConfig,
        snapshot: Option<&Snapshot>,
    ) -> Self {
        let mut room = Room::new(config);
        room.roster = crate::roster::Roster::by_member();
        let nodes = Nodes::new(&cluster.node);
        room.shared = Some(Box::new(Shared {
            config: cluster,
            seq: 0,
            up: false,
            announced: false,
            pending: VecDeque::new(),
            deferred: Vec::new(),
            beat_at: None,
            nodes,
        }));
        if let Some(snapshot) = snapshot {
            room.restore(snapshot);
        }
        room
    }

    /// Whether the room is shared through a log.
    pub fn is_clustered(&self) -> bool {
        self.shared.is_some()
    }

    /// This node, in a clustered room.
    pub fn node(&self) -> Option<&NodeId> {
        Some(&self.shared.as_ref()?.config.node)
    }

    /// The shared state after the entries handed in so far, in a clustered
    /// room: equal on every node that applied the same entries.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let shared = self.shared.as_ref()?;
        let nodes = &shared.nodes;
        let name = |ix: &NodeIx| nodes.id(*ix).cloned();
        let mut states: Vec<NodeState> = nodes
            .quiet
            .iter()
            .filter_map(|(ix, quiet)| {
                let mut quiet: Vec<(NodeId, u32)> = quiet
                    .iter()
                    .filter(|(_, beats)| **beats > 0)
                    .filter_map(|(other, beats)| Some((name(other)?, *beats)))
                    .collect();
                quiet.sort();
                Some(NodeState {
                    node: name(ix)?,
                    lost: false,
                    quiet,
                })
            })
            .collect();
        states.extend(nodes.lost_order.iter().map(|node| NodeState {
            node: node.clone(),
            lost: true,
            quiet: Vec::new(),
        }));
        states.sort_by(|a, b| (a.lost, &a.node).cmp(&(b.lost, &b.node)));
        let mut members: Vec<MemberState> = self
            .roster
            .iter()
            .filter_map(|(member, nick)| {
                Some(MemberState {
                    node: name(&member.node)?,
                    conn: member.conn,
                    nick: nick.to_string(),
                })
            })
            .collect();
        members.sort_by(|a, b| (&a.node, a.conn).cmp(&(&b.node, b.conn)));
        Some(Snapshot {
            nodes: states,
            members,
            history: self.history.iter().map(|line| line.to_string()).collect(),
        })
    }

    /// Starts the shared state from `snapshot`, as [`Room::clustered`]
    /// does, for a driver that could read the snapshot only after making
    /// the room: before the first [`Input::LogUp`](crate::Input::LogUp), or
    /// after an [`Input::LogReset`](crate::Input::LogReset) while the log is
    /// down. The driver then hands in the entries after the snapshot.
    ///
    /// Returns whether it was applied: `false` (and nothing changes) when
    /// the room is serving from the log, knows other nodes or holds users
    /// or history, or is not clustered.
    pub fn restore_snapshot(&mut self, snapshot: &Snapshot) -> bool {
        let Some(shared) = self.shared.as_ref() else {
            return false;
        };
        let fresh = !shared.up
            && shared.nodes.id_of.len() == 1
            && shared.nodes.lost.is_empty()
            && self.roster.len() == 0
            && self.history.is_empty();
        if fresh {
            self.restore(snapshot);
        }
        fresh
    }

    fn restore(&mut self, snapshot: &Snapshot) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        let nodes = &mut shared.nodes;
        for state in snapshot.nodes.iter().filter(|s| s.lost) {
            if let Some(ix) = nodes.ix(&state.node) {
                nodes.forget(ix);
            }
        }
        for state in snapshot.nodes.iter().filter(|s| !s.lost) {
            if let Some(ix) = nodes.ix(&state.node) {
                nodes.heard(ix);
            }
        }
        for state in snapshot.nodes.iter().filter(|s| !s.lost) {
            let Some(&ix) = nodes.ix_of.get(&state.node) else {
                continue;
            };
            let quiet: BTreeMap<NodeIx, u32> = state
                .quiet
                .iter()
                .filter_map(|(other, beats)| Some((*nodes.ix_of.get(other)?, *beats)))
                .collect();
            nodes.quiet.insert(ix, quiet);
        }
        for member in &snapshot.members {
            let Some(&node) = nodes.ix_of.get(&member.node) else {
                continue;
            };
            let member_id = Member {
                node,
                conn: member.conn,
            };
            if let Ok(keys) = self.roster.admit(&member.nick, None) {
                self.roster
                    .insert(member_id, member.nick.as_str().into(), keys);
            }
        }
        for line in snapshot
            .history
            .iter()
            .rev()
            .take(self.config.history)
            .rev()
        {
            self.history.push_back(line.as_str().into());
        }
    }

    /// Appends `kind` to the log (the caller checked that the log is up),
    /// remembering what to do if it never gets there.
    pub(super) fn append(&mut self, kind: EntryKind, pending: OnLoss) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        if !shared.up {
            if let OnLoss::Again(kind) = pending {
                shared.deferred.push(kind);
            }
            return;
        }
        shared.seq += 1;
        shared.pending.push_back((shared.seq, pending));
        let entry = Entry {
            node: shared.config.node.clone(),
            seq: shared.seq,
            kind,
        };
        self.actions.push_back(Action::Append {
            entry: Box::new(entry),
        });
    }

    /// Whether a user's append can be made now: the log is up and not too
    /// far behind. If not, `conn` is told that `line` was not sent.
    pub(super) fn can_append(&mut self, conn: ConnId, line: &str) -> bool {
        if self.log_open() {
            return true;
        }
        self.send_error(conn, format_args!("{}{line}", wire::NOT_SENT));
        false
    }

    /// Whether users' appends can be made now: the room is not clustered,
    /// or its log is up and not too far behind.
    pub(super) fn log_open(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| shared.up && shared.pending.len() < MAX_PENDING)
    }

    pub(super) fn on_log_up(&mut self) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        if shared.up {
            return;
        }
        shared.up = true;
        // Every entry of the log was handed in: what is still pending
        // never got there.
        let lost: Vec<OnLoss> = shared.pending.drain(..).map(|(_, p)| p).collect();
        let deferred = std::mem::take(&mut shared.deferred);
        shared.beat_at = Some(self.now + shared.config.beat);
        let announce = !shared.announced && !self.shutting_down;
        shared.announced = true;
        if announce {
            self.append(EntryKind::Up, OnLoss::Again(EntryKind::Up));
        }
        for pending in lost {
            self.on_not_appended(pending);
        }
        for kind in deferred {
            self.append(kind.clone(), OnLoss::Again(kind));
        }
    }

    pub(super) fn on_log_down(&mut self) {
        if let Some(shared) = self.shared.as_mut() {
            shared.up = false;
            shared.beat_at = None;
        }
    }

    /// An append of this node's that the log never got.
    fn on_not_appended(&mut self, pending: OnLoss) {
        match pending {
            OnLoss::Line { conn, line } => {
                self.send_error(conn, format_args!("{}{line}", wire::NOT_SENT));
            }
            OnLoss::Claim { conn } => self.claim_refused(conn, NickError::Unavailable),
            OnLoss::Again(kind) => self.append(kind.clone(), OnLoss::Again(kind)),
            OnLoss::Nothing => {}
        }
    }

    /// The heartbeat is due.
    pub(super) fn on_beat(&mut self) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        if shared.beat_at.is_none_or(|at| at > self.now) {
            return;
        }
        shared.beat_at = Some(self.now + shared.config.beat);
        // A beat is due only while the log is up (see `on_log_down`).
        if shared.pending.len() < MAX_PENDING {
            self.append(EntryKind::Beat, OnLoss::Nothing);
        }
    }

    pub(super) fn on_logged(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.apply(entry);
        }
    }

    /// Applies one entry of the log: the same on every node.
    fn apply(&mut self, entry: &Entry) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        let Some(ix) = shared.nodes.ix(&entry.node) else {
            return; // a lost node's, or one too many
        };
        let own = ix == NodeIx::LOCAL;
        if own {
            // Appends before this one that are not in the log never will be.
            let mut lost = Vec::new();
            while let Some((seq, _)) = shared.pending.front() {
                if *seq > entry.seq {
                    break;
                }
                let Some((seq, pending)) = shared.pending.pop_front() else {
                    break;
                };
                if seq < entry.seq {
                    lost.push(pending);
                }
            }
            for pending in lost {
                self.on_not_appended(pending);
            }
        }
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        shared.nodes.heard(ix);
        let lease = shared.config.lease_beats;
        let member = |conn| Member { node: ix, conn };
        // The connection of a user of this node that is still open here.
        let local =
            |room: &Room, conn: ConnId| (own && room.conns.contains_key(&conn)).then_some(conn);
        match &entry.kind {
            EntryKind::Up => {}
            EntryKind::Beat => {
                let lost = shared.nodes.beat(ix, lease);
                for node in lost {
                    self.lose_node(node, wire::SERVER_LOST);
                }
            }
            EntryKind::Down => self.lose_node(ix, wire::SERVER_DOWN),
            EntryKind::Join { conn, nick } => {
                let claimant = local(self, *conn)
                    .filter(|&c| self.conns.get(&c).is_some_and(|c| c.is_claiming()));
                match self.roster.admit(nick, None) {
                    Ok(keys) => {
                        let claim = claimant
                            .and_then(|c| self.conns.get_mut(&c)?.take_claim())
                            .map(|claim| (*conn, claim));
                        self.join_member(member(*conn), nick, keys, claim);
                    }
                    Err(error) => {
                        if let Some(conn) = claimant {
                            self.claim_refused(conn, error);
                        }
                    }
                }
            }
            EntryKind::Say { conn, text } | EntryKind::Me { conn, text } => {
                let Some(nick) = self.roster.nick_of(member(*conn)).cloned() else {
                    return;
                };
                if text.len() > MAX_MAX_LINE {
                    return;
                }
                let text = text::clean(text.as_bytes());
                if matches!(entry.kind, EntryKind::Say { .. }) {
                    self.say_line(Speaker::Ordered, &[&nick, wire::SAYS, &text]);
                } else {
                    self.say_line(Speaker::Ordered, &[wire::ACTION, &nick, " ", &text]);
                }
            }
            EntryKind::Rename { conn, nick } => {
                let member = member(*conn);
                let Some(old) = self.roster.nick_of(member).cloned() else {
                    return;
                };
                let renamer = local(self, *conn);
                match self.roster.admit(nick, Some(member)) {
                    Ok(_) if *old == **nick => {}
                    Ok(keys) => self.rename_member(member, &old, nick, keys),
                    Err(error) => {
                        if let Some(conn) = renamer {
                            self.send_error(conn, error);
                        }
                    }
                }
            }
            EntryKind::Private { conn, to, text } => {
                let sender = member(*conn);
                let Some(nick) = self.roster.nick_of(sender).cloned() else {
                    return;
                };
                if text.len() > MAX_MAX_LINE {
                    return;
                }
                let text = text::clean(text.as_bytes());
                self.deliver_private(sender, &nick, to, &text);
            }
            EntryKind::Leave { conn, notice } => {
                let Some(nick) = self.roster.nick_of(member(*conn)).cloned() else {
                    return;
                };
                let notice = notice.as_deref().map(|n| text::clean(n.as_bytes()));
                self.leave_member(&nick, notice.as_deref(), false);
            }
        }
    }

    /// Node `ix` is lost, or went down: each of its users leaves with
    /// `notice`. If it is this node, its users are closed and it carries on
    /// as a new incarnation.
    fn lose_node(&mut self, ix: NodeIx, notice: &str) {
        let members = self.roster.members_of(ix);
        let users = members.len();
        for member in members {
            if let Some(nick) = self.roster.nick_of(member).cloned() {
                self.leave_member(&nick, Some(notice), false);
            }
        }
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        let node = shared.nodes.id(ix).map(ToString::to_string);
        shared.nodes.forget(ix);
        if let Some(node) = node {
            self.record(Event::NodeLost { node, users });
        }
        if ix == NodeIx::LOCAL && !self.shutting_down {
            self.drop_users(wire::LOST_THE_ROOM, DisconnectReason::NodeLost);
            self.reincarnate();
        }
    }

    /// The log lost entries: every user here may have missed lines.
    pub(super) fn on_log_reset(&mut self) {
        self.start_again(wire::LOG_LOST, DisconnectReason::LogLost, Event::LogReset);
    }

    /// Entries this node had not read are gone from the log: it lost
    /// contact with the room (the others may well have declared it lost in
    /// the trimmed part), so its users are told that, not that the log was
    /// lost.
    pub(super) fn on_fell_behind(&mut self) {
        self.start_again(
            wire::LOST_THE_ROOM,
            DisconnectReason::NodeLost,
            Event::FellBehind,
        );
    }

    /// Closes every user of this node with `line` and starts again as a
    /// new incarnation in an empty room that knows nothing of the log.
    fn start_again(&mut self, line: &str, reason: DisconnectReason, event: Event) {
        if self.shared.is_none() {
            return;
        }
        self.flush_room();
        self.drop_users(line, reason);
        self.roster.clear();
        self.history.clear();
        self.record(event);
        self.reincarnate();
        // A new log: nothing of the old one is known.
        if let Some(shared) = self.shared.as_mut() {
            shared.nodes = Nodes::new(&shared.config.node);
        }
    }

    /// Closes every joined or claiming user of this node with `line`,
    /// without telling the room (the log already did).
    fn drop_users(&mut self, line: &str, reason: DisconnectReason) {
        let users: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_joined() || c.is_claiming())
            .map(|(&conn, _)| conn)
            .collect();
        for conn in users {
            self.send_error(conn, line);
            self.forget_conn(conn, reason, CloseMode::Flush);
        }
    }

    /// This node starts again under the next incarnation of its name.
    fn reincarnate(&mut self) {
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        let next = NodeId {
            name: shared.config.node.name.clone(),
            incarnation: shared.config.node.incarnation.wrapping_add(1),
        };
        shared.nodes.reincarnate(&next);
        shared.config.node = next;
        shared.seq = 0;
        shared.pending.clear();
        shared.deferred.clear();
        shared.announced = shared.up;
        if shared.up {
            self.append(EntryKind::Up, OnLoss::Again(EntryKind::Up));
        }
    }

    /// The invariants of a clustered room (see the module doc).
    pub(super) fn check_shared(&self) -> Result<(), &'static str> {
        let Some(shared) = self.shared.as_ref() else {
            return Ok(());
        };
        let checks = [
            (
                shared.pending.len() <= MAX_PENDING
                    && shared
                        .pending
                        .iter()
                        .zip(shared.pending.iter().skip(1))
                        .all(|(a, b)| a.0 < b.0)
                    && shared
                        .pending
                        .back()
                        .is_none_or(|(seq, _)| *seq == shared.seq),
                "pending appends out of order",
            ),
            (
                shared.up || shared.beat_at.is_none(),
                "a heartbeat is due while the log is down",
            ),
            (
                self.shutting_down
                    || shared.nodes.ix_of.get(&shared.config.node) == Some(&NodeIx::LOCAL),
                "this node is not the local node",
            ),
            (
                self.roster.iter().all(|(member, _)| {
                    shared.nodes.is_live(member.node) || member.node == NodeIx::LOCAL
                }),
                "a user of a node that is not live",
            ),
        ];
        match checks.iter().find(|(holds, _)| !holds) {
            Some(&(_, broken)) => Err(broken),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::Member;

    /// A clustered room that never reached its log, and the check that
    /// finds what `break_it` did to it.
    fn broken(break_it: impl FnOnce(&mut Room)) -> Result<(), &'static str> {
        let cluster = ClusterConfig::new(NodeId::new("here", 1));
        let mut room = Room::clustered(crate::Config::default(), cluster, None);
        assert_eq!(room.check_shared(), Ok(()));
        break_it(&mut room);
        room.check_shared()
    }

    fn shared(room: &mut Room) -> &mut Shared {
        room.shared.as_mut().expect("clustered")
    }

    #[test]
    fn each_shared_invariant_check_catches_its_own_breakage() {
        let out_of_order = "pending appends out of order";
        let unordered = broken(|room| {
            let shared = shared(room);
            shared
                .pending
                .extend([(5, OnLoss::Nothing), (3, OnLoss::Nothing)]);
            shared.seq = 3;
        });
        assert_eq!(unordered, Err(out_of_order));
        let repeated = broken(|room| {
            let shared = shared(room);
            shared
                .pending
                .extend([(2, OnLoss::Nothing), (2, OnLoss::Nothing)]);
            shared.seq = 2;
        });
        assert_eq!(repeated, Err(out_of_order));
        let not_the_last = broken(|room| {
            let shared = shared(room);
            shared
                .pending
                .extend([(1, OnLoss::Nothing), (2, OnLoss::Nothing)]);
            shared.seq = 5;
        });
        assert_eq!(not_the_last, Err(out_of_order));
        let too_many = broken(|room| {
            let shared = shared(room);
            let count = MAX_PENDING as u64 + 1;
            shared
                .pending
                .extend((1..=count).map(|seq| (seq, OnLoss::Nothing)));
            shared.seq = count;
        });
        assert_eq!(too_many, Err(out_of_order));
        let beat_while_down = broken(|room| shared(room).beat_at = Some(Time::ZERO));
        assert_eq!(
            beat_while_down,
            Err("a heartbeat is due while the log is down")
        );
        let not_local = broken(|room| {
            let node = shared(room).config.node.clone();
            shared(room).nodes.ix_of.remove(&node);
        });
        assert_eq!(not_local, Err("this node is not the local node"));
        let ghost = broken(|room| {
            let keys = room.roster.admit("ghost", None).expect("a free nick");
            let member = Member {
                node: NodeIx(7),
                conn: ConnId(1),
            };
            room.roster.insert(member, "ghost".into(), keys);
        });
        assert_eq!(ghost, Err("a user of a node that is not live"));
    }

    #[test]
    fn the_last_max_lost_lost_nodes_are_remembered() {
        let mut nodes = Nodes::new(&NodeId::new("here", 1));
        let node = |i: usize| NodeId::new(&format!("n{i}"), 1);
        for i in 0..=MAX_LOST {
            let ix = nodes.ix(&node(i)).expect("room for one more node");
            nodes.forget(ix);
        }
        // MAX_LOST + 1 were lost: the first is forgotten (it would be a new
        // node), the next MAX_LOST are still refused.
        assert!(nodes.ix(&node(1)).is_none());
        assert!(nodes.ix(&node(MAX_LOST)).is_none());
        assert!(nodes.ix(&node(0)).is_some());
    }
}
