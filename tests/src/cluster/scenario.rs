//! A cluster scenario: plain data that decides everything a run does, and
//! its generation and shrinking with quickcheck.
//!
//! Ops name a node by a number taken modulo the nodes so far (slots, in
//! creation order; a crashed slot stays a slot) and a client by a number
//! taken modulo the clients so far, so a scenario with ops removed still
//! means something. An op on a client or node that is gone does nothing.

use quickcheck::{Arbitrary, Gen};

/// One step of a cluster script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum COp {
    /// A new client connects to a node.
    Connect {
        /// Which node.
        node: u8,
    },
    /// The client sends a nick ([`crate::words::NICKS`] index), if it has
    /// not joined.
    Nick {
        /// Who.
        client: u8,
        /// Which nick.
        nick: u8,
    },
    /// The client says a line holding a fresh token.
    Say {
        /// Who.
        client: u8,
    },
    /// The client sends `lines` long lines in one read (a slow reader's
    /// send queue fills with them).
    Flood {
        /// Who.
        client: u8,
        /// How many.
        lines: u8,
    },
    /// `/me` with a fresh token.
    Me {
        /// Who.
        client: u8,
    },
    /// `/msg` to client `to`'s nick (as this client last read it) or to a
    /// nick nobody has.
    Msg {
        /// Who.
        client: u8,
        /// To whom.
        to: u8,
    },
    /// `/nick` with [`crate::words::NICKS`] index `nick`.
    Rename {
        /// Who.
        client: u8,
        /// Which nick.
        nick: u8,
    },
    /// `/who`.
    Who {
        /// Who.
        client: u8,
    },
    /// `/ping` with a fresh token.
    Ping {
        /// Who.
        client: u8,
    },
    /// `/quit`.
    Quit {
        /// Who.
        client: u8,
    },
    /// The client closes its connection.
    Close {
        /// Who.
        client: u8,
    },
    /// The client stops reading (its socket takes nothing more).
    Stall {
        /// Who.
        client: u8,
    },
    /// The client reads again.
    Resume {
        /// Who.
        client: u8,
    },
    /// Time passes.
    Wait {
        /// How long, in ms.
        ms: u32,
    },
    /// The log hands a node nothing for a while, then all at once.
    Burst {
        /// Which node.
        node: u8,
        /// For how long, in ms.
        ms: u32,
    },
    /// The node's process dies: it appends nothing more, its users'
    /// connections are gone.
    Crash {
        /// Which node.
        node: u8,
    },
    /// The node loses the log: its appends are dropped from now on, and
    /// it is told (`LogDown`) `notice_ms` later.
    Cut {
        /// Which node.
        node: u8,
        /// When its driver notices.
        notice_ms: u32,
    },
    /// The node reaches the log again: it is handed what it missed, then
    /// `LogUp`.
    Heal {
        /// Which node.
        node: u8,
    },
    /// The log loses every entry (a new epoch): every node is reset.
    ResetLog,
    /// The log's keys are lost while every node runs (`FLUSHALL`, a `DEL`
    /// or an expiry of the stream or the epoch key): a new epoch, which
    /// each node's driver notices at its next read, `notice_ms` times
    /// `(slot + 1) / slots` after its delay. Until then the node is handed
    /// nothing, and its appends are refused (the stream is not of its
    /// epoch): its driver tells it `LogDown` at the first.
    FlushLog {
        /// How long the last node takes to notice, past its delay.
        notice_ms: u32,
    },
    /// A new node starts from a snapshot of node `from` (at its cursor), in
    /// the first crashed slot (as a new incarnation) or a new slot.
    Restart {
        /// Whose snapshot.
        from: u8,
    },
    /// A new node starts as a driver starts one: from the stored snapshot
    /// of the current epoch, if there is one, or the log's start; in the
    /// first crashed slot (as a new incarnation) or a new slot.
    Start,
    /// The node shuts down cleanly (`Down`), then stops.
    Shutdown {
        /// Which node.
        node: u8,
    },
    /// The node's process is stopped (SIGSTOP, a long GC pause): it is
    /// handed no input at all for `ms` while the others go on; what its
    /// users send meanwhile waits in their sockets. Then it is ticked (its
    /// overdue heartbeat is appended), it reads what its users sent, and
    /// only then is it handed the entries it missed. Past the loss bound
    /// this puts entries of a lost incarnation in the log after its loss.
    Pause {
        /// Which node.
        node: u8,
        /// For how long, in ms.
        ms: u32,
    },
    /// `users` new clients connect to the node and each claims a nick of
    /// its own (`u` and its connection id): a room large enough to hold
    /// join and leave notices back.
    Crowd {
        /// Which node.
        node: u8,
        /// How many.
        users: u8,
    },
}

/// Everything one cluster run does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterScenario {
    /// Nodes at the start (2 to 4).
    pub nodes: u8,
    /// How long each node waits for the log's entries, in ms (cycling;
    /// empty: none).
    pub delays: Vec<u16>,
    /// The send queue, in bytes (small ones make stalled readers too slow).
    pub send_queue: u32,
    /// Whether join and leave notices are held back in large rooms (the
    /// core's default `notice_hold_per_user`); otherwise they go at once.
    pub hold: bool,
    /// The script.
    pub ops: Vec<COp>,
}

impl ClusterScenario {
    /// `nodes` nodes, no delay, the default send queue, these ops.
    pub fn plain(nodes: u8, ops: Vec<COp>) -> Self {
        ClusterScenario {
            nodes,
            delays: Vec::new(),
            send_queue: DEFAULT_SEND_QUEUE,
            hold: false,
            ops,
        }
    }
}

/// The core's default send queue.
pub const DEFAULT_SEND_QUEUE: u32 = 256 * 1024;

/// A number in `0..n`.
fn below(g: &mut Gen, n: u32) -> u32 {
    u32::arbitrary(g) % n.max(1)
}

fn chance(g: &mut Gen, num: u32, den: u32) -> bool {
    below(g, den) < num
}

fn wait_ms(g: &mut Gen) -> u32 {
    match below(g, 10) {
        0..=4 => below(g, 100),
        5..=7 => 100 + below(g, 1_400),
        _ => 1_500 + below(g, 6_000),
    }
}

/// Which faults a scenario uses (swarm testing: each is on in about half).
#[derive(Clone, Copy)]
struct Swarm {
    crash: bool,
    cut: bool,
    reset: bool,
    restart: bool,
    stall: bool,
    shutdown: bool,
    pause: bool,
    crowd: bool,
}

/// A pause longer than the loss bound (5 heartbeats of 1 s) most of the
/// time, shorter now and then, and now and then longer than the stream
/// keeps entries (its trim lag), so the node falls behind the trim.
fn pause_ms(g: &mut Gen) -> u32 {
    match below(g, 5) {
        0 => 1_000 + below(g, 4_000),
        1 => 16_000 + below(g, 6_000),
        _ => 5_500 + below(g, 3_500),
    }
}

fn op(g: &mut Gen, swarm: Swarm) -> COp {
    let client = below(g, 256) as u8;
    let node = below(g, 8) as u8;
    loop {
        return match below(g, 100) {
            0..=9 => COp::Connect { node },
            10..=17 => COp::Nick {
                client,
                nick: below(g, 15) as u8,
            },
            18..=36 => COp::Say { client },
            37..=39 => COp::Flood {
                client,
                lines: 5 + below(g, 45) as u8,
            },
            40..=43 => COp::Me { client },
            44..=48 => COp::Msg {
                client,
                to: below(g, 256) as u8,
            },
            49..=52 => COp::Rename {
                client,
                nick: below(g, 15) as u8,
            },
            53 => COp::Who { client },
            54 => COp::Ping { client },
            55..=56 => COp::Quit { client },
            57..=58 => COp::Close { client },
            59..=60 if swarm.stall => COp::Stall { client },
            61..=62 if swarm.stall => COp::Resume { client },
            63..=76 => COp::Wait { ms: wait_ms(g) },
            77..=79 => COp::Burst {
                node,
                ms: below(g, 3_000),
            },
            80..=81 if swarm.crash => COp::Crash { node },
            82..=85 if swarm.cut => COp::Cut {
                node,
                notice_ms: below(g, 2_000),
            },
            86..=89 if swarm.cut => COp::Heal { node },
            90 if swarm.reset => {
                if chance(g, 1, 2) {
                    COp::ResetLog
                } else {
                    COp::FlushLog {
                        notice_ms: below(g, 1_000),
                    }
                }
            }
            91..=92 if swarm.restart => COp::Restart { from: node },
            93 if swarm.shutdown => COp::Shutdown { node },
            94..=96 if swarm.pause => COp::Pause {
                node,
                ms: pause_ms(g),
            },
            97 if swarm.crowd => COp::Crowd {
                node,
                users: 20 + below(g, 8) as u8,
            },
            98 if swarm.restart => COp::Start,
            _ => continue,
        };
    }
}

impl Arbitrary for ClusterScenario {
    fn arbitrary(g: &mut Gen) -> Self {
        let swarm = Swarm {
            crash: bool::arbitrary(g),
            cut: bool::arbitrary(g),
            reset: chance(g, 1, 4),
            restart: bool::arbitrary(g),
            stall: bool::arbitrary(g),
            shutdown: chance(g, 1, 4),
            pause: chance(g, 1, 3),
            crowd: chance(g, 1, 4),
        };
        let hold = swarm.crowd || chance(g, 1, 4);
        let nodes = 2 + below(g, 3) as u8;
        let delays = (0..below(g, 5))
            .map(|_| match below(g, 4) {
                0 => 0,
                1 | 2 => below(g, 200) as u16,
                _ => below(g, 2_500) as u16,
            })
            .collect();
        let send_queue = if chance(g, 1, 3) {
            [4096, 8192][below(g, 2) as usize]
        } else {
            DEFAULT_SEND_QUEUE
        };
        let len = 1 + below(g, g.size() as u32) as usize;
        let mut ops = Vec::with_capacity(len + 8);
        // Most scenarios start with users on two nodes.
        for i in 0..2 * u8::from(chance(g, 4, 5)) {
            ops.push(COp::Connect { node: i });
            ops.push(COp::Nick { client: i, nick: i });
        }
        // A crowd on one node: notices are held from then on.
        if swarm.crowd && chance(g, 2, 3) {
            ops.push(COp::Crowd {
                node: below(g, 2) as u8,
                users: 20 + below(g, 8) as u8,
            });
        }
        // Then a pause, early enough that the node has users to lose.
        if swarm.pause && chance(g, 1, 2) {
            ops.push(COp::Pause {
                node: below(g, 2) as u8,
                ms: pause_ms(g),
            });
        }
        while ops.len() < len {
            ops.push(op(g, swarm));
        }
        ClusterScenario {
            nodes,
            delays,
            send_queue,
            hold,
            ops,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = ClusterScenario>> {
        Box::new(candidates(self).into_iter())
    }
}

/// Simpler scenarios, simplest changes first: without blocks of ops, with
/// fewer nodes, without delays, with the default send queue, with simpler
/// single ops.
pub fn candidates(s: &ClusterScenario) -> Vec<ClusterScenario> {
    let mut out = Vec::new();
    let n = s.ops.len();
    let mut block = n / 2;
    while block >= 1 {
        for start in (0..n).step_by(block) {
            let mut t = s.clone();
            t.ops.drain(start..(start + block).min(n));
            out.push(t);
        }
        if block == 1 {
            break;
        }
        block /= 2;
    }
    if s.nodes > 2 {
        out.push(ClusterScenario {
            nodes: s.nodes - 1,
            ..s.clone()
        });
    }
    if !s.delays.is_empty() {
        out.push(ClusterScenario {
            delays: Vec::new(),
            ..s.clone()
        });
        for i in 0..s.delays.len() {
            if s.delays[i] > 0 {
                let mut t = s.clone();
                t.delays[i] /= 2;
                out.push(t);
            }
        }
    }
    if s.send_queue != DEFAULT_SEND_QUEUE {
        out.push(ClusterScenario {
            send_queue: DEFAULT_SEND_QUEUE,
            ..s.clone()
        });
    }
    if s.hold {
        out.push(ClusterScenario {
            hold: false,
            ..s.clone()
        });
    }
    for (i, op) in s.ops.iter().enumerate() {
        let simpler = match *op {
            COp::Wait { ms } if ms > 0 => Some(COp::Wait { ms: ms / 2 }),
            COp::Burst { node, ms } if ms > 0 => Some(COp::Burst { node, ms: ms / 2 }),
            COp::Pause { node, ms } if ms > 5_500 => Some(COp::Pause {
                node,
                ms: 5_500 + (ms - 5_500) / 2,
            }),
            COp::Crowd { node, users } if users > 20 => Some(COp::Crowd { node, users: 20 }),
            COp::Cut { node, notice_ms } if notice_ms > 0 => Some(COp::Cut {
                node,
                notice_ms: notice_ms / 2,
            }),
            COp::FlushLog { notice_ms } if notice_ms > 0 => Some(COp::FlushLog {
                notice_ms: notice_ms / 2,
            }),
            COp::Flood { client, lines } if lines > 1 => Some(COp::Flood {
                client,
                lines: lines / 2,
            }),
            COp::Me { client } | COp::Msg { client, .. } | COp::Flood { client, .. } => {
                Some(COp::Say { client })
            }
            _ => None,
        };
        if let Some(simpler) = simpler {
            let mut t = s.clone();
            t.ops[i] = simpler;
            out.push(t);
        }
    }
    out
}
