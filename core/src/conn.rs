//! The state the room keeps for one connection.

use crate::address::AddressGroup;
use crate::config::Config;
use crate::dialect::Dialect;
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
/// - `unflushed` is its send account: what the sends to it cost
///   ([`Config::send_cost`]) less what its driver released ([`Input::Written`]).
///
/// [`Config::send_cost`]: crate::Config::send_cost
/// [`Input::Written`]: crate::Input::Written
#[derive(Debug)]
pub(crate) struct Conn {
    /// The nick, once joined.
    pub(crate) nick: Option<Arc<str>>,
    /// The dialect the peer joined in; in the seed dialect every read is one message.
    pub(crate) dialect: Dialect,
    /// In the seed dialect, the `NICK: ` that the client puts before each message.
    pub(crate) seed_prefix: Box<[u8]>,
    /// Line assembly for framed peers (and for the nick during the handshake).
    pub(crate) lines: LineBuffer,
    /// Its send account: what was sent to it and still takes the driver's
    /// memory, bookkeeping included (see [`crate::Config::send_cost`]).
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
    /// as a seed-dialect client's nick does.
    pub(crate) nick_in_one_read: bool,
    /// When flood control lets the first held line through.
    pub(crate) flood_deadline: Option<Time>,
    /// What flood control (or a nick claim in the log) holds, from the
    /// driver being told to stop reading it ([`Action::StopReading`]) until
    /// it is told to resume; boxed, as most connections never need it.
    /// Between two inputs it is `Some` exactly while `flood_deadline` is
    /// (and its reads are not empty) or a claim waits.
    ///
    /// [`Action::StopReading`]: crate::Action::StopReading
    pub(crate) held_input: Option<Box<HeldInput>>,
    /// The address group it is counted in, unless exempt (loopback).
    pub(crate) group: Option<AddressGroup>,
}

/// A nick claim waiting for the log.
#[derive(Debug)]
pub(crate) struct Claim {
    /// The claimant's dialect.
    pub(crate) dialect: crate::dialect::Dialect,
    /// The nick's bytes as read, for a seed-dialect claimant (empty otherwise).
    pub(crate) raw: Box<[u8]>,
}

/// The reads flood control holds for one user.
#[derive(Debug, Default)]
pub(crate) struct HeldInput {
    /// Oldest first: the first starts with the line that waits for the bucket.
    pub(crate) reads: VecDeque<Box<[u8]>>,
    /// The bytes in `reads`; at most [`MAX_HELD_READ_BYTES`].
    pub(crate) bytes: usize,
    /// The peer closed meanwhile: it leaves once the reads are said.
    pub(crate) peer_closed: bool,
    /// In a clustered room: the nick claim in the log that the reads wait
    /// for, until the log says whether it won.
    pub(crate) claim: Option<Claim>,
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
            dialect: Dialect::Framed,
            seed_prefix: Box::default(),
            lines: LineBuffer::default(),
            unflushed: 0,
            held_seen: 0,
            flood: FloodBucket::default(),
            handshake_deadline: Some(handshake_deadline),
            settle_deadline: None,
            sniffed: false,
            nick_attempts: 0,
            nick_in_one_read: false,
            flood_deadline: None,
            held_input: None,
            group: None,
        }
    }

    /// Whether the connection has joined the room.
    pub(crate) fn is_joined(&self) -> bool {
        self.nick.is_some()
    }

    /// Whether a send of `more` bytes now would take its send account
    /// past the send queue.
    pub(crate) fn would_pass(&self, more: usize, config: &Config) -> bool {
        self.unflushed + config.send_cost(more) > config.send_queue
    }

    /// The most bytes one send may carry now without taking its send
    /// account past the send queue.
    pub(crate) fn bytes_left(&self, config: &Config) -> usize {
        config
            .send_queue
            .saturating_sub(self.unflushed + config.send_overhead)
    }

    /// Whether it waits for the log to decide its nick claim.
    pub(crate) fn is_claiming(&self) -> bool {
        self.held_input
            .as_ref()
            .is_some_and(|held| held.claim.is_some())
    }

    /// Takes its nick claim, if it has one.
    pub(crate) fn take_claim(&mut self) -> Option<Claim> {
        self.held_input.as_mut()?.claim.take()
    }
}
