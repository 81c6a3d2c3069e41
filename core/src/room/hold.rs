//! Holding join and leave notices back in large rooms.
//!
//! Every join and every leave is a room line for every user. Sent at once,
//! a crowd of n users joining (or dropping) costs n²/2 sends, and the
//! driver as many writes: 12.5 million for 5 000 joins. So in a room large
//! enough that this matters ([`Config::notice_hold`](crate::Config::notice_hold):
//! 50 µs per user by default, from 20 users, at most 250 ms), these notices
//! wait in `Room::held` and go out together, one send per user per hold.
//! A user closed as too slow is not held: that happens in the middle of
//! a delivery, and its notice goes out in it (so that a cascade of such
//! closes ends before the next line is read, however the input was cut).
//! A join releases the leave notices held before it: its joiner is sent its
//! own notice at once, and a leave held from before would otherwise first
//! go out after it. So room lines always first go out in the room's order
//! (the simulation's checker rebuilds that order from first sends).
//! A user's room line (or rename) releases the held notices before it is
//! said: a user they close as too slow is closed before its line exists.
//! At shutdown the held notices are dropped: everyone is told the server is
//! shutting down and closed.
//!
//! Nothing changes in what anyone sees, only when: every user still gets
//! every room line once, in the room's one order, and never one from before
//! it joined.
//!
//! # Invariants
//! - `held` holds only join and leave notices, and every one of them comes
//!   before every line of `batch` in the room's order: held notices are
//!   released before any batch is delivered and before a user's line is
//!   said, and a notice is held only while the batch is empty. No leave notice in `held` comes before a
//!   join notice; `held_leaves` says whether it holds any.
//! - `held_until` is `Some` exactly when `held` is not empty, and is later
//!   than `now` between two inputs.
//! - A joined user's `held_seen` is how much of `held` it was already sent
//!   (or must never get: the notices held before it joined), at most
//!   `held.len()`. Before any unicast and before it leaves, a user is caught
//!   up, so its stream keeps the room's order.

use super::delivery::Pending;
use super::Room;
use crate::io::{ConnId, Payload};

/// What a held notice announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Notice {
    Join,
    Leave,
}

impl Room {
    /// Appends a join or leave notice (the concatenation of `parts`, then
    /// `\n`): held when the room is large enough and no room line waits in
    /// the batch, otherwise to the batch. Returns whether it was held.
    pub(super) fn announce(&mut self, notice: Notice, parts: &[&str]) -> bool {
        if self.batch.is_empty() {
            if let Some(hold) = self.config.notice_hold(self.roster.len()) {
                self.held.push_line(parts);
                self.held_until.get_or_insert(self.now + hold);
                self.held_leaves |= notice == Notice::Leave;
                return true;
            }
        }
        self.push_notice(parts);
        false
    }

    /// The most bytes held between two inputs: past it, the notices go out
    /// at the end of the input, so a held release is always small next to
    /// the send queue.
    pub(super) fn held_max(&self) -> usize {
        self.config.send_queue / 4
    }

    /// Sends every held notice to every joined user that was not sent it
    /// yet; closes those that fall too far behind, whose leave notices go
    /// to the batch: the caller flushes it.
    pub(super) fn release_held(&mut self) {
        // Bounded: a round that leaves notices held closes a connection.
        while !self.held.is_empty() {
            let too_slow = self.deliver_pending_front(Pending::Held);
            self.kick(too_slow);
        }
        self.held_until = None;
        self.held_leaves = false;
    }

    /// Sends `conn` the held notices it was not sent yet, up to and
    /// including the first that takes it past the send queue. Returns
    /// whether that closed it.
    pub(super) fn catch_up(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let seen = c.held_seen;
        if !c.is_joined() || seen == self.held.len() {
            return false;
        }
        let room = seen + c.bytes_left(&self.config);
        let end = self.held.end_of_line_crossing(room);
        c.held_seen = end;
        let bytes = Payload::from(self.held.slice(seen, end));
        if self.enqueue(conn, bytes) {
            self.kick(vec![conn]);
            return true;
        }
        false
    }
}
