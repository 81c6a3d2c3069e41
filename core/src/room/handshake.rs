//! Accepting connections, reading their bytes, and the `alias?` handshake.
//!
//! A framed client answers `alias?` with `NICK\n`. A client of the seed
//! dialect (the seed's own) sends the nick with no terminator, in one packet, and each later
//! message as `NICK: text`, one packet each. So an unfinished nick that came
//! in one read is a seed-dialect nick when nothing more arrives for `settle` (if it
//! has two bytes or more: a single byte is more likely a first keystroke), or
//! when the next read starts with it and `: `; then the connection speaks
//! the seed dialect: each later read is one message. A nick typed one key per read
//! waits for its newline.
//!
//! Before anything else, the first bytes of a connection are judged
//! (`sniff`): an HTTP request gets a short HTTP answer and a TLS hello
//! nothing, and both are closed; neither is ever read as nicks. A
//! connection refused [`MAX_NICK_ATTEMPTS`] nicks is closed.

use super::chat::LineFate;
use super::cluster::OnLoss;
use super::hold::Notice;
use super::Room;
use crate::cluster::EntryKind;
use crate::conn::{Claim, Conn, MAX_HELD_READ_BYTES};
use crate::dialect::Dialect;
use crate::event::{DisconnectReason, Event};
use crate::framing::Frame;
use crate::io::{Action, CloseMode, ConnId, Payload};
use crate::nick::{NickError, NickKeys};
use crate::roster::Member;
use crate::sniff::{sniff, Sniff, SNIFF_LEN};
use crate::time::Time;
use crate::timer::TimerKind;
use crate::wire::{self, ONLINE_LINE_MAX};
use std::fmt::Display;
use std::net::IpAddr;
use std::sync::Arc;

/// Refused nicks (or overlong nick lines) after which a connection is closed.
pub(crate) const MAX_NICK_ATTEMPTS: u8 = 10;

impl Room {
    pub(super) fn on_connected(&mut self, conn: ConnId, peer: IpAddr) {
        if self.conns.contains_key(&conn) {
            debug_assert!(false, "driver reused {conn}");
            return;
        }
        let group = self.config.address_group(peer);
        // Admitted already, before a transport handshake: counted, and
        // not charged again.
        let reserved = self.addresses.take_reservation(conn);
        let refused = self.shutting_down || self.conns.len() >= self.config.max_clients;
        if let Some(group) = reserved.filter(|_| refused) {
            self.addresses.release(group, self.now);
        }
        if self.shutting_down {
            let notice = self.canned.shutting_down.clone();
            self.turn_away(conn, notice, DisconnectReason::Shutdown);
        } else if self.conns.len() >= self.config.max_clients {
            let full = self.canned.server_full.clone();
            self.turn_away(conn, full, DisconnectReason::ServerFull);
        } else if reserved.is_none() && group.is_some_and(|g| !self.addresses.admit(g, self.now)) {
            let refusal = self.canned.too_many_from_address.clone();
            self.turn_away(conn, refusal, DisconnectReason::TooManyFromAddress);
        } else {
            let deadline = self.now + self.config.handshake_timeout;
            let mut fresh = Conn::new(deadline);
            fresh.group = reserved.or(group);
            self.conns.insert(conn, fresh);
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
        if let Some(held) = &mut c.held_input {
            // A read under way when flood control stopped reading: it
            // waits behind the held ones.
            if held.bytes + bytes.len() > MAX_HELD_READ_BYTES {
                let reason = DisconnectReason::Flooding;
                self.depart(conn, reason, Some("flooding"), CloseMode::Flush);
                return;
            }
            held.bytes += bytes.len();
            held.reads.push_back(bytes.into());
            return;
        }
        self.on_read(conn, bytes);
    }

    /// One read, in order; stops at a line flood control holds, and holds
    /// the rest of the read with it.
    fn on_read(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.dialect == Dialect::Seed {
            self.on_seed_read(conn, bytes);
            return;
        }
        if !c.is_joined() {
            if !c.sniffed && self.on_first_bytes(conn, bytes) {
                return;
            }
            if self.on_seed_first_message(conn, bytes) {
                return;
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // Whether an unfinished line left by this read came in it alone.
        let one_read = c.lines.partial().is_empty() || bytes.contains(&b'\n');
        let mut lines = std::mem::take(&mut c.lines);
        let mut input = bytes;
        let max_line = self.config.max_line;
        // Bounded: every frame consumes at least one byte of `input`.
        while let Some(frame) = lines.next_frame(&mut input, max_line) {
            let fate = match frame {
                Frame::Line(line) => match self.on_line(conn, line) {
                    LineFate::Held(at) => Some((Some(at), [line, b"\n", input].concat())),
                    LineFate::Claiming => Some((None, input.to_vec())),
                    LineFate::Done => None,
                },
                Frame::TooLong => {
                    self.on_line_too_long(conn);
                    None
                }
            };
            let Some(c) = self.conns.get_mut(&conn) else {
                return; // Gone: quit, closed as too slow, or refused too often.
            };
            if let Some((at, rest)) = fate {
                c.lines = lines;
                self.hold_read(conn, rest, at);
                return;
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let waiting = !c.is_joined() && !lines.partial().is_empty();
        // Not while the first bytes may still be an HTTP method cut short.
        let settles = waiting && one_read && lines.partial().len() > 1 && c.sniffed;
        c.nick_in_one_read = waiting && one_read;
        c.lines = lines;
        let settle = settles.then(|| self.now + self.config.settle);
        self.set_timer(conn, TimerKind::Settle, settle);
    }

    /// Holds `rest`, the rest of a read, before any other held read, and
    /// stops reading the connection until its held reads are said: `rest`
    /// starts with a line flood control lets through at `at`, or (`None`)
    /// follows a nick claimed in the log.
    fn hold_read(&mut self, conn: ConnId, rest: Vec<u8>, at: Option<Time>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let held = c.held_input.get_or_insert_with(|| {
            self.actions.push_back(Action::StopReading { conn });
            Box::default()
        });
        if !rest.is_empty() {
            held.bytes += rest.len();
            held.reads.push_front(rest.into());
        }
        if at.is_some() {
            self.set_timer(conn, TimerKind::Flood, at);
        }
    }

    /// Flood control lets `conn`'s first held line through: says its held
    /// reads, in order, until one is held again or none is left; then
    /// reads the connection again (or, if the peer closed meanwhile, ends it).
    pub(super) fn on_flood_ready(&mut self, conn: ConnId) {
        // Bounded: each round takes one held read out, and a read held
        // again sets the deadline, which ends the loop.
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.flood_deadline.is_some() || c.is_claiming() {
                return;
            }
            let Some(held) = &mut c.held_input else {
                return;
            };
            let Some(read) = held.reads.pop_front() else {
                break;
            };
            held.bytes -= read.len();
            self.on_read(conn, &read);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let closed = c.held_input.take().is_some_and(|held| held.peer_closed);
        self.actions.push_back(Action::ResumeReading { conn });
        if closed {
            self.on_closed(conn);
        }
    }

    /// Judges the first bytes of `conn`'s stream; closes it and returns
    /// `true` if they are not a chat client's.
    fn on_first_bytes(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        let mut head = c.lines.partial().to_vec();
        head.extend_from_slice(&bytes[..bytes.len().min(SNIFF_LEN)]);
        match sniff(&head) {
            Sniff::Chat => {
                c.sniffed = true;
                false
            }
            Sniff::Unsure => false,
            Sniff::Http => {
                let answer = self.canned.http_refusal.clone();
                self.send(conn, answer);
                self.depart(conn, DisconnectReason::Http, None, CloseMode::Flush);
                true
            }
            Sniff::Tls => {
                self.depart(conn, DisconnectReason::Tls, None, CloseMode::Flush);
                true
            }
        }
    }

    /// A read that starts with the unfinished nick and `: `, when that
    /// nick came in one read, is a seed-dialect client's first message: joins
    /// it in the seed dialect and relays the message. Returns whether it was one.
    fn on_seed_first_message(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let nick = c.lines.partial();
        let is_seed = c.nick_in_one_read
            && !nick.is_empty()
            && bytes.starts_with(nick)
            && bytes[nick.len()..].starts_with(wire::SAYS.as_bytes());
        if !is_seed {
            return false;
        }
        let raw = c.lines.take_partial();
        c.nick_in_one_read = false;
        self.set_timer(conn, TimerKind::Settle, None);
        self.try_join(conn, &raw, Dialect::Seed);
        if self.nick(conn).is_some() {
            self.on_seed_read(conn, bytes);
        } else if self.conns.get(&conn).is_some_and(|c| c.is_claiming()) {
            self.hold_read(conn, bytes.to_vec(), None);
        }
        // Refused: the message of a client without a nick has nowhere to go.
        true
    }

    /// A seed-dialect peer's read: one message, or several if it holds `\n`s.
    fn on_seed_read(&mut self, conn: ConnId, bytes: &[u8]) {
        let mut rest = bytes;
        // Bounded: every round consumes a piece of `rest` and its `\n`.
        loop {
            let (piece, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            let line = piece.strip_suffix(b"\r").unwrap_or(piece);
            let line = line.strip_prefix(&*c.seed_prefix).unwrap_or(line);
            let fate = if line.len() > self.config.max_line {
                self.on_line_too_long(conn);
                LineFate::Done
            } else {
                self.on_line(conn, line)
            };
            if let LineFate::Held(at) = fate {
                let held = match next {
                    Some(next) => [piece, b"\n", next].concat(),
                    None => piece.to_vec(),
                };
                self.hold_read(conn, held, Some(at));
                return;
            }
            match next {
                Some(next) => rest = next,
                None => return,
            }
        }
    }

    /// The peer closed: end of stream, reset or error. A joined user's
    /// unfinished line is a line, as if its newline had come, and goes out
    /// before the user leaves; so do the lines flood control still holds,
    /// at its pace.
    pub(super) fn on_closed(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(held) = &mut c.held_input {
            held.peer_closed = true;
            return;
        }
        if c.is_joined() && c.dialect == Dialect::Framed && !c.lines.partial().is_empty() {
            let mut lines = std::mem::take(&mut c.lines);
            let mut end: &[u8] = b"\n";
            let fate = match lines.next_frame(&mut end, self.config.max_line) {
                Some(Frame::Line(line)) => match self.on_line(conn, line) {
                    LineFate::Held(at) => Some((Some(at), [line, b"\n"].concat())),
                    LineFate::Claiming | LineFate::Done => None,
                },
                Some(Frame::TooLong) => {
                    self.on_line_too_long(conn);
                    None
                }
                None => None,
            };
            if let Some((at, rest)) = fate {
                self.hold_read(conn, rest, at);
                if let Some(held) = self
                    .conns
                    .get_mut(&conn)
                    .and_then(|c| c.held_input.as_mut())
                {
                    held.peer_closed = true;
                }
                return;
            }
        }
        self.depart(conn, DisconnectReason::PeerClosed, None, CloseMode::Flush);
    }

    fn on_line(&mut self, conn: ConnId, line: &[u8]) -> LineFate {
        match self.conns.get(&conn) {
            Some(c) if c.is_joined() => return self.on_user_line(conn, line),
            Some(_) => self.try_join(conn, line, Dialect::Framed),
            None => {}
        }
        match self.conns.get(&conn) {
            Some(c) if c.is_claiming() => LineFate::Claiming,
            _ => LineFate::Done,
        }
    }

    fn on_line_too_long(&mut self, conn: ConnId) {
        let error = self.canned.line_too_long.clone();
        if self.conns.get(&conn).is_some_and(|c| !c.is_joined()) {
            self.refuse_nick(conn, error);
        } else {
            self.send(conn, error);
        }
    }

    /// Sends `conn` why its nick was refused, then asks again, or, past
    /// [`MAX_NICK_ATTEMPTS`], says so and closes it.
    fn refuse_nick(&mut self, conn: ConnId, error: Payload) {
        self.send(conn, error);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.nick_attempts = c.nick_attempts.saturating_add(1);
        if c.nick_attempts >= MAX_NICK_ATTEMPTS {
            let enough = self.canned.too_many_attempts.clone();
            self.send(conn, enough);
            let reason = DisconnectReason::NickAttempts;
            self.depart(conn, reason, None, CloseMode::Flush);
        } else {
            let prompt = self.canned.prompt.clone();
            self.send(conn, prompt);
        }
    }

    /// The settle time passed with a nick and no terminator: a seed-dialect peer.
    pub(super) fn on_settled(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.is_joined() || c.lines.partial().is_empty() {
            return;
        }
        let raw = c.lines.take_partial();
        c.nick_in_one_read = false;
        self.try_join(conn, &raw, Dialect::Seed);
        if self.conns.get(&conn).is_some_and(|c| c.is_claiming()) {
            self.hold_read(conn, Vec::new(), None);
        }
    }

    /// Joins `conn` as the nick in `raw`, or says why not and asks again.
    /// In a clustered room, claims the nick in the log instead: the join
    /// happens when the claim comes back and wins.
    fn try_join(&mut self, conn: ConnId, raw: &[u8], dialect: Dialect) {
        let nick = String::from_utf8_lossy(raw);
        let keys = match self.roster.admit(&nick, None) {
            Ok(keys) => keys,
            Err(error) => {
                self.refuse_nick(conn, error_line(error));
                return;
            }
        };
        // Its bytes are needed only for a seed-dialect client's prefix.
        let raw = match dialect {
            Dialect::Seed => raw.into(),
            Dialect::Framed => Box::default(),
        };
        let claim = Claim { dialect, raw };
        if self.shared.is_none() {
            let member = Member::local(conn);
            self.join_member(member, &nick, keys, Some((conn, claim)));
            return;
        }
        if !self.log_open() {
            self.refuse_nick(conn, error_line(NickError::Unavailable));
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            let held = c.held_input.get_or_insert_with(|| {
                self.actions.push_back(Action::StopReading { conn });
                Box::default()
            });
            held.claim = Some(claim);
        }
        let nick = nick.to_string();
        self.append(EntryKind::Join { conn, nick }, OnLoss::Claim { conn });
    }

    /// `member` joins as `nick` (its `keys` admitted). `claimant` is its
    /// connection and claim if it is a user of this server that is still
    /// here: it gets the join sequence, and its held reads are read.
    pub(super) fn join_member(
        &mut self,
        member: Member,
        nick: &str,
        keys: NickKeys,
        claimant: Option<(ConnId, Claim)>,
    ) {
        if self.held_leaves || self.config.notice_hold(self.roster.len() + 1).is_none() {
            // Held leave notices, or all of them if this join's notice will
            // not be held, go first, while the joiner is not in the room yet.
            self.release_held();
        }
        self.flush_room();
        let display: Arc<str> = nick.into();
        let Some((conn, claim)) = claimant.filter(|(conn, _)| self.conns.contains_key(conn)) else {
            // A user of another server, or one that left while claiming.
            self.roster.insert(member, display, keys);
            self.announce(Notice::Join, &[nick, wire::JOINED]);
            return;
        };
        self.set_timer(conn, TimerKind::Handshake, None);
        self.set_timer(conn, TimerKind::Settle, None);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.nick = Some(display.clone());
        c.dialect = claim.dialect;
        if claim.dialect == Dialect::Seed {
            c.seed_prefix = [&claim.raw[..], b": "].concat().into();
        }
        self.roster.insert(member, display, keys);
        self.record(Event::Joined {
            conn,
            nick: nick.to_string(),
            dialect: claim.dialect,
        });
        self.welcome(conn, nick);
        if self
            .conns
            .get(&conn)
            .is_some_and(|c| c.held_input.is_some())
        {
            self.on_flood_ready(conn);
        }
    }

    /// The log refused `conn`'s nick claim: it is told why and asked again,
    /// then what it sent meanwhile is read (a seed-dialect client's message
    /// is dropped, as its nick was refused).
    pub(super) fn claim_refused(&mut self, conn: ConnId, error: NickError) {
        let Some(claim) = self.conns.get_mut(&conn).and_then(|c| c.take_claim()) else {
            return;
        };
        if claim.dialect == Dialect::Seed {
            if let Some(held) = self
                .conns
                .get_mut(&conn)
                .and_then(|c| c.held_input.as_mut())
            {
                held.reads.clear();
                held.bytes = 0;
            }
        }
        if error == NickError::Unavailable {
            self.send(conn, error_line(error));
            let prompt = self.canned.prompt.clone();
            self.send(conn, prompt);
        } else {
            self.refuse_nick(conn, error_line(error));
        }
        if self
            .conns
            .get(&conn)
            .is_some_and(|c| c.held_input.is_some())
        {
            self.on_flood_ready(conn);
        }
    }

    /// The join sequence: `NICK joined the chat` to the room, then
    /// `You are connected…`, the history and `Online (N): …` to the
    /// joiner, in one piece:
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
        let history = self.history_payload();
        if !too_slow.contains(&conn)
            && (self.enqueue(conn, connected)
                || history.is_some_and(|history| self.enqueue(conn, history))
                || self.enqueue(conn, online))
        {
            too_slow.push(conn);
        }
        self.kick(too_slow);
    }

    /// The room's history for a joiner, each line marked `[history] `: the
    /// most recent lines that fit in a quarter of the send queue, oldest
    /// first. `None` when there is none.
    fn history_payload(&self) -> Option<Payload> {
        let budget = self.config.send_queue / 4;
        let mut size = 0;
        let fit = self
            .history
            .iter()
            .rev()
            .take_while(|line| {
                size += wire::HISTORY.len() + line.len() + 1;
                size <= budget
            })
            .count();
        if fit == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(size);
        for line in self.history.iter().skip(self.history.len() - fit) {
            out.extend_from_slice(wire::HISTORY.as_bytes());
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        Some(Payload::from(out))
    }

    /// The online list: `Online (N): a, b, c`, nicks ordered ignoring
    /// case, in lines of at most [`ONLINE_LINE_MAX`] bytes that each start
    /// `Online (N): `, and in all at most a quarter of the send queue (or
    /// one line, if even that does not fit): past it, the last item is
    /// `and K more`. So no answer can take a user past its send queue by
    /// itself, however many users there are and however long their nicks.
    /// Written in one pass over the roster (at 10 000 users this is the
    /// bulk of a join's work).
    pub(super) fn online_payload(&self) -> Payload {
        let total = self.roster.len();
        let header = format!("Online ({total}): ");
        let header = header.as_bytes();
        let tail = |more: usize| format!("and {more} more");
        // Room for the tail on a line of its own, with the largest count,
        // and the last `\n`.
        let reserve = 1 + header.len() + tail(total).len() + 1;
        let budget = (self.config.send_queue / 4).saturating_sub(reserve);
        let mut out = Vec::with_capacity(budget.min(total * 16) + reserve);
        out.extend_from_slice(header);
        // The most `out` may hold before the next item's `\n`: the end of
        // the current line or of the budget, whichever comes first. A nick
        // that does not fit before it starts a line, or ends the list.
        let line_limit = |line_start: usize| line_start + ONLINE_LINE_MAX - 1;
        let mut limit = line_limit(0).min(budget);
        let mut first = true;
        for (listed, (_, nick)) in self.roster.iter().enumerate() {
            let nick = nick.as_bytes();
            let separator = if first { 0 } else { 2 };
            if out.len() + separator + nick.len() <= limit {
                if !first {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(nick);
                first = false;
                continue;
            }
            // Not on this line: on a new one, if the budget holds it.
            if !first && out.len() + 1 + header.len() + nick.len() <= budget {
                out.push(b'\n');
                limit = line_limit(out.len()).min(budget);
                out.extend_from_slice(header);
                out.extend_from_slice(nick);
                continue;
            }
            // Past the budget: the tail, on this line if it fits there.
            let tail = tail(total - listed);
            let line_start = out.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            if first {
                // Nothing listed: the tail follows the header.
            } else if out.len() + 2 + tail.len() < line_start + ONLINE_LINE_MAX {
                out.extend_from_slice(b", ");
            } else {
                out.push(b'\n');
                out.extend_from_slice(header);
            }
            out.extend_from_slice(tail.as_bytes());
            break;
        }
        out.push(b'\n');
        Payload::from(out)
    }
}

/// `error: MESSAGE` and its `\n`.
fn error_line(message: impl Display) -> Payload {
    Payload::from(format!("{}{message}\n", wire::ERROR_PREFIX).into_bytes())
}
