//! The simulator: a [`Room`], a virtual clock, a [`Net`] and scripted clients.
//!
//! [`Sim::step`] takes the earliest of: the rest of a recut read, the
//! network's next event, the core's deadline and the next op; moves the
//! clock there; feeds at most one [`Input`]; drains every action and event;
//! and runs every checker. At one instant the order is fixed: recut pieces,
//! then writes, then reads, then the Tick, then ops. Nothing here is random:
//! the scenario decided everything.

use crate::check::{Checker, Snapshot, StepInput, Violation};
use crate::client::Client;
use crate::net::{Net, NetEvent};
use crate::scenario::{Cfg, Dialect, Op, Scenario};
use chat_core::{Action, ConnId, Input, Room, Time};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// How many recent steps a failure report shows.
const RECENT: usize = 24;

/// What happens next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Piece,
    Net(NetEvent),
    Tick,
    Op,
}

/// One step, kept for the failure report.
#[derive(Clone, Debug)]
struct Record {
    step: u64,
    now: Time,
    input: StepInput,
    bytes: Vec<u8>,
    actions: Vec<Action>,
}

/// A simulation run in progress. See the module doc.
#[derive(Debug)]
pub struct Sim {
    pub(crate) room: Room,
    pub(crate) now: Time,
    pub(crate) step: u64,
    pub(crate) net: Net,
    pub(crate) clients: Vec<Client>,
    pub(crate) checker: Checker,
    pub(crate) cfg: Cfg,
    ops: Vec<Op>,
    next_op: usize,
    pub(crate) op_at: Time,
    pieces: VecDeque<(usize, Vec<u8>)>,
    trace: DefaultHasher,
    recent: VecDeque<Record>,
    keep: usize,
    current: Option<Record>,
}

impl Sim {
    /// A run of `scenario`; `recut` splits every framed read further (the
    /// cut-independence run).
    pub fn new(scenario: &Scenario, recut: bool) -> Self {
        Sim {
            room: Room::new(scenario.config.to_config()),
            now: Time::ZERO,
            step: 0,
            net: Net::new(scenario, recut),
            clients: Vec::new(),
            checker: Checker::new(&scenario.config),
            cfg: scenario.config.clone(),
            ops: scenario.ops.clone(),
            next_op: 0,
            op_at: Time::ZERO,
            pieces: VecDeque::new(),
            trace: DefaultHasher::new(),
            recent: VecDeque::new(),
            keep: RECENT,
            current: None,
        }
    }

    /// Keeps the last `steps` steps for [`Sim::recent_steps`] (default 24).
    pub fn keep_steps(mut self, steps: usize) -> Self {
        self.keep = steps;
        self
    }

    /// The virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The room under test.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// The checker, with every stream.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// The network, with every client's received bytes.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Whether ops are left to run.
    pub fn ops_left(&self) -> bool {
        self.next_op < self.ops.len()
    }

    /// A hash of every input and action so far (for the determinism check).
    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    /// Runs one step; `Ok(false)` when nothing is left to do at all.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let Some((at, next)) = self.next() else {
            return Ok(false);
        };
        self.now = self.now.max(at);
        self.step += 1;
        match next {
            Next::Piece => {
                let (i, bytes) = self.pieces.pop_front().expect("a piece is pending");
                self.received(i, &bytes)?;
            }
            Next::Net(NetEvent::Write(i)) => {
                let (len, sends) = self.net.write(i);
                let conn = self.net.links[i].conn;
                self.feed(
                    Input::Written { conn, len, sends },
                    StepInput::Written(conn, len, sends),
                    &[],
                )?;
            }
            Next::Net(NetEvent::Read(i)) => {
                let mut pieces = self.net.read(i, self.now).into_iter();
                let first = pieces.next().expect("a read is never empty");
                self.pieces.extend(pieces.map(|p| (i, p)));
                self.received(i, &first)?;
            }
            Next::Net(NetEvent::Fin(i)) => {
                self.net.fin_sent(i);
                let conn = self.net.links[i].conn;
                self.feed(Input::Closed { conn }, StepInput::Closed(conn), &[])?;
            }
            Next::Tick => self.feed(Input::Tick, StepInput::Tick, &[])?,
            Next::Op => {
                let op = self.ops[self.next_op];
                self.next_op += 1;
                self.op_at = self.now;
                match self.run_op(op) {
                    Some(StepInput::Connected(conn)) => {
                        let peer = crate::words::address(link_index(conn) as u32);
                        self.checker.connects_from(conn, peer);
                        if conn.0 % 2 == 0 {
                            // Comes in as on a TLS port: its address is
                            // judged before the room hears of it. A refused
                            // one is judged again by the room (refusals
                            // charge nothing), so the address checker sees
                            // the rule applied once whichever way it came.
                            self.room.reserve_address(conn, peer, self.now);
                        }
                        let input = Input::Connected { conn, peer };
                        self.feed(input, StepInput::Connected(conn), &[])?;
                    }
                    Some(StepInput::Shutdown) => {
                        self.feed(Input::Shutdown, StepInput::Shutdown, &[])?
                    }
                    _ => self.feed_nothing()?,
                }
            }
        }
        Ok(true)
    }

    fn next(&self) -> Option<(Time, Next)> {
        if !self.pieces.is_empty() {
            return Some((self.now, Next::Piece));
        }
        let mut best: Option<(Time, u8, Next)> = None;
        let mut offer = |t: Time, prio: u8, next: Next| {
            if best.is_none_or(|(bt, bp, _)| (t, prio) < (bt, bp)) {
                best = Some((t, prio, next));
            }
        };
        if let Some((t, e)) = self.net.next_event(self.now) {
            offer(t.max(self.now), 1, Next::Net(e));
        }
        if let Some(d) = self.room.poll_timeout() {
            offer(d.max(self.now), 2, Next::Tick);
        }
        if self.ops_left() {
            offer(self.op_ready_at(), 3, Next::Op);
        }
        best.map(|(t, _, n)| (t, n))
    }

    /// When the next op may run: after the previous op, and for a seed-dialect
    /// client's chunk, longer than the settle time after its last chunk.
    fn op_ready_at(&self) -> Time {
        let op = &self.ops[self.next_op];
        let at = self.op_at.max(self.now);
        let Some(c) = self.client_of(op) else {
            return at;
        };
        let client = &self.clients[c];
        match client.last_chunk {
            Some(last) if client.dialect == Dialect::Seed && sends_bytes(op) => {
                at.max(last + self.cfg.settle() + Duration::from_millis(10))
            }
            _ => at,
        }
    }

    /// The client index an op names, if there is one.
    pub(crate) fn client_of(&self, op: &Op) -> Option<usize> {
        let n = self.clients.len() as u32;
        op.client()
            .and_then(|c| crate::script::resolve(c, n))
            .map(|c| c as usize)
    }

    fn received(&mut self, i: usize, bytes: &[u8]) -> Result<(), Violation> {
        let conn = self.net.links[i].conn;
        self.feed(
            Input::Received { conn, bytes },
            StepInput::Received(conn),
            bytes,
        )
    }

    fn feed(
        &mut self,
        input: Input<'_>,
        summary: StepInput,
        bytes: &[u8],
    ) -> Result<(), Violation> {
        self.begin(summary, bytes);
        if let StepInput::Received(conn) = summary {
            let i = link_index(conn);
            let pending: usize = self
                .pieces
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, p)| p.len())
                .sum();
            self.checker
                .delivered(conn, self.net.links[i].delivered - pending as u64);
        }
        self.room.handle(self.now, input);
        self.drain()?;
        self.end()
    }

    fn feed_nothing(&mut self) -> Result<(), Violation> {
        self.begin(StepInput::None, &[]);
        self.drain()?;
        self.end()
    }

    fn begin(&mut self, input: StepInput, bytes: &[u8]) {
        self.checker.begin_step(self.step, self.now, input);
        (self.step, self.now, input).hash(&mut self.trace);
        bytes.hash(&mut self.trace);
        if let Some(done) = self.current.take() {
            if self.recent.len() >= self.keep {
                self.recent.pop_front();
            }
            self.recent.push_back(done);
        }
        self.current = Some(Record {
            step: self.step,
            now: self.now,
            input,
            bytes: bytes.to_vec(),
            actions: Vec::new(),
        });
    }

    fn drain(&mut self) -> Result<(), Violation> {
        while let Some(action) = self.room.poll_action() {
            self.checker.on_action(&action)?;
            match &action {
                Action::Send { conn, bytes } => {
                    (conn, &bytes[..]).hash(&mut self.trace);
                    self.net.on_send(link_index(*conn), bytes);
                }
                Action::Close { conn, mode } => {
                    (conn, *mode == chat_core::CloseMode::Flush).hash(&mut self.trace);
                    self.net.on_close(link_index(*conn), *mode);
                }
                Action::StopReading { conn } | Action::ResumeReading { conn } => {
                    let stop = matches!(action, Action::StopReading { .. });
                    (conn, stop).hash(&mut self.trace);
                    self.net.set_reading_stopped(link_index(*conn), stop);
                }
                // The checker refused it: this room is not clustered.
                Action::Append { .. } => {}
            }
            if let Some(r) = self.current.as_mut() {
                r.actions.push(action);
            }
        }
        while let Some(event) = self.room.poll_event() {
            self.checker.on_event(&event);
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Violation> {
        if let Err(broken) = self.room.check_invariants() {
            return Err(Violation {
                step: self.step,
                time: self.now,
                rule: "the room keeps its own invariants between inputs",
                detail: broken.to_string(),
            });
        }
        let snap = self.snapshot();
        self.checker.end_step(&snap)
    }

    /// The room's getters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connections: self.room.connections(),
            joined: self
                .room
                .joined()
                .map(|(c, n)| (c, n.to_string()))
                .collect(),
            unflushed: self
                .net
                .links
                .iter()
                .map(|l| (l.conn, self.room.unflushed(l.conn)))
                .collect(),
            deadline: self.room.poll_timeout(),
            idle: self.room.is_idle(),
            shutting_down: self.room.is_shutting_down(),
        }
    }

    /// Steps until `done` holds or nothing is left; `Err(None)` when
    /// `max_steps` ran out first.
    pub fn drive(
        &mut self,
        max_steps: u64,
        done: fn(&Sim) -> bool,
    ) -> Result<(), Option<Violation>> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(());
            }
            if !self.step().map_err(Some)? {
                return Ok(());
            }
        }
        if done(self) {
            Ok(())
        } else {
            Err(None)
        }
    }

    /// Ends the faults: no more stalls or resets; every client reads.
    pub fn heal(&mut self) {
        self.net.heal();
    }

    /// Every client still connected hangs up.
    pub fn hang_up_all(&mut self) {
        for i in 0..self.net.links.len() {
            let link = &self.net.links[i];
            if link.closed.is_none() && !link.dead {
                self.net.reset(i, self.now);
            }
        }
    }

    /// What is still pending, for a report.
    pub fn pending(&self) -> String {
        format!(
            "next: {:?}; deadline {:?}; ops left {}",
            self.next(),
            self.room.poll_timeout(),
            self.ops.len() - self.next_op
        )
    }

    /// The last steps, for a report.
    pub fn recent_steps(&self) -> String {
        let mut out = String::new();
        for r in self.recent.iter().chain(self.current.iter()) {
            let _ = write!(out, "  step {} at {}: {:?}", r.step, r.now, r.input);
            if !r.bytes.is_empty() {
                let _ = write!(out, " {:?}", String::from_utf8_lossy(&r.bytes));
            }
            out.push('\n');
            for a in &r.actions {
                let _ = writeln!(out, "      -> {a:?}");
            }
        }
        out
    }
}

/// The link (and client) index of a connection id.
pub(crate) fn link_index(conn: ConnId) -> usize {
    (conn.0 - 1) as usize
}

/// Whether an op makes a seed-dialect client send a chunk.
fn sends_bytes(op: &Op) -> bool {
    !matches!(
        op,
        Op::Stall { .. }
            | Op::Resume { .. }
            | Op::Wait { .. }
            | Op::Shutdown
            | Op::Connect { .. }
            | Op::Probe { .. }
    )
}
