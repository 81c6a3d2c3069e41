//! A simulated TCP network between the clients and the room.
//!
//! Each connection is a [`Link`] with two directions. Bytes are never lost,
//! duplicated or reordered within one direction; what varies is where a
//! stream is cut into reads, when a read arrives, how much a socket takes,
//! and whether a client reads at all.
//!
//! # Fault rules, in their fixed order
//! Client → server (a read, `Input::Received`):
//! 1. **Seed-dialect chunks** are never cut: each chunk is exactly one read, with
//!    no delay (each chunk is one message in that dialect, and the client
//!    waits longer than the settle time between chunks).
//! 2. **Cut** (`faults.cut`): a framed read takes the next size from the
//!    `reads` tape (1..=1024 bytes), else all that is pending (at most 1024).
//!    Reads coalesce lines sent close together and split lines and
//!    characters anywhere.
//! 3. **Recut** (the cut-independence run only): each read is split again
//!    by the `recuts` tape into pieces delivered back to back at the same time.
//! 4. **Delay** (`faults.delay`): the first read of newly sent bytes waits the
//!    next `delays` value; a read of what is still pending waits at most half
//!    the settle time, so a framed line is never mistaken for a seed-dialect nick.
//! 5. **Reset**: after the last pending byte, the core gets `Closed`.
//! 6. **Stopped reading**: from the core's `StopReading` to its
//!    `ResumeReading`, nothing of the link is read (not its reset either);
//!    pieces of a read already cut (rule 3) still arrive, as a read under
//!    way would.
//!
//! Server → client (a write, `Input::Written`):
//! 1. **Dead**: a reset client's socket takes nothing.
//! 2. **Socket buffer**: the socket holds at most `faults.sock_buf` bytes the
//!    client has not read.
//! 3. **Partial writes** (`faults.partial_writes`): a write takes the next
//!    size from the `writes` tape.
//! 4. **Stall** (`faults.stall`): a stalled client reads nothing, so its
//!    socket fills and then takes 0 bytes; a reading client reads all.
//!
//! `Input::Written` reports exactly what the socket took.

use crate::scenario::{Dialect, Faults, Scenario, Tape};
use chat_core::{CloseMode, ConnId, Time, MAX_READ};
use std::collections::VecDeque;
use std::time::Duration;

/// Something the network will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// The socket can take some of what the core sent to link `i`.
    Write(usize),
    /// Bytes from link `i`'s client reach the core.
    Read(usize),
    /// Link `i`'s client reset its connection; all its bytes have arrived.
    Fin(usize),
}

/// One connection.
#[derive(Debug)]
pub struct Link {
    /// The core's id for it.
    pub conn: ConnId,
    /// How its client talks.
    pub dialect: Dialect,
    up: VecDeque<u8>,
    chunks: VecDeque<Vec<u8>>,
    up_at: Option<Time>,
    fin: bool,
    /// Bytes the client sent so far (its stream's length).
    pub sent: u64,
    /// Bytes of those the core received.
    pub delivered: u64,
    unwritten: VecDeque<u8>,
    /// The length of each send in `unwritten`, oldest first; the first is
    /// what is left of it. Sums to `unwritten.len()`.
    sends: VecDeque<usize>,
    sock: VecDeque<u8>,
    /// Everything the client read.
    pub received: Vec<u8>,
    /// Whether the client stopped reading.
    pub stalled: bool,
    /// Whether the client reset the connection (it reads and writes nothing more).
    pub dead: bool,
    /// How the core closed it, if it did.
    pub closed: Option<CloseMode>,
    /// Whether the client saw the end of the stream.
    pub eof: bool,
    /// Whether the core told the driver to stop reading it.
    pub reading_stopped: bool,
}

impl Link {
    fn new(conn: ConnId, dialect: Dialect) -> Self {
        Link {
            conn,
            dialect,
            up: VecDeque::new(),
            chunks: VecDeque::new(),
            up_at: None,
            fin: false,
            sent: 0,
            delivered: 0,
            unwritten: VecDeque::new(),
            sends: VecDeque::new(),
            sock: VecDeque::new(),
            received: Vec::new(),
            stalled: false,
            dead: false,
            closed: None,
            eof: false,
            reading_stopped: false,
        }
    }

    fn has_up(&self) -> bool {
        !self.up.is_empty() || !self.chunks.is_empty()
    }

    /// Bytes the core sent that the socket has not taken.
    pub fn unwritten(&self) -> usize {
        self.unwritten.len()
    }

    /// Bytes in the socket the client has not read.
    pub fn in_socket(&self) -> usize {
        self.sock.len()
    }

    fn read_socket(&mut self) {
        if !self.stalled && !self.dead {
            self.received.extend(self.sock.drain(..));
        }
        if self.closed.is_some() && self.unwritten.is_empty() && self.sock.is_empty() {
            self.eof = true;
        }
    }
}

/// The simulated network: every link and the fault tapes.
#[derive(Debug)]
pub struct Net {
    faults: Faults,
    settle: Duration,
    reads: Tape,
    writes: Tape,
    delays: Tape,
    recuts: Option<Tape>,
    /// The links, in connect order (link `i` is client `i`).
    pub links: Vec<Link>,
}

impl Net {
    /// The network of `scenario`; `recut` turns on the cut-independence split.
    pub fn new(scenario: &Scenario, recut: bool) -> Self {
        Net {
            faults: scenario.faults.clone(),
            settle: scenario.config.settle(),
            reads: Tape::new(&scenario.reads),
            writes: Tape::new(&scenario.writes),
            delays: Tape::new(&scenario.delays),
            recuts: recut.then(|| Tape::new(&scenario.recuts)),
            links: Vec::new(),
        }
    }

    /// Turns faults off for the healed phase: every client reads again.
    pub fn heal(&mut self) {
        self.faults.stall = false;
        self.faults.reset = false;
        for link in &mut self.links {
            link.stalled = false;
            link.read_socket();
        }
    }

    /// Whether `Reset` ops take effect.
    pub fn resets_on(&self) -> bool {
        self.faults.reset
    }

    /// Whether `Stall` ops take effect.
    pub fn stalls_on(&self) -> bool {
        self.faults.stall
    }

    /// A new link; returns its index.
    pub fn connect(&mut self, conn: ConnId, dialect: Dialect) -> usize {
        self.links.push(Link::new(conn, dialect));
        self.links.len() - 1
    }

    fn delay(&mut self) -> Duration {
        match self.delays.next_value() {
            Some(ms) if self.faults.delay => Duration::from_millis(ms.into()),
            _ => Duration::ZERO,
        }
    }

    /// Link `i`'s client sends `bytes` at `now` (a seed-dialect client: one chunk).
    /// Returns `false` if they go nowhere (the client is dead or the core
    /// closed the connection).
    pub fn send(&mut self, i: usize, bytes: &[u8], now: Time) -> bool {
        let link = &self.links[i];
        if link.dead || link.closed.is_some() || bytes.is_empty() {
            return false;
        }
        let delay = match link.dialect {
            Dialect::Seed => Duration::ZERO,
            Dialect::Framed => self.delay(),
        };
        let link = &mut self.links[i];
        match link.dialect {
            Dialect::Seed => {
                debug_assert!(bytes.len() <= MAX_READ, "a seed-dialect chunk is one read");
                link.chunks.push_back(bytes.to_vec());
            }
            Dialect::Framed => link.up.extend(bytes),
        }
        link.sent += bytes.len() as u64;
        link.up_at.get_or_insert(now + delay);
        true
    }

    /// Link `i`'s client resets its connection at `now`. A second reset
    /// reports `Closed` again, as a real driver might.
    pub fn reset(&mut self, i: usize, now: Time) {
        let delay = self.delay();
        let link = &mut self.links[i];
        link.dead = true;
        link.fin = true;
        link.stalled = true;
        link.up_at.get_or_insert(now + delay);
    }

    /// Stops (`true`) or resumes (`false`) link `i`'s client reading.
    pub fn stall(&mut self, i: usize, stalled: bool) {
        let link = &mut self.links[i];
        if !link.dead {
            link.stalled = stalled;
            link.read_socket();
        }
    }

    /// The next thing due, earliest first (writes before reads at one time).
    pub fn next_event(&self, now: Time) -> Option<(Time, NetEvent)> {
        let mut best: Option<(Time, u8, usize, NetEvent)> = None;
        for (i, link) in self.links.iter().enumerate() {
            let candidate = if self.can_write(link) {
                Some((now, 0, i, NetEvent::Write(i)))
            } else if link.reading_stopped {
                None
            } else if let Some(at) = link.up_at {
                if link.has_up() {
                    Some((at, 1, i, NetEvent::Read(i)))
                } else if link.fin {
                    Some((at, 1, i, NetEvent::Fin(i)))
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(c) = candidate {
                if best.is_none_or(|b| (c.0, c.1, c.2) < (b.0, b.1, b.2)) {
                    best = Some(c);
                }
            }
        }
        best.map(|(t, _, _, e)| (t, e))
    }

    fn can_write(&self, link: &Link) -> bool {
        !link.dead && !link.unwritten.is_empty() && link.sock.len() < self.sock_cap()
    }

    fn sock_cap(&self) -> usize {
        self.faults.sock_buf.max(1) as usize
    }

    /// The socket of link `i` takes what it can; returns how many bytes,
    /// and how many sends it took the last byte of (as a driver that drops
    /// a payload once written reports).
    pub fn write(&mut self, i: usize) -> (usize, usize) {
        let room = self.sock_cap() - self.links[i].sock.len();
        let mut n = room.min(self.links[i].unwritten.len());
        if self.faults.partial_writes {
            n = self.writes.next_size(n);
        }
        let link = &mut self.links[i];
        link.sock.extend(link.unwritten.drain(..n));
        let mut left = n;
        let mut sends = 0;
        while let Some(front) = link.sends.front_mut() {
            if left < *front {
                *front -= left;
                break;
            }
            left -= *front;
            link.sends.pop_front();
            sends += 1;
        }
        link.read_socket();
        (n, sends)
    }

    /// The next read from link `i`'s client, cut by the fault rules, as the
    /// pieces to feed back to back (one piece unless recutting).
    pub fn read(&mut self, i: usize, now: Time) -> Vec<Vec<u8>> {
        let link = &self.links[i];
        let bytes = match link.dialect {
            Dialect::Seed => self.links[i].chunks.pop_front().unwrap_or_default(),
            Dialect::Framed => {
                let pending = link.up.len().min(MAX_READ);
                let n = if self.faults.cut {
                    self.reads.next_size(pending)
                } else {
                    pending
                };
                self.links[i].up.drain(..n).collect()
            }
        };
        let link = &mut self.links[i];
        link.delivered += bytes.len() as u64;
        link.up_at = None;
        let more = link.has_up() || link.fin;
        if more {
            let cap = self.settle / 2;
            let delay = self.delay().min(cap);
            self.links[i].up_at = Some(now + delay);
        }
        self.recut(i, bytes)
    }

    fn recut(&mut self, i: usize, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        let framed = self.links[i].dialect == Dialect::Framed;
        let Some(tape) = self.recuts.as_mut().filter(|_| framed && bytes.len() > 1) else {
            return vec![bytes];
        };
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = match tape.next_size(rest.len()) {
                n if n == rest.len() && pieces.is_empty() => rest.len().div_ceil(2),
                n => n,
            };
            pieces.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        pieces
    }

    /// Link `i`'s reset has reached the core.
    pub fn fin_sent(&mut self, i: usize) {
        let link = &mut self.links[i];
        link.fin = false;
        link.up_at = None;
    }

    /// The core sent `bytes` to link `i`.
    pub fn on_send(&mut self, i: usize, bytes: &[u8]) {
        let link = &mut self.links[i];
        if link.closed.is_none() && !link.dead && !bytes.is_empty() {
            link.unwritten.extend(bytes);
            link.sends.push_back(bytes.len());
        }
    }

    /// The core told the driver to stop (`false`: resume) reading link `i`.
    pub fn set_reading_stopped(&mut self, i: usize, stopped: bool) {
        self.links[i].reading_stopped = stopped;
    }

    /// The core closed link `i`.
    pub fn on_close(&mut self, i: usize, mode: CloseMode) {
        let link = &mut self.links[i];
        link.closed = Some(mode);
        link.up.clear();
        link.chunks.clear();
        if !link.fin {
            link.up_at = None;
        }
        if mode == CloseMode::Abort || link.dead {
            link.unwritten.clear();
            link.sends.clear();
        }
        link.read_socket();
    }
}
