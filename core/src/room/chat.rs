//! What joined users say: room lines, flood control and commands.

use super::cluster::OnLoss;
use super::delivery::Speaker;
use super::Room;
use crate::cluster::EntryKind;
use crate::command::{self, Request};
use crate::event::{DisconnectReason, Event};
use crate::io::{CloseMode, ConnId};
use crate::nick::NickError;
use crate::nick::NickKeys;
use crate::roster::Member;
use crate::text;
use crate::time::Time;
use crate::wire;
use std::sync::Arc;

/// What became of a line a user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LineFate {
    /// Said, answered, or ignored (an empty line).
    Done,
    /// Flood control holds it until then: it must be offered again.
    Held(Time),
    /// It claimed a nick in the log: what follows it waits for the answer.
    Claiming,
}

impl Room {
    /// One line (terminator removed) from a joined user.
    pub(super) fn on_user_line(&mut self, conn: ConnId, raw: &[u8]) -> LineFate {
        let text = text::clean(raw);
        if text.is_empty() {
            return LineFate::Done;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return LineFate::Done;
        };
        let (rate, burst) = (self.config.flood_rate, self.config.flood_burst);
        if let Err(at) = c.flood.charge(self.now, rate, burst) {
            return LineFate::Held(at);
        }
        let Some(me) = c.nick.clone() else {
            return LineFate::Done;
        };
        let shared = self.shared.is_some();
        match command::parse(&text) {
            Request::Say(said) if shared => {
                let said = said.to_string();
                self.append_line(conn, &text, EntryKind::Say { conn, text: said });
            }
            Request::Me(said) if shared => {
                let said = said.to_string();
                self.append_line(conn, &text, EntryKind::Me { conn, text: said });
            }
            Request::Say(text) => self.say_line(Speaker::User(conn), &[&*me, wire::SAYS, text]),
            Request::Me(text) => {
                self.say_line(Speaker::User(conn), &[wire::ACTION, &*me, " ", text]);
            }
            Request::Help => {
                let help = self.canned.help.clone();
                self.send(conn, help);
            }
            Request::Who => {
                // Listed after the pending room lines went out (closing
                // anyone they took past the send queue), so the answer
                // agrees with the leave notices the user was sent.
                self.flush_room();
                let online = self.online_payload();
                self.send(conn, online);
            }
            // Scrubbing must not turn a refused nick into an accepted one.
            Request::Nick(_) if text::has_scrubbed(raw) => {
                self.send_error(conn, NickError::InvalidCharacter);
            }
            Request::Nick(new) => self.rename(conn, &me, new, &text),
            Request::Msg { to, text: said } if shared => {
                let (to, said) = (to.to_string(), said.to_string());
                let private = EntryKind::Private {
                    conn,
                    to,
                    text: said,
                };
                self.append_line(conn, &text, private);
            }
            Request::Msg { to, text } => {
                self.deliver_private(Member::local(conn), &me, to, text);
            }
            Request::Quit(reason) => {
                let reason = reason.and_then(crate::leave::user_reason);
                let reason = reason.as_deref();
                self.depart(conn, DisconnectReason::Quit, reason, CloseMode::Flush)
            }
            // After every line the room owes the asker (`send` flushes
            // them first): the copies of its own earlier lines included.
            Request::Ping(token) => self.send_line(conn, format_args!("{}{token}", wire::PONG)),
            Request::Usage(usage) => self.send_error(conn, format_args!("usage: {usage}")),
            Request::Unknown(name) => {
                self.send_error(conn, format_args!("unknown command /{name} (try /help)"));
            }
        }
        LineFate::Done
    }

    /// Appends a user's line to the log, or tells it why not.
    fn append_line(&mut self, conn: ConnId, line: &str, kind: EntryKind) {
        if self.can_append(conn, line) {
            let line = line.into();
            self.append(kind, OnLoss::Line { conn, line });
        }
    }

    /// `/nick NEW` from `conn`, now `old`; `line` as typed.
    fn rename(&mut self, conn: ConnId, old: &str, new: &str, line: &str) {
        if old == new {
            self.send_error(conn, format_args!("you are already {old}"));
            return;
        }
        let member = Member::local(conn);
        let keys = match self.roster.admit(new, Some(member)) {
            Ok(keys) => keys,
            Err(error) => {
                self.send_error(conn, error);
                return;
            }
        };
        if self.shared.is_some() {
            let nick = new.to_string();
            self.append_line(conn, line, EntryKind::Rename { conn, nick });
        } else {
            self.rename_member(member, old, new, keys);
        }
    }

    /// `member`, joined as `old`, is known as `new` from now on (its `keys`
    /// admitted): said to the room. In a room that is not clustered, what
    /// the room owes first may close the renamer, which then never renames.
    pub(super) fn rename_member(&mut self, member: Member, old: &str, new: &str, keys: NickKeys) {
        // Everything before the rename goes out under the old nick.
        self.release_held();
        self.flush_room();
        let local = member
            .local_conn()
            .filter(|conn| self.conns.contains_key(conn));
        if self.shared.is_none() && local.is_none() {
            return;
        }
        let new: Arc<str> = new.into();
        if let Some(c) = local.and_then(|conn| self.conns.get_mut(&conn)) {
            c.nick = Some(new.clone());
        }
        self.roster.remove(old);
        self.roster.insert(member, new.clone(), keys);
        if let Some(conn) = local {
            self.record(Event::Renamed {
                conn,
                old: old.to_string(),
                new: new.to_string(),
            });
        }
        // What the room owed went out above; a renamer of this server that it
        // closed returned there.
        self.say_to_room(Speaker::Ordered, &[old, wire::RENAMED, &new]);
    }

    /// `sender`, joined as `me`, says `text` to the user named `to`: each
    /// gets its copy if it is a user of this server.
    pub(super) fn deliver_private(&mut self, sender: Member, me: &str, to: &str, text: &str) {
        let from = sender
            .local_conn()
            .filter(|conn| self.conns.contains_key(conn));
        let Some((target, target_nick)) = self.roster.get(to) else {
            if let Some(conn) = from {
                self.send_error(conn, format_args!("no such user {to}"));
            }
            return;
        };
        // The sender's copy first: if the target is then closed as too slow,
        // the sender reads that it left after its copy, not before it.
        if let Some(conn) = from {
            self.send_line(conn, format_args!("{}{target_nick}] {text}", wire::PM_TO));
            if self.shared.is_none() && self.nick(conn).is_none() {
                return; // its own copy closed the sender as too slow
            }
        }
        if let Some(target) = target
            .local_conn()
            .filter(|conn| self.conns.contains_key(conn))
        {
            self.send_line(target, format_args!("{}{me}] {text}", wire::PM_FROM));
        }
    }
}
