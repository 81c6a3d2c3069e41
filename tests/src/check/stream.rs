//! One connection's byte stream, read line by line as the core sends it, and
//! the rules every line must keep: valid UTF-8, no control characters, the
//! prompt only before joining, the join sequence in order, known error
//! lines, room lines in the room's one order.

use super::line::{
    classify, forbidden_control, Line, ERROR_PREFIXES, MAX_NICK_ATTEMPTS, PROMPT, TOO_MANY_ATTEMPTS,
};
use super::marks::TokenKind;
use super::{Checker, StepInput, Violation};
use crate::words::{self, fold, is_valid_nick};
use chat_core::{CloseMode, ConnId, Payload, Time};
use std::collections::BTreeSet;

/// Where a connection is in its life, as its own stream shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not joined: only prompts and error lines so far.
    Handshake,
    /// Its own join line came; `You are connected…` must follow.
    Welcome,
    /// The welcome came; the online list must follow.
    Online,
    /// Joined.
    Joined,
}

/// What the checker knows about one connection.
#[derive(Debug)]
pub(super) struct ConnLog {
    pub(super) id: ConnId,
    pub(super) connected: (u64, Time),
    /// Everything the core sent to it.
    pub(super) stream: Vec<u8>,
    /// Where the next unread line starts in `stream`.
    pub(super) parsed: usize,
    pub(super) phase: Phase,
    /// Its own join line's index in the room log.
    pub(super) join_g: Option<usize>,
    /// The room log index it must receive next.
    pub(super) next_g: usize,
    /// Its nick as its own stream tells it, with the stream offset it took effect.
    pub(super) nick_history: Vec<(usize, String)>,
    /// The stream offset after its join sequence.
    pub(super) welcome_end: Option<usize>,
    /// Its send account, while open: what the sends cost (bytes plus
    /// the config's `send_overhead` each) minus what the writes gave back.
    pub(super) account: usize,
    /// The largest cost of one send to it in this step.
    pub(super) largest_send: usize,
    /// Bytes sent to it in this step.
    pub(super) sent_this_step: usize,
    /// When the core closed it, and how.
    pub(super) closed: Option<(u64, Time, CloseMode)>,
    /// Set when closed: whether that step's input was its own `Closed`
    /// (then its leave notice has no reason), and the room log's length then.
    pub(super) closed_by_peer: bool,
    pub(super) closed_at_g: usize,
    /// When the driver first reported `Closed` for it.
    pub(super) client_closed: Option<(u64, Time)>,
    pub(super) shutdown_seen: bool,
    /// When flood control stopped reading it, and when it resumed: the
    /// steps of each `StopReading` and of the `ResumeReading` after it.
    pub(super) read_stops: Vec<(u64, Option<u64>)>,
    /// The checker's own flood bucket for its room lines (see `flood`).
    pub(super) flood: super::flood::Bucket,
    pub(super) help_sent: bool,
    pub(super) quit_reasons: Vec<Option<String>>,
    pub(super) nicks_sent: Vec<String>,
    pub(super) lines_sent: u32,
    /// Private lines received in this step, for the end-of-step check.
    pub(super) pms: Vec<Line>,
    /// Once joined: who is in the room as its own stream tells it (its
    /// online list, then every join, rename and leave it was sent).
    pub(super) view: BTreeSet<String>,
    /// Users in the room its stream counted but never named (an online
    /// list cut short with `and K more`); part of `view` in number only.
    pub(super) unnamed: usize,
    /// The lines of an online list read so far, while more must follow.
    pub(super) online: Option<OnlineList>,
    /// Nicks (or overlong nick lines) refused before joining.
    pub(super) refusals: u32,
}

/// An online list, from the lines read so far.
#[derive(Debug)]
pub(super) struct OnlineList {
    count: usize,
    nicks: Vec<String>,
    more: usize,
    text: String,
}

impl ConnLog {
    pub(super) fn new(id: ConnId, step: u64, now: Time) -> Self {
        ConnLog {
            id,
            connected: (step, now),
            stream: Vec::new(),
            parsed: 0,
            phase: Phase::Handshake,
            join_g: None,
            next_g: 0,
            nick_history: Vec::new(),
            welcome_end: None,
            account: 0,
            largest_send: 0,
            sent_this_step: 0,
            closed: None,
            closed_by_peer: false,
            closed_at_g: 0,
            client_closed: None,
            shutdown_seen: false,
            read_stops: Vec::new(),
            flood: Default::default(),
            help_sent: false,
            quit_reasons: Vec::new(),
            nicks_sent: Vec::new(),
            lines_sent: 0,
            pms: Vec::new(),
            view: BTreeSet::new(),
            unnamed: 0,
            online: None,
            refusals: 0,
        }
    }

    pub(super) fn begin_step(&mut self) {
        self.largest_send = 0;
        self.sent_this_step = 0;
        self.pms.clear();
    }

    /// `nick` is no longer in the room as this user's stream tells it:
    /// out of its view, or, if the view never named it, one unnamed fewer.
    fn forget(&mut self, nick: &str) {
        if !self.view.remove(nick) {
            self.unnamed = self.unnamed.saturating_sub(1);
        }
    }

    pub(super) fn nick(&self) -> Option<&str> {
        self.nick_history.last().map(|(_, n)| n.as_str())
    }

    /// The next complete token in the unread part: a prompt or a line
    /// (without `\n`), and the offset after it.
    fn next_token(&self) -> Option<(Token, usize)> {
        let rest = &self.stream[self.parsed..];
        if rest.starts_with(PROMPT) {
            return Some((Token::Prompt, self.parsed + PROMPT.len()));
        }
        if rest.len() < PROMPT.len() && PROMPT.starts_with(rest) {
            return None; // maybe a prompt still coming
        }
        let nl = rest.iter().position(|&b| b == b'\n')?;
        Some((
            Token::Line(self.parsed, self.parsed + nl),
            self.parsed + nl + 1,
        ))
    }
}

/// The length of the stream's last line, its `\n` included (the whole
/// stream if it has one line).
fn last_line_len(stream: &[u8]) -> usize {
    let body = stream.strip_suffix(b"\n").unwrap_or(stream);
    body.iter()
        .rposition(|&b| b == b'\n')
        .map_or(stream.len(), |at| stream.len() - at - 1)
}

/// A complete piece of a stream.
enum Token {
    Prompt,
    /// The line's bytes are `stream[start..end]`.
    Line(usize, usize),
}

impl Checker {
    pub(super) fn on_send(&mut self, conn: ConnId, bytes: &Payload) -> Result<(), Violation> {
        if bytes.is_empty() {
            return self.fail("no empty sends", format!("Send to {conn} of 0 bytes"));
        }
        let log = self.conns.get_mut(&conn).expect("checked by on_action");
        let cost = bytes.len() + self.cfg.send_overhead as usize;
        log.account += cost;
        log.largest_send = log.largest_send.max(cost);
        log.sent_this_step += bytes.len();
        log.stream.extend_from_slice(bytes);
        if self.probes.contains_key(&conn) {
            // Not a chat client: its stream is judged whole, in `probe`.
            log.shutdown_seen |= log.stream.ends_with(b"server is shutting down\n");
            return Ok(());
        }
        while let Some((token, after)) = self.conns[&conn].next_token() {
            match token {
                Token::Prompt => self.on_prompt(conn)?,
                Token::Line(start, end) => {
                    let raw = self.conns[&conn].stream[start..end].to_vec();
                    self.on_line(conn, &raw, after)?;
                }
            }
            self.conns.get_mut(&conn).expect("known").parsed = after;
        }
        Ok(())
    }

    pub(super) fn on_close(&mut self, conn: ConnId, mode: CloseMode) -> Result<(), Violation> {
        let (step, now, send_queue) = (self.step, self.now, self.cfg.send_queue as usize);
        let log = &self.conns[&conn];
        if self.probes.contains_key(&conn) {
            self.check_probe_closed(conn)?;
        } else if log.parsed != log.stream.len() {
            let tail = String::from_utf8_lossy(&log.stream[log.parsed..]).into_owned();
            return self.fail(
                "every line ends in \\n except the bare alias?",
                format!("{conn} closed with an unterminated line {tail:?}"),
            );
        }
        if mode == CloseMode::Abort {
            if log.account <= send_queue {
                return self.fail(
                    "only a send account over its limit is aborted",
                    format!(
                        "{conn} aborted with {} of {send_queue} bytes unwritten",
                        log.account
                    ),
                );
            }
            if log.account > send_queue + log.largest_send {
                return self.fail(
                    "no send account passes its limit by more than one batch",
                    format!(
                        "{conn} had {} bytes unwritten (limit {send_queue}, largest send this step {})",
                        log.account, log.largest_send
                    ),
                );
            }
            // The room stops at the room line that takes a user past its
            // limit: what was unwritten before that line fitted. (A reply,
            // such as `/help`'s, is sent whole.)
            let last_line = last_line_len(&log.stream);
            let text = &log.stream[log.stream.len() - last_line..];
            let is_room_line = classify(String::from_utf8_lossy(text).trim_end()).is_room_line();
            // (Less the send's overhead: the line may have come alone.)
            let before =
                log.account - (last_line + self.cfg.send_overhead as usize).min(log.account);
            if is_room_line && before > send_queue {
                return self.fail(
                    "a user is closed by the line that takes it past its limit",
                    format!(
                        "{conn} had {} bytes unwritten (limit {send_queue}) before its last line of {last_line} bytes",
                        log.account
                    ),
                );
            }
        }
        let (by_peer, at_g) = (self.input == StepInput::Closed(conn), self.room.len());
        let log = self.conns.get_mut(&conn).expect("checked by on_action");
        log.closed = Some((step, now, mode));
        log.closed_by_peer = by_peer;
        log.closed_at_g = at_g;
        self.closes.push((conn, mode));
        self.closed_at_g.push(self.room.len());
        Ok(())
    }

    fn on_prompt(&mut self, conn: ConnId) -> Result<(), Violation> {
        let log = &self.conns[&conn];
        if log.shutdown_seen {
            return self.fail(
                "nothing follows the shutdown line",
                format!("alias? to {conn}"),
            );
        }
        if log.phase != Phase::Handshake {
            return self.fail(
                "alias? only before joining",
                format!("alias? to joined {conn}"),
            );
        }
        if log.refusals >= MAX_NICK_ATTEMPTS {
            return self.fail(
                "a connection refused ten nicks is closed",
                format!("alias? to {conn} after {} refusals", log.refusals),
            );
        }
        Ok(())
    }

    fn on_line(&mut self, conn: ConnId, raw: &[u8], after: usize) -> Result<(), Violation> {
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.fail(
                "the server sends valid UTF-8",
                format!("to {conn}: {:?}", String::from_utf8_lossy(raw)),
            );
        };
        if let Some(c) = forbidden_control(text) {
            return self.fail(
                "no control characters relayed",
                format!("to {conn}: {c:?} in {text:?}"),
            );
        }
        if self.conns[&conn].shutdown_seen {
            return self.fail(
                "nothing follows the shutdown line",
                format!("to {conn}: {text:?}"),
            );
        }
        let line = classify(text);
        if self.conns[&conn].online.is_some() && !matches!(line, Line::Online { .. }) {
            return self.fail(
                "an online list is sent in one go",
                format!("to {conn}: {text:?} inside one"),
            );
        }
        if line.is_room_line() {
            return self.on_room_line(conn, text, line, after);
        }
        self.on_private_line(conn, text, line, after)
    }

    fn on_private_line(
        &mut self,
        conn: ConnId,
        text: &str,
        line: Line,
        after: usize,
    ) -> Result<(), Violation> {
        let phase = self.conns[&conn].phase;
        let in_join = matches!(phase, Phase::Welcome | Phase::Online);
        match line {
            Line::Welcome if phase == Phase::Welcome => self.log_mut(conn).phase = Phase::Online,
            Line::Online { count, nicks, more } => {
                let Some(list) = self.read_online(conn, count, nicks, more, text)? else {
                    return Ok(()); // more lines of it must follow
                };
                self.check_online(conn, &list)?;
                if phase == Phase::Online {
                    let log = self.log_mut(conn);
                    log.phase = Phase::Joined;
                    log.welcome_end = Some(after);
                    log.view = list.nicks.into_iter().collect();
                    log.unnamed = list.more;
                } else if phase == Phase::Joined {
                    self.check_who(conn, list)?;
                } else {
                    return self.fail(
                        "the join sequence is in order",
                        format!("to {conn}: {text:?}"),
                    );
                }
            }
            _ if in_join => {
                return self.fail(
                    "the join sequence is in order: joined, welcome, online",
                    format!("to {conn}: {text:?} in phase {phase:?}"),
                );
            }
            Line::Error(ref e) => self.on_error(conn, e)?,
            Line::Shutdown => self.log_mut(conn).shutdown_seen = true,
            Line::Pong(ref word) if phase == Phase::Joined => self.on_pong(conn, word)?,
            Line::PmFrom { ref nick, .. } | Line::PmTo { ref nick, .. }
                if phase == Phase::Joined =>
            {
                let log = &self.conns[&conn];
                if !log.view.contains(nick) && log.unnamed == 0 {
                    return self.fail(
                        "a private line names a user its recipient was told of",
                        format!(
                            "to {conn}: {text:?}, but its stream says {:?}",
                            self.conns[&conn].view
                        ),
                    );
                }
                self.log_mut(conn).pms.push(line);
            }
            // Help text answers the user's read, or its held `/help`: the
            // room releases held lines whenever time passes, which every
            // input does, whoever it comes from.
            Line::Other(_)
                if phase == Phase::Joined
                    && self.conns[&conn].help_sent
                    && (self.input == StepInput::Received(conn)
                        || !self.conns[&conn].read_stops.is_empty()) => {}
            _ => {
                return self.fail(
                    "every line is one docs/protocol.md names",
                    format!("to {conn} in phase {phase:?}: {text:?}"),
                );
            }
        }
        Ok(())
    }

    /// `pong WORD` to `conn`: WORD is the token of a `/ping` that `conn`
    /// sent and the core read, answered once; where it falls among the
    /// room lines `conn` was sent is kept for the order check
    /// ([`Checker::check_pongs`]).
    fn on_pong(&mut self, conn: ConnId, word: &str) -> Result<(), Violation> {
        let token = match words::Token::find_all(word)[..] {
            [token] if token.to_string() == word => token,
            _ => {
                return self.fail(
                    "a pong carries the token of a /ping",
                    format!("to {conn}: pong {word:?}"),
                );
            }
        };
        let Some(info) = self
            .marks
            .token(token)
            .filter(|i| i.kind == TokenKind::Ping)
        else {
            return self.fail(
                "a pong answers a /ping",
                format!("to {conn}: pong {token}, which no /ping carried"),
            );
        };
        if info.sender != conn {
            return self.fail(
                "a pong goes only to the user who sent the /ping",
                format!("pong {token} to {conn}; {} sent the /ping", info.sender),
            );
        }
        if !self.marks.was_delivered(token) {
            return self.fail(
                "a pong answers a /ping the server read",
                format!("pong {token} to {conn} before its /ping was delivered"),
            );
        }
        let due = self.conns[&conn].next_g;
        if self.marks.relayed(token, due, self.step).is_some() {
            return self.fail(
                "each ping is answered once",
                format!("pong {token} to {conn} again"),
            );
        }
        Ok(())
    }

    fn on_error(&mut self, conn: ConnId, text: &str) -> Result<(), Violation> {
        if !ERROR_PREFIXES.iter().any(|p| text.starts_with(p)) {
            return self.fail(
                "only error lines start with error: ",
                format!("to {conn}: {text:?} is no known error"),
            );
        }
        let log = &self.conns[&conn];
        let refusal = text.starts_with("error: nick") || text.starts_with("error: line too long");
        if log.phase == Phase::Handshake && refusal {
            self.log_mut(conn).refusals += 1;
        }
        if text == TOO_MANY_ATTEMPTS && self.conns[&conn].refusals != MAX_NICK_ATTEMPTS {
            return self.fail(
                "a connection refused ten nicks is closed",
                format!("to {conn} after {} refusals", self.conns[&conn].refusals),
            );
        }
        Ok(())
    }

    /// Adds one line of an online list to what `conn` was sent of it;
    /// the whole list once its last line came.
    fn read_online(
        &mut self,
        conn: ConnId,
        count: usize,
        nicks: Vec<String>,
        more: usize,
        text: &str,
    ) -> Result<Option<OnlineList>, Violation> {
        let log = self.log_mut(conn);
        let mut list = log.online.take().unwrap_or(OnlineList {
            count,
            nicks: Vec::new(),
            more: 0,
            text: String::new(),
        });
        let cut_short = list.more > 0;
        list.nicks.extend(nicks.iter().cloned());
        list.more = more;
        list.text.push_str(text);
        list.text.push('\n');
        let named = list.nicks.len() + list.more;
        let rule = "the online list counts, sorts and names joined users";
        if list.count != count || (nicks.is_empty() && more == 0) || cut_short || named > count {
            return self.fail(rule, format!("to {conn}: {:?}", list.text));
        }
        if text.len() >= chat_core::ONLINE_LINE_MAX {
            return self.fail(
                "an online line is at most 1024 bytes",
                format!("to {conn}: {} bytes", text.len() + 1),
            );
        }
        if named < count {
            if more > 0 {
                return self.fail(rule, format!("to {conn}: {:?}", list.text));
            }
            self.log_mut(conn).online = Some(list);
            return Ok(None);
        }
        Ok(Some(list))
    }

    /// A whole online list: sorted, valid and bounded, and the first users
    /// in order when cut short.
    fn check_online(&self, conn: ConnId, list: &OnlineList) -> Result<(), Violation> {
        let folded: Vec<String> = list.nicks.iter().map(|n| fold(n)).collect();
        let sorted_unique = folded.windows(2).all(|w| w[0] < w[1]);
        if !sorted_unique || !list.nicks.iter().all(|n| is_valid_nick(n)) {
            return self.fail(
                "the online list counts, sorts and names joined users",
                format!("to {conn}: {:?}", list.text),
            );
        }
        let quarter = self.cfg.send_queue as usize / 4;
        if list.text.len() > quarter && !(list.nicks.is_empty() && list.text.lines().count() == 1) {
            return self.fail(
                "an online list is at most a quarter of the send queue",
                format!("to {conn}: {} bytes: {:?}", list.text.len(), list.text),
            );
        }
        if let Some(me) = self.conns[&conn].nick() {
            let listed = list.nicks.iter().any(|n| n == me);
            let after_the_cut = folded.last().is_none_or(|last| fold(me) > *last);
            if !listed && (list.more == 0 || !after_the_cut) {
                return self.fail(
                    "the online list holds the user who asks",
                    format!("to {conn} ({me}): {:?}", list.text),
                );
            }
        }
        Ok(())
    }

    /// A `/who` answer names who the asker's stream says is in the room:
    /// all of them, or the first in order and the number of the others.
    fn check_who(&mut self, conn: ConnId, list: OnlineList) -> Result<(), Violation> {
        let log = &self.conns[&conn];
        let listed: BTreeSet<String> = list.nicks.iter().cloned().collect();
        let learned: Vec<String> = listed.difference(&log.view).cloned().collect();
        let last = list.nicks.last().map(|n| fold(n));
        let skipped = log.view.iter().any(|known| {
            !listed.contains(known)
                && (list.more == 0 || last.as_ref().is_some_and(|l| fold(known) < *l))
        });
        if list.count != log.view.len() + log.unnamed || learned.len() > log.unnamed || skipped {
            return self.fail(
                "a /who answer agrees with the room lines its user was sent",
                format!(
                    "to {conn}: {:?}, but its stream says {:?} and {} more",
                    list.text, log.view, log.unnamed
                ),
            );
        }
        let log = self.log_mut(conn);
        log.unnamed -= learned.len();
        log.view.extend(learned);
        Ok(())
    }

    fn on_room_line(
        &mut self,
        conn: ConnId,
        text: &str,
        line: Line,
        after: usize,
    ) -> Result<(), Violation> {
        let log = &self.conns[&conn];
        let own_join = log.phase == Phase::Handshake;
        let from = if own_join { 0 } else { log.next_g };
        let g = self
            .room
            .key((self.step, self.now), text, &line, from, own_join);
        let log = &self.conns[&conn];
        match log.phase {
            Phase::Handshake => {
                let Line::Joined(nick) = line else {
                    return self.fail(
                        "a connection that has not joined gets no room line",
                        format!("to {conn}: {text:?}"),
                    );
                };
                self.room.own_join(g, conn);
                let log = self.log_mut(conn);
                log.join_g = Some(g);
                log.next_g = g + 1;
                log.phase = Phase::Welcome;
                log.nick_history.push((after, nick));
            }
            Phase::Welcome | Phase::Online => {
                return self.fail(
                    "the join sequence is in order: joined, welcome, online",
                    format!("to {conn}: room line {text:?} in phase {:?}", log.phase),
                );
            }
            Phase::Joined => {
                if g != log.next_g {
                    let expected = self.room.describe(log.next_g);
                    return self.fail(
                        "every joined user gets every room line once, in the one order",
                        format!(
                            "{conn} got #{g} {text:?} but #{} {expected} was due",
                            log.next_g
                        ),
                    );
                }
                let own = log.nick().map(str::to_string);
                let log = self.log_mut(conn);
                log.next_g += 1;
                match &line {
                    Line::Joined(nick) => {
                        log.view.insert(nick.clone());
                    }
                    Line::Renamed { old, new } => {
                        log.forget(old);
                        log.view.insert(new.clone());
                    }
                    Line::Left { nick, .. } => log.forget(nick),
                    _ => {}
                }
                if let Line::Renamed { old, new } = line {
                    if own.as_deref() == Some(old.as_str()) {
                        log.nick_history.push((after, new));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether room lines from `g` on may still be held back: all join or
    /// leave notices, the first sent within the longest hold (see
    /// [`Checker::within_hold`]).
    fn held(&self, g: usize, deadline: Option<Time>) -> bool {
        let Some((first, _)) = self.room.sent_at(g) else {
            return false;
        };
        let all_notices =
            (g..self.room.len()).all(|g| self.room.sent_at(g).is_some_and(|(_, notice)| notice));
        all_notices && self.within_hold(first, deadline)
    }

    /// Whether something that happened at `since` may still be held back
    /// now: no longer than the longest hold ago, and the room has a deadline
    /// no later than that hold's end.
    pub(super) fn within_hold(&self, since: Time, deadline: Option<Time>) -> bool {
        let hold = self
            .cfg
            .to_config()
            .notice_hold(self.cfg.max_clients as usize);
        let Some(latest) = hold.map(|h| since + h) else {
            return false; // this room never holds anything
        };
        self.now <= latest && deadline.is_some_and(|d| d <= latest)
    }

    pub(super) fn log_mut(&mut self, conn: ConnId) -> &mut super::stream::ConnLog {
        self.conns.get_mut(&conn).expect("a known connection")
    }

    /// Open joined connections have every room line, except join notices
    /// the room holds back (for no longer than the longest hold, and only
    /// while it has a deadline to send them by); none is mid-join.
    pub(super) fn check_streams_complete(&self, deadline: Option<Time>) -> Result<(), Violation> {
        for log in self.conns.values().filter(|l| l.closed.is_none()) {
            if log.online.is_some() {
                return self.fail(
                    "an online list is sent in one go",
                    format!("{} got part of one", log.id),
                );
            }
            if log.refusals >= MAX_NICK_ATTEMPTS {
                return self.fail(
                    "a connection refused ten nicks is closed",
                    format!("{} is still open", log.id),
                );
            }
            match log.phase {
                Phase::Welcome | Phase::Online => {
                    return self.fail(
                        "the join sequence is sent in one go",
                        format!("{} is still in phase {:?}", log.id, log.phase),
                    );
                }
                Phase::Joined
                    if log.next_g != self.room.len() && !self.held(log.next_g, deadline) =>
                {
                    return self.fail(
                        "every joined user gets every room line once, in the one order",
                        format!(
                            "{} missed #{} {}",
                            log.id,
                            log.next_g,
                            self.room.describe(log.next_g)
                        ),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}
