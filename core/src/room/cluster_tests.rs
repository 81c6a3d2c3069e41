//! Clustered rooms over a log kept in the test: cross-server chat, nick
//! claims, lost servers, a log that goes down or loses its entries.

use super::cluster::MAX_PENDING;
use crate::cluster::{ClusterConfig, Entry, EntryKind, NodeId};
use crate::config::MAX_MAX_LINE;
use crate::{Action, Config, ConnId, Input, Room, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

struct Cluster {
    rooms: Vec<Room>,
    /// Whether each room's log is reachable.
    up: Vec<bool>,
    log: Vec<Entry>,
    cursor: Vec<usize>,
    wire: BTreeMap<(usize, u64), Vec<u8>>,
    closed: BTreeSet<(usize, u64)>,
    now: Time,
}

fn peer() -> std::net::IpAddr {
    "192.0.2.7".parse().expect("an address")
}

impl Cluster {
    fn new(n: usize, config: Config) -> Self {
        let rooms = (0..n)
            .map(|i| {
                let node = NodeId::new(&format!("n{i}"), 1);
                Room::clustered(config.clone(), ClusterConfig::new(node), None)
            })
            .collect();
        let mut cluster = Cluster {
            rooms,
            up: vec![true; n],
            log: Vec::new(),
            cursor: vec![0; n],
            wire: BTreeMap::new(),
            closed: BTreeSet::new(),
            now: Time::ZERO,
        };
        for i in 0..n {
            cluster.input(i, Input::LogUp);
        }
        cluster.sync();
        cluster
    }

    fn input(&mut self, i: usize, input: Input<'_>) {
        self.rooms[i].handle(self.now, input);
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        while let Some(action) = self.rooms[i].poll_action() {
            match action {
                Action::Send { conn, bytes } => {
                    self.wire
                        .entry((i, conn.0))
                        .or_default()
                        .extend_from_slice(&bytes);
                    let written = Input::Written {
                        conn,
                        len: bytes.len(),
                        sends: usize::from(!bytes.is_empty()),
                    };
                    self.rooms[i].handle(self.now, written);
                }
                Action::Close { conn, .. } => {
                    self.closed.insert((i, conn.0));
                }
                Action::Append { entry } => {
                    if self.up[i] {
                        self.log.push(*entry);
                    }
                }
                Action::StopReading { .. } | Action::ResumeReading { .. } => {}
            }
        }
        assert_eq!(self.rooms[i].check_invariants(), Ok(()));
    }

    /// Hands every room the log it has not seen, until nothing is appended.
    fn sync(&mut self) {
        for _ in 0..100 {
            let before = self.log.len();
            for i in 0..self.rooms.len() {
                if self.up[i] && self.cursor[i] < self.log.len() {
                    let entries = self.log[self.cursor[i]..].to_vec();
                    self.cursor[i] = self.log.len();
                    self.input(i, Input::Logged { entries: &entries });
                }
            }
            if self.log.len() == before
                && (0..self.rooms.len()).all(|i| !self.up[i] || self.cursor[i] == self.log.len())
            {
                return;
            }
        }
        panic!("the log never settled");
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        for i in 0..self.rooms.len() {
            self.input(i, Input::Tick);
        }
        self.sync();
    }

    fn join(&mut self, i: usize, conn: u64, nick: &str) {
        self.connect(i, conn);
        self.say(i, conn, nick);
    }

    fn connect(&mut self, i: usize, conn: u64) {
        let conn = ConnId(conn);
        self.input(i, Input::Connected { conn, peer: peer() });
    }

    /// Hands room `i` one read of `conn`, without syncing the log.
    fn receive(&mut self, i: usize, conn: u64, bytes: &[u8]) {
        let conn = ConnId(conn);
        self.input(i, Input::Received { conn, bytes });
    }

    fn say(&mut self, i: usize, conn: u64, line: &str) {
        self.receive(i, conn, format!("{line}\n").as_bytes());
        self.sync();
    }

    fn seen(&self, i: usize, conn: u64) -> String {
        String::from_utf8_lossy(self.wire.get(&(i, conn)).map_or(&[][..], |w| &w[..])).into()
    }

    /// The room lines `conn` of room `i` got, from `from` on.
    fn lines_after(&self, i: usize, conn: u64, from: &str) -> Vec<String> {
        let seen = self.seen(i, conn);
        let start = seen
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} not in {seen:?}"));
        seen[start..].lines().map(str::to_string).collect()
    }
}

fn config() -> Config {
    Config {
        notice_hold_per_user: Duration::ZERO,
        ..Config::default()
    }
}

#[test]
fn users_of_two_servers_share_one_room_in_one_order() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.say(0, 1, "hi bob");
    c.say(1, 1, "hi alice");
    let expected = ["bob joined the chat", "alice: hi bob", "bob: hi alice"];
    assert_eq!(c.lines_after(0, 1, "bob joined"), expected);
    assert_eq!(
        c.lines_after(1, 1, "bob joined"),
        [
            "bob joined the chat",
            "You are connected to the server!",
            "Online (2): alice, bob",
            "alice: hi bob",
            "bob: hi alice",
        ]
    );
    assert_eq!(c.rooms[0].snapshot(), c.rooms[1].snapshot());
}

#[test]
fn the_first_claim_in_the_log_wins_a_nick() {
    let mut c = Cluster::new(2, config());
    // Both claim before either claim is in anyone's view of the log.
    for i in 0..2 {
        c.input(
            i,
            Input::Connected {
                conn: ConnId(5),
                peer: peer(),
            },
        );
        c.input(
            i,
            Input::Received {
                conn: ConnId(5),
                bytes: b"carol\n",
            },
        );
    }
    c.sync();
    assert!(
        c.seen(0, 5).contains("You are connected"),
        "{}",
        c.seen(0, 5)
    );
    assert!(
        c.seen(1, 5)
            .ends_with("error: nick is already taken\nalias?"),
        "{}",
        c.seen(1, 5)
    );
    c.say(1, 5, "dave");
    assert!(c.seen(0, 5).ends_with("dave joined the chat\n"));
    assert_eq!(c.rooms[0].members(), 2);
}

#[test]
fn private_lines_and_renames_cross_servers() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 2, "bob");
    c.say(0, 1, "/msg BOB psst");
    assert!(c.seen(1, 2).ends_with("[pm from alice] psst\n"));
    assert!(c.seen(0, 1).ends_with("[pm to bob] psst\n"));
    c.say(1, 2, "/nick robert");
    assert!(c.seen(0, 1).ends_with("bob is now known as robert\n"));
    c.say(0, 1, "/msg bob hello?");
    assert!(c.seen(0, 1).ends_with("error: no such user bob\n"));
    c.say(0, 1, "/who");
    assert!(c.seen(0, 1).ends_with("Online (2): alice, robert\n"));
}

#[test]
fn a_silent_server_is_lost_once_and_its_users_leave() {
    let mut c = Cluster::new(3, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.join(2, 1, "carol");
    c.up[2] = false; // cut off: nothing it appends gets in
    for _ in 0..7 {
        c.advance(Duration::from_secs(1));
    }
    for i in 0..2 {
        let seen = c.seen(i, 1);
        assert_eq!(
            seen.matches("carol left the chat! (server lost)").count(),
            1,
            "{seen}"
        );
    }
    assert_eq!(c.rooms[0].snapshot(), c.rooms[1].snapshot());
    // It comes back: it reads that it was lost and closes its user.
    c.up[2] = true;
    c.input(2, Input::LogDown);
    c.input(2, Input::LogUp);
    c.sync();
    assert!(
        c.seen(2, 1).contains("error: this server lost contact"),
        "{}",
        c.seen(2, 1)
    );
    assert!(c.closed.contains(&(2, 1)));
    // It serves again, as a new incarnation.
    c.join(2, 2, "carol");
    assert!(c.seen(0, 1).ends_with("carol joined the chat\n"));
    assert_eq!(c.rooms[0].snapshot(), c.rooms[2].snapshot());
}

#[test]
fn a_line_the_log_never_got_is_reported_to_its_sender() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.up[0] = false; // its appends are lost from here
    c.say(0, 1, "lost line");
    c.input(0, Input::LogDown);
    c.say(0, 1, "while down");
    assert!(c
        .seen(0, 1)
        .contains("error: room unavailable, not sent: while down\n"));
    c.up[0] = true;
    c.input(0, Input::LogUp);
    c.sync();
    assert!(c
        .seen(0, 1)
        .contains("error: room unavailable, not sent: lost line\n"));
    assert!(!c.seen(1, 1).contains("lost line"));
    c.say(0, 1, "back");
    assert!(c.seen(1, 1).ends_with("alice: back\n"));
}

#[test]
fn a_clean_shutdown_takes_its_users_out_at_once() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.join(1, 2, "bea");
    c.input(1, Input::Shutdown);
    c.sync();
    let seen = c.seen(0, 1);
    assert!(
        seen.ends_with(
            "bob left the chat! (server shut down)\nbea left the chat! (server shut down)\n"
        ),
        "{seen}"
    );
    assert_eq!(c.rooms[0].members(), 1);
}

#[test]
fn a_lost_log_closes_every_user_with_a_reason() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.log.clear();
    c.cursor = vec![0, 0];
    for i in 0..2 {
        c.input(i, Input::LogReset);
    }
    c.sync();
    for i in 0..2 {
        assert!(c
            .seen(i, 1)
            .ends_with("error: the room's log was lost, lines may be missing; please reconnect\n"));
        assert!(c.closed.contains(&(i, 1)));
    }
    c.join(1, 2, "bob");
    assert_eq!(c.rooms[0].members(), 1);
    assert_eq!(c.rooms[0].snapshot(), c.rooms[1].snapshot());
}

/// A server that was away while the log was trimmed past what it read
/// restarts from the snapshot; its users lost contact with the room, the
/// log itself lost nothing.
#[test]
fn a_server_that_fell_behind_the_trim_closes_its_users_as_lost() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    c.up[1] = false;
    c.input(1, Input::LogDown);
    for _ in 0..7 {
        c.advance(Duration::from_secs(1));
    }
    // The entries after its position are gone; the snapshot covers them.
    let snapshot = c.rooms[0].snapshot().expect("clustered");
    c.cursor[1] = c.log.len();
    c.up[1] = true;
    c.input(1, Input::FellBehind);
    assert!(c.rooms[1].restore_snapshot(&snapshot));
    c.input(1, Input::LogUp);
    c.sync();
    assert!(
        c.seen(1, 1)
            .ends_with("error: this server lost contact with the room; please reconnect\n"),
        "{}",
        c.seen(1, 1)
    );
    assert!(c.closed.contains(&(1, 1)));
    assert!(c.seen(0, 1).contains("bob left the chat! (server lost)\n"));
    c.join(1, 2, "bob");
    assert!(c.seen(1, 2).contains("Online (2): alice, bob\n"));
    assert_eq!(c.rooms[0].snapshot(), c.rooms[1].snapshot());
}

#[test]
fn history_is_sent_to_a_joiner_before_the_online_list() {
    let mut c = Cluster::new(
        2,
        Config {
            history: 2,
            ..config()
        },
    );
    c.join(0, 1, "alice");
    for line in ["one", "two", "/me waves"] {
        c.say(0, 1, line);
    }
    c.join(1, 1, "bob");
    assert_eq!(
        c.lines_after(1, 1, "bob joined"),
        [
            "bob joined the chat",
            "You are connected to the server!",
            "[history] alice: two",
            "[history] * alice waves",
            "Online (2): alice, bob",
        ]
    );
}

#[test]
fn a_node_started_from_a_snapshot_holds_the_same_room() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    let snapshot = c.rooms[0].snapshot().expect("clustered");
    let decoded = crate::cluster::Snapshot::decode(&snapshot.encode()).expect("decodes");
    assert_eq!(decoded.members(), 2);
    let node = NodeId::new("n2", 1);
    assert_eq!(node.to_string(), "n2/1");
    c.rooms.push(Room::clustered(
        config(),
        ClusterConfig::new(node),
        Some(&decoded),
    ));
    c.up.push(true);
    c.cursor.push(c.log.len());
    c.input(2, Input::LogUp);
    c.sync();
    c.join(2, 1, "carol");
    assert!(c.seen(2, 1).contains("Online (3): alice, bob, carol\n"));
    assert_eq!(c.rooms[0].snapshot(), c.rooms[2].snapshot());
}

#[test]
fn a_join_while_the_log_is_down_is_asked_again() {
    let mut c = Cluster::new(1, config());
    c.input(0, Input::LogDown);
    c.join(0, 1, "alice");
    assert_eq!(
        c.seen(0, 1),
        "alias?error: room unavailable, try again\nalias?"
    );
    c.input(0, Input::LogUp);
    c.say(0, 1, "alice");
    assert!(c.seen(0, 1).ends_with("Online (1): alice\n"));
}

#[test]
fn a_user_that_leaves_while_claiming_joins_and_leaves_in_the_log() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.input(
        1,
        Input::Connected {
            conn: ConnId(2),
            peer: peer(),
        },
    );
    c.input(
        1,
        Input::Received {
            conn: ConnId(2),
            bytes: b"bob\nhi there\n",
        },
    );
    c.input(1, Input::Closed { conn: ConnId(2) });
    c.sync();
    // What it sent after its nick was held for the claim, then read.
    assert!(
        c.seen(0, 1)
            .ends_with("bob joined the chat\nbob: hi there\nbob left the chat!\n"),
        "{}",
        c.seen(0, 1)
    );
    assert_eq!(c.rooms[0].members(), 1);
    assert_eq!(c.rooms[0].snapshot(), c.rooms[1].snapshot());
}

#[test]
fn a_snapshot_read_after_the_room_was_made_restores_it() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    let snapshot = c.rooms[0].snapshot().expect("clustered");
    let mut late = Room::clustered(config(), ClusterConfig::new(NodeId::new("n2", 1)), None);
    assert!(late.restore_snapshot(&snapshot));
    c.rooms.push(late);
    c.up.push(true);
    c.cursor.push(c.log.len());
    c.input(2, Input::LogUp);
    c.sync();
    // Serving now: a second snapshot is refused.
    assert!(!c.rooms[2].restore_snapshot(&snapshot));
    c.join(2, 1, "carol");
    assert!(c.seen(2, 1).contains("Online (3): alice, bob, carol\n"));
    assert_eq!(c.rooms[0].snapshot(), c.rooms[2].snapshot());
    // After a reset, while down, the new log's snapshot applies.
    c.input(2, Input::LogDown);
    c.input(2, Input::LogReset);
    assert!(c.rooms[2].restore_snapshot(&snapshot));
    assert_eq!(c.rooms[2].members(), 2);
}

#[test]
fn a_lost_crowd_closes_a_user_right_after_the_leave_notice_that_took_it_past() {
    let mut c = Cluster::new(
        2,
        Config {
            send_queue: 4096,
            // Byte arithmetic: a send costs its bytes only.
            send_overhead: 0,
            max_per_address: 0,
            connects_per_minute: 0,
            ..config()
        },
    );
    c.join(0, 1, "alice");
    let nick = |i: u64| format!("u{i:03}{}", "a".repeat(20));
    for i in 0..150 {
        c.join(1, 100 + i, &nick(i));
    }
    // The second server goes silent and is lost with its 150 users: one
    // entry, 150 leave notices of 54 bytes at once for alice, who has
    // taken everything before them.
    c.up[1] = false;
    for _ in 0..7 {
        c.advance(Duration::from_secs(1));
    }
    let notices = c.lines_after(0, 1, &format!("{} left", nick(0)));
    let leave = |i: u64| format!("{} left the chat! (server lost)", nick(i));
    let leaves = 4096 / (leave(0).len() as u64 + 1) + 1;
    let expected: Vec<String> = (0..leaves).map(leave).collect();
    assert_eq!(notices, expected, "up to the crossing notice, no further");
    assert!(c.closed.contains(&(0, 1)));
}

#[test]
fn a_snapshot_is_refused_by_a_room_that_knows_other_servers() {
    // Down again, with nobody in the room, but it knows n1.
    let mut c = Cluster::new(2, config());
    assert!(c.rooms[0].is_clustered());
    assert!(!Room::new(config()).is_clustered());
    let snapshot = c.rooms[1].snapshot().expect("clustered");
    c.input(0, Input::LogDown);
    assert!(!c.rooms[0].restore_snapshot(&snapshot));
    // It knows n1 only as lost.
    let mut c = Cluster::new(2, config());
    c.up[1] = false;
    for _ in 0..7 {
        c.advance(Duration::from_secs(1));
    }
    c.input(0, Input::LogDown);
    assert!(!c.rooms[0].restore_snapshot(&snapshot));
}

#[test]
fn a_server_announces_itself_once_per_incarnation() {
    let mut c = Cluster::new(2, config());
    let ups = |c: &Cluster| {
        c.log
            .iter()
            .filter(|e| e.node.to_string() == "n0/1" && e.kind == EntryKind::Up)
            .count()
    };
    assert_eq!(ups(&c), 1);
    c.input(0, Input::LogDown);
    c.input(0, Input::LogUp);
    c.sync();
    assert_eq!(ups(&c), 1, "a reconnect is not a new start");
}

#[test]
fn a_line_past_the_appends_not_yet_seen_is_not_sent() {
    let mut c = Cluster::new(
        1,
        Config {
            flood_rate: 0,
            ..config()
        },
    );
    c.join(0, 1, "alice");
    // The log takes the appends but hands nothing back: they pile up.
    let read = "a\n".repeat(512);
    for _ in 0..MAX_PENDING / 512 {
        c.receive(0, 1, read.as_bytes());
    }
    assert!(
        !c.seen(0, 1).contains("not sent"),
        "{MAX_PENDING} appends wait"
    );
    c.receive(0, 1, b"one too many\n");
    assert!(c
        .seen(0, 1)
        .ends_with("error: room unavailable, not sent: one too many\n"));
    // Nor does a heartbeat go past the bound (the room's invariant is
    // checked after the tick).
    c.now = c.now + Duration::from_secs(1);
    c.input(0, Input::Tick);
}

impl Cluster {
    /// Puts `kind` in the log as n1's (incarnation 1), as another program
    /// or a racing server could.
    fn log_from_n1(&mut self, kind: EntryKind) {
        let seq = 1_000 + self.log.len() as u64;
        let node = NodeId::new("n1", 1);
        self.log.push(Entry { node, seq, kind });
        self.sync();
    }
}

#[test]
fn logged_texts_are_taken_up_to_the_longest_line() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    let longest = "x".repeat(MAX_MAX_LINE);
    let conn = ConnId(1);
    for text in [longest.clone(), format!("{longest}y")] {
        let private = EntryKind::Private {
            conn,
            to: "alice".into(),
            text: text.clone(),
        };
        c.log_from_n1(EntryKind::Say { conn, text });
        c.log_from_n1(private);
    }
    let seen = c.seen(0, 1);
    assert_eq!(seen.matches(&format!("bob: {longest}\n")).count(), 1);
    assert_eq!(
        seen.matches(&format!("[pm from bob] {longest}\n")).count(),
        1
    );
    assert!(
        !seen.contains(&format!("{longest}y")),
        "a longer text is ignored"
    );
}

#[test]
fn a_logged_rename_to_the_same_nick_says_nothing() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    let conn = ConnId(1);
    c.log_from_n1(EntryKind::Rename {
        conn,
        nick: "bob".into(),
    });
    assert!(!c.seen(0, 1).contains("known as"), "{}", c.seen(0, 1));
    c.log_from_n1(EntryKind::Rename {
        conn,
        nick: "Bob".into(),
    });
    assert!(c.seen(0, 1).ends_with("bob is now known as Bob\n"));
}

#[test]
fn an_append_the_log_skipped_is_reported_when_a_later_one_comes_back() {
    let mut c = Cluster::new(1, config());
    c.join(0, 1, "alice");
    c.receive(0, 1, b"lost on the way\n");
    c.log.pop();
    c.receive(0, 1, b"this one arrives\n");
    c.sync();
    let lines = c.lines_after(0, 1, "error: ");
    assert_eq!(
        lines,
        [
            "error: room unavailable, not sent: lost on the way",
            "alice: this one arrives"
        ]
    );
}

#[test]
fn what_a_loser_of_a_nick_race_typed_after_its_nick_is_read_next() {
    let mut c = Cluster::new(2, config());
    // bob's claim on n1 enters the log first; carol's own on n0 follows
    // in the same read of the log, with her next attempt typed behind it.
    c.connect(1, 1);
    c.connect(0, 7);
    c.receive(1, 1, b"bob\n");
    c.receive(0, 7, b"bob\ncarol\n");
    c.sync();
    let seen = c.seen(0, 7);
    assert!(
        seen.contains("error: nick is already taken\nalias?"),
        "{seen}"
    );
    assert!(seen.ends_with("Online (2): bob, carol\n"), "{seen}");
}

#[test]
fn claims_the_log_never_got_do_not_count_as_failed_attempts() {
    let mut c = Cluster::new(1, config());
    c.connect(0, 1);
    for _ in 0..12 {
        c.receive(0, 1, b"alice\n");
        c.input(0, Input::LogDown);
        c.input(0, Input::LogUp);
    }
    assert!(!c.closed.contains(&(0, 1)), "{}", c.seen(0, 1));
    assert_eq!(
        c.seen(0, 1)
            .matches("error: room unavailable, try again\n")
            .count(),
        12
    );
}

#[test]
fn a_ping_is_answered_by_the_users_own_server_at_once() {
    let mut c = Cluster::new(2, config());
    c.join(0, 1, "alice");
    c.join(1, 1, "bob");
    let before = c.seen(0, 1).len();
    // The line waits for the log; the pong does not, even with the log down.
    c.receive(0, 1, b"on its way\n/ping #1\n");
    assert_eq!(&c.seen(0, 1)[before..], "pong #1\n");
    c.sync();
    assert_eq!(&c.seen(0, 1)[before..], "pong #1\nalice: on its way\n");
    c.input(0, Input::LogDown);
    c.receive(0, 1, b"/ping #2\n");
    assert!(c.seen(0, 1).ends_with("alice: on its way\npong #2\n"));
    assert!(!c.seen(1, 1).contains("pong"));
}
