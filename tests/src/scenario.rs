//! A scenario: plain data that says everything a simulation run does.
//!
//! Every random choice lives here (who acts, what they send, where a read is
//! cut, how long it is delayed), never in an RNG consulted during the run, so
//! quickcheck can shrink a failing scenario to a short script. Generation and
//! shrinking are in [`crate::arbitrary`]; the script-like `Debug` in
//! [`crate::script`].
//!
//! # Client numbers
//! Ops name a client by a number taken modulo the number of `Connect` ops
//! executed so far (clients are numbered in connect order from 0). So a
//! scenario with an op removed still means something, which shrinking needs.
//! An op on a client that is gone does what the same op would do in real life
//! (a reset of a closed socket reports `Closed` again, bytes to a closed
//! connection go nowhere), and an op with no client at all does nothing.

use chat_core::Config;
use std::time::Duration;

/// Which faults a scenario turns on (swarm testing, TigerBeetle's
/// `options_swarm`): each is on in about half the scenarios.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Reads from a client are delayed by the `delays` tape.
    pub delay: bool,
    /// A framed client's stream is cut at the points of the `reads` tape.
    pub cut: bool,
    /// A socket takes what the core sent in pieces cut by the `writes` tape.
    pub partial_writes: bool,
    /// `Stall` ops take effect: the client stops reading.
    pub stall: bool,
    /// `Reset` ops take effect.
    pub reset: bool,
    /// Bytes a client's socket holds while the client does not read (at least 1).
    pub sock_buf: u32,
}

impl Faults {
    /// No fault at all.
    pub const NONE: Faults = Faults {
        delay: false,
        cut: false,
        partial_writes: false,
        stall: false,
        reset: false,
        sock_buf: 65536,
    };
}

/// The room's limits as plain numbers (milliseconds for durations), so the
/// scenario's `Debug` is valid Rust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cfg {
    /// `Config::max_clients`.
    pub max_clients: u32,
    /// `Config::max_line`.
    pub max_line: u32,
    /// `Config::handshake_timeout`, in ms.
    pub handshake_ms: u32,
    /// `Config::send_queue`.
    pub send_queue: u32,
    /// `Config::flood_rate` (`0` = off).
    pub flood_rate: u32,
    /// `Config::flood_burst`.
    pub flood_burst: u32,
    /// `Config::settle`, in ms.
    pub settle_ms: u32,
    /// `Config::notice_hold_per_user`, in µs.
    pub hold_us_per_user: u32,
    /// `Config::max_per_address` (`0` = off).
    pub max_per_address: u32,
    /// `Config::connects_per_minute` (`0` = off).
    pub connects_per_minute: u32,
    /// `Config::limit_loopback`.
    pub limit_loopback: bool,
    /// `Config::send_overhead`: what each send costs besides its bytes.
    pub send_overhead: u32,
}

impl Default for Cfg {
    /// docs/protocol.md's defaults.
    fn default() -> Self {
        Cfg {
            max_clients: 10_000,
            max_line: 1024,
            handshake_ms: 30_000,
            send_queue: 256 * 1024,
            flood_rate: 20,
            flood_burst: 40,
            settle_ms: 250,
            hold_us_per_user: 50,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            send_overhead: chat_core::SEND_OVERHEAD as u32,
        }
    }
}

impl Cfg {
    /// The core's config with these limits.
    #[allow(clippy::needless_update)] // the core may add fields; they keep their defaults
    pub fn to_config(&self) -> Config {
        Config {
            max_clients: self.max_clients as usize,
            max_line: self.max_line as usize,
            handshake_timeout: Duration::from_millis(self.handshake_ms.into()),
            send_queue: self.send_queue as usize,
            flood_rate: self.flood_rate,
            flood_burst: self.flood_burst,
            settle: Duration::from_millis(self.settle_ms.into()),
            notice_hold_per_user: Duration::from_micros(self.hold_us_per_user.into()),
            max_per_address: self.max_per_address as usize,
            connects_per_minute: self.connects_per_minute,
            limit_loopback: self.limit_loopback,
            send_overhead: self.send_overhead as usize,
            ..Config::default()
        }
    }

    /// The settle time.
    pub fn settle(&self) -> Duration {
        Duration::from_millis(self.settle_ms.into())
    }

    /// The handshake timeout.
    pub fn handshake(&self) -> Duration {
        Duration::from_millis(self.handshake_ms.into())
    }

    /// Whether flood control is on.
    pub fn flood_on(&self) -> bool {
        self.flood_rate > 0
    }
}

/// How a client talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// This project's protocol: every line ends with `\n`.
    Framed,
    /// The seed's client: nick with no terminator, then each message as one
    /// chunk `NICK: TEXT` with no terminator, each after a pause longer than
    /// the settle time; every chunk arrives as exactly one read.
    Seed,
}

/// Which nick a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NickKind {
    /// [`crate::words::NICKS`]`[i]`.
    Valid(u8),
    /// Client `i`'s current nick in upper case (a collision ignoring case),
    /// or `ALICE` if it has none.
    Upper(u8),
    /// [`crate::words::BAD_NICKS`]`[i]`.
    Invalid(u8),
    /// A nick of 33 or more characters.
    TooLong(u8),
}

/// A command line (framed: `/…\n`; seed dialect: `NICK: /…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `/nick NEW`.
    Rename(NickKind),
    /// `/me TOKEN FILLER`.
    Me(u8),
    /// `/msg NICK TOKEN` to client `to`'s current nick.
    Msg(u8),
    /// `/msg nobody TOKEN`: no such user.
    MsgNobody,
    /// `/msg` alone: a usage error.
    MsgUsage,
    /// `/who`.
    Who,
    /// `/help`.
    Help,
    /// `/quit`, with a reason holding a token if `true`.
    Quit(bool),
    /// `//TOKEN`: the literal `/TOKEN` is sent to the room.
    Literal,
    /// `/frob TOKEN`: an unknown command.
    Unknown,
    /// `/ping TOKEN`: answered `pong TOKEN`, to the sender alone.
    Ping,
}

/// What a reset leaves behind on the wire just before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partial {
    /// Nothing: the stream ends at a line boundary.
    Clean,
    /// Half a line: `TOKEN hal` with no terminator.
    MidLine,
    /// A line cut inside a multi-byte character: `TOKEN \xe6\x97`.
    MidChar,
}

/// One step of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A new client connects (framed ones may end lines with `\r\n`).
    Connect {
        /// How it talks.
        dialect: Dialect,
        /// Framed only: end lines with `\r\n`.
        crlf: bool,
    },
    /// A new client connects and sends, as its first bytes, an HTTP
    /// request (a POST whose body is a nick and a line) or a TLS hello.
    Probe {
        /// A TLS ClientHello rather than an HTTP request.
        tls: bool,
    },
    /// The client sends a nick.
    Nick {
        /// Who.
        client: u8,
        /// Which nick.
        nick: NickKind,
    },
    /// The client sends a message: a fresh token and a filler.
    Say {
        /// Who.
        client: u8,
        /// [`crate::words::PADS`] index.
        pad: u8,
    },
    /// The client sends a command.
    Command {
        /// Who.
        client: u8,
        /// Which command.
        cmd: Cmd,
    },
    /// The client sends a line of `max_line + 1 + extra` bytes.
    LongLine {
        /// Who.
        client: u8,
        /// Bytes beyond the first that is too many.
        extra: u16,
    },
    /// The client sends a line of exactly `max_line` bytes.
    AtLimit {
        /// Who.
        client: u8,
    },
    /// The client sends a token followed by garbage bytes.
    Garbage {
        /// Who.
        client: u8,
        /// [`crate::words::GARBAGE`] index.
        kind: u8,
    },
    /// The client stops reading (its socket buffer fills, then takes 0 bytes).
    Stall {
        /// Who.
        client: u8,
    },
    /// The client reads again.
    Resume {
        /// Who.
        client: u8,
    },
    /// The client's connection is reset, possibly mid-line.
    Reset {
        /// Who.
        client: u8,
        /// What is on the wire just before.
        partial: Partial,
    },
    /// Time passes before the next op.
    Wait {
        /// How long.
        ms: u32,
    },
    /// The client sends `lines` messages at once.
    Flood {
        /// Who.
        client: u8,
        /// How many.
        lines: u8,
    },
    /// SIGINT: the server shuts down.
    Shutdown,
}

impl Op {
    /// The client number the op names, if any.
    pub fn client(&self) -> Option<u8> {
        match *self {
            Op::Nick { client, .. }
            | Op::Say { client, .. }
            | Op::Command { client, .. }
            | Op::LongLine { client, .. }
            | Op::AtLimit { client }
            | Op::Garbage { client, .. }
            | Op::Stall { client }
            | Op::Resume { client }
            | Op::Reset { client, .. }
            | Op::Flood { client, .. } => Some(client),
            Op::Connect { .. } | Op::Probe { .. } | Op::Wait { .. } | Op::Shutdown => None,
        }
    }
}

/// Everything one simulation run does. Its `Debug` is the bug report: a
/// script that is also Rust (see [`crate::script`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Which faults are on.
    pub faults: Faults,
    /// The room's limits.
    pub config: Cfg,
    /// Read sizes for framed clients, used in turn, cycling: `0` means "all
    /// that is pending"; `n` means `(n - 1) % 1024 + 1` bytes.
    pub reads: Vec<u16>,
    /// Write sizes (same encoding), used when `partial_writes` is on.
    pub writes: Vec<u16>,
    /// Delays of reads in ms, used in turn, cycling, when `delay` is on.
    pub delays: Vec<u16>,
    /// How the cut-independence run splits each framed read further
    /// (same encoding as `reads`); empty means "in halves".
    pub recuts: Vec<u16>,
    /// The script.
    pub ops: Vec<Op>,
}

impl Scenario {
    /// A scenario with no fault, default limits and these ops.
    pub fn plain(ops: Vec<Op>) -> Self {
        Scenario {
            faults: Faults::NONE,
            config: Cfg::default(),
            reads: Vec::new(),
            writes: Vec::new(),
            delays: Vec::new(),
            recuts: Vec::new(),
            ops,
        }
    }
}

/// A tape of choices, used in turn and cycling; an empty tape yields `None`.
#[derive(Clone, Debug)]
pub struct Tape {
    values: Vec<u16>,
    next: usize,
}

impl Tape {
    /// A tape over `values`.
    pub fn new(values: &[u16]) -> Self {
        Tape {
            values: values.to_vec(),
            next: 0,
        }
    }

    /// The next value, if the tape is not empty.
    pub fn next_value(&mut self) -> Option<u16> {
        let v = *self.values.get(self.next % self.values.len().max(1))?;
        self.next = self.next.wrapping_add(1);
        Some(v)
    }

    /// The next size in `1..=max`, or `max` when the tape is empty or says `0`.
    pub fn next_size(&mut self, max: usize) -> usize {
        match self.next_value() {
            None | Some(0) => max,
            Some(v) => ((usize::from(v) - 1) % chat_core::MAX_READ + 1).min(max),
        }
    }
}
