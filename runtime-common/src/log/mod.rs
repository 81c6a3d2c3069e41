//! The room's log: what a clustered room appends to, and what it is fed
//! from ([`RoomLog`]), with two implementations.
//!
//! - [`memory::MemoryLog`], in process: every append comes back as the
//!   next entry of the log within the same step, in order. A room of one
//!   over it serves as the single room does.
//! - [`redis::RedisLog`], a Redis stream shared by the servers of a room,
//!   read and written by threads of its own.
//!
//! # How the room and its log talk
//! The stepper ([`crate::driver::Stepper`]) hands the log the room's
//! appends ([`RoomLog::append`]), tagged with the generation the room was
//! last told of, and now and then a snapshot ([`RoomLog::store_snapshot`]).
//! What the log says comes back as [`LogEvent`]s, in order, by one of two
//! ways:
//!
//! - **at once**: after every step the stepper takes what
//!   [`RoomLog::poll_event`] has (the memory log's entries and its `Up`);
//! - **from other threads**: a log that learns of events on threads of its
//!   own hands them to a [`LogSink`] the runtime gave it, and the runtime
//!   hands them to [`Stepper::log_event`](crate::driver::Stepper::log_event)
//!   (the Redis log; its `poll_event` has nothing).
//!
//! # Generations
//! A log counts the times it went down; each `Down` and `Up` names the
//! generation it starts. The room's appends are tagged with the latest
//! generation it was told of, and an append tagged before a later `Down`
//! never reaches the log.

pub mod memory;
mod pos;
pub mod redis;

pub use memory::MemoryLog;
pub use pos::{BadLogPos, LogPos};

use chat_core::{Entry, Snapshot};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How often a serving room stores a snapshot (when entries came since).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);

/// Entries after which a serving room stores a snapshot sooner.
pub const SNAPSHOT_ENTRIES: usize = 10_000;

/// What a log tells the room, in order.
#[derive(Debug)]
pub enum LogEvent {
    /// The next entries of the log (those that decode), and the position
    /// of the last one read.
    Logged {
        /// In the log's order.
        entries: Vec<Entry>,
        /// The position of the last entry read (decoded or skipped).
        last: LogPos,
    },
    /// The log is up in generation `gen`: every entry was handed in.
    Up {
        /// Appends are tagged with it (see [`RoomLog::append`]).
        gen: u64,
        /// The epoch of the log (snapshots are stored in it).
        epoch: Arc<str>,
    },
    /// The log is down from generation `gen` on.
    Down {
        /// The new generation.
        gen: u64,
    },
    /// The room starts again: after a reset (`reset`), and/or from
    /// `snapshot`; the entries that follow are those after `from`.
    Restart {
        /// Why the room is to be reset first, if it is.
        reset: Option<Reset>,
        /// The stored snapshot to restore, if any.
        snapshot: Option<Snapshot>,
        /// Where reading goes on (the snapshot's position, or
        /// [`LogPos::START`]).
        from: LogPos,
    },
}

/// Why the room starts again from an empty room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// The log was lost (a new epoch): lines may be missing for everyone.
    LogLost,
    /// Entries this node had not read were trimmed: it lost contact with
    /// the room (it was away or slow for longer than the log keeps entries).
    FellBehind,
}

/// The log could not take an append: it counts as down, in generation `gen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOverflow {
    /// The new generation.
    pub gen: u64,
}

/// A room's log, as the stepper uses it.
///
/// # Contract
/// - Entries come back ([`LogEvent::Logged`]) in one order, the same for
///   every room sharing the log, each once.
/// - An append tagged with generation `g` reaches the log only if no
///   `Down` of a generation after `g` was told before it arrived; appends
///   of one generation land in the order they were made.
/// - Events are told in generation order: an `Up { gen }` only while `gen`
///   is still the current generation.
pub trait RoomLog: fmt::Debug + Send {
    /// Appends `entry`, made in generation `gen` (the last one the room
    /// was told of).
    ///
    /// # Errors
    /// The log cannot take it now: it counts as down, in the generation
    /// returned; the caller hands the room `LogDown` itself.
    fn append(&mut self, gen: u64, entry: &Entry) -> Result<(), AppendOverflow>;

    /// Stores `snapshot`, the room after the entries up to `at` in
    /// `epoch`. Best effort: a snapshot the log cannot take now is
    /// dropped (the next one will do).
    fn store_snapshot(&mut self, epoch: Arc<str>, at: LogPos, snapshot: &Snapshot);

    /// A flush of every append made so far, to wait for before the
    /// process exits.
    fn flush(&self) -> Box<dyn Flush>;

    /// The next event the log has for the room now, if any. A log whose
    /// events come from threads of its own (through a [`LogSink`]) has
    /// none here.
    fn poll_event(&mut self) -> Option<LogEvent>;
}

/// A flush of a log under way.
pub trait Flush: fmt::Debug + Send {
    /// Whether every append made before the flush was written or dropped.
    fn is_done(&mut self) -> bool;
}

/// Where a log's own threads hand the room what the log says. Blocking is
/// fine (it is how the room slows a reader that is ahead).
pub trait LogSink: Send + Sync + 'static {
    /// Hands `event` to the room; `false` when the room is gone (the
    /// log's threads then stop).
    fn deliver(&self, event: LogEvent) -> bool;
}
