//! The room's getters against what its streams say, and the rules about
//! whole connections: accept or refuse, handshake timeout, shutdown, the
//! deadline, the log events.

use super::stream::Phase;
use super::{Checker, Snapshot, StepInput, Violation};
use crate::words::fold;
use chat_core::{CloseMode, ConnId, Event};
use std::collections::BTreeMap;

impl Checker {
    pub(super) fn check_snapshot(&self, snap: &Snapshot) -> Result<(), Violation> {
        self.check_deadline(snap)?;
        let open = self.open_count();
        if snap.connections != open || snap.idle != (open == 0) {
            return self.fail(
                "connections() counts open connections; is_idle() when none",
                format!(
                    "connections() = {}, is_idle() = {}, but {open} are open",
                    snap.connections, snap.idle
                ),
            );
        }
        if snap.shutting_down != self.shutdown.is_some() {
            return self.fail(
                "is_shutting_down() after Shutdown",
                format!("is_shutting_down() = {}", snap.shutting_down),
            );
        }
        self.check_joined(snap)?;
        self.check_accounts(snap)?;
        self.check_handshakes(snap)
    }

    fn check_deadline(&self, snap: &Snapshot) -> Result<(), Violation> {
        let Some(deadline) = snap.deadline else {
            return Ok(());
        };
        if deadline < self.now {
            return self.fail(
                "no deadline lies in the past after a drain",
                format!("{deadline}"),
            );
        }
        if self.input == StepInput::Tick && deadline <= self.now {
            return self.fail(
                "a Tick at the deadline moves the deadline on",
                format!("still {deadline} after the Tick"),
            );
        }
        Ok(())
    }

    fn check_joined(&self, snap: &Snapshot) -> Result<(), Violation> {
        let folded: Vec<String> = snap.joined.iter().map(|(_, n)| fold(n)).collect();
        if !folded.windows(2).all(|w| w[0] < w[1]) {
            return self.fail(
                "joined() is ordered by nick ignoring case, nicks unique ignoring case",
                format!("{:?}", snap.joined),
            );
        }
        let got: BTreeMap<ConnId, String> = snap.joined.iter().cloned().collect();
        if &got != self.room.joined() {
            return self.fail(
                "joined() lists the users the streams say have joined",
                format!(
                    "joined() = {:?}, streams say {:?}",
                    snap.joined,
                    self.room.joined()
                ),
            );
        }
        Ok(())
    }

    fn check_accounts(&self, snap: &Snapshot) -> Result<(), Violation> {
        let limit = self.cfg.send_queue as usize;
        for &(conn, unflushed) in &snap.unflushed {
            let expected = self.account(conn);
            if unflushed != expected {
                return self.fail(
                    "unflushed() is what the sends cost minus what the writes gave back, None once closed",
                    format!("{conn}: unflushed() = {unflushed:?}, expected {expected:?}"),
                );
            }
            if let Some(account) = expected.filter(|&a| a > limit) {
                return self.fail(
                    "a user over its send limit is closed as too slow",
                    format!("{conn} is open with {account} bytes unwritten (limit {limit})"),
                );
            }
        }
        Ok(())
    }

    fn check_handshakes(&self, snap: &Snapshot) -> Result<(), Violation> {
        let timeout = self.cfg.handshake();
        for log in self.conns.values() {
            if log.closed.is_some() || log.phase != Phase::Handshake {
                continue;
            }
            let due = log.connected.1 + timeout;
            if self.now > due {
                return self.fail(
                    "a connection that never joins is closed at the handshake timeout",
                    format!(
                        "{} connected at {}, still open at {}",
                        log.id, log.connected.1, self.now
                    ),
                );
            }
            if snap.deadline.is_none_or(|d| d > due) {
                return self.fail(
                    "the deadline covers every handshake timeout",
                    format!("{} is due at {due}, deadline {:?}", log.id, snap.deadline),
                );
            }
        }
        Ok(())
    }

    pub(super) fn check_connect_and_shutdown(&mut self) -> Result<(), Violation> {
        if let StepInput::Connected(conn) = self.input {
            self.check_accept(conn)?;
        }
        if self.input == StepInput::Shutdown && self.shutdown.is_some_and(|(s, _)| s == self.step) {
            for log in self.conns.values() {
                let was_open = log.closed.is_none_or(|(s, _, _)| s == self.step);
                if !was_open {
                    continue;
                }
                let flushed = log.closed.is_some_and(|(_, _, m)| m == CloseMode::Flush);
                if !flushed || !log.shutdown_seen {
                    return self.fail(
                        "shutdown: every connection gets `server is shutting down`, then Close{Flush}",
                        format!(
                            "{}: shutdown line {}, close {:?}",
                            log.id, log.shutdown_seen, log.closed
                        ),
                    );
                }
            }
        }
        for log in self.conns.values() {
            let closed_now = log
                .closed
                .is_some_and(|(s, _, m)| s == self.step && m == CloseMode::Flush);
            let timed_out = self.input == StepInput::Tick
                && self.shutdown.is_none()
                && log.join_g.is_none()
                && log.refusals < super::line::MAX_NICK_ATTEMPTS
                && log.sent_this_step > 0;
            if closed_now && timed_out {
                return self.fail(
                    "a handshake timeout closes silently",
                    format!("{} got bytes as it was closed on a Tick", log.id),
                );
            }
        }
        Ok(())
    }

    fn check_accept(&mut self, conn: ConnId) -> Result<(), Violation> {
        let log = &self.conns[&conn];
        let full = self.open_before >= self.cfg.max_clients as usize;
        let closed = log.closed.is_some();
        if self.shutdown.is_some() {
            if !closed {
                return self.fail(
                    "after shutdown, a new connection is closed at once",
                    format!("{conn} is open"),
                );
            }
            return Ok(());
        }
        let refused = log.stream.ends_with(b"error: server full\n")
            && log.closed.is_some_and(|(_, _, m)| m == CloseMode::Flush);
        if !full {
            self.check_address_limits(conn)?;
        }
        let log = &self.conns[&conn];
        let turned_away = log.stream == b"error: too many connections from your address\n";
        if full != refused || (!full && !turned_away && !log.stream.starts_with(b"alias?")) {
            return self.fail(
                "a connection is prompted with alias?, or refused with `error: server full` when max_clients are open",
                format!(
                    "{conn} with {} open (max {}): sent {:?}, closed {}",
                    self.open_before,
                    self.cfg.max_clients,
                    String::from_utf8_lossy(&log.stream),
                    closed
                ),
            );
        }
        Ok(())
    }

    /// Each Close has its Disconnected event, each own join its Joined event.
    pub(super) fn check_events(&self) -> Result<(), Violation> {
        let mut disconnected: Vec<ConnId> = Vec::new();
        let mut joined: Vec<(ConnId, String)> = Vec::new();
        for event in &self.events {
            match event {
                Event::Disconnected { conn, .. } => disconnected.push(*conn),
                Event::Joined { conn, nick, .. } => joined.push((*conn, nick.clone())),
                Event::Renamed { .. } => {}
                Event::NodeLost { .. } | Event::LogReset | Event::FellBehind => {
                    return self.fail("only a clustered room loses servers", format!("{event:?}"));
                }
            }
        }
        let mut closed: Vec<ConnId> = self.closes.iter().map(|(c, _)| *c).collect();
        closed.sort();
        disconnected.sort();
        if closed != disconnected {
            return self.fail(
                "each Close is logged as one Disconnected event",
                format!("closed {closed:?}, Disconnected events for {disconnected:?}"),
            );
        }
        for (conn, nick) in joined {
            let log = &self.conns[&conn];
            let first_nick = log.nick_history.first().map(|(_, n)| n.as_str());
            if log.join_g.is_none() || first_nick != Some(nick.as_str()) {
                return self.fail(
                    "a Joined event matches a join line",
                    format!("Joined {{ {conn}, {nick:?} }} but the stream says {first_nick:?}"),
                );
            }
        }
        Ok(())
    }
}
