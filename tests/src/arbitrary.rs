//! Generating scenarios with quickcheck, and shrinking them.
//!
//! Generation is swarm testing: each scenario first picks which faults are
//! on and which limits are small, then writes a script that uses them.
//! Shrinking tries the simplest changes first: drop big blocks of ops, then
//! single ops, turn faults off, restore default limits, empty the tapes, and
//! finally make single ops simpler.

use crate::scenario::{Cfg, Cmd, Dialect, Faults, NickKind, Op, Partial, Scenario};
use quickcheck::{Arbitrary, Gen};

/// A number in `0..n` (`n > 0`).
fn below(g: &mut Gen, n: u32) -> u32 {
    u32::arbitrary(g) % n.max(1)
}

/// `true` with probability `num / den`.
fn chance(g: &mut Gen, num: u32, den: u32) -> bool {
    below(g, den) < num
}

/// One of `items`.
fn pick<T: Copy>(g: &mut Gen, items: &[T]) -> T {
    *g.choose(items).expect("tables are not empty")
}

impl Arbitrary for Faults {
    fn arbitrary(g: &mut Gen) -> Self {
        Faults {
            delay: bool::arbitrary(g),
            cut: bool::arbitrary(g),
            partial_writes: bool::arbitrary(g),
            stall: bool::arbitrary(g),
            reset: bool::arbitrary(g),
            sock_buf: pick(g, &[64, 512, 4096, 65536]),
        }
    }
}

impl Arbitrary for Cfg {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut c = Cfg::default();
        if bool::arbitrary(g) {
            return c;
        }
        if chance(g, 1, 3) {
            c.max_clients = pick(g, &[2, 3, 4]);
        }
        if chance(g, 1, 3) {
            c.max_line = pick(g, &[24, 64]);
        }
        if chance(g, 1, 3) {
            c.handshake_ms = pick(g, &[1_000, 3_000]);
        }
        if chance(g, 1, 2) {
            c.send_queue = pick(g, &[128, 512, 4096]);
        }
        match below(g, 3) {
            0 => c.flood_rate = 0,
            1 => (c.flood_rate, c.flood_burst) = (2, 4),
            _ => {}
        }
        if chance(g, 1, 3) {
            c.settle_ms = 50;
        }
        if chance(g, 1, 3) {
            // Join and leave notices held from the first or second user on.
            c.hold_us_per_user = pick(g, &[600, 1_000, 5_000]);
        }
        if chance(g, 1, 3) {
            c.max_per_address = pick(g, &[0, 1, 2, 3]);
        }
        if chance(g, 1, 3) {
            c.connects_per_minute = pick(g, &[0, 2, 600]);
        }
        c.limit_loopback = chance(g, 1, 4);
        if chance(g, 1, 2) {
            // Sends cost their bytes only: the cut comparison applies.
            c.send_overhead = 0;
        }
        c
    }
}

/// A tape of up to 12 values drawn by `value`.
fn tape(g: &mut Gen, value: fn(&mut Gen) -> u16) -> Vec<u16> {
    let len = below(g, 13) as usize;
    (0..len).map(|_| value(g)).collect()
}

/// A read or write size: mostly small, sometimes whole.
fn size(g: &mut Gen) -> u16 {
    match below(g, 10) {
        0 => 0,
        1..=5 => 1 + below(g, 8) as u16,
        6..=8 => 1 + below(g, 64) as u16,
        _ => 1 + below(g, 1024) as u16,
    }
}

/// A network delay in ms.
fn delay(g: &mut Gen) -> u16 {
    match below(g, 10) {
        0..=3 => 0,
        4..=8 => below(g, 40) as u16,
        _ => below(g, 600) as u16,
    }
}

fn nick_kind(g: &mut Gen, clients: u32) -> NickKind {
    match below(g, 10) {
        0..=6 => NickKind::Valid(below(g, 256) as u8),
        7 => NickKind::Upper(below(g, clients) as u8),
        8 => NickKind::Invalid(below(g, 256) as u8),
        _ => NickKind::TooLong(below(g, 8) as u8),
    }
}

fn command(g: &mut Gen, clients: u32) -> Cmd {
    match below(g, 22) {
        0..=2 => Cmd::Rename(nick_kind(g, clients)),
        3..=5 => Cmd::Me(below(g, 8) as u8),
        6..=8 => Cmd::Msg(below(g, clients) as u8),
        9 => Cmd::MsgNobody,
        10 => Cmd::MsgUsage,
        11 | 12 => Cmd::Who,
        13 => Cmd::Help,
        14 | 15 => Cmd::Quit(bool::arbitrary(g)),
        16..=18 => Cmd::Literal,
        19 => Cmd::Unknown,
        _ => Cmd::Ping,
    }
}

fn wait(g: &mut Gen) -> Op {
    let ms = match below(g, 20) {
        0..=9 => below(g, 50),
        10..=14 => 50 + below(g, 450),
        15..=18 => 500 + below(g, 2_500),
        _ => 3_000 + below(g, 37_000),
    };
    Op::Wait { ms }
}

/// A new client and, usually, its nick; now and then one that is not a
/// chat client at all.
fn connect(g: &mut Gen, ops: &mut Vec<Op>, clients: &mut u32) {
    if chance(g, 1, 25) {
        ops.push(Op::Probe {
            tls: chance(g, 1, 2),
        });
        *clients += 1;
        return;
    }
    let dialect = if chance(g, 3, 10) {
        Dialect::Seed
    } else {
        Dialect::Framed
    };
    let crlf = dialect == Dialect::Framed && chance(g, 1, 4);
    ops.push(Op::Connect { dialect, crlf });
    let client = *clients as u8;
    *clients += 1;
    if chance(g, 17, 20) {
        let nick = if chance(g, 4, 5) {
            NickKind::Valid(below(g, 256) as u8)
        } else {
            nick_kind(g, *clients)
        };
        ops.push(Op::Nick { client, nick });
    }
}

/// One op for a script that has `clients` clients so far.
fn op(g: &mut Gen, faults: &Faults, clients: u32) -> Op {
    let client = below(g, clients) as u8;
    loop {
        let op = match below(g, 100) {
            0..=2 => Op::Nick {
                client,
                nick: nick_kind(g, clients),
            },
            3..=32 => Op::Say {
                client,
                pad: below(g, 8) as u8,
            },
            33..=48 => Op::Command {
                client,
                cmd: command(g, clients),
            },
            49 | 50 => Op::LongLine {
                client,
                extra: pick(g, &[0, 1, 7, 1500]),
            },
            51 => Op::AtLimit { client },
            52..=55 => Op::Garbage {
                client,
                kind: below(g, 10) as u8,
            },
            56..=59 if faults.stall => Op::Stall { client },
            60..=63 if faults.stall => Op::Resume { client },
            64..=66 if faults.reset => Op::Reset {
                client,
                partial: pick(g, &[Partial::Clean, Partial::MidLine, Partial::MidChar]),
            },
            67..=80 => wait(g),
            81 => Op::Flood {
                client,
                lines: 10 + below(g, 70) as u8,
            },
            82 if chance(g, 1, 8) => Op::Shutdown,
            _ => continue,
        };
        return op;
    }
}

fn ops(g: &mut Gen, faults: &Faults) -> Vec<Op> {
    let len = 1 + below(g, g.size() as u32) as usize;
    let mut ops = Vec::with_capacity(len + 8);
    let mut clients = 0;
    for _ in 0..1 + below(g, 4) {
        connect(g, &mut ops, &mut clients);
    }
    while ops.len() < len {
        if clients < 24 && chance(g, 1, 12) {
            connect(g, &mut ops, &mut clients);
        } else {
            ops.push(op(g, faults, clients));
        }
    }
    if chance(g, 1, 10) {
        ops.push(Op::Shutdown);
    }
    ops
}

impl Arbitrary for Scenario {
    fn arbitrary(g: &mut Gen) -> Self {
        let faults = Faults::arbitrary(g);
        let config = Cfg::arbitrary(g);
        let reads = tape(g, size);
        let writes = tape(g, size);
        let delays = tape(g, delay);
        let recuts = tape(g, size);
        let ops = ops(g, &faults);
        Scenario {
            faults,
            config,
            reads,
            writes,
            delays,
            recuts,
            ops,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Scenario>> {
        Box::new(candidates(self).into_iter())
    }
}

/// Simpler scenarios, simplest changes first.
pub fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    drop_blocks(s, &mut out);
    fewer_faults(s, &mut out);
    default_limits(s, &mut out);
    shorter_tapes(s, &mut out);
    simpler_ops(s, &mut out);
    out
}

/// Without blocks of ops: halves, quarters, … single ops.
fn drop_blocks(s: &Scenario, out: &mut Vec<Scenario>) {
    let n = s.ops.len();
    let mut block = n / 2;
    while block >= 1 {
        let mut start = 0;
        while start < n {
            let end = (start + block).min(n);
            let mut t = s.clone();
            t.ops.drain(start..end);
            out.push(t);
            start += block;
        }
        if block == 1 {
            break;
        }
        block /= 2;
    }
}

fn fewer_faults(s: &Scenario, out: &mut Vec<Scenario>) {
    let f = &s.faults;
    type Off = fn(&mut Faults);
    let flags: [(bool, Off); 5] = [
        (f.delay, |f| f.delay = false),
        (f.cut, |f| f.cut = false),
        (f.partial_writes, |f| f.partial_writes = false),
        (f.stall, |f| f.stall = false),
        (f.reset, |f| f.reset = false),
    ];
    for (on, off) in flags {
        if on {
            let mut t = s.clone();
            off(&mut t.faults);
            out.push(t);
        }
    }
    if f.sock_buf != Faults::NONE.sock_buf {
        let mut t = s.clone();
        t.faults.sock_buf = Faults::NONE.sock_buf;
        out.push(t);
    }
}

fn default_limits(s: &Scenario, out: &mut Vec<Scenario>) {
    let d = Cfg::default();
    let fields: [fn(&mut Cfg, &Cfg); 11] = [
        |c, d| c.max_clients = d.max_clients,
        |c, d| c.max_line = d.max_line,
        |c, d| c.handshake_ms = d.handshake_ms,
        |c, d| c.send_queue = d.send_queue,
        |c, d| (c.flood_rate, c.flood_burst) = (d.flood_rate, d.flood_burst),
        |c, d| c.settle_ms = d.settle_ms,
        |c, d| c.hold_us_per_user = d.hold_us_per_user,
        |c, d| c.max_per_address = d.max_per_address,
        |c, d| c.connects_per_minute = d.connects_per_minute,
        |c, d| c.limit_loopback = d.limit_loopback,
        |c, d| c.send_overhead = d.send_overhead,
    ];
    for reset in fields {
        let mut t = s.clone();
        reset(&mut t.config, &d);
        if t.config != s.config {
            out.push(t);
        }
    }
}

fn shorter_tapes(s: &Scenario, out: &mut Vec<Scenario>) {
    let tapes: [fn(&mut Scenario) -> &mut Vec<u16>; 4] = [
        |s| &mut s.reads,
        |s| &mut s.writes,
        |s| &mut s.delays,
        |s| &mut s.recuts,
    ];
    for tape in tapes {
        let mut probe = s.clone();
        let len = tape(&mut probe).len();
        if len == 0 {
            continue;
        }
        let mut t = s.clone();
        tape(&mut t).clear();
        out.push(t);
        if len > 1 {
            let mut t = s.clone();
            tape(&mut t).truncate(len / 2);
            out.push(t);
        }
    }
}

/// Each op replaced by a simpler one, where there is one.
fn simpler_ops(s: &Scenario, out: &mut Vec<Scenario>) {
    for (i, op) in s.ops.iter().enumerate() {
        for simpler in simpler(op) {
            let mut t = s.clone();
            t.ops[i] = simpler;
            out.push(t);
        }
    }
}

fn simpler(op: &Op) -> Vec<Op> {
    match *op {
        Op::Probe { .. } => vec![Op::Connect {
            dialect: Dialect::Framed,
            crlf: false,
        }],
        Op::Connect { dialect, crlf } => {
            let mut v = Vec::new();
            if crlf {
                v.push(Op::Connect {
                    dialect,
                    crlf: false,
                });
            }
            if dialect == Dialect::Seed {
                v.push(Op::Connect {
                    dialect: Dialect::Framed,
                    crlf: false,
                });
            }
            v
        }
        Op::Wait { ms } if ms > 0 => vec![Op::Wait { ms: ms / 2 }],
        Op::Flood { client, lines } if lines > 1 => vec![Op::Flood {
            client,
            lines: lines / 2,
        }],
        Op::LongLine { client, extra } if extra > 0 => vec![Op::LongLine { client, extra: 0 }],
        Op::Say { client, pad } if pad > 0 => vec![Op::Say { client, pad: 0 }],
        Op::Reset { client, partial } if partial != Partial::Clean => vec![Op::Reset {
            client,
            partial: Partial::Clean,
        }],
        Op::Nick {
            client,
            nick: NickKind::Valid(i),
        } if i > 0 => vec![Op::Nick {
            client,
            nick: NickKind::Valid(0),
        }],
        Op::Command { client, cmd } if cmd != Cmd::Who => vec![Op::Command {
            client,
            cmd: Cmd::Who,
        }],
        _ => Vec::new(),
    }
}
