//! The stepper over a [`MemoryLog`]: a clustered room of one serves as the
//! single room does.

use super::{Connections, Stepper};
use crate::log::{LogEvent, LogPos, MemoryLog, RoomLog};
use crate::written::Released;
use chat_core::{
    Action, CloseMode, ClusterConfig, Config, ConnId, Entry, EntryKind, Event, Input, NodeId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// What the room did to each connection, as a driver would carry it out.
#[derive(Debug, Default, PartialEq, Eq)]
struct Recorder {
    /// Every byte sent to each connection, in order.
    received: BTreeMap<ConnId, Vec<u8>>,
    /// How each closed connection was closed.
    closed: BTreeMap<ConnId, CloseMode>,
    /// The room's events about users, as the runtimes log them.
    events: Vec<String>,
    /// The room's events about the servers of a cluster.
    node_events: Vec<String>,
    /// Connections neither closed by the room nor by their peer.
    open: BTreeSet<ConnId>,
}

impl Connections for Recorder {
    fn act(&mut self, action: Action) {
        match action {
            Action::Send { conn, bytes } => {
                self.received
                    .entry(conn)
                    .or_default()
                    .extend_from_slice(&bytes);
            }
            Action::Close { conn, mode } => {
                self.closed.insert(conn, mode);
                self.open.remove(&conn);
            }
            Action::StopReading { .. } | Action::ResumeReading { .. } => {}
            Action::Append { entry } => panic!("the stepper passed on an append: {entry:?}"),
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::NodeLost { .. } | Event::LogReset | Event::FellBehind => {
                self.node_events.push(event.to_string());
            }
            _ => self.events.push(event.to_string()),
        }
    }

    fn take_written(&mut self, _conn: ConnId) -> Released {
        Released::default()
    }

    fn len(&self) -> usize {
        self.open.len()
    }
}

/// One input of a scripted session.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Connect(u64),
    Say(u64, &'a str),
    Hangup(u64),
    Tick,
    Shutdown,
}

/// Feeds `script` to `stepper`, and returns what each connection got.
fn run(mut stepper: Stepper, script: &[Step<'_>]) -> Recorder {
    let mut conns = Recorder::default();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for step in script {
        let conn = |id: u64| ConnId(id);
        match *step {
            Step::Connect(id) => {
                conns.open.insert(conn(id));
                stepper.step(
                    &mut conns,
                    Input::Connected {
                        conn: conn(id),
                        peer,
                    },
                );
            }
            Step::Say(id, text) => stepper.step(
                &mut conns,
                Input::Received {
                    conn: conn(id),
                    bytes: text.as_bytes(),
                },
            ),
            Step::Hangup(id) => {
                conns.open.remove(&conn(id));
                stepper.step(&mut conns, Input::Closed { conn: conn(id) });
            }
            Step::Tick => stepper.step(&mut conns, Input::Tick),
            Step::Shutdown => stepper.step(&mut conns, Input::Shutdown),
        }
    }
    conns
}

fn room_of_one() -> Stepper {
    let node = ClusterConfig::new(NodeId::new("here", 1));
    Stepper::clustered(Config::default(), node, MemoryLog::new())
}

/// Joins, a taken nick, lines (several in one read, one cut across two
/// reads), `/me`, `/nick`, `/who`, `/msg`, a quit, a hang-up and the
/// shutdown.
const SESSION: &[Step<'static>] = &[
    Step::Connect(1),
    Step::Say(1, "alice\n"),
    Step::Connect(2),
    Step::Say(2, "alice\n"),
    Step::Say(2, "bob\nhello alice\n"),
    Step::Say(1, "hi bob\nhow are you?\n/me waves\n"),
    Step::Connect(3),
    Step::Say(3, "car"),
    Step::Say(3, "ol\n/who\n"),
    Step::Say(2, "/nick robert\nI am robert now\n"),
    Step::Say(3, "/nick alice\n"),
    Step::Say(3, "/msg alice psst\n"),
    Step::Tick,
    Step::Say(1, "the first half of a line "),
    Step::Say(1, "and its end\n"),
    Step::Say(3, "/quit off to lunch\n"),
    Step::Hangup(3),
    Step::Connect(4),
    Step::Say(4, "dave\n"),
    Step::Hangup(2),
    Step::Say(4, "anyone here?\n"),
    Step::Shutdown,
];

#[test]
fn a_room_of_one_over_the_memory_log_serves_as_the_single_room_does() {
    let single = run(Stepper::new(Config::default()), SESSION);
    let clustered = run(room_of_one(), SESSION);
    for (conn, bytes) in &single.received {
        let got = clustered
            .received
            .get(conn)
            .map(|b| String::from_utf8_lossy(b));
        assert_eq!(
            got.as_deref(),
            Some(&*String::from_utf8_lossy(bytes)),
            "what {conn} received"
        );
    }
    assert_eq!(single.received.len(), clustered.received.len());
    assert_eq!(
        single.closed, clustered.closed,
        "how connections were closed"
    );
    assert_eq!(single.events, clustered.events, "joins, renames and leaves");
    assert_eq!(
        clustered.node_events,
        ["server here/1 left the room with 0 users"],
        "the only event a room of one adds: its own `Down` at shutdown"
    );
    // The script did something: every user joined, and everyone saw a line.
    let alice = String::from_utf8_lossy(&single.received[&ConnId(1)]);
    for seen in [
        "bob: hello alice",
        "robert: I am robert now",
        "dave: anyone here?",
    ] {
        assert!(alice.contains(seen), "alice got {alice:?}");
    }
    assert_eq!(single.closed.len(), 4);
}

#[test]
fn lines_come_back_from_the_memory_log_in_the_order_they_were_sent() {
    let mut script = vec![
        Step::Connect(1),
        Step::Say(1, "alice\n"),
        Step::Connect(2),
        Step::Say(2, "bob\n"),
    ];
    // Both users talk at once: several lines per read, reads interleaved.
    let reads: Vec<(u64, String)> = (0..10)
        .flat_map(|n| {
            let first = 4 * n;
            let three = format!("line {}\nline {}\nline {}\n", first, first + 1, first + 2);
            let one = format!("line {}\n", first + 3);
            [(1, three), (2, one)]
        })
        .collect();
    script.extend(reads.iter().map(|(conn, text)| Step::Say(*conn, text)));
    let got = run(room_of_one(), &script);
    let single = run(Stepper::new(Config::default()), &script);
    for conn in [ConnId(1), ConnId(2)] {
        let text = String::from_utf8_lossy(&got.received[&conn]).into_owned();
        let said: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(": line ").map(|(_, n)| n))
            .collect();
        let expected: Vec<String> = (0..40).map(|n| n.to_string()).collect();
        assert_eq!(said, expected, "the lines {conn} got, in order");
        assert_eq!(got.received[&conn], single.received[&conn]);
    }
}

fn entry(seq: u64) -> Entry {
    Entry {
        node: NodeId::new("here", 1),
        seq,
        kind: EntryKind::Beat,
    }
}

#[test]
fn the_memory_log_is_up_at_once_and_hands_back_appends_in_order() {
    let mut log = MemoryLog::new();
    assert!(matches!(
        log.poll_event(),
        Some(LogEvent::Up { gen: 0, .. })
    ));
    assert!(log.poll_event().is_none());
    let mut positions = Vec::new();
    let mut seqs = Vec::new();
    for batch in [1..4, 4..5, 5..9] {
        for seq in batch {
            log.append(0, &entry(seq))
                .expect("a memory log takes every append");
        }
        match log.poll_event() {
            Some(LogEvent::Logged { entries, last }) => {
                seqs.extend(entries.iter().map(|e| e.seq));
                positions.push(last);
            }
            other => panic!("expected the entries, got {other:?}"),
        }
        assert!(log.poll_event().is_none(), "one event per batch");
    }
    assert_eq!(seqs, (1..9).collect::<Vec<_>>());
    assert_eq!(
        positions,
        [LogPos::new(0, 3), LogPos::new(0, 4), LogPos::new(0, 8)]
    );
    assert!(log.flush().is_done());
}

#[test]
fn the_memory_log_keeps_its_newest_snapshot() {
    let mut log = MemoryLog::new();
    let room = room_of_one();
    let snapshot = room
        .room
        .snapshot()
        .expect("a clustered room has a snapshot");
    assert!(log.snapshot().is_none());
    log.store_snapshot("memory".into(), LogPos::new(0, 7), &snapshot);
    log.store_snapshot("memory".into(), LogPos::new(0, 5), &snapshot);
    assert_eq!(log.snapshot(), Some((LogPos::new(0, 7), &snapshot)));
}
