//! Holding join notices back in large rooms.
//!
//! Every join is a room line for every user. Sent at once, a crowd of n
//! users joining costs n²/2 sends, and the driver as many writes: 12.5
//! million for 5 000 joins. So in a room large enough that this matters
//! ([`Config::notice_hold`](crate::Config::notice_hold): 50 µs per user by
//! default, from 20 users, at most 250 ms), join notices wait in
//! `Room::held` and go out together, one send per user per hold. Leave
//! notices are not held: like any other room line, a leave notice goes out
//! at the end of its input, after the held notices it releases.
//!
//! Nothing changes in what anyone sees, only when: every user still gets
//! every room line once, in the room's one order, and never one from before
//! it joined.
//!
//! # Invariants
//! - `held` holds only join notices, and every one of them comes before
//!   every line of `batch` in the room's order: held notices are released
//!   before any batch is delivered, and a notice is held only while the
//!   batch is empty.
//! - `held_until` is `Some` exactly when `held` is not empty, and is later
//!   than `now` between two inputs.
//! - A joined user's `held_seen` is how much of `held` it was already sent
//!   (or must never get: the notices held before it joined), at most
//!   `held.len()`. Before any unicast and before it leaves, a user is caught
//!   up, so its stream keeps the room's order.

use super::delivery::Pending;
use super::Room;
use crate::io::{ConnId, Payload};

impl Room {
    /// Appends a join notice (the concatenation of `parts`, then `\n`):
    /// held when the room is large enough and no room line waits in the
    /// batch, otherwise to the batch. Returns whether it was held.
    pub(super) fn announce_join(&mut self, parts: &[&str]) -> bool {
        if self.batch.is_empty() {
            if let Some(hold) = self.config.notice_hold(self.nicks.len()) {
                self.held.push_line(parts);
                self.held_until.get_or_insert(self.now + hold);
                return true;
            }
        }
        self.batch.push_line(parts);
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
        let room = seen + self.config.send_queue.saturating_sub(c.unflushed);
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
