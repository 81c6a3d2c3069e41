//! The state the room keeps for one connection.

use crate::address::AddressGroup;
use crate::flood::FloodBucket;
use crate::framing::LineBuffer;
use crate::time::Time;
use std::collections::VecDeque;
use std::sync::Arc;

/// One connection, from accept to close.
///
/// # Invariants
/// - `nick` is `Some` exactly when the connection has joined, and then the
///   room's nick index maps the folded nick to this connection.
/// - `handshake_deadline` and `settle_deadline` are `None` once joined, and
///   each stored deadline is in the room's timer table.
/// - `unflushed` is the number of bytes sent to it and not yet written.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The nick, once joined.
    pub(crate) nick: Option<Arc<str>>,
    /// Whether the connection is a legacy (unframed) peer: every read is one message.
    pub(crate) unframed: bool,
    /// For unframed peers, the `NICK: ` that their client puts before each message.
    pub(crate) legacy_prefix: Box<[u8]>,
    /// Line assembly for framed peers (and for the nick during the handshake).
    pub(crate) lines: LineBuffer,
    /// Bytes sent to this connection that its socket has not taken yet.
    pub(crate) unflushed: usize,
    /// Once joined: how much of the room's held notices it was sent, or
    /// must never get (see the room's `hold` module).
    pub(crate) held_seen: usize,
    /// Flood control.
    pub(crate) flood: FloodBucket,
    /// When the handshake times out, while not joined.
    pub(crate) handshake_deadline: Option<Time>,
    /// When a nick with no terminator settles, while one is waiting.
    pub(crate) settle_deadline: Option<Time>,
    /// Whether the start of the stream was judged to be a chat client's
    /// (see `sniff`); until then its first bytes may still be a web
    /// browser's or a TLS client's.
    pub(crate) sniffed: bool,
    /// Nicks refused so far, while not joined.
    pub(crate) nick_attempts: u8,
    /// While not joined: whether the unfinished line came in one read,
    /// as a legacy client's nick does.
    pub(crate) nick_in_one_read: bool,
    /// Reads held by flood control, oldest first: the first starts with the
    /// line that waits for the bucket. Not empty exactly while the driver
    /// was told to stop reading and `flood_deadline` is set.
    pub(crate) held_reads: VecDeque<Box<[u8]>>,
    /// The bytes in `held_reads`; at most [`MAX_HELD_READ_BYTES`].
    pub(crate) held_read_bytes: usize,
    /// When flood control lets the first held line through.
    pub(crate) flood_deadline: Option<Time>,
    /// The peer closed while reads were held: it leaves once they are said.
    pub(crate) closed_while_held: bool,
    /// The driver was told to stop reading it ([`Action::StopReading`]):
    /// between two inputs, exactly while `held_reads` is not empty.
    ///
    /// [`Action::StopReading`]: crate::Action::StopReading
    pub(crate) reading_stopped: bool,
    /// The address group it is counted in, unless exempt (loopback).
    pub(crate) group: Option<AddressGroup>,
}

/// The most bytes of reads the room holds for one flooding user. A driver
/// that stops reading when told holds one read in flight at most (1024
/// bytes), so only a driver that keeps reading passes it.
pub(crate) const MAX_HELD_READ_BYTES: usize = 4 * crate::io::MAX_READ;

impl Conn {
    /// A connection that has just been accepted.
    pub(crate) fn new(handshake_deadline: Time) -> Self {
        Conn {
            nick: None,
            unframed: false,
            legacy_prefix: Box::default(),
            lines: LineBuffer::default(),
            unflushed: 0,
            held_seen: 0,
            flood: FloodBucket::default(),
            handshake_deadline: Some(handshake_deadline),
            settle_deadline: None,
            sniffed: false,
            nick_attempts: 0,
            nick_in_one_read: false,
            held_reads: VecDeque::new(),
            held_read_bytes: 0,
            flood_deadline: None,
            closed_while_held: false,
            reading_stopped: false,
            group: None,
        }
    }

    /// Whether the connection has joined the room.
    pub(crate) fn is_joined(&self) -> bool {
        self.nick.is_some()
    }
}
