//! Entries and snapshots as bytes.
//!
//! A line of space-separated tokens: numbers in decimal, strings as
//! `LEN:BYTES` (so they may hold spaces). Entries start `chat1`, snapshots
//! `chat-snapshot1`. Decoding checks everything, so that bytes another
//! program put in the log are refused whole, the same way on every node.

use super::{Entry, EntryKind, NodeId, Snapshot};
use crate::io::ConnId;
use std::fmt;

const ENTRY_TAG: &str = "chat1";
const SNAPSHOT_TAG: &str = "chat-snapshot1";
/// The longest string field: a nick, a node name or a line's text.
const MAX_FIELD: usize = crate::config::MAX_MAX_LINE;

/// Why bytes are not an entry or a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Where decoding stopped, in bytes.
    pub at: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

impl std::error::Error for DecodeError {}

/// One live node of the shared state, and the heartbeats every other node
/// appended since its last entry (only the non-zero counts, by node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeState {
    pub(crate) node: NodeId,
    pub(crate) lost: bool,
    pub(crate) quiet: Vec<(NodeId, u32)>,
}

/// One user of the shared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberState {
    pub(crate) node: NodeId,
    pub(crate) conn: ConnId,
    pub(crate) nick: String,
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn token(&mut self, token: &str) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push(b' ');
        }
        self.0.extend_from_slice(token.as_bytes());
        self
    }
    fn number(&mut self, n: u64) -> &mut Self {
        self.token(&n.to_string())
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.token(&format!("{}:", s.len()));
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn node(&mut self, node: &NodeId) -> &mut Self {
        self.string(&node.name).number(node.incarnation)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, expected: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError {
            at: self.at,
            expected,
        })
    }
    /// The next space-separated token (no string field).
    fn token(&mut self, expected: &'static str) -> Result<&'a str, DecodeError> {
        if self.at > 0 {
            if self.bytes.get(self.at) != Some(&b' ') {
                return self.fail(expected);
            }
            self.at += 1;
        }
        let rest = &self.bytes[self.at..];
        let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let Ok(token) = std::str::from_utf8(&rest[..len]) else {
            return self.fail(expected);
        };
        if token.is_empty() {
            return self.fail(expected);
        }
        self.at += len;
        Ok(token)
    }
    fn number(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let token = self.token("a number")?;
        if !token.bytes().all(|b| b.is_ascii_digit()) {
            self.at = start;
            return self.fail("a number");
        }
        token.parse().or_else(|_| {
            self.at = start;
            self.fail("a number")
        })
    }
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.number()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.bytes.len() => Ok(n),
            _ => self.fail("a count"),
        }
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        if self.at > 0 {
            if self.bytes.get(self.at) != Some(&b' ') {
                return self.fail("a string");
            }
            self.at += 1;
        }
        let rest = &self.bytes[self.at..];
        let Some(colon) = rest.iter().take(8).position(|&b| b == b':') else {
            return self.fail("a string length");
        };
        let len = std::str::from_utf8(&rest[..colon])
            .ok()
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<usize>().ok());
        let Some(len) = len.filter(|&len| len <= MAX_FIELD && colon + 1 + len <= rest.len()) else {
            return self.fail("a string length");
        };
        let Ok(text) = std::str::from_utf8(&rest[colon + 1..colon + 1 + len]) else {
            return self.fail("UTF-8");
        };
        self.at += colon + 1 + len;
        Ok(text.to_string())
    }
    fn node(&mut self) -> Result<NodeId, DecodeError> {
        let name = self.string()?;
        if !NodeId::is_valid_name(&name) {
            return self.fail("a node name");
        }
        let incarnation = self.number()?;
        Ok(NodeId::new(&name, incarnation))
    }
    fn conn(&mut self) -> Result<ConnId, DecodeError> {
        self.number().map(ConnId)
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            self.fail("the end")
        }
    }
}

pub(super) fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut w = Writer::default();
    w.token(ENTRY_TAG);
    let kind = match &entry.kind {
        EntryKind::Up => "U",
        EntryKind::Beat => "B",
        EntryKind::Down => "D",
        EntryKind::Join { .. } => "J",
        EntryKind::Say { .. } => "S",
        EntryKind::Me { .. } => "M",
        EntryKind::Rename { .. } => "R",
        EntryKind::Private { .. } => "P",
        EntryKind::Leave { .. } => "L",
    };
    w.token(kind).node(&entry.node).number(entry.seq);
    match &entry.kind {
        EntryKind::Up | EntryKind::Beat | EntryKind::Down => {}
        EntryKind::Join { conn, nick } | EntryKind::Rename { conn, nick } => {
            w.number(conn.0).string(nick);
        }
        EntryKind::Say { conn, text } | EntryKind::Me { conn, text } => {
            w.number(conn.0).string(text);
        }
        EntryKind::Private { conn, to, text } => {
            w.number(conn.0).string(to).string(text);
        }
        EntryKind::Leave { conn, notice } => {
            w.number(conn.0);
            match notice {
                Some(notice) => w.string(notice),
                None => w.token("-"),
            };
        }
    }
    w.0
}

pub(super) fn decode_entry(bytes: &[u8]) -> Result<Entry, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    if r.token("the entry tag")? != ENTRY_TAG {
        return Err(DecodeError {
            at: 0,
            expected: "the entry tag",
        });
    }
    let kind = r.token("an entry kind")?;
    let node = r.node()?;
    let seq = r.number()?;
    let kind = match kind {
        "U" => EntryKind::Up,
        "B" => EntryKind::Beat,
        "D" => EntryKind::Down,
        "J" => EntryKind::Join {
            conn: r.conn()?,
            nick: r.string()?,
        },
        "R" => EntryKind::Rename {
            conn: r.conn()?,
            nick: r.string()?,
        },
        "S" => EntryKind::Say {
            conn: r.conn()?,
            text: r.string()?,
        },
        "M" => EntryKind::Me {
            conn: r.conn()?,
            text: r.string()?,
        },
        "P" => EntryKind::Private {
            conn: r.conn()?,
            to: r.string()?,
            text: r.string()?,
        },
        "L" => {
            let conn = r.conn()?;
            let notice = if r.bytes.get(r.at..r.at + 2) == Some(b" -") {
                r.at += 2;
                None
            } else {
                Some(r.string()?)
            };
            EntryKind::Leave { conn, notice }
        }
        _ => return r.fail("an entry kind"),
    };
    r.end()?;
    Ok(Entry { node, seq, kind })
}

pub(super) fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let mut w = Writer::default();
    w.token(SNAPSHOT_TAG);
    w.number(snapshot.nodes.len() as u64);
    for node in &snapshot.nodes {
        w.node(&node.node)
            .number(u64::from(node.lost))
            .number(node.quiet.len() as u64);
        for (other, beats) in &node.quiet {
            w.node(other).number(u64::from(*beats));
        }
    }
    w.number(snapshot.members.len() as u64);
    for member in &snapshot.members {
        w.node(&member.node)
            .number(member.conn.0)
            .string(&member.nick);
    }
    w.number(snapshot.history.len() as u64);
    for line in &snapshot.history {
        w.string(line);
    }
    w.0
}

pub(super) fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    if r.token("the snapshot tag")? != SNAPSHOT_TAG {
        return Err(DecodeError {
            at: 0,
            expected: "the snapshot tag",
        });
    }
    let mut nodes = Vec::new();
    for _ in 0..r.count()? {
        let node = r.node()?;
        let lost = match r.number()? {
            0 => false,
            1 => true,
            _ => return r.fail("0 or 1"),
        };
        let mut quiet = Vec::new();
        for _ in 0..r.count()? {
            let other = r.node()?;
            let Ok(beats) = u32::try_from(r.number()?) else {
                return r.fail("a heartbeat count");
            };
            quiet.push((other, beats));
        }
        nodes.push(NodeState { node, lost, quiet });
    }
    let mut members = Vec::new();
    for _ in 0..r.count()? {
        members.push(MemberState {
            node: r.node()?,
            conn: r.conn()?,
            nick: r.string()?,
        });
    }
    let mut history = Vec::new();
    for _ in 0..r.count()? {
        history.push(r.string()?);
    }
    r.end()?;
    Ok(Snapshot {
        nodes,
        members,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        NodeId::new("10.0.0.1:55555", 7)
    }

    #[test]
    fn a_decode_error_says_what_was_expected_where() {
        let error = DecodeError {
            at: 6,
            expected: "a number",
        };
        assert_eq!(error.to_string(), "expected a number at byte 6");
    }

    fn entries() -> Vec<Entry> {
        let conn = ConnId(42);
        let kinds = vec![
            EntryKind::Up,
            EntryKind::Beat,
            EntryKind::Down,
            EntryKind::Join {
                conn,
                nick: "alice".into(),
            },
            EntryKind::Say {
                conn,
                text: "hi: with 3:spaces and ünïcode ".into(),
            },
            EntryKind::Me {
                conn,
                text: String::new(),
            },
            EntryKind::Rename {
                conn,
                nick: "bob".into(),
            },
            EntryKind::Private {
                conn,
                to: "carol".into(),
                text: "psst -".into(),
            },
            EntryKind::Leave { conn, notice: None },
            EntryKind::Leave {
                conn,
                notice: Some("-".into()),
            },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(seq, kind)| Entry {
                node: node(),
                seq: seq as u64,
                kind,
            })
            .collect()
    }

    #[test]
    fn every_entry_reads_back_as_written() {
        for entry in entries() {
            assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
        }
    }

    #[test]
    fn cut_or_padded_entries_are_refused() {
        for entry in entries() {
            let bytes = entry.encode();
            for cut in 0..bytes.len() {
                assert!(
                    Entry::decode(&bytes[..cut]).is_err(),
                    "{entry:?} cut at {cut}"
                );
            }
            let mut padded = bytes.clone();
            padded.push(b' ');
            assert!(Entry::decode(&padded).is_err());
        }
        assert!(Entry::decode(b"chat1 S 1:x 1 1 1 99999999999999999999:x").is_err());
        assert!(Entry::decode(b"chat1 X 1:x 1 1").is_err());
        assert!(Entry::decode(b"chat1 U 1:x 1 1").is_ok());
        assert!(
            Entry::decode(b"chat1 U +1:x 1 1").is_err(),
            "a string length is digits only"
        );
        assert!(Entry::decode(b"chat1 U 0: 1 1").is_err(), "empty node name");
        assert!(
            Entry::decode(b"chat1 U 3:a b 1 1").is_err(),
            "space in a node name"
        );
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let snapshot = Snapshot {
            nodes: vec![
                NodeState {
                    node: node(),
                    lost: false,
                    quiet: vec![(NodeId::new("b", 1), 3)],
                },
                NodeState {
                    node: NodeId::new("b", 1),
                    lost: true,
                    quiet: vec![],
                },
            ],
            members: vec![MemberState {
                node: node(),
                conn: ConnId(3),
                nick: "alice".into(),
            }],
            history: vec!["alice: hi there".into(), String::new()],
        };
        let bytes = snapshot.encode();
        assert_eq!(Snapshot::decode(&bytes), Ok(snapshot));
        // A count longer than the bytes could hold is refused as a count.
        let too_many = Snapshot::decode(b"chat-snapshot1 99 ");
        assert_eq!(too_many.map_err(|e| e.expected), Err("a count"));
        for cut in 0..bytes.len() {
            assert!(Snapshot::decode(&bytes[..cut]).is_err());
        }
    }
}
