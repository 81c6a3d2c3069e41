//! Sending: unicasts, room broadcasts in batches, send accounts, closing.
//!
//! # Invariants
//! - Room lines accepted during one `handle` are appended to `Room::batch`
//!   and sent as one shared [`Payload`] to every joined user. The batch is
//!   sent before any unicast and before any change of membership, so every
//!   connection's stream keeps the order in which things happened, and every
//!   joined user sees room lines in one total order.
//! - A send account (what each send costs, `Config::send_cost`: its bytes and the
//!   memory that holds it) over `send_queue` closes the user as too slow,
//!   right after the line that took it over: the limit is passed by one
//!   line (and one send's overhead) at most.

use super::cluster::OnLoss;
use super::hold::Notice;
use super::Room;
use crate::batch::Batch;
use crate::cluster::EntryKind;
use crate::conn::Conn;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId, Payload};
use crate::wire;
use std::fmt::Display;

/// Who a room line is said by, for the rules of when it is said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Speaker {
    /// A user of this server in a room that is not clustered: the line is
    /// said now, unless what the room owes first closes the user.
    User(ConnId),
    /// Its place in the room's order is settled (it came from the log, or
    /// the caller sent what the room owed first and the speaker is still
    /// here): it is said.
    Ordered,
}

/// Which undelivered room lines a delivery takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    /// The room batch: every joined user gets all of it.
    Batch,
    /// The held join and leave notices: each joined user gets them from its
    /// `held_seen` on (see the `hold` module).
    Held,
}

impl Room {
    /// Appends one room line (the concatenation of `parts`, then `\n`) from
    /// `speaker`. If it may take someone past the send queue, the batch is
    /// delivered now, so that the user is closed right after this line,
    /// before anything else is read, however the input was cut into reads.
    ///
    /// Everything the room owes before the line goes out first — held
    /// notices, and leave notices of users closed earlier in this input —
    /// so a user it takes past the send queue is closed before the line
    /// exists; if that is the speaker, its line is not said (as if read
    /// after its close). The speaker's own earlier lines stay in the batch.
    ///
    /// Returns whether the line was said.
    pub(super) fn say_to_room(&mut self, speaker: Speaker, parts: &[&str]) -> bool {
        if let Speaker::User(speaker) = speaker {
            self.release_held();
            if self.batch_speaker != Some(speaker) {
                self.flush_room();
            }
            if !self.conns.contains_key(&speaker) {
                return false;
            }
            self.batch_speaker = Some(speaker);
        } else {
            self.batch_speaker = None;
        }
        self.batch.push_line(parts);
        // Costs more than the fullest account has left: someone may pass.
        if self.config.send_cost(self.batch.len())
            > self.config.send_queue.saturating_sub(self.max_unflushed)
        {
            self.flush_room();
        }
        true
    }

    /// Says a user's line (or `/me`) to the room, as
    /// [`say_to_room`](Room::say_to_room), and keeps it in the history.
    pub(super) fn say_line(&mut self, speaker: Speaker, parts: &[&str]) {
        if self.say_to_room(speaker, parts) && self.config.history > 0 {
            if self.history.len() == self.config.history {
                self.history.pop_front();
            }
            self.history.push_back(parts.concat().into());
        }
    }

    /// Appends a join or leave notice to the batch.
    pub(super) fn push_notice(&mut self, parts: &[&str]) {
        self.batch.push_line(parts);
        self.batch_speaker = None;
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
    /// none does), and returns who went past. The held notices come first
    /// (they are earlier in the room's order).
    pub(super) fn deliver_front(&mut self) -> Vec<ConnId> {
        self.release_held();
        self.deliver_pending_front(Pending::Batch)
    }

    /// Sends the `pending` lines to every joined user, each from where it
    /// stands in them, up to and including the first line that takes
    /// someone past the send queue (all of them when none does), and
    /// returns who went past. Users at the start share one payload; the
    /// others (who joined while notices were held) get a copy of their part.
    ///
    /// Cutting at that line, not at the end, makes the room's order of lines
    /// and leave notices the same however the sender's bytes were split into
    /// reads: a send account passes its limit by one line at most.
    pub(super) fn deliver_pending_front(&mut self, pending: Pending) -> Vec<ConnId> {
        let Room {
            batch,
            held,
            conns,
            actions,
            max_unflushed,
            config,
            ..
        } = self;
        let limit = config.send_queue;
        let (lines, start_of): (&mut Batch, fn(&Conn) -> usize) = match pending {
            Pending::Batch => (batch, |_| 0),
            Pending::Held => (held, |c| c.held_seen),
        };
        let total = lines.len();
        let cut = if config.send_cost(total) <= limit.saturating_sub(*max_unflushed) {
            total // Nobody can pass the limit: no need to look.
        } else {
            conns
                .values()
                .filter(|c| c.is_joined())
                .filter(|c| c.would_pass(total - start_of(c), config))
                .map(|c| lines.end_of_line_crossing(start_of(c) + c.bytes_left(config)))
                .min()
                .unwrap_or(total)
        };
        let shared = Payload::from(lines.take_front(cut));
        let mut too_slow = Vec::new();
        let mut most = 0;
        for (&conn, c) in conns.iter_mut().filter(|(_, c)| c.is_joined()) {
            let start = start_of(c);
            if start < cut {
                let bytes = if start == 0 {
                    shared.clone()
                } else {
                    Payload::from(&shared[start..])
                };
                c.unflushed += config.send_cost(bytes.len());
                actions.push_back(Action::Send { conn, bytes });
            }
            if pending == Pending::Held {
                c.held_seen = start.saturating_sub(cut);
            }
            most = most.max(c.unflushed);
            if c.unflushed > limit {
                too_slow.push(conn);
            }
        }
        *max_unflushed = most;
        too_slow
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
        c.unflushed += self.config.send_cost(bytes.len());
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
        let Some(c) = self.take_conn(conn, mode) else {
            return;
        };
        let claiming = c.is_claiming();
        let nick = c.nick.map(|nick| nick.to_string());
        if self.shared.is_some() {
            // The room hears of it from the log (a claim may yet win).
            if nick.is_some() || claiming {
                let notice = notice.map(str::to_string);
                let leave = EntryKind::Leave { conn, notice };
                self.append(leave.clone(), OnLoss::Again(leave));
            }
        } else if let Some(nick) = &nick {
            // Closed in the middle of a delivery: its notice goes out in
            // that delivery, so a cascade of such closes (a notice that
            // takes another user over) ends before the next line is read.
            let cascade = reason == DisconnectReason::TooSlow;
            self.leave_member(nick, notice, cascade);
        }
        self.record(Event::Disconnected { conn, nick, reason });
    }

    /// The user joined as `nick` leaves the room: its leave notice (with
    /// `(notice)` when given) is a room line, in the delivery under way
    /// if `cascade`.
    pub(super) fn leave_member(&mut self, nick: &str, notice: Option<&str>, cascade: bool) {
        self.roster.remove(nick);
        let line: &[&str] = match notice {
            Some(notice) => &[nick, wire::LEFT, " (", notice, ")"],
            None => &[nick, wire::LEFT],
        };
        if cascade {
            self.push_notice(line);
        } else {
            self.announce(Notice::Leave, line);
        }
    }

    /// Forgets and closes `conn` without a word to the room: for a server
    /// whose users the log already took out of the room.
    pub(super) fn forget_conn(&mut self, conn: ConnId, reason: DisconnectReason, mode: CloseMode) {
        let Some(c) = self.take_conn(conn, mode) else {
            return;
        };
        let nick = c.nick.map(|nick| nick.to_string());
        self.record(Event::Disconnected { conn, nick, reason });
    }

    /// Takes `conn` out of the room's connections, its deadlines and its
    /// address count, and closes it; its state, if it was open.
    fn take_conn(&mut self, conn: ConnId, mode: CloseMode) -> Option<Conn> {
        self.set_timer(conn, crate::timer::TimerKind::Handshake, None);
        self.set_timer(conn, crate::timer::TimerKind::Settle, None);
        self.set_timer(conn, crate::timer::TimerKind::Flood, None);
        let c = self.conns.remove(&conn)?;
        if let Some(group) = c.group {
            self.addresses.release(group, self.now);
        }
        self.actions.push_back(Action::Close { conn, mode });
        Some(c)
    }
}
