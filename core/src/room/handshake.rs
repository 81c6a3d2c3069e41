//! Accepting connections, reading their bytes, and the `alias?` handshake.
//!
//! A framed client answers `alias?` with `NICK\n`. A legacy client (the
//! seed's) sends the nick with no terminator: when bytes without `\n` have
//! waited `settle` with nothing more arriving, they are taken as the nick and
//! the connection becomes *unframed*: each later read is one message.

use super::hold::Notice;
use super::Room;
use crate::conn::Conn;
use crate::event::{DisconnectReason, Event};
use crate::framing::Frame;
use crate::io::{ConnId, Payload};
use crate::nick::{self, NickError};
use crate::timer::TimerKind;
use crate::wire;
use std::sync::Arc;

impl Room {
    pub(super) fn on_connected(&mut self, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            debug_assert!(false, "driver reused {conn}");
            return;
        }
        if self.shutting_down {
            let notice = self.canned.shutting_down.clone();
            self.turn_away(conn, notice, DisconnectReason::Shutdown);
        } else if self.conns.len() >= self.config.max_clients {
            let full = self.canned.server_full.clone();
            self.turn_away(conn, full, DisconnectReason::ServerFull);
        } else {
            let deadline = self.now + self.config.handshake_timeout;
            self.conns.insert(conn, Conn::new(deadline));
            self.timers
                .reset(conn, TimerKind::Handshake, None, Some(deadline));
            let prompt = self.canned.prompt.clone();
            self.send(conn, prompt);
        }
    }

    pub(super) fn on_received(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.unframed {
            self.on_unframed_read(conn, bytes);
            return;
        }
        let mut lines = std::mem::take(&mut c.lines);
        let mut input = bytes;
        let max_line = self.config.max_line;
        // Bounded: every frame consumes at least one byte of `input`.
        while let Some(frame) = lines.next_frame(&mut input, max_line) {
            match frame {
                Frame::Line(line) => self.on_line(conn, line),
                Frame::TooLong => self.on_line_too_long(conn),
            }
            if !self.conns.contains_key(&conn) {
                return; // Gone: quit, or closed as too slow.
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let waiting = !c.is_joined() && !lines.partial().is_empty();
        c.lines = lines;
        let settle = waiting.then(|| self.now + self.config.settle);
        self.set_timer(conn, TimerKind::Settle, settle);
    }

    /// A legacy peer's read: one message, or several if it holds `\n`s.
    fn on_unframed_read(&mut self, conn: ConnId, bytes: &[u8]) {
        for piece in bytes.split(|&b| b == b'\n') {
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            let piece = piece.strip_suffix(b"\r").unwrap_or(piece);
            let piece = piece.strip_prefix(&*c.legacy_prefix).unwrap_or(piece);
            if piece.len() > self.config.max_line {
                self.on_line_too_long(conn);
            } else {
                self.on_line(conn, piece);
            }
        }
    }

    fn on_line(&mut self, conn: ConnId, line: &[u8]) {
        match self.conns.get(&conn) {
            Some(c) if c.is_joined() => self.on_user_line(conn, line),
            Some(_) => self.try_join(conn, line, false),
            None => {}
        }
    }

    fn on_line_too_long(&mut self, conn: ConnId) {
        let error = self.canned.line_too_long.clone();
        self.send(conn, error);
        if self.conns.get(&conn).is_some_and(|c| !c.is_joined()) {
            let prompt = self.canned.prompt.clone();
            self.send(conn, prompt);
        }
    }

    /// The settle time passed with a nick and no terminator: a legacy peer.
    pub(super) fn on_settled(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.is_joined() || c.lines.partial().is_empty() {
            return;
        }
        let raw = c.lines.take_partial();
        self.try_join(conn, &raw, true);
    }

    /// Joins `conn` as the nick in `raw`, or says why not and asks again.
    fn try_join(&mut self, conn: ConnId, raw: &[u8], unframed: bool) {
        let nick = String::from_utf8_lossy(raw);
        if let Err(error) = nick::validate(&nick).and_then(|()| self.check_nick_free(&nick, None)) {
            self.send_error(conn, error);
            let prompt = self.canned.prompt.clone();
            self.send(conn, prompt);
            return;
        }
        if self.held_leaves || self.config.notice_hold(self.nicks.len() + 1).is_none() {
            // Held leave notices, or all of them if this join's notice will
            // not be held, go first, while the joiner is not in the room yet.
            self.release_held();
        }
        self.flush_room();
        self.set_timer(conn, TimerKind::Handshake, None);
        self.set_timer(conn, TimerKind::Settle, None);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let display: Arc<str> = nick.as_ref().into();
        c.nick = Some(display.clone());
        c.unframed = unframed;
        if unframed {
            c.legacy_prefix = [raw, b": "].concat().into();
        }
        self.nicks.insert(nick::fold(&nick), (conn, display));
        self.record(Event::Joined {
            conn,
            nick: nick.to_string(),
            unframed,
        });
        self.welcome(conn, &nick);
    }

    /// The join sequence: `NICK joined the chat` to the room, then
    /// `You are connected…` and `Online (N): …` to the joiner, in one piece:
    /// another user that the join notice takes past its send queue is closed
    /// after the whole sequence (its notice cannot cut it in two).
    fn welcome(&mut self, conn: ConnId, nick: &str) {
        debug_assert!(self.batch.is_empty(), "the room is flushed before a join");
        let online = self.online_payload();
        let mut too_slow = if self.announce(Notice::Join, &[nick, wire::JOINED]) {
            // Held for the others; the joiner gets its own notice now.
            let seen = self.held.len();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.held_seen = seen;
            }
            let own = Payload::from(format!("{nick}{}\n", wire::JOINED).into_bytes());
            if self.enqueue(conn, own) {
                vec![conn]
            } else {
                Vec::new()
            }
        } else {
            debug_assert!(self.held.is_empty(), "released before an unheld join");
            let too_slow = self.deliver_front();
            debug_assert!(self.batch.is_empty(), "one line is delivered whole");
            too_slow
        };
        // The joiner itself is closed as soon as a line takes it over.
        let connected = self.canned.connected.clone();
        if !too_slow.contains(&conn)
            && (self.enqueue(conn, connected) || self.enqueue(conn, online))
        {
            too_slow.push(conn);
        }
        self.kick(too_slow);
    }

    /// `Ok` if no joined user but `except` has `nick`, ignoring case.
    pub(super) fn check_nick_free(
        &self,
        nick: &str,
        except: Option<ConnId>,
    ) -> Result<(), NickError> {
        match self.nicks.get(&nick::fold(nick)) {
            Some(&(owner, _)) if Some(owner) != except => Err(NickError::Taken),
            _ => Ok(()),
        }
    }

    /// `Online (N): a, b, c` and its `\n`, nicks ordered ignoring case,
    /// written in one pass over the nick index (it names every user: at
    /// 10 000 users this is the bulk of a join's work).
    pub(super) fn online_payload(&self) -> Payload {
        let mut line = format!("Online ({}): ", self.nicks.len()).into_bytes();
        for (i, (_, nick)) in self.joined().enumerate() {
            if i > 0 {
                line.extend_from_slice(b", ");
            }
            line.extend_from_slice(nick.as_bytes());
        }
        line.push(b'\n');
        Payload::from(line)
    }
}
