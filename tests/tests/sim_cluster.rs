//! The cluster simulation: quickcheck scenarios of several clustered rooms
//! over one simulated log, with every checker after every input.
//!
//! Every run prints its seed and the command that replays it. More
//! scenarios: `CHAT_SIM_TESTS=100000 cargo test -p chat-tests --release
//! --test sim_cluster -- --nocapture`.

use chat_tests::cluster::prelude::*;
use chat_tests::cluster::run::run_property;
use chat_tests::seed::Seed;
use quickcheck::{Arbitrary, Gen};
use std::io::Write as _;
use std::time::Instant;

/// Scenarios per run by default.
const TESTS: u64 = 1_500;
/// The longest script, in ops.
const SIZE: usize = 60;

#[test]
fn simulated_cluster_keeps_every_invariant() {
    let seed = Seed::from_env(TESTS, SIZE);
    let _ = writeln!(
        std::io::stderr(),
        "sim_cluster: seed {} size {} tests {}\nsim_cluster: replay with: {}",
        seed.seed,
        seed.size,
        seed.tests,
        seed.replay("sim_cluster")
    );
    let started = Instant::now();
    match run_property(seed, "sim_cluster") {
        Ok(passed) => {
            let took = started.elapsed();
            let _ = writeln!(
                std::io::stderr(),
                "sim_cluster: {passed} scenarios passed in {took:.1?}"
            );
        }
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn a_seed_generates_the_same_scenarios() {
    let generate = |seed| {
        let mut g = Gen::from_size_and_seed(SIZE, seed);
        (0..20)
            .map(|_| ClusterScenario::arbitrary(&mut g))
            .collect::<Vec<_>>()
    };
    assert_eq!(generate(7), generate(7));
    assert_ne!(generate(7), generate(8));
}

#[test]
fn shrinking_only_simplifies() {
    let mut g = Gen::from_size_and_seed(SIZE, 1);
    for _ in 0..20 {
        let s = ClusterScenario::arbitrary(&mut g);
        for t in s.shrink() {
            assert!(t.ops.len() <= s.ops.len());
            assert_ne!(t, s, "a shrink changes something");
        }
    }
}

/// Users of two nodes chat; one node is cut off long enough to be lost,
/// then healed: its user reads the loss and is closed.
#[test]
fn a_cut_off_node_is_lost_and_its_user_told() {
    assert_cluster_passes(&ClusterScenario::plain(
        2,
        vec![
            Connect { node: 0 },
            Nick { client: 0, nick: 0 },
            Connect { node: 1 },
            Nick { client: 1, nick: 1 },
            Say { client: 0 },
            Say { client: 1 },
            Cut {
                node: 1,
                notice_ms: 500,
            },
            Say { client: 1 },
            Wait { ms: 8_000 },
            Heal { node: 1 },
            Connect { node: 1 },
            Nick { client: 2, nick: 1 },
            Say { client: 2 },
        ],
    ));
}

/// A crash, a reset of the log and a node started from a snapshot.
#[test]
fn crash_reset_and_restart_from_a_snapshot() {
    assert_cluster_passes(&ClusterScenario::plain(
        3,
        vec![
            Connect { node: 0 },
            Nick { client: 0, nick: 0 },
            Connect { node: 1 },
            Nick { client: 1, nick: 1 },
            Connect { node: 2 },
            Nick { client: 2, nick: 2 },
            Say { client: 2 },
            Crash { node: 2 },
            Wait { ms: 7_000 },
            Restart { from: 0 },
            Connect { node: 2 },
            Nick { client: 3, nick: 2 },
            Say { client: 3 },
            ResetLog,
            Connect { node: 0 },
            Nick { client: 4, nick: 0 },
        ],
    ));
}

/// The generator reaches every fault and every report the checkers look
/// for: a scenario family that never loses a node (say) would make the
/// property pass for the wrong reason.
#[test]
fn scenarios_reach_every_fault() {
    let mut g = Gen::from_size_and_seed(SIZE, 11);
    let mut seen = [0u32; 12];
    let names = [
        "a node declared lost",
        "a lost-contact error",
        "a log-lost error",
        "a not-sent report",
        "a user closed as too slow",
        "a node started from a snapshot",
        "a refused claim",
        "a (server lost) leave notice",
        "an entry of a lost incarnation after its loss",
        "a user's notices held back",
        "a node that fell behind the trim",
        "a lost log noticed at a node's next read",
    ];
    for _ in 0..400 {
        let s = ClusterScenario::arbitrary(&mut g);
        let w = chat_tests::cluster::run::play(&s);
        assert_eq!(w.violation, None, "{s:?}");
        let readers = || w.clients.iter().map(|c| &c.reader);
        let hits = [
            w.epochs.iter().any(|e| !e.lost_at.is_empty()),
            readers().any(|r| r.lost_error),
            readers().any(|r| r.reset_error),
            readers().any(|r| !r.not_sent.is_empty()),
            w.clients
                .iter()
                .any(|c| c.closed == Some(chat_core::CloseMode::Abort)),
            w.nodes.len() > usize::from(s.nodes) || w.nodes.iter().any(|n| n.incarnation > 1),
            readers().any(|r| r.prompts > 1),
            readers().any(|r| r.room_lines.iter().any(|l| l.ends_with("(server lost)"))),
            w.epochs.iter().any(|e| !e.late.is_empty()),
            w.held_gaps.get() > 0,
            w.fell_behind > 0,
            s.ops.iter().any(|op| matches!(op, FlushLog { .. })) && w.epochs.len() > 1,
        ];
        for (count, hit) in seen.iter_mut().zip(hits) {
            *count += u32::from(hit);
        }
    }
    for (name, count) in names.iter().zip(seen) {
        assert!(count >= 3, "{name}: in {count} of 400 scenarios");
    }
}

/// A simulation regression: a node restarted in a crashed slot after a
/// reset took an incarnation it had already used (the room takes a new
/// one at a reset), which the log had declared lost.
#[test]
fn a_restart_after_a_reset_takes_a_fresh_incarnation() {
    assert_cluster_passes(&ClusterScenario::plain(
        2,
        vec![
            ResetLog,
            Crash { node: 1 },
            Wait { ms: 5_002 },
            Restart { from: 0 },
            Connect { node: 1 },
            Nick { client: 0, nick: 0 },
            Say { client: 0 },
        ],
    ));
}

/// A node is paused past the loss bound while its user types a line: when
/// it resumes, its overdue heartbeat and that line are appended after the
/// log declared it lost, and only then does it read the log. Nobody reads
/// the late line; the paused node reads its own loss, closes its user with
/// the lost-contact error and carries on, so a new user joins it.
#[test]
fn a_paused_node_is_lost_and_its_late_entries_ignored() {
    let s = ClusterScenario::plain(
        2,
        vec![
            Connect { node: 0 },
            Nick { client: 0, nick: 0 },
            Connect { node: 1 },
            Nick { client: 1, nick: 1 },
            Say { client: 1 },
            Pause { node: 1, ms: 7_000 },
            Wait { ms: 100 },
            Say { client: 1 },
            Wait { ms: 8_000 },
            Connect { node: 1 },
            Nick { client: 2, nick: 1 },
            Say { client: 2 },
        ],
    );
    assert_cluster_passes(&s);
    let w = chat_tests::cluster::run::play(&s);
    let model = &w.epochs[0];
    assert!(
        model.late.len() >= 2,
        "the heartbeat and the line after the loss: {:?}",
        model.late
    );
    let (watcher, paused, newcomer) = (&w.clients[0], &w.clients[1], &w.clients[2]);
    let late = format!("s{}.2", paused.conn.0);
    assert!(w.archive.contains(&(paused.conn, late.clone())));
    assert!(!watcher.reader.room_lines.iter().any(|l| l.contains(&late)));
    assert!(watcher
        .reader
        .room_lines
        .iter()
        .any(|l| l.ends_with("(server lost)")));
    assert!(paused.reader.lost_error && paused.closed.is_some());
    assert!(newcomer.reader.joined && newcomer.is_open());
    assert_eq!(
        w.nodes[1]
            .room
            .as_ref()
            .and_then(|r| r.node())
            .map(|n| n.incarnation),
        Some(2)
    );
}

/// A crowd of users on one node holds join and leave notices back; they
/// reach everyone late but in the log's order.
#[test]
fn a_crowd_holds_notices_in_order() {
    let s = ClusterScenario {
        hold: true,
        ..ClusterScenario::plain(
            2,
            vec![
                Connect { node: 0 },
                Nick { client: 0, nick: 0 },
                Connect { node: 1 },
                Nick { client: 1, nick: 1 },
                Crowd { node: 0, users: 24 },
                Say { client: 1 },
                Crowd { node: 1, users: 3 },
                Quit { client: 5 },
                Close { client: 9 },
                Wait { ms: 300 },
                Say { client: 0 },
                Pause { node: 0, ms: 6_000 },
                Wait { ms: 7_000 },
            ],
        )
    };
    assert_cluster_passes(&s);
    let w = chat_tests::cluster::run::play(&s);
    assert!(w.held_gaps.get() > 0, "no notice was held");
}

/// The log's keys are lost (a flushed Redis, a deleted stream, an expired
/// key) while two nodes serve users; the nodes notice at their next reads,
/// one after the other, and a node started in between serves the new
/// epoch. Its user takes the nick of a user of a node that has not noticed
/// yet: that user is closed with the log-lost error when its node notices,
/// and from then on there is one room, which a newcomer on the old node
/// shares with the new node's user.
#[test]
fn a_lost_log_noticed_at_the_next_read_leaves_one_room() {
    let s = ClusterScenario::plain(
        2,
        with_two_users([
            Say { client: 0 },
            FlushLog { notice_ms: 2_000 },
            Say { client: 1 },
            Start,
            Connect { node: 2 },
            Nick { client: 2, nick: 1 },
            Say { client: 2 },
            Wait { ms: 3_000 },
            Connect { node: 1 },
            Nick { client: 3, nick: 0 },
            Say { client: 3 },
            Say { client: 2 },
        ]),
    );
    assert_cluster_passes(&s);
    let w = chat_tests::cluster::run::play(&s);
    let c = &w.clients;
    assert!(c[0].reader.reset_error && c[1].reader.reset_error);
    assert!(c[2].reader.joined && c[2].is_open() && c[3].is_open());
    let heard = |i: usize, j: usize| {
        let said = format!("s{}.", c[j].conn.0);
        c[i].reader.room_lines.iter().any(|l| l.contains(&said))
    };
    assert!(heard(2, 3) && heard(3, 2), "the newcomers share one room");
    assert_eq!(w.nodes.iter().filter(|n| n.epoch == 1).count(), 3);
}

/// A node paused for longer than the log keeps entries falls behind the
/// trim: restored from the stored snapshot, it tells its user that it lost
/// contact with the room, not that the log was lost, and serves again.
#[test]
fn a_node_paused_past_the_trim_tells_its_users_it_lost_contact() {
    let s = ClusterScenario::plain(
        2,
        with_two_users([
            Say { client: 1 },
            Pause {
                node: 1,
                ms: 17_000,
            },
            Wait { ms: 18_000 },
            Connect { node: 1 },
            Nick { client: 2, nick: 1 },
            Say { client: 2 },
        ]),
    );
    assert_cluster_passes(&s);
    let w = chat_tests::cluster::run::play(&s);
    assert_eq!(w.fell_behind, 1);
    let (watcher, paused, newcomer) = (&w.clients[0], &w.clients[1], &w.clients[2]);
    assert!(paused.reader.lost_error && !paused.reader.reset_error);
    assert!(paused.closed.is_some());
    assert!(watcher
        .reader
        .room_lines
        .iter()
        .any(|l| l.ends_with("(server lost)")));
    assert!(newcomer.reader.joined && newcomer.is_open());
}

/// A user on each of the first two nodes (clients 0 and 1), then `rest`.
fn with_two_users(rest: impl IntoIterator<Item = COp>) -> Vec<COp> {
    let mut ops = vec![
        Connect { node: 0 },
        Nick { client: 0, nick: 0 },
        Connect { node: 1 },
        Nick { client: 1, nick: 1 },
    ];
    ops.extend(rest);
    ops
}
