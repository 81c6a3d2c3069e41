//! One test per rule of docs/protocol.md, on the room alone.

use super::Room;
use crate::event::{DisconnectReason, Event};
use crate::io::{Action, CloseMode, ConnId, Input};
use crate::roster::Member;
use crate::time::Time;
use crate::timer::TimerKind;
use crate::{Config, Dialect};
use std::collections::BTreeMap;
use std::time::Duration;

/// A room, a clock and what each connection has received.
struct Harness {
    room: Room,
    now: Time,
    wire: BTreeMap<u64, Vec<u8>>,
    closed: BTreeMap<u64, CloseMode>,
    /// Connections whose socket takes nothing (a client that stopped reading).
    stalled: Vec<u64>,
    /// Connections the room told the driver not to read from.
    not_read: Vec<u64>,
    events: Vec<Event>,
}

impl Harness {
    fn new() -> Self {
        Self::with(Config::default())
    }

    fn with(config: Config) -> Self {
        Harness {
            room: Room::new(config),
            now: Time::ZERO,
            wire: BTreeMap::new(),
            closed: BTreeMap::new(),
            stalled: Vec::new(),
            not_read: Vec::new(),
            events: Vec::new(),
        }
    }

    fn input(&mut self, input: Input<'_>) {
        self.room.handle(self.now, input);
        while let Some(action) = self.room.poll_action() {
            let Some(conn) = action.conn() else {
                panic!("a room that is not clustered appended {action:?}");
            };
            assert!(
                !self.closed.contains_key(&conn.0),
                "action after close: {action:?}"
            );
            match action {
                Action::Send { bytes, .. } => {
                    self.wire
                        .entry(conn.0)
                        .or_default()
                        .extend_from_slice(&bytes);
                    if !self.stalled.contains(&conn.0) {
                        self.room.handle(
                            self.now,
                            Input::Written {
                                conn,
                                len: bytes.len(),
                                sends: usize::from(!bytes.is_empty()),
                            },
                        );
                    }
                }
                Action::Close { mode, .. } => {
                    self.closed.insert(conn.0, mode);
                }
                Action::StopReading { .. } => {
                    assert!(!self.not_read.contains(&conn.0), "stopped twice");
                    self.not_read.push(conn.0);
                }
                Action::ResumeReading { .. } => {
                    assert!(self.not_read.contains(&conn.0), "resumed unstopped");
                    self.not_read.retain(|&c| c != conn.0);
                }
                Action::Append { .. } => {}
            }
        }
        self.events
            .extend(std::iter::from_fn(|| self.room.poll_event()));
    }

    /// Connects from loopback (exempt from the per-address limits).
    fn connect(&mut self, id: u64) {
        self.connect_from(id, "127.0.0.1");
    }

    fn connect_from(&mut self, id: u64, peer: &str) {
        let peer = peer.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        self.input(Input::Connected {
            conn: ConnId(id),
            peer,
        });
    }

    fn send(&mut self, id: u64, bytes: &[u8]) {
        self.input(Input::Received {
            conn: ConnId(id),
            bytes,
        });
    }

    fn join(&mut self, id: u64, nick: &str) {
        self.connect(id);
        self.send(id, format!("{nick}\n").as_bytes());
        assert_eq!(self.room.nick(ConnId(id)), Some(nick));
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.input(Input::Tick);
    }

    /// Everything `id` received, taken.
    fn take(&mut self, id: u64) -> String {
        String::from_utf8(std::mem::take(self.wire.entry(id).or_default()))
            .expect("the room sends UTF-8")
    }

    fn is_closed(&self, id: u64) -> bool {
        self.closed.contains_key(&id)
    }
}

#[test]
fn handshake_sends_exactly_the_prompt() {
    let mut h = Harness::new();
    h.connect(1);
    assert_eq!(h.take(1), "alias?");
    assert_eq!(
        h.room.poll_timeout(),
        Some(Time::ZERO + Duration::from_secs(30))
    );
}

#[test]
fn join_notices_come_in_the_seed_order() {
    let mut h = Harness::new();
    h.join(1, "bob");
    h.join(2, "alice");
    assert_eq!(
        h.take(2),
        "alias?alice joined the chat\nYou are connected to the server!\nOnline (2): alice, bob\n"
    );
    assert_eq!(
        h.take(1),
        "alias?bob joined the chat\nYou are connected to the server!\nOnline (1): bob\nalice joined the chat\n"
    );
    assert_eq!(h.room.poll_timeout(), None, "joined users have no deadline");
}

#[test]
fn crlf_nick_and_nick_cut_across_reads() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(1, b"al");
    h.send(1, b"ice\r\n");
    assert_eq!(h.room.nick(ConnId(1)), Some("alice"));
}

#[test]
fn broadcast_reaches_everyone_including_the_sender() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(1, b"hi all\n");
    assert_eq!(h.take(1), "alice: hi all\n");
    assert_eq!(h.take(2), "alice: hi all\n");
}

#[test]
fn a_broadcast_shares_one_buffer() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.room.handle(
        h.now,
        Input::Received {
            conn: ConnId(1),
            bytes: b"x\n",
        },
    );
    let sends: Vec<_> = std::iter::from_fn(|| h.room.poll_action()).collect();
    match &sends[..] {
        [Action::Send { bytes: a, .. }, Action::Send { bytes: b, .. }] => assert!(a.ptr_eq(b)),
        other => panic!("expected two sends, got {other:?}"),
    }
}

#[test]
fn lines_of_one_read_and_a_unicast_keep_their_order() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(1, b"one\n/who\ntwo\n");
    assert_eq!(
        h.take(1),
        "alice: one\nOnline (2): alice, bob\nalice: two\n"
    );
    assert_eq!(h.take(2), "alice: one\nalice: two\n");
}

#[test]
fn empty_lines_are_ignored() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.send(1, b"\n\r\n\x07\n");
    assert_eq!(h.take(1), "");
}

#[test]
fn nick_rules_reject_with_a_reason_then_ask_again() {
    let mut h = Harness::new();
    h.join(1, "Alice");
    h.connect(2);
    h.take(2);
    let cases: [(&[u8], &str); 6] = [
        (b"\n", "error: nick is empty\n"),
        (b"ALICE\n", "error: nick is already taken\n"),
        (
            b"bad nick\n",
            "error: nick may only contain letters, digits and _-.[]{}|^\n",
        ),
        (b"-x\n", "error: nick may not start with '-'\n"),
        (
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            "error: nick too long (max 32 characters)\n",
        ),
        (
            b"a\xffb\n",
            "error: nick may only contain letters, digits and _-.[]{}|^\n",
        ),
    ];
    for (nick, error) in cases {
        h.send(2, nick);
        assert_eq!(h.take(2), format!("{error}alias?"), "nick {nick:?}");
    }
    h.send(2, b"bob\n");
    assert_eq!(h.room.nick(ConnId(2)), Some("bob"));
}

#[test]
fn seed_dialect_nick_settles_and_later_reads_are_messages() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.connect(2);
    h.send(2, b"kay");
    assert_eq!(h.room.nick(ConnId(2)), None);
    h.advance(Duration::from_millis(249));
    assert_eq!(h.room.nick(ConnId(2)), None);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.room.nick(ConnId(2)), Some("kay"));
    assert_eq!(
        h.events.last(),
        Some(&Event::Joined {
            conn: ConnId(2),
            nick: "kay".into(),
            dialect: Dialect::Seed
        })
    );
    h.take(1);
    h.take(2);
    h.send(2, b"kay: hello there");
    h.send(2, b"kay: /me waves");
    h.send(2, b"no prefix\r\nsecond");
    let expected = "kay: hello there\n* kay waves\nkay: no prefix\nkay: second\n";
    assert_eq!(h.take(1), expected);
    assert_eq!(h.take(2), expected);
}

#[test]
fn a_seed_dialect_message_of_exactly_max_line_bytes_is_said() {
    let mut h = Harness::with(Config {
        max_line: 100,
        ..Config::default()
    });
    h.join(1, "alice");
    h.connect(2);
    h.send(2, b"kay");
    h.advance(Duration::from_millis(250));
    assert_eq!(h.room.nick(ConnId(2)), Some("kay"));
    h.take(1);
    h.take(2);
    let longest = "x".repeat(100);
    h.send(2, format!("kay: {longest}").as_bytes());
    assert_eq!(h.take(1), format!("kay: {longest}\n"));
    h.take(2);
    h.send(2, format!("kay: {longest}y").as_bytes());
    assert_eq!(h.take(2), "error: line too long (max 100 bytes)\n");
    assert_eq!(h.take(1), "");
}

#[test]
fn events_past_the_bound_are_counted_not_kept() {
    let mut room = Room::new(Config::default());
    for _ in 0..super::MAX_EVENTS + 3 {
        room.record(Event::LogReset);
    }
    assert_eq!(room.dropped_events(), 3);
    let mut kept = 0;
    while room.poll_event().is_some() {
        kept += 1;
    }
    assert_eq!(kept, super::MAX_EVENTS);
}

#[test]
fn a_nick_typed_in_several_reads_waits_for_its_newline() {
    let mut h = Harness::new();
    h.connect(1);
    h.take(1);
    // One key per read, slower than the settle time: one nick, not a
    // one-letter nick and messages.
    for key in [&b"z"[..], b"o", b"e"] {
        h.send(1, key);
        h.advance(Duration::from_secs(1));
        assert_eq!(h.room.nick(ConnId(1)), None);
    }
    h.send(1, b"\n");
    assert_eq!(h.room.nick(ConnId(1)), Some("zoe"));
    assert!(h.take(1).starts_with("zoe joined the chat\n"));
    // Two bytes in one read, then one more before the settle time: waits too.
    h.connect(2);
    h.send(2, b"ka");
    h.advance(Duration::from_millis(200));
    h.send(2, b"y");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.room.nick(ConnId(2)), None);
}

#[test]
fn a_one_byte_seed_dialect_nick_joins_with_its_first_message() {
    let mut h = Harness::new();
    h.connect(1);
    h.take(1);
    h.send(1, b"z");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.room.nick(ConnId(1)), None, "one byte does not settle");
    h.send(1, b"z: hello");
    assert_eq!(h.room.nick(ConnId(1)), Some("z"));
    assert_eq!(
        h.take(1),
        "z joined the chat\nYou are connected to the server!\nOnline (1): z\nz: hello\n"
    );
    // The seed dialect from now on: each read is one message.
    h.send(1, b"z: again");
    assert_eq!(h.take(1), "z: again\n");
}

#[test]
fn too_long_line_is_refused_and_the_connection_kept() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    let long = vec![b'x'; 1025];
    h.send(1, &long[..1000]);
    h.send(1, &long[1000..]);
    h.send(1, b"yyy\nok\n");
    assert_eq!(
        h.take(1),
        "error: line too long (max 1024 bytes)\nalice: ok\n"
    );
    let exact = [vec![b'z'; 1024], b"\n".to_vec()].concat();
    h.send(1, &exact[..1024]);
    h.send(1, &exact[1024..]);
    assert_eq!(h.take(1).len(), "alice: ".len() + 1025);
}

#[test]
fn utf8_split_across_reads_survives_and_invalid_becomes_replacement() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    let text = "olá ☃\n".as_bytes();
    h.send(1, &text[..3]);
    h.send(1, &text[3..6]);
    h.send(1, &text[6..]);
    h.send(1, b"bad \xff\xfe byte\n");
    assert_eq!(
        h.take(1),
        "alice: olá ☃\nalice: bad \u{fffd}\u{fffd} byte\n"
    );
}

#[test]
fn control_characters_are_scrubbed() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.send(1, "\x1b[31mred\x1b[0m\tand \u{9b}c1\x7f\n".as_bytes());
    assert_eq!(h.take(1), "alice: [31mred[0m\tand c1\n");
}

#[test]
fn help_who_and_unknown_commands_answer_the_sender_only() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(1, b"/help\n");
    assert!(h.take(1).starts_with("Commands:\n"));
    h.send(1, b"/who\n/dance\n/msg\n");
    assert_eq!(
        h.take(1),
        "Online (2): alice, bob\nerror: unknown command /dance (try /help)\nerror: usage: /msg NICK TEXT\n"
    );
    assert_eq!(h.take(2), "");
}

#[test]
fn ping_is_answered_to_the_asker_alone_in_order_with_its_lines() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(1, b"hi\n/ping #1.2\nbye\n");
    assert_eq!(h.take(1), "alice: hi\npong #1.2\nalice: bye\n");
    assert_eq!(h.take(2), "alice: hi\nalice: bye\n");
    let usage = "error: usage: /ping TOKEN (one word, at most 32 bytes)\n";
    h.send(1, b"/ping\n/ping two words\n");
    assert_eq!(h.take(1), usage.repeat(2));
    h.send(1, format!("/ping {}\n", "t".repeat(33)).as_bytes());
    assert_eq!(h.take(1), usage);
    assert_eq!(h.take(2), "");
}

#[test]
fn ping_before_the_join_is_a_refused_nick() {
    let mut h = Harness::new();
    h.connect(1);
    h.take(1);
    h.send(1, b"/ping x\n");
    assert_eq!(
        h.take(1),
        "error: nick may only contain letters, digits and _-.[]{}|^\nalias?"
    );
}

#[test]
fn double_slash_sends_a_literal_slash() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.send(1, b"//shrug\n");
    assert_eq!(h.take(1), "alice: /shrug\n");
}

#[test]
fn nick_command_renames_under_the_rules() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(2, b"/nick ALICE\n/nick al ice\n/nick Bob\n");
    assert_eq!(
        h.take(2),
        "error: nick is already taken\nerror: nick may only contain letters, digits and _-.[]{}|^\n\
         bob is now known as Bob\n"
    );
    assert_eq!(h.take(1), "bob is now known as Bob\n");
    h.send(2, b"/nick robert\nhi\n");
    assert_eq!(h.take(1), "Bob is now known as robert\nrobert: hi\n");
    h.connect(3);
    h.send(3, b"bob\n");
    assert_eq!(
        h.room.nick(ConnId(3)),
        Some("bob"),
        "the old nick is free again"
    );
}

#[test]
fn me_and_private_messages() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.join(3, "carol");
    for id in 1..=3 {
        h.take(id);
    }
    h.send(1, b"/me waves\n/msg BOB psst\n/msg dave hi\n");
    assert_eq!(
        h.take(1),
        "* alice waves\n[pm to bob] psst\nerror: no such user dave\n"
    );
    assert_eq!(h.take(2), "* alice waves\n[pm from alice] psst\n");
    assert_eq!(h.take(3), "* alice waves\n");
}

#[test]
fn quit_flushes_then_closes_and_tells_the_others_once() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(1, b"bye\n/quit gone fishing\nignored\n");
    assert_eq!(h.take(1), "alice: bye\n");
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Flush));
    assert_eq!(
        h.take(2),
        "alice: bye\nalice left the chat! (Quit: gone fishing)\n"
    );
    assert_eq!(h.room.connections(), 1);
}

#[test]
fn a_quit_reason_cannot_pass_for_the_servers() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.join(3, "carol");
    h.join(4, "dave");
    h.send(1, b"/quit server lost\n");
    h.send(2, b"/quit too slow) (x\n");
    h.send(3, b"/quit ()\n");
    let seen = h.take(4);
    assert!(
        seen.ends_with(
            "alice left the chat! (Quit: server lost)\n\
             bob left the chat! (Quit: too slow x)\n\
             carol left the chat!\n"
        ),
        "{seen:?}"
    );
}

#[test]
fn peer_close_gives_one_notice_without_reason() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(2);
    h.input(Input::Closed { conn: ConnId(1) });
    h.input(Input::Closed { conn: ConnId(1) });
    assert_eq!(h.take(2), "alice left the chat!\n");
    assert!(h.is_closed(1));
}

#[test]
fn never_joined_connection_leaves_no_trace() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.connect(2);
    h.send(2, b"half a ni");
    h.input(Input::Closed { conn: ConnId(2) });
    assert_eq!(h.take(1), "");
    assert_eq!(h.room.connections(), 1);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn handshake_timeout_closes_silently() {
    let mut h = Harness::new();
    h.connect(1);
    h.take(1);
    h.advance(Duration::from_secs(29));
    assert!(!h.is_closed(1));
    h.advance(Duration::from_secs(1));
    assert!(h.is_closed(1));
    assert_eq!(h.take(1), "");
    assert!(h.room.is_idle());
}

#[test]
fn server_full_turns_away_with_an_error() {
    let mut h = Harness::with(Config {
        max_clients: 2,
        ..Config::default()
    });
    h.join(1, "alice");
    h.connect(2);
    h.connect(3);
    assert_eq!(h.take(3), "error: server full\n");
    assert_eq!(h.closed.get(&3), Some(&CloseMode::Flush));
    assert_eq!(h.room.connections(), 2);
}

/// A room with `config` where alice (1) and bob (2) joined, everything
/// sent so far taken, and bob's socket takes nothing from now on.
fn alice_and_stalled_bob(config: Config) -> Harness {
    let mut h = Harness::with(config);
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.stalled.push(2);
    h
}

#[test]
fn slow_reader_is_closed_and_others_lose_nothing() {
    let mut h = alice_and_stalled_bob(Config {
        send_queue: 100,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 0,
        ..Config::default()
    });
    let mut expected = String::new();
    for i in 0..20 {
        let line = format!("message {i}\n");
        h.send(1, line.as_bytes());
        expected.push_str(&format!("alice: {line}"));
        assert!(h.room.unflushed(ConnId(2)).is_none_or(|n| n <= 100 + 30));
    }
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Abort));
    let seen = h.take(1);
    assert!(seen.starts_with(&expected[..100]));
    assert!(seen.contains("bob left the chat! (too slow)\n"));
    assert_eq!(
        seen.replace("bob left the chat! (too slow)\n", ""),
        expected
    );
    assert!(h.events.contains(&Event::Disconnected {
        conn: ConnId(2),
        nick: Some("bob".into()),
        reason: DisconnectReason::TooSlow
    }));
}

#[test]
fn a_private_message_that_closes_its_target_is_confirmed_before_the_leave() {
    let mut h = Harness::with(Config {
        send_queue: 200,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.stalled.push(2);
    let long = "x".repeat(90);
    h.send(1, format!("{long}\n").as_bytes());
    assert!(!h.is_closed(2), "bob still fits");
    h.send(1, format!("/msg bob {long}\n").as_bytes());
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Abort));
    assert_eq!(
        h.take(1),
        format!("alice: {long}\n[pm to bob] {long}\nbob left the chat! (too slow)\n"),
        "the copy first: bob was there when it was sent"
    );
}

/// alice and bob joined, their welcomes taken, in a room with this flood
/// rate and burst.
fn flood_room(flood_rate: u32, flood_burst: u32) -> Harness {
    let mut h = Harness::with(Config {
        flood_rate,
        flood_burst,
        ..Config::default()
    });
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h
}

#[test]
fn flood_holds_lines_past_the_burst_and_says_them_at_the_rate() {
    let mut h = flood_room(2, 3);
    h.send(1, b"a\nb\nc\nd\ne\n");
    assert_eq!(h.take(1), "alice: a\nalice: b\nalice: c\n");
    assert_eq!(h.not_read, [1], "the driver stops reading alice");
    // Others are not held up.
    h.send(2, b"hi\n");
    assert_eq!(h.take(2), "alice: a\nalice: b\nalice: c\nbob: hi\n");
    h.take(1);
    h.advance(Duration::from_millis(499));
    assert_eq!(h.take(1), "");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.take(1), "alice: d\n");
    h.advance(Duration::from_millis(500));
    assert_eq!(h.take(1), "alice: e\n");
    assert!(h.not_read.is_empty(), "read again once all is said");
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn a_read_under_way_waits_behind_the_held_lines_and_a_close_after_them() {
    let mut h = flood_room(1, 1);
    h.send(1, b"a\nb\n");
    // The driver had this read under way; then the peer closes.
    h.send(1, b"c\nunfinished");
    h.input(Input::Closed { conn: ConnId(1) });
    assert_eq!(h.take(2), "alice: a\n");
    assert!(!h.is_closed(1), "its held lines are said first");
    for line in ["b", "c"] {
        h.advance(Duration::from_secs(1));
        assert_eq!(h.take(2), format!("alice: {line}\n"));
    }
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(2), "alice: unfinished\nalice left the chat!\n");
    assert!(h.is_closed(1));
}

#[test]
fn a_driver_that_keeps_reading_a_flooder_closes_it() {
    let mut h = flood_room(1, 1);
    h.send(1, b"a\nb\n");
    // `b\n` and three reads are held; a fourth passes the bound.
    let read = [b'x'; crate::MAX_READ];
    for _ in 0..3 {
        h.send(1, &read);
        assert!(!h.is_closed(1));
    }
    h.send(1, &read);
    assert!(h.is_closed(1));
    assert_eq!(h.take(2), "alice: a\nalice left the chat! (flooding)\n");
}

#[test]
fn seed_dialect_messages_held_by_flood_control_stay_one_per_read() {
    let mut h = Harness::with(Config {
        flood_rate: 1,
        flood_burst: 1,
        settle: Duration::from_millis(10),
        ..Config::default()
    });
    h.connect(1);
    h.send(1, b"zed");
    h.advance(Duration::from_millis(10));
    h.take(1);
    h.send(1, b"zed: one");
    h.send(1, b"zed: two");
    h.send(1, b"zed: three");
    assert_eq!(h.take(1), "zed: one\n");
    h.advance(Duration::from_secs(1));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(1), "zed: two\nzed: three\n");
}

#[test]
fn shutdown_tells_everyone_and_closes_every_connection() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.connect(2);
    h.take(1);
    h.take(2);
    h.input(Input::Shutdown);
    assert_eq!(h.take(1), "server is shutting down\n");
    assert_eq!(h.take(2), "server is shutting down\n");
    assert!(h.is_closed(1) && h.is_closed(2));
    assert!(h.room.is_idle() && h.room.is_shutting_down());
    h.connect(3);
    assert_eq!(h.take(3), "server is shutting down\n");
    assert!(h.is_closed(3));
}

#[test]
fn unknown_ids_and_early_ticks_do_nothing() {
    let mut h = Harness::new();
    h.send(9, b"hello\n");
    h.input(Input::Written {
        conn: ConnId(9),
        len: 5,
        sends: 1,
    });
    h.input(Input::Closed { conn: ConnId(9) });
    h.input(Input::Tick);
    assert!(h.wire.is_empty() && h.closed.is_empty());
    assert!(h.room.is_idle());
}

#[test]
fn room_forgets_everything_when_everyone_leaves() {
    let mut h = Harness::new();
    for id in 1..=5 {
        h.join(id, &format!("user{id}"));
    }
    h.connect(6);
    for id in 1..=6 {
        h.input(Input::Closed { conn: ConnId(id) });
    }
    assert!(h.room.is_idle());
    assert_eq!(h.room.joined().count(), 0);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn nick_command_refuses_control_characters_rather_than_scrubbing_them() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.send(1, b"/nick bell\x07\n");
    assert_eq!(
        h.take(1),
        "error: nick may only contain letters, digits and _-.[]{}|^\n"
    );
    assert_eq!(h.room.nick(ConnId(1)), Some("alice"));
}

/// alice (1) and bob (2) joined, with a 200-byte send queue and no flood
/// control, everything before taken.
fn alice_and_bob_with_a_200_byte_queue() -> Harness {
    let mut h = Harness::with(Config {
        send_queue: 200,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h
}

#[test]
fn slow_reader_is_closed_right_after_the_line_that_took_it_over() {
    let mut h = alice_and_bob_with_a_200_byte_queue();
    h.stalled.push(2);
    // Each line is 21 bytes as relayed. Six lines put bob at 126 bytes.
    for _ in 0..6 {
        h.send(1, b"0123456789ab0\n");
    }
    h.take(1);
    // Then one read: bob passes 200 bytes on its fourth line, so his leave
    // notice comes right after that line, before the fifth.
    h.send(
        1,
        b"0123456789ab1\n0123456789ab2\n0123456789ab3\n0123456789ab4\nlast line....\n",
    );
    let expected = "alice: 0123456789ab1\nalice: 0123456789ab2\nalice: 0123456789ab3\n\
                    alice: 0123456789ab4\nbob left the chat! (too slow)\nalice: last line....\n";
    assert_eq!(h.take(1), expected);
    assert_eq!(h.take(2).lines().count(), 10);
}

#[test]
fn a_speaker_its_own_lines_take_past_the_send_queue_says_nothing_after() {
    let mut h = alice_and_bob_with_a_200_byte_queue();
    // alice stops reading her socket; her own lines fill her queue.
    h.stalled.push(1);
    for _ in 0..6 {
        h.send(1, b"0123456789ab0\n");
    }
    h.take(2);
    // One read: her fourth line takes her past 200 bytes. She is closed
    // right after it, so the lines after it in the same read are not said.
    h.send(
        1,
        b"0123456789ab1\n0123456789ab2\n0123456789ab3\n0123456789ab4\nnever said..\n",
    );
    let expected = "alice: 0123456789ab1\nalice: 0123456789ab2\nalice: 0123456789ab3\n\
                    alice: 0123456789ab4\nalice left the chat! (too slow)\n";
    assert_eq!(h.take(2), expected);
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Abort));
}

#[test]
fn joiner_past_the_send_queue_is_closed_after_its_join_sequence() {
    let config = Config {
        send_queue: 128,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Config::default()
    };
    let mut h = Harness::with(config);
    h.connect(1);
    h.take(1);
    h.stalled.push(1);
    let nick = "é".repeat(32);
    h.send(1, format!("/who\n{nick}\n").as_bytes());
    let nick_error = "error: nick may only contain letters, digits and _-.[]{}|^\n";
    // 65 bytes waited; the 81-byte join notice takes it over 128: closed then.
    assert_eq!(
        h.take(1),
        format!("{nick_error}alias?{nick} joined the chat\n")
    );
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Abort));
}

/// alice (1), bob (2) and carol (3) joined in a room with `config`, two
/// seconds later (held notices sent, flood buckets full), everything they
/// were sent taken.
fn trio_with(config: Config) -> Harness {
    let mut h = Harness::with(config);
    h.join(1, "alice");
    h.join(2, "bob");
    h.join(3, "carol");
    h.advance(Duration::from_secs(2));
    for id in 1..=3 {
        h.take(id);
    }
    h
}

/// Join and leave notices held 1 ms per joined user.
fn holding_config() -> Config {
    Config {
        notice_hold_per_user: Duration::from_millis(1),
        ..Config::default()
    }
}

/// A room that holds join notices 1 ms per joined user.
fn holding() -> Harness {
    Harness::with(holding_config())
}

/// [`holding`], with alice, bob and carol joined, their notices sent and
/// everything they were sent taken.
fn holding_trio() -> Harness {
    trio_with(holding_config())
}

#[test]
fn notice_hold_grows_with_the_room_within_bounds() {
    let config = Config::default();
    assert_eq!(config.notice_hold(0), None);
    assert_eq!(config.notice_hold(19), None, "below 1 ms: sent at once");
    assert_eq!(config.notice_hold(20), Some(Duration::from_millis(1)));
    assert_eq!(config.notice_hold(2_000), Some(Duration::from_millis(100)));
    assert_eq!(config.notice_hold(5_000), Some(Duration::from_millis(250)));
    assert_eq!(
        config.notice_hold(1_000_000),
        Some(Duration::from_millis(250))
    );
    let off = Config {
        notice_hold_per_user: Duration::ZERO,
        ..Config::default()
    };
    assert_eq!(off.notice_hold(1_000_000), None);
}

#[test]
fn held_notices_go_out_at_once_only_past_a_quarter_of_the_send_queue() {
    let mut h = Harness::with(Config {
        notice_hold_per_user: Duration::from_millis(1),
        send_queue: 4096,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    h.advance(Duration::from_millis(10));
    h.take(1);
    // 25 join notices of 41 bytes and one of 40: exactly 1 024 bytes held,
    // a quarter of the send queue, which may wait for the deadline.
    for i in 0..25 {
        let len = if i == 0 { 23 } else { 24 };
        let nick = format!("u{i:02}{}", "a".repeat(len - 3));
        h.join(10 + i, &nick);
        h.take(10 + i);
    }
    assert_eq!(h.take(1), "", "1 024 bytes held: not past the bound");
    h.join(99, "zed");
    let released = h.take(1);
    assert_eq!(released.len(), 1024 + "zed joined the chat\n".len());
    assert!(released.ends_with("zed joined the chat\n"));
}

#[test]
fn the_room_keeps_the_config_it_was_given() {
    let config = Config {
        max_line: 100,
        send_queue: 8192,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Config::default()
    };
    let room = Room::new(config.clone());
    assert_eq!(room.config(), &config);
}

#[test]
fn held_join_notices_reach_the_others_at_the_deadline_once() {
    let mut h = holding();
    h.join(1, "alice");
    h.advance(Duration::from_millis(1));
    h.take(1);
    h.join(2, "bob");
    assert_eq!(
        h.take(2),
        "alias?bob joined the chat\nYou are connected to the server!\nOnline (2): alice, bob\n",
        "the joiner's own sequence is not held"
    );
    assert_eq!(h.take(1), "", "held for the others");
    let due = h.now + Duration::from_millis(2);
    assert_eq!(h.room.poll_timeout(), Some(due));
    h.join(3, "carol");
    assert_eq!(h.room.poll_timeout(), Some(due), "one deadline per hold");
    h.advance(Duration::from_micros(1_999));
    assert_eq!(h.take(1), "", "not before the deadline");
    h.advance(Duration::from_micros(1));
    assert_eq!(h.take(1), "bob joined the chat\ncarol joined the chat\n");
    assert_eq!(
        h.take(2),
        "carol joined the chat\n",
        "nothing from before bob"
    );
    assert_eq!(
        h.take(3),
        "alias?carol joined the chat\nYou are connected to the server!\nOnline (3): alice, bob, carol\n"
    );
    assert_eq!(h.room.poll_timeout(), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(1) + &h.take(2) + &h.take(3), "", "sent once");
}

#[test]
fn anything_else_comes_after_the_held_notices() {
    let mut h = holding_trio();
    // A unicast catches its recipient up first; the others still wait.
    h.join(4, "dave");
    h.send(1, b"/who\n");
    assert_eq!(
        h.take(1),
        "dave joined the chat\nOnline (4): alice, bob, carol, dave\n"
    );
    assert_eq!(h.take(2), "");
    // A room line releases them for everyone, before itself.
    h.send(3, b"hi\n");
    assert_eq!(h.take(1), "carol: hi\n", "alice was caught up already");
    assert_eq!(h.take(2), "dave joined the chat\ncarol: hi\n");
    assert!(h
        .take(4)
        .ends_with("Online (4): alice, bob, carol, dave\ncarol: hi\n"));
    assert_eq!(h.room.poll_timeout(), None, "nothing left held");
}

#[test]
fn a_leaver_gets_what_was_held_for_it_and_its_notice_is_held_too() {
    let mut h = holding_trio();
    h.join(4, "dave");
    h.send(2, b"/quit bye\n");
    assert_eq!(
        h.take(2),
        "dave joined the chat\n",
        "the held notice reaches bob before he goes"
    );
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Flush));
    assert_eq!(h.take(1), "", "both notices held");
    assert!(h.take(4).ends_with("Online (4): alice, bob, carol, dave\n"));
    let due = h.room.poll_timeout().expect("a hold is running");
    h.advance(due.saturating_since(h.now));
    assert_eq!(
        h.take(1),
        "dave joined the chat\nbob left the chat! (Quit: bye)\n"
    );
    assert_eq!(
        h.take(4),
        "bob left the chat! (Quit: bye)\n",
        "only what came after dave"
    );
    assert_eq!(h.room.poll_timeout(), None, "nothing left held");
}

#[test]
fn a_unicast_catches_a_slow_reader_up_only_to_the_notice_that_takes_it_over() {
    let mut h = trio_with(Config {
        send_queue: 400,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 0,
        ..holding_config()
    });
    // bob stops reading; alice's lines leave him 30 bytes: 7 × 50 + 20.
    h.stalled.push(2);
    for _ in 0..7 {
        h.send(1, format!("{}\n", "x".repeat(42)).as_bytes());
    }
    h.send(1, b"twelve bytes\n");
    assert_eq!(h.take(2).len(), 370);
    h.take(1);
    // Three joins are held (21, 21 and 22 bytes); bob has seen none.
    h.join(4, "dave");
    h.join(5, "erin");
    h.join(6, "frank");
    assert_eq!(h.take(2), "", "held");
    // His /who catches him up first: the second notice takes him past
    // 400 bytes, so he is closed right after it, without the third or
    // the reply.
    h.send(2, b"/who\n");
    assert_eq!(h.take(2), "dave joined the chat\nerin joined the chat\n");
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Abort));
    assert_eq!(
        h.take(1),
        "dave joined the chat\nerin joined the chat\nfrank joined the chat\n\
         bob left the chat! (too slow)\n",
        "the others get the held notices before bob's leave"
    );
}

#[test]
fn a_join_releases_the_held_leave_notices_first() {
    let mut h = holding_trio();
    h.input(Input::Closed { conn: ConnId(2) });
    assert_eq!(h.take(1), "", "held");
    // A new bob: the old bob's leave goes out before the new one's join.
    h.join(4, "bob");
    assert_eq!(h.take(1), "bob left the chat!\n");
    assert_eq!(
        h.take(4),
        "alias?bob joined the chat\nYou are connected to the server!\nOnline (3): alice, bob, carol\n"
    );
    let due = h.room.poll_timeout().expect("the join is held");
    h.advance(due.saturating_since(h.now));
    assert_eq!(h.take(1), "bob joined the chat\n");
}

#[test]
fn shutdown_drops_the_held_notices_and_closes_no_one_as_too_slow() {
    let mut h = Harness::with(Config {
        notice_hold_per_user: Duration::from_millis(1),
        send_queue: 100,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.stalled.push(1);
    h.send(2, format!("{}\n", "x".repeat(80)).as_bytes());
    h.join(3, "carol"); // held: it would take alice past her send queue
    h.input(Input::Shutdown);
    assert!(h.take(1).ends_with("server is shutting down\n"));
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Flush), "not as too slow");
    assert!(h.is_closed(2) && h.is_closed(3));
}

#[test]
fn an_http_request_gets_an_http_answer_and_is_closed() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.take(1);
    h.connect(2);
    h.send(2, b"PO");
    assert!(!h.is_closed(2), "two bytes may still be a nick");
    h.send(2, b"ST /chat HTTP/1.1\r\nHost: x\r\n\r\nwebbot\nhello\n");
    let answer = h.take(2);
    assert!(
        answer.starts_with("alias?HTTP/1.0 400 Bad Request\r\n"),
        "{answer:?}"
    );
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Flush));
    assert_eq!(h.take(1), "", "nothing reaches the room");
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            reason: DisconnectReason::Http,
            nick: None,
            ..
        }
    )));
}

#[test]
fn an_http_method_cut_short_is_never_taken_as_a_nick() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(1, b"GE");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.room.nick(ConnId(1)), None, "GE did not settle");
    h.send(1, b"T / HTTP/1.0\r\n\r\n");
    assert!(h.take(1).starts_with("alias?HTTP/1.0 400 "));
    assert!(h.is_closed(1));
    // A seed-dialect client whose nick is a method's prefix joins with its
    // first message.
    h.connect(2);
    h.send(2, b"GET");
    h.send(2, b"GET: hi");
    assert_eq!(h.room.nick(ConnId(2)), Some("GET"));
}

#[test]
fn a_tls_hello_is_closed_without_a_word() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(1, b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03");
    assert_eq!(h.take(1), "alias?");
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Flush));
}

#[test]
fn only_the_first_bytes_are_judged() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(1, b"bad nick\nGET / HTTP/1.1\n");
    // Two refused nicks, not an HTTP request.
    assert_eq!(h.take(1).matches("error: nick may only contain").count(), 2);
    assert!(!h.is_closed(1));
}

#[test]
fn failed_nick_attempts_are_capped() {
    let mut h = Harness::new();
    h.connect(1);
    h.take(1);
    for attempt in 1..super::handshake::MAX_NICK_ATTEMPTS {
        h.send(1, b"no good\n");
        assert!(!h.is_closed(1), "attempt {attempt}");
    }
    let before = h.take(1);
    assert!(before.ends_with("alias?"), "{before:?}");
    h.send(1, b"x".repeat(2000).as_slice());
    h.send(1, b"\n");
    assert_eq!(
        h.take(1),
        "error: line too long (max 1024 bytes)\nerror: too many failed nick attempts\n"
    );
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Flush));
}

#[test]
fn an_unfinished_line_at_end_of_stream_is_a_line() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(1);
    h.take(2);
    h.send(2, b"bye");
    h.input(Input::Closed { conn: ConnId(2) });
    assert_eq!(h.take(1), "bob: bye\nbob left the chat!\n");
    assert_eq!(h.take(2), "bob: bye\n");
    // A never-joined connection's unfinished nick is nothing.
    h.connect(3);
    h.send(3, b"carol");
    h.input(Input::Closed { conn: ConnId(3) });
    assert_eq!(h.take(1), "");
}

#[test]
fn reserved_and_look_alike_nicks_are_refused() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.connect(2);
    h.take(2);
    for (nick, error) in [
        ("error", "nick is reserved"),
        ("aIice", "nick is too similar to alice"),
        ("ALICE", "nick is already taken"),
        ("\u{430}lice", "nick may not mix scripts"),
    ] {
        h.send(2, format!("{nick}\n").as_bytes());
        assert_eq!(h.take(2), format!("error: {error}\nalias?"), "{nick}");
    }
    h.send(2, b"bob\n");
    h.take(2);
    h.send(2, b"/nick aIice\n");
    assert_eq!(h.take(2), "error: nick is too similar to alice\n");
    // Alice may take a look-alike of her own nick.
    h.send(1, b"/nick aIice\n");
    assert_eq!(h.room.nick(ConnId(1)), Some("aIice"));
}

/// `n` users with 32-character nicks of 3-byte letters (Han).
fn crowd_of_long_nicks(send_queue: usize, n: u64) -> Harness {
    let mut h = Harness::with(Config {
        send_queue,
        notice_hold_per_user: Duration::ZERO,
        ..Config::default()
    });
    let mut letters = (0x4e00..0x9fff)
        .filter_map(char::from_u32)
        .filter(|c| crate::nick::validate(&c.to_string()).is_ok());
    for i in 0..n {
        let nick: String = letters.by_ref().take(32).collect();
        assert_eq!(nick.chars().count(), 32);
        h.join(i, &nick);
        h.take(i);
    }
    h
}

#[test]
fn a_long_online_list_is_split_into_lines_and_bounded() {
    let send_queue = 16 * 1024;
    let mut h = crowd_of_long_nicks(send_queue, 300);
    h.join(999, "late");
    assert!(
        !h.is_closed(999),
        "the joiner is not closed by its own list"
    );
    let welcome = h.take(999);
    let list = welcome
        .strip_prefix("alias?late joined the chat\nYou are connected to the server!\n")
        .unwrap_or_default();
    assert!(list.len() <= send_queue / 4, "{} bytes", list.len());
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines.len() > 1, "{welcome:?}");
    let mut listed = 0;
    let mut more = 0;
    for line in &lines {
        assert!(line.len() < crate::wire::ONLINE_LINE_MAX, "{line}");
        let items = line.strip_prefix("Online (301): ").unwrap_or_default();
        for item in items.split(", ") {
            match item
                .strip_prefix("and ")
                .and_then(|s| s.strip_suffix(" more"))
            {
                Some(k) => more = k.parse().unwrap_or(0),
                None => listed += 1,
            }
        }
    }
    assert!(more > 0);
    assert_eq!(listed + more, 301);
    // /who: the same bound, and the asker stays.
    h.send(999, b"/who\n");
    assert!(!h.is_closed(999));
    assert_eq!(h.take(999), list);
}

#[test]
fn a_list_that_fits_is_whole_and_split_at_the_line_limit() {
    let mut h = crowd_of_long_nicks(256 * 1024, 20);
    h.take(0);
    h.send(0, b"/who\n");
    let list = h.take(0);
    let lines: Vec<&str> = list.lines().collect();
    // 20 nicks of 96 bytes: 10 to a line of at most 1024 bytes.
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines
        .iter()
        .all(|l| l.len() < 1024 && l.starts_with("Online (20): ")));
    let nicks: usize = lines.iter().map(|l| l.split(", ").count()).sum();
    assert!(list.ends_with('\n'));
    assert_eq!(nicks, 20);
    assert!(!list.contains(" more"));
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let mut h = Harness::with(Config {
        max_per_address: 2,
        connects_per_minute: 0,
        ..Config::default()
    });
    h.connect_from(1, "198.51.100.7");
    h.connect_from(2, "::ffff:198.51.100.7");
    h.connect_from(3, "198.51.100.7");
    assert_eq!(h.take(3), "error: too many connections from your address\n");
    assert_eq!(h.closed.get(&3), Some(&CloseMode::Flush));
    // IPv6 counts by /64; another address, or loopback, is not affected.
    h.connect_from(4, "2001:db8:0:1::1");
    h.connect_from(5, "2001:db8:0:1::2");
    h.connect_from(6, "2001:db8:0:1:ffff::3");
    assert!(h.is_closed(6) && !h.is_closed(5));
    for id in 7..12 {
        h.connect_from(id, "127.0.0.1");
        assert!(!h.is_closed(id));
    }
    // A close makes room.
    h.input(Input::Closed { conn: ConnId(1) });
    h.connect_from(12, "198.51.100.7");
    assert_eq!(h.take(12), "alias?");
}

#[test]
fn one_address_connects_at_most_at_the_rate() {
    let mut h = Harness::with(Config {
        max_per_address: 0,
        connects_per_minute: 60,
        limit_loopback: true,
        ..Config::default()
    });
    for id in 0..u64::from(crate::ADDRESS_CONNECT_BURST) {
        h.connect_from(id, "::1");
        assert!(!h.is_closed(id), "connect {id} of the burst");
        h.input(Input::Closed { conn: ConnId(id) });
    }
    h.connect_from(100, "::1");
    assert_eq!(
        h.take(100),
        "error: too many connections from your address\n"
    );
    h.advance(Duration::from_secs(1));
    h.connect_from(101, "::1");
    assert_eq!(h.take(101), "alias?", "one more a second later");
}

#[test]
fn a_connection_admitted_before_its_handshake_is_counted_once() {
    let mut h = Harness::with(Config {
        max_per_address: 2,
        connects_per_minute: 60,
        limit_loopback: true,
        ..Config::default()
    });
    let peer = "192.0.2.9"
        .parse()
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    assert!(h.room.reserve_address(ConnId(1), peer, h.now));
    assert!(h.room.reserve_address(ConnId(2), peer, h.now));
    assert!(
        !h.room.reserve_address(ConnId(3), peer, h.now),
        "two in their handshake fill the address"
    );
    h.connect_from(1, "192.0.2.9");
    h.connect_from(2, "192.0.2.9");
    assert_eq!(h.take(1), "alias?", "taken over, not counted again");
    assert_eq!(h.take(2), "alias?");
    h.connect_from(4, "192.0.2.9");
    assert_eq!(h.take(4), "error: too many connections from your address\n");
    // A cancelled reservation (a failed handshake) frees its place.
    h.input(Input::Closed { conn: ConnId(1) });
    assert!(h.room.reserve_address(ConnId(5), peer, h.now));
    h.room.cancel_reservation(ConnId(5), h.now);
    h.connect_from(6, "192.0.2.9");
    assert_eq!(h.take(6), "alias?");
    // Each admitted connection charged the rate once (reservations 1, 2
    // and 5, and the room's 6; refusals charge nothing): the burst of 16
    // holds 12 more.
    h.input(Input::Closed { conn: ConnId(2) });
    h.input(Input::Closed { conn: ConnId(6) });
    for id in 10..22 {
        assert!(
            h.room.reserve_address(ConnId(id), peer, h.now),
            "reserve {id}"
        );
        h.room.cancel_reservation(ConnId(id), h.now);
    }
    assert!(
        !h.room.reserve_address(ConnId(22), peer, h.now),
        "past the burst"
    );
    assert_eq!(h.room.check_invariants(), Ok(()));
}

#[test]
fn a_reserved_connection_refused_as_full_frees_its_address() {
    let mut h = Harness::with(Config {
        max_clients: 1,
        max_per_address: 1,
        connects_per_minute: 0,
        ..Config::default()
    });
    let peer = "192.0.2.9"
        .parse()
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    h.connect_from(1, "198.51.100.1");
    assert!(h.room.reserve_address(ConnId(2), peer, h.now));
    h.connect_from(2, "192.0.2.9");
    assert_eq!(h.take(2), "error: server full\n");
    h.input(Input::Closed { conn: ConnId(1) });
    h.connect_from(3, "192.0.2.9");
    assert_eq!(h.take(3), "alias?", "the refused reservation was released");
}

/// The connection `id` of `room`, to break it.
fn conn_of(room: &mut Room, id: u64) -> &mut crate::conn::Conn {
    match room.conns.get_mut(&ConnId(id)) {
        Some(c) => c,
        None => panic!("no connection #{id}"),
    }
}

/// A healthy room to break: alice and bob joined from one address (so its
/// group is counted), carol still choosing a nick, everything delivered.
fn room_to_break() -> Harness {
    let mut h = Harness::with(Config {
        history: 2,
        ..Config::default()
    });
    for (id, nick) in [(1, "alice"), (2, "bob")] {
        h.connect_from(id, "192.0.2.1");
        h.send(id, format!("{nick}\n").as_bytes());
    }
    h.connect_from(3, "192.0.2.9");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.room.check_invariants(), Ok(()));
    h
}

/// Each invariant the room checks can be seen to fail by itself: so a
/// check that stopped checking would be noticed.
#[test]
fn each_invariant_check_catches_its_own_breakage() {
    type Break = fn(&mut Room);
    let cases: Vec<(Break, &str)> = vec![
        (
            |r| r.batch.push_line(&["x\n"]),
            "room lines left undelivered",
        ),
        (
            |r| conn_of(r, 1).unflushed = r.max_unflushed + 1,
            "max_unflushed too low",
        ),
        (
            |r| {
                let keys = crate::nick::validate("ghost").unwrap_or_else(|e| panic!("{e}"));
                r.roster
                    .insert(Member::local(ConnId(9)), "ghost".into(), keys);
            },
            "nick index holds another number of users",
        ),
        (
            |r| conn_of(r, 1).nick = Some("bob".into()),
            "a nick not indexed as its user's",
        ),
        (
            |r| r.held_until = Some(r.now + Duration::from_secs(1)),
            "held notices and their deadline out of step",
        ),
        (
            |r| r.held_leaves = true,
            "held leave notices flagged with none held",
        ),
        (
            |r| conn_of(r, 1).held_seen = 1,
            "a user saw more held notices than there are",
        ),
        (
            |r| {
                let line = "x".repeat(r.held_max());
                r.held.push_line(&[&line, "\n"]);
                r.held_until = Some(r.now + Duration::from_secs(1));
            },
            "more held notices than the limit",
        ),
        (
            |r| conn_of(r, 1).settle_deadline = Some(r.now + Duration::from_secs(1)),
            "timer table out of step",
        ),
        (
            |r| {
                conn_of(r, 1).held_input = Some(Box::new(crate::conn::HeldInput {
                    claim: Some(crate::conn::Claim {
                        dialect: Dialect::Framed,
                        raw: Box::default(),
                    }),
                    ..Default::default()
                }));
            },
            "a joined user claims a nick",
        ),
        (
            |r| r.history.extend(["a".into(), "b".into(), "c".into()]),
            "more history than configured",
        ),
        (
            |r| {
                let at = Some(r.now + Duration::from_secs(1));
                r.set_timer(ConnId(1), TimerKind::Flood, at);
            },
            "held reads out of step with their deadline",
        ),
        (
            |r| {
                let at = Some(r.now + Duration::from_secs(1));
                r.set_timer(ConnId(3), TimerKind::Flood, at);
                conn_of(r, 3).held_input = Some(Box::new(crate::conn::HeldInput {
                    reads: [Box::from(&b"hi\n"[..])].into(),
                    bytes: 3,
                    ..Default::default()
                }));
            },
            "flood control holds reads of a user not joined",
        ),
        (
            |r| {
                let at = Some(r.now + Duration::from_secs(1));
                r.set_timer(ConnId(1), TimerKind::Flood, at);
                conn_of(r, 1).held_input = Some(Box::default());
            },
            "empty held reads",
        ),
        (
            |r| {
                let at = Some(r.now + Duration::from_secs(1));
                r.set_timer(ConnId(1), TimerKind::Flood, at);
                conn_of(r, 1).held_input = Some(Box::new(crate::conn::HeldInput {
                    reads: [Box::from(&b"hi\n"[..])].into(),
                    bytes: 4,
                    ..Default::default()
                }));
            },
            "held read bytes miscounted",
        ),
        (
            |r| {
                let big = crate::conn::MAX_HELD_READ_BYTES + 1;
                let at = Some(r.now + Duration::from_secs(1));
                r.set_timer(ConnId(1), TimerKind::Flood, at);
                conn_of(r, 1).held_input = Some(Box::new(crate::conn::HeldInput {
                    reads: [vec![b'x'; big].into_boxed_slice()].into(),
                    bytes: big,
                    ..Default::default()
                }));
            },
            "more held read bytes than the bound",
        ),
        (
            |r| {
                let now = Some(r.now);
                r.set_timer(ConnId(3), TimerKind::Settle, now);
            },
            "a deadline is due",
        ),
        (|r| r.config.max_clients = 2, "more clients than allowed"),
        (|r| conn_of(r, 3).group = None, "address counts out of step"),
        (
            |r| {
                let other = conn_of(r, 3).group;
                conn_of(r, 1).group = other;
            },
            "an address group's count out of step",
        ),
        (
            |r| r.config.max_per_address = 1,
            "more connections from one address than allowed",
        ),
        (
            |r| r.roster.make_keys_stale("alice"),
            "a nick's keys out of date",
        ),
    ];
    for (break_it, broken) in cases {
        let mut h = room_to_break();
        break_it(&mut h.room);
        assert_eq!(h.room.check_invariants(), Err(broken));
    }
}

/// A room holding notices (1 ms per user, a 4 096-byte send queue, no
/// flood control) with alice (1) and bob (2) joined and settled.
fn holding_near_the_limit() -> Harness {
    let mut h = Harness::with(Config {
        notice_hold_per_user: Duration::from_millis(1),
        send_queue: 4096,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    h.join(2, "bob");
    h.advance(Duration::from_millis(10));
    h.take(1);
    h.take(2);
    h
}

/// bob's lines fill stalled alice's account to `room_left` bytes under
/// her 4 096-byte limit.
fn fill_alice_from_bob(h: &mut Harness, room_left: usize) {
    let mut filled = 0;
    while filled < 4096 - room_left {
        let text = "x".repeat((4096 - room_left - filled - "bob: \n".len()).min(94));
        h.send(2, format!("{text}\n").as_bytes());
        filled += "bob: \n".len() + text.len();
    }
}

/// The nick of the `i`th joiner: 24 bytes, so its join notice is 41.
fn joiner(i: u64) -> String {
    format!("u{i:02}{}", "a".repeat(21))
}

#[test]
fn a_held_release_closes_a_stalled_user_right_after_the_notice_that_took_it_past() {
    let mut h = holding_near_the_limit();
    h.stalled.push(1);
    // bob's lines fill alice's account to 200 bytes under her limit.
    fill_alice_from_bob(&mut h, 200);
    assert_eq!(h.take(1).len(), 4096 - 200);
    // Six held join notices of 41 bytes: the fifth takes her past.
    for i in 0..6 {
        h.join(10 + i, &joiner(i));
    }
    assert_eq!(h.take(1), "", "held");
    h.advance(Duration::from_millis(50));
    let expected: String = (0..5)
        .map(|i| format!("{} joined the chat\n", joiner(i)))
        .collect();
    assert_eq!(h.take(1), expected, "up to the crossing notice, no further");
    assert_eq!(h.closed.get(&1), Some(&CloseMode::Abort));
    let bob = h.take(2);
    assert!(bob.contains(&format!("{} joined the chat\n", joiner(5))));
    assert_eq!(bob.matches("alice left the chat! (too slow)\n").count(), 1);
}

#[test]
fn a_user_that_joined_during_a_hold_is_cut_where_it_stands_in_the_held_notices() {
    let mut h = holding_near_the_limit();
    h.join(10, &joiner(0));
    h.stalled.push(10);
    h.take(10);
    // Its own /who replies (each catching it up on the held notices) fill
    // its account to under 200 bytes of its limit; the hold goes on.
    loop {
        h.send(10, b"/who\n");
        let account = h.wire.get(&10).map_or(0, Vec::len);
        if account > 4096 - 300 {
            break;
        }
    }
    let account = h.take(10).len();
    assert!(!h.is_closed(10));
    assert_eq!(h.take(1), "", "still held");
    for i in 1..11 {
        h.join(10 + i, &joiner(i));
    }
    h.advance(Duration::from_millis(50));
    // It was sent its part of the held notices up to and including the
    // one that took it past its limit, and closed there.
    let got = h.take(10);
    let crossing = (4096 - account) / 41 + 1;
    let expected: String = (1..=crossing as u64)
        .map(|i| format!("{} joined the chat\n", joiner(i)))
        .collect();
    assert!(crossing < 10, "notices held past the crossing one");
    assert_eq!(got, expected);
    assert_eq!(h.closed.get(&10), Some(&CloseMode::Abort));
    assert!(h
        .take(1)
        .contains(&format!("{} joined the chat\n", joiner(10))));
}

#[test]
fn a_renamer_the_held_notices_close_is_not_renamed() {
    let mut h = holding_near_the_limit();
    h.stalled.push(1);
    fill_alice_from_bob(&mut h, 100);
    for i in 0..3 {
        h.join(10 + i, &joiner(i));
    }
    // alice's rename releases the three held notices first (123 bytes):
    // they take her past her queue, and she leaves as alice.
    h.send(1, b"/nick alicia\n");
    assert!(h.is_closed(1));
    assert_eq!(h.room.check_invariants(), Ok(()));
    let bob = h.take(2);
    assert!(
        bob.ends_with("alice left the chat! (too slow)\n"),
        "{bob:?}"
    );
    assert!(!bob.contains("alicia"), "{bob:?}");
    h.send(2, b"/who\n");
    assert!(!h.take(2).contains("alicia"), "no one is called alicia");
}

#[test]
fn a_leave_notice_owed_before_a_speakers_line_closes_it_first() {
    let mut h = trio_with(Config {
        send_queue: 200,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 1,
        flood_burst: 1,
        ..Config::default()
    });
    h.stalled.push(2);
    // carol's lines, one a second, fill bob to 169 bytes.
    let mut left: usize = 169;
    while left > 0 {
        let text = "t".repeat(if left - 8 <= 40 { left - 8 } else { 30 });
        h.advance(Duration::from_secs(1));
        h.send(3, format!("{text}\n").as_bytes());
        left -= "carol: \n".len() + text.len();
    }
    h.advance(Duration::from_secs(1));
    // Each says one line at once (bob at 185 bytes), and one more that
    // flood control holds until the next second: alice's /quit, bob's "z".
    h.send(1, b"x\n/quit\n");
    h.send(2, b"y\nz\n");
    assert_eq!(h.wire.get(&2).map_or(0, Vec::len), 185);
    h.advance(Duration::from_secs(1));
    // alice's leave notice (21 bytes) is owed before bob's line and takes
    // him past 200: he is closed before his line exists.
    let carol = h.take(3);
    assert!(h.is_closed(2));
    assert!(!carol.contains("bob: z"), "{carol:?}");
    assert!(
        carol.ends_with("alice left the chat!\nbob left the chat! (too slow)\n"),
        "{carol:?}"
    );
}

#[test]
fn a_reply_that_fills_the_send_queue_exactly_is_sent_and_one_past_it_closes() {
    let mut h = alice_and_bob_with_a_200_byte_queue();
    h.stalled.push(1);
    let online = "Online (2): alice, bob\n";
    // Her own line fills her account to the queue less one /who answer.
    let text = "t".repeat(200 - online.len() - "alice: \n".len());
    h.send(1, format!("{text}\n").as_bytes());
    h.send(1, b"/who\n");
    assert_eq!(h.take(1).len(), 200);
    assert!(!h.is_closed(1), "exactly at the limit");
    h.send(1, b"/who\n");
    assert!(h.is_closed(1), "past the limit");
}

#[test]
fn a_flooder_may_have_exactly_the_bound_held() {
    let mut h = flood_room(1, 1);
    h.send(1, b"a\nb\n");
    // `b\n`, three full reads and 1 022 bytes: exactly 4 096 held.
    let read = [b'x'; crate::MAX_READ];
    for _ in 0..3 {
        h.send(1, &read);
    }
    h.send(
        1,
        &read[..crate::conn::MAX_HELD_READ_BYTES - 2 - 3 * crate::MAX_READ],
    );
    assert!(!h.is_closed(1), "at the bound");
    h.send(1, b"x");
    assert!(h.is_closed(1), "past it");
}

#[test]
fn a_joined_users_unfinished_line_sets_no_timer() {
    let mut h = Harness::new();
    h.join(1, "alice");
    assert_eq!(h.room.poll_timeout(), None);
    h.send(1, b"half a li");
    assert_eq!(h.room.poll_timeout(), None, "nothing to settle once joined");
}

#[test]
fn a_nick_typed_over_several_reads_is_not_a_seed_clients_nick() {
    let mut h = Harness::new();
    h.connect(1);
    h.send(1, b"al");
    h.send(1, b"ice");
    // A seed client sends its nick in one read, then `NICK: message`.
    h.send(1, b"alice: hi");
    assert_eq!(h.room.nick(ConnId(1)), None);
    h.send(1, b"\n");
    assert_eq!(
        h.take(1),
        "alias?error: nick may only contain letters, digits and _-.[]{}|^\nalias?"
    );
}

#[test]
fn a_settle_time_with_nothing_unfinished_left_does_nothing() {
    let mut h = Harness::new();
    h.join(1, "bob");
    h.connect(2);
    h.send(2, b"bo");
    // The nick is finished, and refused, before the settle time ends.
    h.send(2, b"b\n");
    let refused = "alias?error: nick is already taken\nalias?";
    assert_eq!(h.take(2), refused);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(2), "", "no second attempt from an empty nick");
}

/// Which of five kept lines (numbered 0 to 4, oldest first) a joiner is
/// sent as history when their history lines (`[history] alice: …\n`) are
/// `entry` bytes each, with a 4 096-byte send queue: its quarter, 1 024
/// bytes, is the budget.
fn history_sent(entry: usize) -> String {
    let mut h = Harness::with(Config {
        history: 10,
        send_queue: 4096,
        // Byte arithmetic: a send costs its bytes only.
        send_overhead: 0,
        flood_rate: 0,
        ..Config::default()
    });
    h.join(1, "alice");
    let prefix = "[history] alice: ";
    for i in 0..5 {
        let text = format!("{i}{}", "t".repeat(entry - prefix.len() - 2));
        h.send(1, format!("{text}\n").as_bytes());
    }
    h.join(2, "bob");
    let seen = h.take(2);
    let history: Vec<&str> = seen.lines().filter(|l| l.starts_with(prefix)).collect();
    assert!(history.iter().all(|l| l.len() + 1 == entry));
    history
        .iter()
        .map(|l| &l[prefix.len()..=prefix.len()])
        .collect()
}

#[test]
fn a_joiner_gets_the_newest_history_that_fits_a_quarter_of_its_queue() {
    assert_eq!(
        history_sent(256),
        "1234",
        "four of 256 bytes fill it exactly"
    );
    assert_eq!(history_sent(257), "234", "four of 257 bytes do not");
}

#[test]
fn the_online_list_keeps_room_for_its_tail_to_the_byte() {
    // A queue of 4 160 bytes: the list may take 1 040. With 69 users its
    // header is 13 bytes and `and 69 more` 11: 1 014 bytes for the nicks,
    // which 57 nicks of 15 bytes and a 58th of 16 would pass by one.
    let nick = |i: u64| {
        let len = if i == 58 { 12 } else { 11 };
        format!("n{i:03}{}", "a".repeat(len))
    };
    let list = online_list_of(4160, 69, nick);
    assert!(list.len() <= 4160 / 4, "{} bytes", list.len());
    let listed: Vec<String> = (0..58).map(nick).collect();
    assert_eq!(
        list,
        format!("Online (69): {}, and 11 more\n", listed.join(", "))
    );
}

#[test]
fn an_online_line_is_filled_to_its_limit_and_no_further() {
    // 60 users: a 13-byte header and 43 nicks of 21 bytes with their
    // separators make a line of 1 000 bytes; a 44th of 22 would take it to
    // 1 024, past the 1 023 a line holds before its `\n`: it starts the
    // next line.
    let list = online_list_of_sixty(Config::default().send_queue);
    let lines: Vec<&str> = list.split_inclusive('\n').collect();
    assert!(
        lines.iter().all(|l| l.len() <= 1024),
        "{:?}",
        lines.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    let first: Vec<String> = (0..43).map(sixty_nick).collect();
    assert_eq!(lines[0], format!("Online (60): {}\n", first.join(", ")));
}

/// The `i`th of 60 users: 21 bytes, but the 44th (`i == 43`) has 22.
fn sixty_nick(i: u64) -> String {
    let len = if i == 43 { 18 } else { 17 };
    format!("m{i:03}{}", "b".repeat(len))
}

/// The online list of 60 users named by [`sixty_nick`], in a room with
/// `send_queue`.
fn online_list_of_sixty(send_queue: usize) -> String {
    online_list_of(send_queue, 60, sixty_nick)
}

/// The online list of `count` users named by `nick`, in a room with
/// `send_queue`.
fn online_list_of(send_queue: usize, count: u64, nick: impl Fn(u64) -> String) -> String {
    let mut h = Harness::with(Config {
        send_queue,
        flood_rate: 0,
        notice_hold_per_user: Duration::ZERO,
        ..Config::default()
    });
    for i in 0..count {
        h.join(i + 1, &nick(i));
    }
    h.take(1);
    h.send(1, b"/who\n");
    h.take(1)
}

#[test]
fn the_online_lists_tail_goes_on_a_line_of_its_own_when_it_would_pass_the_line() {
    // A 4 160-byte queue: a budget of 1 014 bytes for the nicks. 43 nicks
    // of 21 bytes and one of 9 end the line at byte 1 011; `, and 16 more`
    // would make it 1 024 bytes before its `\n`: the tail gets its own.
    let nick = |i: u64| {
        let len = if i == 43 { 5 } else { 17 };
        format!("m{i:03}{}", "b".repeat(len))
    };
    let list = online_list_of(4160, 60, nick);
    let listed: Vec<String> = (0..44).map(nick).collect();
    let expected = format!(
        "Online (60): {}\nOnline (60): and 16 more\n",
        listed.join(", ")
    );
    assert_eq!(list, expected);
}

#[test]
fn an_online_list_goes_on_to_a_second_line_while_the_budget_holds() {
    // A 4 504-byte queue: 1 126 bytes of list, 26 of them kept for the
    // tail. The 44th nick starts a second line at byte 1 001 and two more
    // fit before the budget; the tail ends that line.
    let list = online_list_of_sixty(4504);
    let lines: Vec<&str> = list.split_inclusive('\n').collect();
    let second: Vec<String> = (43..46).map(sixty_nick).collect();
    let expected = format!("Online (60): {}, and 14 more\n", second.join(", "));
    assert_eq!(lines.get(1), Some(&expected.as_str()), "{lines:?}");
    assert!(list.len() <= 4504 / 4);
    // The second line's header, nick and the `\n` before them take it to
    // byte 1 036: with a budget of exactly that (a 4 248-byte queue) the
    // line is started; one byte less (4 244) and the tail ends the first.
    let list = online_list_of_sixty(4248);
    let expected = format!("Online (60): {}, and 16 more\n", sixty_nick(43));
    assert_eq!(list.split_inclusive('\n').nth(1), Some(expected.as_str()));
    let list = online_list_of_sixty(4244);
    assert!(
        list.ends_with(", and 17 more\n") && list.lines().count() == 1,
        "{list}"
    );
}

#[test]
fn the_online_lists_tail_ends_a_second_line_at_exactly_the_line_limit() {
    // 100 users of 21 bytes, but the 51st and 52nd have 25 and 26. The
    // first line holds 43 nicks (1 001 bytes), the second 43 more (1 010
    // bytes, counted from its own start). An 8 272-byte queue leaves a
    // budget of 2 040 bytes: the 87th nick fits neither line nor budget, and
    // `, and 14 more` takes the second line to 1 023 bytes and its `\n` to
    // 1 024, the most a line may be: the tail stays on that line.
    let nick = |i: u64| {
        let len = match i {
            50 => 21,
            51 => 22,
            _ => 17,
        };
        format!("m{i:03}{}", "b".repeat(len))
    };
    let list = online_list_of(8272, 100, nick);
    let line = |range: std::ops::Range<u64>| {
        let nicks: Vec<String> = range.map(nick).collect();
        format!("Online (100): {}", nicks.join(", "))
    };
    let expected = format!("{}\n{}, and 14 more\n", line(0..43), line(43..86));
    assert_eq!(list, expected);
    let second = list.split_inclusive('\n').nth(1).unwrap_or_default();
    assert_eq!(second.len(), crate::wire::ONLINE_LINE_MAX);
}

#[test]
fn a_stalled_reader_of_tiny_lines_is_closed_once_their_cost_passes_the_send_queue() {
    let send_queue = 4096;
    let mut h = alice_and_stalled_bob(Config {
        send_queue,
        flood_rate: 0,
        ..Config::default()
    });
    let line = "alice: x\n".len();
    // Each line is one send: its bytes and the memory that holds it.
    let fit = send_queue / (line + crate::SEND_OVERHEAD);
    for i in 0..send_queue / line {
        h.send(1, b"x\n");
        if h.is_closed(2) {
            assert_eq!(i, fit, "closed after {} lines", i + 1);
            break;
        }
        assert_eq!(
            h.room.unflushed(ConnId(2)),
            Some((i + 1) * (line + crate::SEND_OVERHEAD))
        );
    }
    assert_eq!(h.closed.get(&2), Some(&CloseMode::Abort));
    // Far fewer bytes than the limit waited for it.
    assert_eq!(h.take(2).len(), (fit + 1) * line);
    assert!(h.take(1).contains("bob left the chat! (too slow)\n"));
}

#[test]
fn a_write_that_drops_payloads_gives_their_overhead_back() {
    let mut h = Harness::new();
    h.join(1, "alice");
    h.join(2, "bob");
    h.take(2);
    h.stalled.push(2);
    h.send(1, b"one\n");
    h.send(1, b"two\n");
    let line = "alice: one\n".len();
    let account = 2 * (line + crate::SEND_OVERHEAD);
    assert_eq!(h.room.unflushed(ConnId(2)), Some(account));
    // The socket took the first line and part of the second: one payload dropped.
    let (conn, len, sends) = (ConnId(2), line + 3, 1);
    h.input(Input::Written { conn, len, sends });
    assert_eq!(
        h.room.unflushed(ConnId(2)),
        Some(account - len - crate::SEND_OVERHEAD)
    );
    let (len, sends) = (line - 3, 1);
    h.input(Input::Written { conn, len, sends });
    assert_eq!(h.room.unflushed(ConnId(2)), Some(0));
}
