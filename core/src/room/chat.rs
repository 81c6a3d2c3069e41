//! What joined users say: room lines, flood control and commands.

use super::Room;
use crate::command::{self, Request};
use crate::event::{DisconnectReason, Event};
use crate::io::{CloseMode, ConnId};
use crate::nick::NickError;
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
        match command::parse(&text) {
            Request::Say(text) => self.say_to_room(conn, &[&*me, wire::SAYS, text]),
            Request::Me(text) => self.say_to_room(conn, &[wire::ACTION, &*me, " ", text]),
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
            Request::Nick(new) => self.rename(conn, &me, new),
            Request::Msg { to, text } => self.private_message(conn, &me, to, text),
            Request::Quit(reason) => {
                self.depart(conn, DisconnectReason::Quit, reason, CloseMode::Flush)
            }
            Request::Usage(usage) => self.send_error(conn, format_args!("usage: {usage}")),
            Request::Unknown(name) => {
                self.send_error(conn, format_args!("unknown command /{name} (try /help)"));
            }
        }
        LineFate::Done
    }

    fn rename(&mut self, conn: ConnId, old: &str, new: &str) {
        if old == new {
            self.send_error(conn, format_args!("you are already {old}"));
            return;
        }
        let keys = match self.roster.admit(new, Some(conn)) {
            Ok(keys) => keys,
            Err(error) => {
                self.send_error(conn, error);
                return;
            }
        };
        // Everything before the rename goes out under the old nick (and may
        // close the renamer as too slow, before it renames).
        self.release_held();
        self.flush_room();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let new: Arc<str> = new.into();
        c.nick = Some(new.clone());
        self.roster.remove(old);
        self.roster.insert(conn, new.clone(), keys);
        self.record(Event::Renamed {
            conn,
            old: old.to_string(),
            new: new.to_string(),
        });
        self.say_to_room(conn, &[old, wire::RENAMED, &new]);
    }

    fn private_message(&mut self, conn: ConnId, me: &str, to: &str, text: &str) {
        let Some((target, target_nick)) = self.roster.get(to) else {
            self.send_error(conn, format_args!("no such user {to}"));
            return;
        };
        // The sender's copy first: if the target is then closed as too slow,
        // the sender reads that it left after its copy, not before it.
        self.send_line(conn, format_args!("[pm to {target_nick}] {text}"));
        if self.nick(conn).is_none() {
            return; // its own copy closed the sender as too slow
        }
        self.send_line(target, format_args!("[pm from {me}] {text}"));
    }
}
