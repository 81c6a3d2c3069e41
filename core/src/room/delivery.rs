//! Sending: unicasts, room broadcasts in batches, send accounts, closing.
//!
//! # Invariants
//! - Room lines accepted during one `handle` are appended to `Room::batch`
//!   and sent as one shared [`Payload`] to every joined user. The batch is
//!   sent before any unicast and before any change of membership, so every
//!   connection's stream keeps the order in which things happened, and every
//!   joined user sees room lines in one total order.
//! - A send account over `send_queue` closes the user as too slow, at once.

use super::Room;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId, Payload};
use crate::wire;
use std::fmt::Display;

impl Room {
    /// Appends one room line (the concatenation of `parts`, then `\n`).
    pub(super) fn say_to_room(&mut self, parts: &[&str]) {
        for part in parts {
            self.batch.extend_from_slice(part.as_bytes());
        }
        self.batch.push(b'\n');
    }

    /// Sends the pending room lines to every joined user; closes those that
    /// fall too far behind, which may add room lines, sent in turn.
    pub(super) fn flush_room(&mut self) {
        // Bounded: each round past the first closes at least one connection.
        while !self.batch.is_empty() {
            let payload = Payload::from(std::mem::take(&mut self.batch));
            let limit = self.config.send_queue;
            let mut too_slow = Vec::new();
            for (&conn, c) in self.conns.iter_mut().filter(|(_, c)| c.is_joined()) {
                self.actions.push_back(Action::Send {
                    conn,
                    bytes: payload.clone(),
                });
                c.unflushed += payload.len();
                if c.unflushed > limit {
                    too_slow.push(conn);
                }
            }
            for conn in too_slow {
                self.remove(
                    conn,
                    DisconnectReason::TooSlow,
                    Some("too slow"),
                    CloseMode::Abort,
                );
            }
        }
    }

    /// Sends `bytes` to `conn` alone, after the pending room lines.
    pub(super) fn send(&mut self, conn: ConnId, bytes: Payload) {
        self.flush_room();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.unflushed += bytes.len();
        let too_slow = c.unflushed > self.config.send_queue;
        self.actions.push_back(Action::Send { conn, bytes });
        if too_slow {
            self.remove(
                conn,
                DisconnectReason::TooSlow,
                Some("too slow"),
                CloseMode::Abort,
            );
        }
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
        let nick = c.nick.map(String::from);
        if let Some(nick) = &nick {
            self.nicks.remove(&crate::nick::fold(nick));
            match notice {
                Some(notice) => self.say_to_room(&[nick, wire::LEFT, " (", notice, ")"]),
                None => self.say_to_room(&[nick, wire::LEFT]),
            }
        }
        self.record(Event::Disconnected { conn, nick, reason });
    }
}
