//! The room shared by several servers: the vocabulary of its ordered log.
//!
//! A clustered room is a function of one ordered log. Each server (a
//! *node*) appends what its own users do ([`Action::Append`]) and is handed
//! every entry of the log, its own included, in the log's one order
//! ([`Input::Logged`]). Applying an entry is deterministic and depends only
//! on the entries before it, so every node that applied the same prefix of
//! the log holds the same room (who is here under which nick, which nodes
//! are alive, the history) and sends its own users exactly their part of it.
//! A [`Snapshot`] of that shared state lets a node start in the middle of a
//! log whose start was trimmed.
//!
//! The rules the log decides, alike on every node:
//! - A nick claim ([`EntryKind::Join`]) wins if the nick is free at its
//!   place in the log; the loser's node asks its user again.
//! - A node is *lost* at the first entry at which another live node has
//!   appended [`ClusterConfig::lease_beats`] heartbeats
//!   ([`EntryKind::Beat`]) since the lost node's last entry. Its users leave
//!   with `(server lost)`, there, once, on every node; its later entries are
//!   ignored. A node that reads its own loss closes its users with a reason
//!   and carries on as a new incarnation.
//! - [`EntryKind::Down`] (a clean shutdown) makes every user of its node
//!   leave at once.
//!
//! See docs/cluster.md for the design and the failure model.
//!
//! [`Action::Append`]: crate::Action::Append
//! [`Input::Logged`]: crate::Input::Logged

pub(crate) mod codec;

pub use codec::DecodeError;

use crate::io::ConnId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One server of a cluster, as the log names it: a name the operator gives
/// (unique in the cluster, e.g. `host:port`) and an incarnation that is new
/// each time that server starts (or is declared lost and carries on).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// The server's name: no whitespace, at most [`MAX_NODE_NAME`] bytes.
    pub name: Arc<str>,
    /// Which run of that server.
    pub incarnation: u64,
}

/// The longest node name, in bytes.
pub const MAX_NODE_NAME: usize = 255;

impl NodeId {
    /// Node `name`, incarnation `incarnation`.
    pub fn new(name: &str, incarnation: u64) -> Self {
        NodeId {
            name: name.into(),
            incarnation,
        }
    }

    /// Whether `name` can name a node: 1 to [`MAX_NODE_NAME`] bytes, no
    /// whitespace or control character.
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NODE_NAME
            && !name.chars().any(|c| c.is_whitespace() || c.is_control())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.incarnation)
    }
}

/// One entry of the room's log: what `node` appended, its `seq`-th.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Who appended it.
    pub node: NodeId,
    /// The node's own count of its appends, strictly increasing within one
    /// incarnation: a node tells by it which of its appends reached the log.
    pub seq: u64,
    /// What it says.
    pub kind: EntryKind,
}

/// What an entry says. `conn` is the appending node's own connection id:
/// a user of the room is `(node, conn)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The node (this incarnation) is serving the room.
    Up,
    /// The node is alive (appended every [`ClusterConfig::beat`]).
    Beat,
    /// The node shuts down: all its users leave.
    Down,
    /// `conn` claims `nick`: it joins if the nick is free here.
    Join {
        /// The claiming connection.
        conn: ConnId,
        /// The nick it claims.
        nick: String,
    },
    /// `conn` says `text` to the room (`NICK: text`).
    Say {
        /// The speaker.
        conn: ConnId,
        /// What it said, already cleaned.
        text: String,
    },
    /// `conn` acts `text` (`* NICK text`).
    Me {
        /// The actor.
        conn: ConnId,
        /// The action, already cleaned.
        text: String,
    },
    /// `conn` asks to be known as `nick`.
    Rename {
        /// The renamer.
        conn: ConnId,
        /// The nick it asks for.
        nick: String,
    },
    /// `conn` says `text` to the user named `to` alone.
    Private {
        /// The sender.
        conn: ConnId,
        /// The recipient's nick, as typed.
        to: String,
        /// What it said, already cleaned.
        text: String,
    },
    /// `conn` left; its leave notice ends with ` (notice)` when given.
    Leave {
        /// The user that left (or the claim that is withdrawn).
        conn: ConnId,
        /// Why, as shown to the room.
        notice: Option<String>,
    },
}

impl Entry {
    /// The entry as bytes, for a log that stores bytes ([`Entry::decode`]
    /// reads them back).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_entry(self)
    }

    /// Reads an entry [`Entry::encode`] wrote.
    ///
    /// # Errors
    /// The bytes are not an entry: a log may hold what another program
    /// wrote, and a node skips it (every node alike).
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        codec::decode_entry(bytes)
    }
}

/// How a node takes part in a clustered room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node.
    pub node: NodeId,
    /// How often this node appends a heartbeat.
    pub beat: Duration,
    /// Heartbeats of another node after which a silent node is lost.
    pub lease_beats: u32,
}

impl ClusterConfig {
    /// The defaults: a beat a second, lost after 5 (so a dead node's users
    /// leave within about 6 s).
    pub fn new(node: NodeId) -> Self {
        ClusterConfig {
            node,
            beat: Duration::from_secs(1),
            lease_beats: 5,
        }
    }
}

/// The shared state of a clustered room after some prefix of its log:
/// enough for a node to start there and apply the rest.
///
/// The driver stores it beside the position of the last entry it covers
/// and starts a new node from it. Two nodes that applied the same prefix
/// give equal snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub(crate) nodes: Vec<codec::NodeState>,
    pub(crate) members: Vec<codec::MemberState>,
    pub(crate) history: Vec<String>,
}

impl Snapshot {
    /// The snapshot as bytes ([`Snapshot::decode`] reads them back).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_snapshot(self)
    }

    /// Reads a snapshot [`Snapshot::encode`] wrote.
    ///
    /// # Errors
    /// The bytes are not a snapshot.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        codec::decode_snapshot(bytes)
    }

    /// How many users the room had.
    pub fn members(&self) -> usize {
        self.members.len()
    }
}
