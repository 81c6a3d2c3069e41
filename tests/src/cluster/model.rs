//! The checkers' own reading of the log: what the room must be, and which
//! room lines it must show, after every prefix of one epoch of the log.
//!
//! It is written from the rules of docs/protocol.md and the core's
//! `cluster` module, not from the core's code: a claim wins if no member
//! has a nick that looks like it; a node is lost at the first heartbeat
//! that makes some other live node's count of beats since its last entry
//! reach the lease; a lost (or shut down) node's users leave there, in
//! connection order, and its later entries are ignored.
//!
//! # Invariants
//! - `line_start[p]` is the number of room lines rendered by the entries
//!   before position `p`; `line_start.len()` is one more than the entries
//!   applied.
//! - `members` never holds two nicks that look alike (checked, not assumed:
//!   [`EpochModel::apply`] reports it).

use crate::words::looks_alike;
use chat_core::{ConnId, Entry, EntryKind, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// Heartbeats of another node after which a silent node is lost (the
/// default the simulation runs with).
pub const LEASE_BEATS: u32 = 5;

/// One epoch of the log (from its start or from the last reset), applied.
#[derive(Clone, Debug, Default)]
pub struct EpochModel {
    /// Every room line the entries rendered, in the log's order.
    pub lines: Vec<String>,
    /// Where each entry's lines start in `lines` (see the module doc).
    pub line_start: Vec<usize>,
    /// Members in the room after the entries applied so far, with nicks.
    pub members: BTreeMap<(NodeId, ConnId), String>,
    /// Members after each prefix: `count_after[p]` after `p` entries.
    pub count_after: Vec<usize>,
    /// Where each connection's winning claim is (connection ids are unique
    /// in the simulation).
    pub joined_at: BTreeMap<ConnId, usize>,
    /// Live nodes: for each, the heartbeats every other node appended since
    /// its last entry.
    live: BTreeMap<NodeId, BTreeMap<NodeId, u32>>,
    /// Nodes lost or shut down, and the position of the entry that did it.
    pub lost_at: BTreeMap<NodeId, usize>,
    /// Nodes that ever appended an entry that counted.
    pub seen: BTreeSet<NodeId>,
}

impl EpochModel {
    /// An empty epoch.
    pub fn new() -> Self {
        EpochModel {
            line_start: vec![0],
            count_after: vec![0],
            ..EpochModel::default()
        }
    }

    /// Entries applied.
    pub fn len(&self) -> usize {
        self.line_start.len() - 1
    }

    /// Whether no entry was applied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The room lines of the entries in `from..to` (clamped to the log).
    pub fn lines_between(&self, from: usize, to: usize) -> &[String] {
        let to = to.min(self.len());
        let from = from.min(to);
        &self.lines[self.line_start[from]..self.line_start[to]]
    }

    /// Whether `node` was lost or went down before position `upto`.
    pub fn lost_before(&self, node: &NodeId, upto: usize) -> bool {
        self.lost_at.get(node).is_some_and(|&at| at < upto)
    }

    /// The nick of `(node, conn)`, if a member now.
    pub fn nick_of(&self, node: &NodeId, conn: ConnId) -> Option<&str> {
        self.members.get(&(node.clone(), conn)).map(String::as_str)
    }

    /// Applies the next entry; `Err` if the model itself broke nick
    /// uniqueness (which would make it a bad oracle).
    pub fn apply(&mut self, entry: &Entry) -> Result<(), String> {
        let pos = self.len();
        if !self.lost_at.contains_key(&entry.node) {
            self.apply_live(pos, entry);
        }
        self.line_start.push(self.lines.len());
        self.count_after.push(self.members.len());
        let nicks: Vec<&String> = self.members.values().collect();
        for (i, a) in nicks.iter().enumerate() {
            if let Some(b) = nicks[i + 1..].iter().find(|b| looks_alike(a, b)) {
                return Err(format!("the model holds {a} and {b} at once"));
            }
        }
        Ok(())
    }

    fn apply_live(&mut self, pos: usize, entry: &Entry) {
        let from = &entry.node;
        self.seen.insert(from.clone());
        self.live.entry(from.clone()).or_default().clear();
        let key = |conn: ConnId| (from.clone(), conn);
        match &entry.kind {
            EntryKind::Up | EntryKind::Private { .. } => {}
            EntryKind::Beat => {
                let mut lost = Vec::new();
                for (node, quiet) in &mut self.live {
                    if node != from {
                        let beats = quiet.entry(from.clone()).or_default();
                        *beats += 1;
                        if *beats >= LEASE_BEATS {
                            lost.push(node.clone());
                        }
                    }
                }
                lost.sort();
                for node in lost {
                    self.lose(pos, &node, "server lost");
                }
            }
            EntryKind::Down => self.lose(pos, &from.clone(), "server shut down"),
            EntryKind::Join { conn, nick } => {
                let taken = self.members.values().any(|m| looks_alike(m, nick));
                if !taken && !self.members.contains_key(&key(*conn)) {
                    self.members.insert(key(*conn), nick.clone());
                    self.joined_at.insert(*conn, pos);
                    self.lines.push(format!("{nick} joined the chat"));
                }
            }
            EntryKind::Say { conn, text } => {
                if let Some(nick) = self.members.get(&key(*conn)) {
                    self.lines.push(format!("{nick}: {text}"));
                }
            }
            EntryKind::Me { conn, text } => {
                if let Some(nick) = self.members.get(&key(*conn)) {
                    self.lines.push(format!("* {nick} {text}"));
                }
            }
            EntryKind::Rename { conn, nick } => {
                let Some(old) = self.members.get(&key(*conn)).cloned() else {
                    return;
                };
                let taken = self
                    .members
                    .iter()
                    .any(|(k, m)| *k != key(*conn) && looks_alike(m, nick));
                if !taken && old != *nick {
                    self.members.insert(key(*conn), nick.clone());
                    self.lines.push(format!("{old} is now known as {nick}"));
                }
            }
            EntryKind::Leave { conn, notice } => {
                if let Some(nick) = self.members.remove(&key(*conn)) {
                    self.lines.push(leave_line(&nick, notice.as_deref()));
                }
            }
        }
    }

    /// `node` is lost (or went down) at `pos`: its users leave, in
    /// connection order, and it is forgotten.
    fn lose(&mut self, pos: usize, node: &NodeId, notice: &str) {
        let users: Vec<(NodeId, ConnId)> = self
            .members
            .keys()
            .filter(|(n, _)| n == node)
            .cloned()
            .collect();
        for user in users {
            if let Some(nick) = self.members.remove(&user) {
                self.lines.push(leave_line(&nick, Some(notice)));
            }
        }
        self.live.remove(node);
        for quiet in self.live.values_mut() {
            quiet.remove(node);
        }
        self.lost_at.insert(node.clone(), pos);
    }
}

/// `NICK left the chat!`, with ` (NOTICE)` when given.
pub fn leave_line(nick: &str, notice: Option<&str>) -> String {
    match notice {
        Some(notice) => format!("{nick} left the chat! ({notice})"),
        None => format!("{nick} left the chat!"),
    }
}
