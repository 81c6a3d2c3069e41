//! Sending: unicasts, room broadcasts in batches, send accounts, closing.
//!
//! # Invariants
//! - Room lines accepted during one `handle` are appended to `Room::batch`
//!   and sent as one shared [`Payload`] to every joined user. The batch is
//!   sent before any unicast and before any change of membership, so every
//!   connection's stream keeps the order in which things happened, and every
//!   joined user sees room lines in one total order.
//! - A send account over `send_queue` closes the user as too slow, right
//!   after the line that took it over: the limit is passed by one line at most.

use super::Room;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId, Payload};
use crate::wire;
use std::fmt::Display;

impl Room {
    /// Appends one room line (the concatenation of `parts`, then `\n`) from
    /// a user. If it may take someone past the send queue, the batch is
    /// delivered now, so that the user is closed right after this line,
    /// before anything else is read, however the input was cut into reads.
    pub(super) fn say_to_room(&mut self, parts: &[&str]) {
        self.batch.push_line(parts);
        let pending = self.held.len() + self.batch.len();
        if self.max_unflushed + pending > self.config.send_queue {
            self.flush_room();
        }
    }

    /// Sends the pending room lines to every joined user; closes those that
    /// fall too far behind, whose leave notices are room lines in turn.
    pub(super) fn flush_room(&mut self) {
        // Bounded: a round that leaves lines in the batch closes a connection.
        while !self.batch.is_empty() {
            let too_slow = self.deliver_front();
            self.kick(too_slow);
        }
    }

    /// Delivers the batch to every joined user, up to and including the
    /// first line that takes someone past the send queue (all of it when
    /// none does), and returns who went past.
    ///
    /// Cutting at that line, not at the end of the batch, makes the room's
    /// order of lines and leave notices the same however the sender's bytes
    /// were split into reads: a send account passes its limit by one line at most.
    /// The held notices come first (they are earlier in the room's order).
    pub(super) fn deliver_front(&mut self) -> Vec<ConnId> {
        self.release_held();
        let limit = self.config.send_queue;
        let total = self.batch.len();
        let cut = if self.max_unflushed + total <= limit {
            total // Nobody can pass the limit: no need to look.
        } else {
            self.first_crossing_end(total)
        };
        let payload = Payload::from(self.batch.take_front(cut));
        let mut too_slow = Vec::new();
        let mut max_unflushed = 0;
        for (&conn, c) in self.conns.iter_mut().filter(|(_, c)| c.is_joined()) {
            self.actions.push_back(Action::Send {
                conn,
                bytes: payload.clone(),
            });
            c.unflushed += payload.len();
            max_unflushed = max_unflushed.max(c.unflushed);
            if c.unflushed > limit {
                too_slow.push(conn);
            }
        }
        self.max_unflushed = max_unflushed;
        too_slow
    }

    /// The end of the earliest batch line that takes a joined user past the
    /// send queue, or `total` when none does.
    fn first_crossing_end(&self, total: usize) -> usize {
        let limit = self.config.send_queue;
        self.conns
            .values()
            .filter(|c| c.is_joined() && c.unflushed + total > limit)
            .map(|c| {
                self.batch
                    .end_of_line_crossing(limit.saturating_sub(c.unflushed))
            })
            .min()
            .unwrap_or(total)
    }

    /// Closes every connection of `too_slow`; their leave notices come
    /// before any room line still waiting.
    pub(super) fn kick(&mut self, too_slow: Vec<ConnId>) {
        if too_slow.is_empty() {
            return;
        }
        let later = std::mem::take(&mut self.batch);
        for conn in too_slow {
            let notice = Some("too slow");
            self.remove(conn, DisconnectReason::TooSlow, notice, CloseMode::Abort);
        }
        self.batch.append(later);
    }

    /// Sends `bytes` to `conn` alone, after the pending room lines and the
    /// held notices it was not sent yet.
    pub(super) fn send(&mut self, conn: ConnId, bytes: Payload) {
        self.flush_room();
        if self.catch_up(conn) {
            return;
        }
        if self.enqueue(conn, bytes) {
            self.kick(vec![conn]);
        }
    }

    /// Queues `bytes` for `conn` and says whether that took it past the
    /// send queue. The caller kicks it.
    pub(super) fn enqueue(&mut self, conn: ConnId, bytes: Payload) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        c.unflushed += bytes.len();
        self.max_unflushed = self.max_unflushed.max(c.unflushed);
        self.actions.push_back(Action::Send { conn, bytes });
        c.unflushed > self.config.send_queue
    }

    /// Sends one line (`\n` added) to `conn` alone.
    pub(super) fn send_line(&mut self, conn: ConnId, line: impl Display) {
        self.send(conn, Payload::from(format!("{line}\n").into_bytes()));
    }

    /// Sends `error: MESSAGE` to `conn`.
    pub(super) fn send_error(&mut self, conn: ConnId, message: impl Display) {
        self.send_line(conn, format_args!("{}{message}", wire::ERROR_PREFIX));
    }

    /// Sends `bytes`, then closes, to a connection the room never took in.
    pub(super) fn turn_away(&mut self, conn: ConnId, bytes: Payload, reason: DisconnectReason) {
        self.actions.push_back(Action::Send { conn, bytes });
        self.actions.push_back(Action::Close {
            conn,
            mode: CloseMode::Flush,
        });
        self.record(Event::Disconnected {
            conn,
            nick: None,
            reason,
        });
    }

    /// Ends `conn` after the pending room lines reach it.
    pub(super) fn depart(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        notice: Option<&str>,
        mode: CloseMode,
    ) {
        self.flush_room();
        self.catch_up(conn);
        // A no-op if catching up closed it as too slow.
        self.remove(conn, reason, notice, mode);
    }

    /// Forgets `conn`, closes it, and, if it had joined, tells the room it left
    /// (with `(notice)` appended when given).
    fn remove(
        &mut self,
        conn: ConnId,
        reason: DisconnectReason,
        notice: Option<&str>,
        mode: CloseMode,
    ) {
        self.set_timer(conn, crate::timer::TimerKind::Handshake, None);
        self.set_timer(conn, crate::timer::TimerKind::Settle, None);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.actions.push_back(Action::Close { conn, mode });
        let nick = c.nick.map(|nick| nick.to_string());
        if let Some(nick) = &nick {
            self.nicks.remove(&crate::nick::fold(nick));
            match notice {
                Some(notice) => self.batch.push_line(&[nick, wire::LEFT, " (", notice, ")"]),
                None => self.batch.push_line(&[nick, wire::LEFT]),
            }
        }
        self.record(Event::Disconnected { conn, nick, reason });
    }
}
