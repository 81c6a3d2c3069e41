//! The invariants, checked after every step from the outside: the actions the
//! core emitted (each connection's byte stream), what the driver fed it, and
//! the room's getters. Nothing here reads the core's insides.
//!
//! The simulator calls, for each step: [`Checker::begin_step`] with the input
//! it is about to feed, [`Checker::on_action`] for every drained action,
//! [`Checker::on_event`] for every drained log event, then
//! [`Checker::end_step`] with a [`Snapshot`] of the getters. At the very end,
//! [`Checker::finish`] runs the checks that need the whole run.
//!
//! # The room's one order
//! Every room line (join, leave, rename, message, `/me`) gets an index in a
//! global log the first time any connection receives it; a line is named by
//! `(step, text, how many times this connection already got that text in
//! this step)`. A joined connection must then receive exactly the log
//! entries from its own join on, one after the other, while it is open: that
//! single rule is "one total order", "no line lost" and "each line once".
//!
//! The modules: [`line`] reads lines, `stream` applies the per-connection
//! rules, `order` replays the global log (nicks, joins, leaves), `marks`
//! holds what clients sent (tokens, first nicks) and the final oracles,
//! `state` compares the getters.

mod address;
mod flood;
pub mod line;
mod marks;
mod order;
mod probe;
mod state;
mod stream;

pub use marks::{TokenInfo, TokenKind};

use crate::scenario::Cfg;
use crate::words::Token;
use chat_core::{Action, CloseMode, ConnId, Event, Time};
use marks::Marks;
use order::RoomLog;
use std::collections::BTreeMap;
use std::fmt;
use stream::ConnLog;

/// A broken invariant: when, which rule, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The step it was found in.
    pub step: u64,
    /// The virtual time of that step.
    pub time: Time,
    /// The rule, in a few words.
    pub rule: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} at {}: {}: {}",
            self.step, self.time, self.rule, self.detail
        )
    }
}

/// The input of one step, as the checker needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepInput {
    /// No input (a script op that only queued bytes, or changed a client).
    None,
    /// `Input::Connected`.
    Connected(ConnId),
    /// `Input::Received`.
    Received(ConnId),
    /// `Input::Written`: bytes, sends.
    Written(ConnId, usize, usize),
    /// `Input::Closed`.
    Closed(ConnId),
    /// `Input::Tick`.
    Tick,
    /// `Input::Shutdown`.
    Shutdown,
}

/// The room's getters after a step's drain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `connections()`.
    pub connections: usize,
    /// `joined()`, in the order given.
    pub joined: Vec<(ConnId, String)>,
    /// `unflushed(conn)` for every connection the driver ever opened.
    pub unflushed: Vec<(ConnId, Option<usize>)>,
    /// `poll_timeout()`.
    pub deadline: Option<Time>,
    /// `is_idle()`.
    pub idle: bool,
    /// `is_shutting_down()`.
    pub shutting_down: bool,
}

/// Checks every invariant, step by step. See the module doc.
#[derive(Debug)]
pub struct Checker {
    cfg: Cfg,
    step: u64,
    now: Time,
    input: StepInput,
    conns: BTreeMap<ConnId, ConnLog>,
    room: RoomLog,
    marks: Marks,
    /// Connections closed in this step, with their mode.
    closes: Vec<(ConnId, CloseMode)>,
    /// For each of `closes`, the room log's length when it was closed.
    closed_at_g: Vec<usize>,
    /// Open connections when the step began.
    open_before: usize,
    /// The step and time of the first `Shutdown`.
    shutdown: Option<(u64, Time)>,
    /// Log events drained in this step.
    events: Vec<Event>,
    /// Connections whose first bytes are not a chat client's (see `probe`).
    probes: BTreeMap<ConnId, probe::Probe>,
    /// Where each connection comes from, and the per-address limits' state.
    addresses: address::Addresses,
}

impl Checker {
    /// A checker for a room with these limits.
    pub fn new(cfg: &Cfg) -> Self {
        Checker {
            cfg: cfg.clone(),
            step: 0,
            now: Time::ZERO,
            input: StepInput::None,
            conns: BTreeMap::new(),
            room: RoomLog::default(),
            marks: Marks::default(),
            closes: Vec::new(),
            closed_at_g: Vec::new(),
            open_before: 0,
            shutdown: None,
            events: Vec::new(),
            probes: BTreeMap::new(),
            addresses: address::Addresses::default(),
        }
    }

    fn violation(&self, rule: &'static str, detail: impl Into<String>) -> Violation {
        Violation {
            step: self.step,
            time: self.now,
            rule,
            detail: detail.into(),
        }
    }

    fn fail<T>(&self, rule: &'static str, detail: impl Into<String>) -> Result<T, Violation> {
        Err(self.violation(rule, detail))
    }

    /// A new step begins: `input` is about to be fed at `now`.
    ///
    /// # Panics
    /// If the driver (the simulator) breaks its own side of the contract:
    /// reuses a connection id, or reports more bytes written than were sent.
    pub fn begin_step(&mut self, step: u64, now: Time, input: StepInput) {
        self.step = step;
        self.now = now;
        self.input = input;
        self.closes.clear();
        self.closed_at_g.clear();
        self.events.clear();
        self.room.begin_step();
        self.open_before = self.open_count();
        for log in self.conns.values_mut() {
            log.begin_step();
        }
        match input {
            StepInput::Connected(conn) => {
                let fresh = ConnLog::new(conn, step, now);
                assert!(
                    self.conns.insert(conn, fresh).is_none(),
                    "the simulator reused connection id {conn}"
                );
            }
            StepInput::Written(conn, len, sends) => {
                if let Some(log) = self.conns.get_mut(&conn) {
                    if log.closed.is_none() {
                        // Each send written in full gives back its overhead.
                        let overhead = self.cfg.send_overhead as usize;
                        log.account = log
                            .account
                            .checked_sub(len + sends * overhead)
                            .expect("the simulator wrote no more than was sent");
                    }
                }
            }
            StepInput::Closed(conn) => {
                if let Some(log) = self.conns.get_mut(&conn) {
                    log.client_closed.get_or_insert((step, now));
                }
            }
            StepInput::Shutdown => {
                self.shutdown.get_or_insert((step, now));
            }
            StepInput::None | StepInput::Received(_) | StepInput::Tick => {}
        }
    }

    /// One action the core emitted in this step.
    pub fn on_action(&mut self, action: &Action) -> Result<(), Violation> {
        let Some(conn) = action.conn() else {
            return self.fail(
                "a room that is not clustered appends to no log",
                format!("{action:?}"),
            );
        };
        let Some(log) = self.conns.get(&conn) else {
            return self.fail(
                "action for a connection the driver never opened",
                format!("{action:?}"),
            );
        };
        if let Some((step, _, mode)) = log.closed {
            return self.fail(
                "nothing is sent to a closed connection",
                format!("{action:?} after Close{{{mode:?}}} in step {step}"),
            );
        }
        match action {
            Action::Send { bytes, .. } => self.on_send(conn, bytes),
            Action::Close { mode, .. } => self.on_close(conn, *mode),
            Action::StopReading { .. } => self.on_stop_reading(conn),
            Action::ResumeReading { .. } => self.on_resume_reading(conn),
            Action::Append { .. } => Ok(()),
        }
    }

    /// One log event the core emitted in this step.
    pub fn on_event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }

    /// The step's drain is over; `snap` holds the getters.
    pub fn end_step(&mut self, snap: &Snapshot) -> Result<(), Violation> {
        self.replay_room()?;
        self.check_pongs()?;
        self.check_departures(snap.deadline)?;
        self.check_pms()?;
        self.check_streams_complete(snap.deadline)?;
        self.check_reading_resumes(snap.deadline)?;
        self.check_probes()?;
        self.check_connect_and_shutdown()?;
        self.check_events()?;
        self.check_snapshot(snap)
    }

    fn open_count(&self) -> usize {
        self.conns.values().filter(|l| l.closed.is_none()).count()
    }

    /// What the core sent to `conn` so far (empty for an unknown id).
    pub fn stream(&self, conn: ConnId) -> &[u8] {
        self.conns.get(&conn).map_or(&[][..], |l| &l.stream[..])
    }

    /// Every connection the checker knows, in id order.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Whether the core closed `conn`, and how.
    pub fn close_mode(&self, conn: ConnId) -> Option<CloseMode> {
        self.conns.get(&conn)?.closed.map(|(_, _, m)| m)
    }

    /// The send account of an open connection: what the sends cost (bytes
    /// plus the config's `send_overhead` each) minus what the writes gave
    /// back (bytes, plus the overhead of each send written in full).
    pub fn account(&self, conn: ConnId) -> Option<usize> {
        let log = self.conns.get(&conn)?;
        log.closed.is_none().then_some(log.account)
    }

    /// Whether `conn` has joined (its own join line was sent to it).
    pub fn has_joined(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|l| l.join_g.is_some())
    }

    /// Whether a client that read `read` bytes of its stream has seen its
    /// whole join sequence (join, welcome, online list).
    pub fn knows_joined(&self, conn: ConnId, read: usize) -> bool {
        self.conns
            .get(&conn)
            .and_then(|l| l.welcome_end)
            .is_some_and(|end| end <= read)
    }

    /// The nick a client that read `read` bytes of its stream believes it has.
    pub fn nick_known(&self, conn: ConnId, read: usize) -> Option<&str> {
        let log = self.conns.get(&conn)?;
        log.nick_history
            .iter()
            .rev()
            .find(|(end, _)| *end <= read)
            .map(|(_, n)| n.as_str())
    }

    /// The nick `conn` joined with, if it did.
    pub fn join_nick(&self, conn: ConnId) -> Option<&str> {
        let log = self.conns.get(&conn)?;
        log.join_g?;
        log.nick_history.first().map(|(_, n)| n.as_str())
    }

    /// The current nick of a joined, open connection (the room's view).
    pub fn nick_of(&self, conn: ConnId) -> Option<&str> {
        self.room.nick_of(conn)
    }

    /// The client sent a nick (or a `/nick` target): `nick`.
    pub fn sent_nick(&mut self, conn: ConnId, nick: &str) {
        if let Some(log) = self.conns.get_mut(&conn) {
            log.nicks_sent.push(nick.to_string());
        }
    }

    /// The client sent `lines` more lines (for the flood oracle).
    pub fn sent_lines(&mut self, conn: ConnId, lines: u32) {
        if let Some(log) = self.conns.get_mut(&conn) {
            log.lines_sent += lines;
        }
    }

    /// The client sent `/help`.
    pub fn sent_help(&mut self, conn: ConnId) {
        if let Some(log) = self.conns.get_mut(&conn) {
            log.help_sent = true;
        }
    }

    /// The client sent `/quit`, with this reason.
    pub fn sent_quit(&mut self, conn: ConnId, reason: Option<String>) {
        if let Some(log) = self.conns.get_mut(&conn) {
            log.quit_reasons.push(reason);
        }
    }

    /// The client sent `token`, whose line ends at byte `info.end` of its stream.
    pub fn sent_token(&mut self, token: Token, info: TokenInfo) {
        self.marks.add_token(token, info);
    }

    /// The client's very first bytes are the nick `nick`, ending at byte `end`;
    /// `fits` says whether that line is within `max_line`.
    pub fn sent_first_nick(&mut self, conn: ConnId, nick: &str, fits: bool, end: u64) {
        self.marks.add_first_nick(conn, nick, fits, end);
    }

    /// Whether `conn`'s client ever sent `/quit` (what it sends after it
    /// may never be said: the room may read it before it says the quit).
    pub fn sent_a_quit(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|l| !l.quit_reasons.is_empty())
    }

    /// The core has now received the first `upto` bytes `conn` sent.
    pub fn delivered(&mut self, conn: ConnId, upto: u64) {
        self.marks.delivered(conn, upto, self.step, self.now);
        if let Some(probe) = self.probes.get_mut(&conn) {
            probe.delivered(upto);
        }
    }

    /// `conn` is about to connect from `peer`.
    pub fn connects_from(&mut self, conn: ConnId, peer: std::net::IpAddr) {
        self.addresses.peers.insert(conn, peer);
    }

    /// `conn` connects and sends an HTTP request (or, if `tls`, a TLS
    /// hello) as its first bytes.
    pub fn sent_probe(&mut self, conn: ConnId, tls: bool) {
        self.probes.insert(conn, probe::Probe::new(tls));
    }

    /// The run is over: the checks that need all of it (lost lines, joins
    /// that should have happened, the flood warnings).
    pub fn finish(&self) -> Result<(), Violation> {
        self.check_marks()
    }
}
