//! The room's one order: the global log of room lines, and its replay at the
//! end of each step, which follows nicks through joins, renames and leaves
//! and checks that each line is what its cause says it should be.

use super::line::Line;
use super::marks::TokenKind;
use super::{Checker, Violation};
use crate::words::{fold, looks_alike, Token};
use chat_core::{CloseMode, ConnId, Time};
use std::collections::BTreeMap;

/// One room line, the first time any connection received it.
#[derive(Debug)]
struct Entry {
    step: u64,
    at: Time,
    text: String,
    line: Line,
}

/// The global log and the nicks it implies.
#[derive(Debug, Default)]
pub(super) struct RoomLog {
    entries: Vec<Entry>,
    /// This step's room lines: text → their indices, in order.
    step_entries: BTreeMap<String, Vec<usize>>,
    /// Index of each connection's own join line.
    joins: BTreeMap<usize, ConnId>,
    /// Entries before this index have been replayed.
    replayed: usize,
    /// Joined users by exact nick, and by folded nick.
    owners: BTreeMap<String, ConnId>,
    folded: BTreeMap<String, ConnId>,
    nicks: BTreeMap<ConnId, String>,
    /// Every nick each user held during this step.
    step_nicks: BTreeMap<ConnId, Vec<String>>,
    /// Users closed, by the nick they had, until their leave notice is
    /// replayed (a held leave notice may come steps later).
    departed: BTreeMap<String, ConnId>,
}

impl RoomLog {
    pub(super) fn begin_step(&mut self) {
        self.step_entries.clear();
        self.step_nicks = self
            .nicks
            .iter()
            .map(|(c, n)| (*c, vec![n.clone()]))
            .collect();
    }

    /// The index of the room line `text` that a connection just received:
    /// for a joined user, the entry `from` it must get next if it has that
    /// text (a join notice held since an earlier step); otherwise the first
    /// entry of this step with that text at or after `from` (and, for a
    /// joiner's own join line, not already someone's own join), or a new
    /// entry. Two events with one text in one step stay apart this way.
    pub(super) fn key(
        &mut self,
        (step, at): (u64, Time),
        text: &str,
        line: &Line,
        from: usize,
        own_join: bool,
    ) -> usize {
        if !own_join && self.entries.get(from).is_some_and(|e| e.text == text) {
            return from;
        }
        let joins = &self.joins;
        let found = self.step_entries.get(text).and_then(|gs| {
            gs.iter()
                .copied()
                .find(|&g| g >= from && !(own_join && joins.contains_key(&g)))
        });
        if let Some(g) = found {
            return g;
        }
        let g = self.entries.len();
        self.entries.push(Entry {
            step,
            at,
            text: text.to_string(),
            line: line.clone(),
        });
        self.step_entries
            .entry(text.to_string())
            .or_default()
            .push(g);
        g
    }

    pub(super) fn own_join(&mut self, g: usize, conn: ConnId) {
        self.joins.insert(g, conn);
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// When entry `g` was first sent, and whether it is a join or leave notice.
    pub(super) fn sent_at(&self, g: usize) -> Option<(Time, bool)> {
        let e = self.entries.get(g)?;
        Some((e.at, matches!(e.line, Line::Joined(_) | Line::Left { .. })))
    }

    pub(super) fn describe(&self, g: usize) -> String {
        self.entries.get(g).map_or("(none)".to_string(), |e| {
            format!("{:?} (step {})", e.text, e.step)
        })
    }

    pub(super) fn nick_of(&self, conn: ConnId) -> Option<&str> {
        self.nicks.get(&conn).map(String::as_str)
    }

    pub(super) fn joined(&self) -> &BTreeMap<ConnId, String> {
        &self.nicks
    }

    /// A joined user other than `conn` whose nick looks like `nick`.
    fn look_alike(&self, nick: &str, conn: ConnId) -> Option<(ConnId, &str)> {
        self.nicks
            .iter()
            .find(|(&other, theirs)| other != conn && looks_alike(nick, theirs))
            .map(|(&other, theirs)| (other, theirs.as_str()))
    }

    fn add(&mut self, conn: ConnId, nick: &str) {
        self.owners.insert(nick.to_string(), conn);
        self.folded.insert(fold(nick), conn);
        self.nicks.insert(conn, nick.to_string());
        self.step_nicks
            .entry(conn)
            .or_default()
            .push(nick.to_string());
    }

    fn remove(&mut self, conn: ConnId) {
        if let Some(nick) = self.nicks.remove(&conn) {
            self.owners.remove(&nick);
            self.folded.remove(&fold(&nick));
        }
    }
}

impl Checker {
    /// Replays this step's new room lines in the log's order.
    pub(super) fn replay_room(&mut self) -> Result<(), Violation> {
        while self.room.replayed < self.room.entries.len() {
            let g = self.room.replayed;
            self.release_closed(g);
            self.room.replayed += 1;
            let line = self.room.entries[g].line.clone();
            let text = self.room.entries[g].text.clone();
            match line {
                Line::Joined(nick) => self.replay_join(g, &nick, &text)?,
                Line::Renamed { old, new } => self.replay_rename(&old, &new, &text)?,
                Line::Left { nick, reason } => self.replay_leave(&nick, reason, &text)?,
                Line::Msg { nick, text: said } => {
                    self.replay_message(&nick, &said, false, &text)?
                }
                Line::Me { nick, text: said } => self.replay_message(&nick, &said, true, &text)?,
                _ => unreachable!("only room lines are logged"),
            }
        }
        Ok(())
    }

    /// Users closed before room line `g` was sent give up their nicks.
    fn release_closed(&mut self, g: usize) {
        for (&(conn, _), &at_g) in self.closes.iter().zip(&self.closed_at_g) {
            if at_g <= g {
                if let Some(nick) = self.room.nicks.get(&conn).cloned() {
                    self.room.remove(conn);
                    self.room.departed.insert(nick, conn);
                }
            }
        }
    }

    fn replay_join(&mut self, g: usize, nick: &str, text: &str) -> Result<(), Violation> {
        let Some(&conn) = self.room.joins.get(&g) else {
            return self.fail(
                "each join notice is a connection's own join (a never-joined one leaves no trace)",
                format!("{text:?} was not the joiner's own first room line"),
            );
        };
        if let Some(other) = self.room.folded.get(&fold(nick)) {
            return self.fail(
                "nicks are unique ignoring case",
                format!("{conn} joined as {nick:?} while {other} holds it"),
            );
        }
        if let Some((other, theirs)) = self.room.look_alike(nick, conn) {
            return self.fail(
                "no two nicks in the room look alike",
                format!("{conn} joined as {nick:?} while {other} is {theirs:?}"),
            );
        }
        if !self.conns[&conn].nicks_sent.iter().any(|n| n == nick) {
            return self.fail(
                "a user joins with a nick it sent",
                format!("{conn}: {text:?}"),
            );
        }
        self.room.add(conn, nick);
        Ok(())
    }

    fn replay_rename(&mut self, old: &str, new: &str, text: &str) -> Result<(), Violation> {
        let Some(&conn) = self.room.owners.get(old) else {
            return self.fail("a rename is of a joined user", format!("{text:?}"));
        };
        self.charge_room_line(conn, text)?;
        if let Some(&other) = self.room.folded.get(&fold(new)) {
            if other != conn {
                return self.fail(
                    "nicks are unique ignoring case",
                    format!("{conn} renamed to {new:?} while {other} holds it"),
                );
            }
        }
        if let Some((other, theirs)) = self.room.look_alike(new, conn) {
            return self.fail(
                "no two nicks in the room look alike",
                format!("{conn} renamed to {new:?} while {other} is {theirs:?}"),
            );
        }
        if !self.conns[&conn].nicks_sent.iter().any(|n| n == new) {
            return self.fail(
                "a user is renamed to a nick it sent",
                format!("{conn}: {text:?}"),
            );
        }
        self.room.remove(conn);
        self.room.add(conn, new);
        Ok(())
    }

    fn replay_leave(
        &mut self,
        nick: &str,
        reason: Option<String>,
        text: &str,
    ) -> Result<(), Violation> {
        let departed = self.room.departed.remove(nick);
        let Some(conn) = departed.or_else(|| self.room.owners.get(nick).copied()) else {
            return self.fail(
                "exactly one leave notice per departure of a joined user",
                format!("{text:?} names no joined user"),
            );
        };
        let log = &self.conns[&conn];
        let Some((_, _, mode)) = log.closed else {
            return self.fail(
                "a leave notice is for a user who left",
                format!("{text:?} but {conn} was not closed"),
            );
        };
        let fits = match (&reason, mode) {
            (r, CloseMode::Abort) => r.as_deref() == Some("too slow"),
            (None, _) => true,
            (Some(_), _) if log.closed_by_peer => false,
            (Some(r), _) => log
                .quit_reasons
                .iter()
                .any(|q| q.as_deref().and_then(shown_quit_reason).as_deref() == Some(r)),
        };
        if !fits {
            return self.fail(
                "the leave reason is `Quit: ` and the quit text without brackets, `too slow`, or none",
                format!(
                    "{text:?} for {conn} closed with {mode:?} on input {:?}",
                    self.input
                ),
            );
        }
        for token in Token::find_all(reason.as_deref().unwrap_or("")) {
            self.check_token_use(token, conn, &[TokenKind::Quit], text)?;
        }
        self.room.remove(conn);
        Ok(())
    }

    fn replay_message(
        &mut self,
        nick: &str,
        said: &str,
        me: bool,
        text: &str,
    ) -> Result<(), Violation> {
        let Some(&conn) = self.room.owners.get(nick) else {
            return self.fail("a message comes from a joined user", format!("{text:?}"));
        };
        self.charge_room_line(conn, text)?;
        let kinds: &[TokenKind] = if me {
            &[TokenKind::Me]
        } else {
            &[TokenKind::Room, TokenKind::Literal]
        };
        for token in Token::find_all(said) {
            self.check_token_use(token, conn, kinds, text)?;
            let g = self.room.replayed - 1;
            if let Some(first) = self.marks.relayed(token, g, self.step) {
                return self.fail(
                    "each line is relayed once",
                    format!("{token} in {text:?} was already relayed as #{first}"),
                );
            }
            let exact = self.marks.token(token).and_then(|i| i.exact.clone());
            if let Some(exact) = exact {
                if exact != said {
                    return self.fail(
                        "clean text is relayed unchanged",
                        format!("{token} sent as {exact:?}, relayed as {text:?}"),
                    );
                }
            }
        }
        Ok(())
    }

    /// `token` appears in a line from `conn` of one of `kinds`.
    fn check_token_use(
        &self,
        token: Token,
        conn: ConnId,
        kinds: &[TokenKind],
        text: &str,
    ) -> Result<(), Violation> {
        let Some(info) = self.marks.token(token) else {
            return self.fail(
                "a relayed token was sent by a client",
                format!("{token} in {text:?}"),
            );
        };
        if info.sender != conn {
            return self.fail(
                "a line is relayed under its sender's nick",
                format!(
                    "{token} was sent by {} but relayed as {text:?}",
                    info.sender
                ),
            );
        }
        if !kinds.iter().any(|k| k.same_kind(&info.kind)) {
            return self.fail(
                "what a client sends is relayed as what it is",
                format!("{token} sent as {:?} appears in {text:?}", info.kind),
            );
        }
        Ok(())
    }

    /// Every joined user closed in this step got its leave notice, unless
    /// nobody who had joined before it left is still there to get it.
    pub(super) fn check_departures(&mut self, deadline: Option<Time>) -> Result<(), Violation> {
        self.release_closed(usize::MAX);
        if self.shutdown.is_some() {
            return Ok(());
        }
        for &conn in self.room.departed.values() {
            let log = &self.conns[&conn];
            let at_g = log.closed_at_g;
            if log
                .closed
                .is_some_and(|(_, at, _)| self.within_hold(at, deadline))
            {
                continue; // its leave notice may be held
            }
            let witness = self
                .conns
                .values()
                .find(|l| l.closed.is_none() && l.join_g.is_some_and(|g| g < at_g));
            if let Some(w) = witness {
                return self.fail(
                    "each departure of a joined user gives every remaining user one leave notice",
                    format!("{conn} was closed with no leave notice to {}", w.id),
                );
            }
        }
        Ok(())
    }

    /// Private lines go only between the two users named.
    pub(super) fn check_pms(&self) -> Result<(), Violation> {
        for log in self.conns.values() {
            for line in &log.pms {
                let (from, nick, text) = match line {
                    Line::PmFrom { nick, text } => (true, nick, text),
                    Line::PmTo { nick, text } => (false, nick, text),
                    _ => unreachable!("only private lines are kept"),
                };
                for token in Token::find_all(text) {
                    self.check_pm(log.id, from, nick, token)?;
                }
            }
        }
        Ok(())
    }

    fn check_pm(
        &self,
        conn: ConnId,
        from: bool,
        nick: &str,
        token: Token,
    ) -> Result<(), Violation> {
        let info = self.marks.token(token);
        let Some((sender, TokenKind::Pm { target })) = info.map(|i| (i.sender, &i.kind)) else {
            return self.fail(
                "a private line carries a /msg",
                format!("{token} in a private line to {conn} was not sent with /msg"),
            );
        };
        let held = |c: ConnId, n: &str| {
            self.room
                .step_nicks
                .get(&c)
                .is_some_and(|ns| ns.iter().any(|h| fold(h) == fold(n)))
        };
        let ok = if from {
            held(sender, nick) && held(conn, target)
        } else {
            conn == sender && fold(nick) == fold(target)
        };
        if !ok {
            let dir = if from { "from" } else { "to" };
            return self.fail(
                "a private line goes only between its two users",
                format!("[pm {dir} {nick}] {token} reached {conn}; sent by {sender} to {target:?}"),
            );
        }
        Ok(())
    }
}

/// How a `/quit REASON` shows in the leave notice: `Quit: ` and the
/// reason without round brackets, trimmed; none if nothing is left (the
/// simulation's reasons are ASCII).
fn shown_quit_reason(reason: &str) -> Option<String> {
    let kept: String = reason.chars().filter(|c| !matches!(c, '(' | ')')).collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| format!("Quit: {kept}"))
}
