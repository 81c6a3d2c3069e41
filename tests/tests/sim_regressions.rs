//! Shrunk scenarios the simulation found, kept as named tests. Each one
//! says what it found; one that fails is a core bug not yet fixed.

use chat_tests::prelude::*;

/// A client that frames its lines connects.
fn framed() -> Op {
    Connect {
        dialect: Framed,
        crlf: false,
    }
}

/// A client that talks like the seed's (no newlines) connects.
fn seed_dialect() -> Op {
    Connect {
        dialect: Seed,
        crlf: false,
    }
}

/// The send limit is checked per batch of room lines (one `handle`), not per
/// line: a read holding three lines is relayed whole before the user is
/// kicked as too slow, but the same bytes cut into 8-byte reads get the
/// user kicked after the second line. Where a read is cut must not decide
/// what a user receives (and the contract caps the overshoot at one line).
#[test]
fn the_too_slow_kick_does_not_depend_on_read_cuts() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: true,
            cut: false,
            partial_writes: false,
            stall: false,
            reset: false,
            sock_buf: 65536,
        },
        config: Cfg {
            max_clients: 10000,
            max_line: 1024,
            handshake_ms: 30000,
            send_queue: 128,
            flood_rate: 20,
            flood_burst: 40,
            settle_ms: 250,
            hold_us_per_user: 50,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            // Found with sends costing their bytes only (so with the cut comparison).
            send_overhead: 0,
        },
        reads: vec![],
        writes: vec![],
        delays: vec![457],
        recuts: vec![8],
        ops: vec![
            Connect {
                dialect: Framed,
                crlf: false,
            }, // c0 connects (framed)
            Nick {
                client: 1,
                nick: Valid(0),
            }, // c0 sends nick "alice"
            Say { client: 0, pad: 7 }, // c0 says "#0.0 0123456789abcdefghijklmnopqrstuvwxyz"
            Nick {
                client: 0,
                nick: Upper(0),
            }, // c0 sends nick (c0's nick in upper case)
            Command {
                client: 1,
                cmd: Me(6),
            }, // c0 sends "/me #0.1 a  b   c"
        ],
    });
}

/// `/nick bell<BEL>` renames the user to `bell`: the line is scrubbed of
/// control characters before the command is read, so a nick the handshake
/// refuses ("no control characters") is accepted, silently changed, by
/// `/nick`. The nick rules must be the same on both paths.
#[test]
fn nick_with_a_control_character_is_refused_by_slash_nick_too() {
    assert_scenario_passes(&Scenario::plain(vec![
        Connect {
            dialect: Framed,
            crlf: false,
        }, // c0 connects (framed)
        Nick {
            client: 0,
            nick: Valid(0),
        }, // c0 sends nick "alice"
        Command {
            client: 0,
            cmd: Rename(Invalid(4)),
        }, // c0 sends /nick "bell\u{7}"
    ]));
}

/// Two seed-dialect nicks settle on the same Tick; the second join's notice
/// pushes the first user (whose three join lines are not written yet) over a
/// 128-byte send queue, and its `alice left the chat! (too slow)` reaches the
/// second joiner between its own join line and its `You are connected…` and
/// `Online` lines. The join sequence must come in one piece.
#[test]
fn a_kick_during_a_join_does_not_split_the_join_sequence() {
    assert_scenario_passes(&Scenario {
        config: Cfg {
            send_queue: 128,
            ..Cfg::default()
        },
        ..Scenario::plain(vec![
            Connect {
                dialect: Framed,
                crlf: false,
            }, // c0 connects (framed)
            Connect {
                dialect: Seed,
                crlf: false,
            }, // c1 connects (seed dialect)
            Nick {
                client: 1,
                nick: Valid(0),
            }, // c1 sends nick "alice"
            Connect {
                dialect: Seed,
                crlf: false,
            }, // c2 connects (seed dialect)
            Nick {
                client: 2,
                nick: Valid(12),
            }, // c2 sends nick "éééééééééééééééééééééééééééééééé"
        ])
    });
}

/// Three seed-dialect nicks settle on one Tick in a room that holds join notices,
/// and the held notices pass the end-of-input limit (a quarter of the
/// 128-byte send queue): releasing them takes the first joiner past its
/// send queue, and its leave notice was left in the batch, never sent.
#[test]
fn a_user_closed_by_a_release_of_held_notices_gets_its_leave_notice() {
    assert_scenario_passes(&Scenario {
        config: Cfg {
            send_queue: 128,
            hold_us_per_user: 600,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            ..Cfg::default()
        },
        ..Scenario::plain(vec![
            seed_dialect(), // c0 connects (seed dialect)
            Nick {
                client: 0,
                nick: Valid(238),
            }, // c0 sends nick "Ärger"
            framed(),       // c1 connects (framed)
            Nick {
                client: 1,
                nick: Valid(126),
            }, // c1 sends nick "{w}"
            framed(),       // c2 connects (framed)
            Nick {
                client: 2,
                nick: Valid(163),
            }, // c2 sends nick "a.b_c"
            seed_dialect(), // c3 connects (seed dialect)
            Nick {
                client: 3,
                nick: Valid(0),
            }, // c3 sends nick "alice"
            seed_dialect(), // c4 connects (seed dialect)
            Nick {
                client: 4,
                nick: Valid(15),
            }, // c4 sends nick "carol"
        ])
    });
}

/// `/msg` to a user who stopped reading: the private line takes the target
/// past its send queue, it is closed as too slow, and the sender was sent
/// `NICK left the chat! (too slow)` before its own `[pm to NICK]` copy — a
/// private line naming someone who, as the sender's stream told it, had
/// already left. Now the sender's copy goes first.
#[test]
fn a_private_message_to_a_user_it_closes_is_confirmed_before_the_leave() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: false,
            cut: false,
            partial_writes: false,
            stall: true,
            reset: false,
            sock_buf: 64,
        },
        config: Cfg {
            send_queue: 128,
            ..Cfg::default()
        },
        ..Scenario::plain(vec![
            framed(),       // c0 connects (framed)
            seed_dialect(), // c1 connects (seed dialect)
            seed_dialect(), // c2 connects (seed dialect)
            framed(),       // c3 connects (framed)
            Nick {
                client: 1,
                nick: Valid(255),
            }, // c1 sends nick "z|y^"
            seed_dialect(), // c4 connects (seed dialect)
            Stall { client: 1 }, // c1 stops reading
            framed(),       // c5 connects (framed)
            Nick {
                client: 5,
                nick: Valid(223),
            }, // c5 sends nick "carol"
            Nick {
                client: 4,
                nick: Valid(253),
            }, // c4 sends nick "[x]"
            framed(),       // c6 connects (framed)
            Nick {
                client: 9,
                nick: Valid(0),
            }, // c2 sends nick "alice"
            Say { client: 2, pad: 4 }, // c2 says "#2.0 emoji 🙂 ok"
            Say { client: 4, pad: 1 }, // c4 says "#4.0 hello"
            framed(),       // c7 connects (framed)
            Nick {
                client: 10,
                nick: Valid(0),
            }, // c2 sends nick "alice"
            Command {
                client: 4,
                cmd: Msg(1),
            }, // c4 sends "/msg (c1's nick) #4.1"
            framed(),       // c8 connects (framed)
        ])
    });
}

/// Leave notices held in a large room, and one user's read holding two
/// lines: the first takes alice past her send queue; her leave notice, held,
/// was only sent when dave's second line flushed the room, and it took dave
/// over in turn — so dave's second line, already read, reached the others
/// after `dave left the chat! (too slow)`. A too-slow leave notice now goes
/// out in the delivery that closed its user, so the cascade ends before the
/// next line is read.
#[test]
fn a_cascade_of_too_slow_closes_ends_before_the_next_line() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: true,
            cut: false,
            partial_writes: false,
            stall: false,
            reset: true,
            sock_buf: 65536,
        },
        config: Cfg {
            send_queue: 128,
            flood_rate: 2,
            flood_burst: 4,
            hold_us_per_user: 5000,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            ..Cfg::default()
        },
        delays: vec![0, 3, 7],
        ..Scenario::plain(vec![
            framed(),
            Nick {
                client: 0,
                nick: Valid(0),
            }, // c0 sends nick "alice"
            framed(),
            Nick {
                client: 1,
                nick: Valid(47),
            }, // c1 sends nick "z|y^"
            framed(),
            Nick {
                client: 2,
                nick: Valid(55),
            }, // c2 sends nick "dave"
            framed(),
            Nick {
                client: 3,
                nick: Valid(43),
            }, // c3 sends nick "Ärger"
            AtLimit { client: 0 }, // c0 sends #0.0 in a line of exactly max_line bytes
            Command {
                client: 1,
                cmd: Quit(true),
            }, // c1 sends "/quit bye #1.0"
            Say { client: 1, pad: 0 }, // c1 says "#1.1"
            Flood {
                client: 3,
                lines: 5,
            }, // c3 floods 5 lines from #3.0
            Say { client: 0, pad: 0 }, // c0 says "#0.1"
            Say { client: 2, pad: 0 }, // c2 says "#2.0"
            Say { client: 0, pad: 0 }, // c0 says "#0.2"
            Command {
                client: 1,
                cmd: Who,
            }, // c1 sends "/who"
            Command {
                client: 0,
                cmd: Who,
            }, // c0 sends "/who"
            Say { client: 2, pad: 0 }, // c2 says "#2.1"
            Reset {
                client: 0,
                partial: MidLine,
            }, // c0 sends "#0.3 hal" (no end) and resets
            Nick {
                client: 1,
                nick: Invalid(41),
            }, // c1 sends nick "has space"
        ])
    });
}

/// Join notices held while a user who stopped reading is near its send
/// queue, then the server shuts down: sending the held notices first closed
/// that user as too slow instead of telling it the server was shutting down.
/// Held notices are now dropped at shutdown (everyone is closed with the
/// shutdown line).
#[test]
fn shutdown_tells_everyone_even_with_notices_held() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: false,
            cut: false,
            partial_writes: false,
            stall: true,
            reset: false,
            sock_buf: 64,
        },
        config: Cfg {
            send_queue: 128,
            hold_us_per_user: 1000,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            ..Cfg::default()
        },
        ..Scenario::plain(vec![
            framed(),
            framed(),
            framed(),
            Nick {
                client: 2,
                nick: Valid(137),
            }, // c2 sends nick "a.b_c"
            Stall { client: 2 },
            framed(),
            framed(),
            Nick {
                client: 4,
                nick: Valid(200),
            }, // c4 sends nick "日本"
            Say { client: 4, pad: 2 },
            Nick {
                client: 1,
                nick: Upper(0),
            }, // c1 sends nick (c0's nick in upper case)
            Say { client: 2, pad: 0 },
            Say { client: 1, pad: 2 },
            Nick {
                client: 4,
                nick: Valid(0),
            }, // c4 sends nick "alice"
            Say { client: 4, pad: 2 },
            framed(),
            Nick {
                client: 5,
                nick: Valid(251),
            }, // c5 sends nick "Ärger"
            Wait { ms: 4 },
            Nick {
                client: 6,
                nick: Valid(223),
            }, // c0 sends nick "carol"
            Shutdown,
        ])
    });
}

/// A seed-dialect user who stopped reading sends a line while a join notice is
/// held: the line released the held notice, which took the speaker past its
/// send queue, and its line, already in the batch, was relayed after
/// `alice left the chat! (too slow)`. Held notices now go out before a line
/// is said, and a speaker they close says nothing.
#[test]
fn a_speaker_closed_by_held_notices_says_nothing_after_its_leave() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: false,
            cut: false,
            partial_writes: false,
            stall: true,
            reset: true,
            sock_buf: 64,
        },
        config: Cfg {
            send_queue: 128,
            hold_us_per_user: 5000,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            ..Cfg::default()
        },
        ..Scenario::plain(vec![
            seed_dialect(),
            Nick {
                client: 0,
                nick: Valid(0),
            }, // c0 sends nick "alice"
            framed(),
            framed(),
            framed(),
            framed(),
            Wait { ms: 461 },
            Stall { client: 0 },
            Command {
                client: 0,
                cmd: Who,
            },
            Nick {
                client: 0,
                nick: Valid(0),
            },
            Command {
                client: 0,
                cmd: Who,
            },
            framed(),
            Nick {
                client: 5,
                nick: Valid(255),
            }, // c5 sends nick "z|y^"
            framed(),
            Nick {
                client: 6,
                nick: Valid(32),
            }, // c6 sends nick "[x]"
            Garbage { client: 5, kind: 9 },
            framed(),
            Nick {
                client: 7,
                nick: Valid(205),
            }, // c7 sends nick "Zoë"
            framed(),
            framed(),
            Say { client: 0, pad: 0 },
            Reset {
                client: 5,
                partial: Clean,
            },
            Say { client: 6, pad: 0 },
            Wait { ms: 345 },
            framed(),
            Nick {
                client: 10,
                nick: Valid(87),
            }, // c10 sends nick "{w}"
            Reset {
                client: 0,
                partial: MidChar,
            }, // c0 sends #0.1 and half a character, and resets
        ])
    });
}

/// A user joins and says a line in one read; its join notice takes a
/// user whose connection was reset past its send queue, and that user's
/// leave notice, left in the batch, went out only after the joiner's line
/// was read — and took the joiner past its own send queue, so its line was
/// relayed after `z|y^ left the chat! (too slow)`. The room now sends what
/// it owes before a user's line is said.
#[test]
fn a_joiner_closed_by_a_leave_notice_says_nothing_after_its_leave() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: true,
            cut: false,
            partial_writes: false,
            stall: false,
            reset: true,
            sock_buf: 65536,
        },
        config: Cfg {
            send_queue: 128,
            ..Cfg::default()
        },
        delays: vec![10],
        ..Scenario::plain(vec![
            framed(),
            Nick {
                client: 0,
                nick: Valid(179),
            }, // c0 sends nick "Zoë"
            framed(),
            Nick {
                client: 1,
                nick: Valid(0),
            }, // c1 sends nick "alice"
            framed(),
            framed(),
            Nick {
                client: 3,
                nick: Valid(83),
            }, // c3 sends nick "日本"
            framed(),
            Nick {
                client: 4,
                nick: Valid(35),
            }, // c4 sends nick "{w}"
            framed(),
            Reset {
                client: 3,
                partial: Clean,
            }, // c3 resets its connection
            Nick {
                client: 5,
                nick: Valid(138),
            }, // c5 sends nick "z|y^"
            Say { client: 5, pad: 0 }, // c5 says "#5.0"
        ])
    });
}

/// A flooder's held `/help` is answered when its turn comes, and that turn
/// can come at another connection's read: every input lets time pass. The
/// checker once allowed help text only at the flooder's own read or at a
/// tick.
#[test]
fn a_held_help_may_be_answered_at_another_users_read() {
    assert_scenario_passes(&Scenario {
        faults: Faults {
            delay: true,
            cut: true,
            partial_writes: false,
            stall: false,
            reset: false,
            sock_buf: 65536,
        },
        config: Cfg {
            max_clients: 10000,
            max_line: 1024,
            handshake_ms: 30000,
            send_queue: 262144,
            flood_rate: 2,
            flood_burst: 4,
            settle_ms: 250,
            hold_us_per_user: 50,
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            // Found with sends costing their bytes only (so with the cut comparison).
            send_overhead: 0,
        },
        reads: vec![1],
        writes: vec![],
        delays: vec![0, 0, 15, 4],
        recuts: vec![],
        ops: vec![
            framed(),
            Nick {
                client: 0,
                nick: Valid(0),
            },
            framed(),
            framed(),
            Garbage { client: 0, kind: 5 },
            Say { client: 0, pad: 0 },
            Say { client: 2, pad: 0 },
            LongLine {
                client: 1,
                extra: 0,
            },
            Command {
                client: 0,
                cmd: Who,
            },
            Nick {
                client: 5,
                nick: Valid(0),
            },
            Say { client: 1, pad: 0 },
            Say { client: 3, pad: 0 },
            Garbage { client: 0, kind: 1 },
            Nick {
                client: 3,
                nick: Valid(0),
            },
            Command {
                client: 0,
                cmd: Help,
            },
            Say { client: 6, pad: 0 },
        ],
    });
}
