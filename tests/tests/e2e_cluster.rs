//! End-to-end tests of clustered rooms: real `chat server --cluster`
//! processes (std and smol in one cluster) sharing a room through a real
//! `redis-server` each test starts on its own free loopback port.
//!
//! They need `redis-server` on PATH. Every wait is bounded.

#[macro_use]
mod common;

use chat_core::{Entry, EntryKind, NodeId};
use chat_runtime_common::log::redis::{LogConfig, RedisLog};
use chat_runtime_common::log::{LogEvent, LogSink, RoomLog};
use common::bin::ChatProcess;
use common::peer::Peer;
use common::redis::{free_port, RedisServer};
use common::server::Runtime;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

on_both_runtimes!(
    users_of_three_servers_share_one_room_in_one_order,
    a_nick_is_unique_across_servers,
    a_killed_servers_users_leave_once_as_server_lost,
    a_stopped_servers_users_leave_as_shut_down,
    a_restarted_redis_closes_users_and_the_room_starts_again,
    history_crosses_servers_and_a_late_server_starts_from_the_snapshot,
    a_server_without_redis_serves_once_redis_is_there,
    a_flushed_redis_closes_every_user_and_a_later_server_joins_the_one_room,
    a_deleted_stream_closes_every_user_and_a_later_server_joins_the_one_room,
    an_expired_epoch_key_closes_every_user_and_a_later_server_joins_the_one_room,
    a_server_paused_for_three_seconds_loses_no_line,
    a_server_paused_past_the_trim_tells_its_users_it_lost_contact,
);

/// The bound the design gives for a lost server's users to leave.
const LOSS_BOUND: Duration = Duration::from_secs(10);

/// The log line of a server that serves the room from its log.
const SERVING: &str = "serving the room from its log";

/// What users of a server read when the room's log lost entries.
const LOG_LOST: &str = "error: the room's log was lost, lines may be missing; please reconnect";

/// What users of a server read when it lost contact with the room.
const LOST_CONTACT: &str = "error: this server lost contact with the room; please reconnect";

/// The other runtime: clusters alternate, so each test mixes both.
fn other(rt: Runtime) -> Runtime {
    match rt {
        Runtime::Std => Runtime::Smol,
        Runtime::Smol => Runtime::Std,
    }
}

/// `chat server --cluster URL EXTRA...` on a free port, once it serves.
fn node(rt: Runtime, url: &str, extra: &[&str]) -> (ChatProcess, SocketAddr) {
    let mut args = vec!["--cluster", url];
    args.extend_from_slice(extra);
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &args);
    server.stderr_line_containing(SERVING);
    (server, addr)
}

/// A Redis and `n` servers on it, alternating runtimes from `rt`.
fn cluster(rt: Runtime, n: usize, extra: &[&str]) -> (RedisServer, Vec<(ChatProcess, SocketAddr)>) {
    let redis = RedisServer::start();
    let nodes = (0..n)
        .map(|i| {
            let rt = if i % 2 == 0 { rt } else { other(rt) };
            node(rt, &redis.url(), extra)
        })
        .collect();
    (redis, nodes)
}

fn kill_9(process: &ChatProcess) {
    signal(process, "-KILL");
}

fn signal(process: &ChatProcess, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &process.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {} failed", process.pid());
}

/// Stops the process (SIGSTOP) and waits (bounded) until it is stopped.
fn stop(process: &ChatProcess) {
    signal(process, "-STOP");
    let stat = format!("/proc/{}/stat", process.pid());
    let deadline = Instant::now() + common::WAIT;
    // The state follows the command name, which ends with `)`.
    let stopped = || {
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('T')))
            .unwrap_or(false)
    };
    while !stopped() {
        assert!(Instant::now() < deadline, "{} did not stop", process.pid());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stops the process (SIGSTOP) for `pause`, then lets it go on (SIGCONT).
fn pause(process: &ChatProcess, pause: Duration) {
    stop(process);
    std::thread::sleep(pause);
    signal(process, "-CONT");
}

fn users_of_three_servers_share_one_room_in_one_order(rt: Runtime) {
    let (_redis, nodes) = cluster(rt, 3, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    let mut carol = Peer::join("carol", nodes[2].1);
    alice.skip_to_line("carol joined the chat");
    bob.skip_to_line("carol joined the chat");

    // Lines from three servers at once: one order for everyone.
    for i in 0..4 {
        alice.send(format!("a{i}\n"));
        bob.send(format!("b{i}\n"));
        carol.send(format!("c{i}\n"));
    }
    let mut seen = Vec::new();
    for peer in [&mut alice, &mut bob, &mut carol] {
        seen.push((0..12).map(|_| peer.line()).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "alice and bob saw different orders");
    assert_eq!(seen[0], seen[2], "alice and carol saw different orders");
    for (nick, tag) in [("alice", 'a'), ("bob", 'b'), ("carol", 'c')] {
        let own: Vec<&String> = seen[0]
            .iter()
            .filter(|l| l.starts_with(&format!("{nick}: ")))
            .collect();
        let expected: Vec<String> = (0..4).map(|i| format!("{nick}: {tag}{i}")).collect();
        assert_eq!(own, expected.iter().collect::<Vec<_>>(), "{nick}'s lines");
    }

    bob.send("/who\n");
    bob.expect_line("Online (3): alice, bob, carol");
    alice.send("/msg CAROL psst\n");
    alice.expect_line("[pm to carol] psst");
    carol.expect_line("[pm from alice] psst");
    // Bob got nothing of it: his next line is his own.
    bob.send("end\n");
    bob.expect_line("bob: end");
    carol.send("/nick caroline\n");
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.skip_to_line("carol is now known as caroline");
    }
}

fn a_nick_is_unique_across_servers(rt: Runtime) {
    let (_redis, nodes) = cluster(rt, 2, &[]);
    let _alice = Peer::join("alice", nodes[0].1);
    let mut other = Peer::connect("other", nodes[1].1);
    other.expect_prompt();
    other.send("ALICE\n");
    other.expect_line("error: nick is already taken");
    other.expect_prompt();

    // Two claims of one nick on two servers at once: the log picks one.
    let mut claims: Vec<Peer> = nodes
        .iter()
        .map(|(_, addr)| {
            let mut peer = Peer::connect("dave", *addr);
            peer.expect_prompt();
            peer
        })
        .collect();
    for peer in &mut claims {
        peer.send("dave\n");
    }
    let won: Vec<bool> = claims
        .iter_mut()
        .map(|peer| match peer.line().as_str() {
            "dave joined the chat" => true,
            "error: nick is already taken" => false,
            other => panic!("unexpected answer to a claim: {other:?}"),
        })
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "winners: {won:?}");
}

fn a_killed_servers_users_leave_once_as_server_lost(rt: Runtime) {
    let (_redis, nodes) = cluster(rt, 3, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    let _carol = Peer::join("carol", nodes[2].1);
    alice.skip_to_line("carol joined the chat");
    bob.skip_to_line("carol joined the chat");

    let killed = Instant::now();
    kill_9(&nodes[2].0);
    for peer in [&mut alice, &mut bob] {
        let before = peer.skip_to_line("carol left the chat! (server lost)");
        assert!(
            before.is_empty(),
            "{}: unexpected lines {before:?}",
            peer.name()
        );
    }
    let took = killed.elapsed();
    assert!(took <= LOSS_BOUND, "the loss took {took:?}");

    // Once: the next line after it is the next one said.
    alice.send("after\n");
    alice.expect_line("alice: after");
    bob.expect_line("alice: after");
    bob.send("/who\n");
    bob.expect_line("Online (2): alice, bob");
}

fn a_stopped_servers_users_leave_as_shut_down(rt: Runtime) {
    let (_redis, mut nodes) = cluster(rt, 2, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    let _bea = Peer::join("bea", nodes[1].1);
    alice.skip_to_line("bea joined the chat");
    nodes[1].0.terminate();
    bob.skip_to_line("server is shutting down");
    // In the order they joined that server.
    alice.expect_lines(&[
        "bob left the chat! (server shut down)",
        "bea left the chat! (server shut down)",
    ]);
    assert!(nodes[1].0.wait_exit().success());
}

fn a_restarted_redis_closes_users_and_the_room_starts_again(rt: Runtime) {
    let (mut redis, mut nodes) = cluster(rt, 2, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    alice.skip_to_line("bob joined the chat");
    alice.send("before\n");
    bob.expect_line("alice: before");

    redis.kill();
    for (server, _) in &mut nodes {
        server.stderr_line_containing("cannot reach the room's log");
    }
    alice.send("while down\n");
    alice.skip_to_line("error: room unavailable, not sent: while down");

    redis.restart();
    for peer in [&mut alice, &mut bob] {
        peer.skip_to_line("error: the room's log was lost, lines may be missing; please reconnect");
        peer.expect_closed();
    }
    for (server, _) in &mut nodes {
        server.stderr_line_containing(SERVING);
    }
    // The room starts again, empty, in the new log.
    let mut bob = Peer::join("bob", nodes[1].1);
    let mut alice = Peer::connect("alice", nodes[0].1);
    alice.expect_prompt();
    alice.send("alice\n");
    alice.expect_lines(&[
        "alice joined the chat",
        "You are connected to the server!",
        "Online (2): alice, bob",
    ]);
    bob.expect_line("alice joined the chat");
    alice.send("again\n");
    bob.expect_line("alice: again");
}

fn history_crosses_servers_and_a_late_server_starts_from_the_snapshot(rt: Runtime) {
    let (redis, mut nodes) = cluster(rt, 1, &["--history", "3"]);
    let mut alice = Peer::join("alice", nodes[0].1);
    for line in ["one", "two", "three", "four"] {
        alice.send(format!("{line}\n"));
        alice.expect_line(&format!("alice: {line}"));
    }
    // Wait (bounded) for a snapshot that holds the last line.
    let deadline = Instant::now() + common::WAIT;
    loop {
        let state = redis.bulk("HGET chat:{lobby}:snapshot state");
        if state.is_some_and(|s| s.contains("alice: four")) {
            break;
        }
        assert!(Instant::now() < deadline, "no snapshot stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = redis.url();
    let args = ["--cluster", &url, "--history", "3"];
    let (mut late, addr) = ChatProcess::server(&other(rt).to_string(), &args);
    // Two threads log these: in either order.
    let mut waiting = vec!["restored the room from its snapshot", SERVING];
    while !waiting.is_empty() {
        let line = late.stderr_line_containing("");
        waiting.retain(|needle| !line.contains(needle));
    }
    nodes.push((late, addr));

    let mut bob = Peer::connect("bob", addr);
    bob.expect_prompt();
    bob.send("bob\n");
    bob.expect_lines(&[
        "bob joined the chat",
        "You are connected to the server!",
        "[history] alice: two",
        "[history] alice: three",
        "[history] alice: four",
        "Online (2): alice, bob",
    ]);
    alice.expect_line("bob joined the chat");
    bob.send("hi\n");
    alice.expect_line("bob: hi");
}

fn a_server_without_redis_serves_once_redis_is_there(rt: Runtime) {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &["--cluster", &url]);
    server.stderr_line_containing("cannot reach the room's log");
    let mut early = Peer::connect("early", addr);
    early.expect_prompt();
    early.send("early\n");
    early.expect_line("error: room unavailable, try again");
    early.expect_prompt();

    let _redis = RedisServer::start_at(port);
    server.stderr_line_containing(SERVING);
    early.send("early\n");
    early.expect_lines(&[
        "early joined the chat",
        "You are connected to the server!",
        "Online (1): early",
    ]);
}

/// `nick` joins the server at `addr` and is told `online`.
fn join_seeing(nick: &str, addr: SocketAddr, online: &str) -> Peer {
    let mut peer = Peer::connect(nick, addr);
    peer.expect_prompt();
    peer.send(format!("{nick}\n"));
    peer.expect_lines(&[
        &format!("{nick} joined the chat"),
        "You are connected to the server!",
        online,
    ]);
    peer
}

/// Two servers chat; `fault` (a Redis command) loses the room's log while
/// both run. Every user is closed with the log-lost error, without waiting
/// for a reconnect; a server started a moment later serves the same, new
/// room as the two: one room, not two.
fn a_lost_log_starts_one_room_again(rt: Runtime, fault: &str) {
    let (redis, mut nodes) = cluster(rt, 2, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    alice.skip_to_line("bob joined the chat");
    alice.send("before\n");
    bob.expect_line("alice: before");

    let reply = redis.command(fault);
    assert!(reply == "+OK" || reply == ":1", "{fault}: {reply}");
    for peer in [&mut alice, &mut bob] {
        peer.skip_to_line(LOG_LOST);
        peer.expect_closed();
    }
    std::thread::sleep(Duration::from_secs(1));
    let (late, addr) = node(other(rt), &redis.url(), &[]);
    nodes.push((late, addr));
    let mut carol = join_seeing("carol", addr, "Online (1): carol");
    let mut alice = join_seeing("alice", nodes[0].1, "Online (2): alice, carol");
    carol.expect_line("alice joined the chat");
    // A nick of one server is taken on the other.
    let mut other = Peer::connect("other", addr);
    other.expect_prompt();
    other.send("alice\n");
    other.expect_line("error: nick is already taken");
    let mut bob = join_seeing("bob", nodes[1].1, "Online (3): alice, bob, carol");
    for peer in [&mut alice, &mut carol] {
        peer.skip_to_line("bob joined the chat");
    }
    carol.send("from c\n");
    alice.send("from a\n");
    let mut seen = Vec::new();
    for peer in [&mut alice, &mut bob, &mut carol] {
        seen.push((0..2).map(|_| peer.line()).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "alice and bob saw different orders");
    assert_eq!(seen[0], seen[2], "alice and carol saw different orders");
}

fn a_flushed_redis_closes_every_user_and_a_later_server_joins_the_one_room(rt: Runtime) {
    a_lost_log_starts_one_room_again(rt, "FLUSHALL");
}

fn a_deleted_stream_closes_every_user_and_a_later_server_joins_the_one_room(rt: Runtime) {
    a_lost_log_starts_one_room_again(rt, "DEL chat:{lobby}:log");
}

fn an_expired_epoch_key_closes_every_user_and_a_later_server_joins_the_one_room(rt: Runtime) {
    a_lost_log_starts_one_room_again(rt, "PEXPIRE chat:{lobby}:epoch 200");
}

/// A server stopped (SIGSTOP) for 3 s, well within the loss bound, while
/// its user types: the calls to Redis it was in fail as interrupted when
/// it goes on, and are tried again; every line reaches the room.
fn a_server_paused_for_three_seconds_loses_no_line(rt: Runtime) {
    let (_redis, nodes) = cluster(rt, 2, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    alice.skip_to_line("bob joined the chat");

    stop(&nodes[0].0);
    alice.send("one\ntwo\n");
    bob.send("meanwhile\n");
    bob.expect_line("bob: meanwhile");
    std::thread::sleep(Duration::from_secs(3));
    signal(&nodes[0].0, "-CONT");
    alice.send("three\n");
    let mut lines = Vec::new();
    while !lines.iter().any(|l| l == "alice: three") {
        let line = alice.line();
        assert!(
            !line.starts_with("error:"),
            "alice got {line:?} after {lines:?}"
        );
        lines.push(line);
    }
    assert_eq!(
        lines,
        ["bob: meanwhile", "alice: one", "alice: two", "alice: three"],
        "what alice read"
    );
    bob.expect_lines(&["alice: one", "alice: two", "alice: three"]);
}

/// A server stopped for longer than the stream keeps entries (the trim
/// lag) finds them trimmed when it goes on: its users lost contact with
/// the room (the others saw them leave as lost); the log lost nothing.
fn a_server_paused_past_the_trim_tells_its_users_it_lost_contact(rt: Runtime) {
    let (_redis, mut nodes) = cluster(rt, 2, &[]);
    let mut alice = Peer::join("alice", nodes[0].1);
    let mut bob = Peer::join("bob", nodes[1].1);
    alice.skip_to_line("bob joined the chat");

    pause(&nodes[0].0, Duration::from_secs(17));
    nodes[0]
        .0
        .stderr_line_containing("the log was trimmed past what this server read");
    let skipped = alice.skip_to_line(LOST_CONTACT);
    assert!(
        !skipped.iter().any(|l| l.starts_with("error:")),
        "alice read {skipped:?}"
    );
    alice.expect_closed();
    bob.skip_to_line("alice left the chat! (server lost)");
    // The paused server serves again, in the same room.
    nodes[0].0.stderr_line_containing(SERVING);
    let mut alice = join_seeing("alice", nodes[0].1, "Online (2): alice, bob");
    bob.expect_line("alice joined the chat");
    bob.send("welcome back\n");
    alice.expect_line("bob: welcome back");
}

/// Hands the test what the Redis log says.
struct ChannelSink(Mutex<mpsc::Sender<LogEvent>>);

impl LogSink for ChannelSink {
    fn deliver(&self, event: LogEvent) -> bool {
        let sender = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sender.send(event).is_ok()
    }
}

/// An append the writer sends again (after a failure it cannot tell from a
/// lost reply) lands in the log once: a node's entry is known by its
/// sequence number.
#[test]
fn an_append_sent_twice_lands_once() {
    let redis = RedisServer::start();
    let config = LogConfig::new(&redis.url(), "lobby").expect("a log config");
    let (events, inbox) = mpsc::channel();
    let mut log =
        RedisLog::start(&config, ChannelSink(Mutex::new(events))).expect("the log starts");
    let deadline = Instant::now() + common::WAIT;
    let next = || {
        let left = deadline.saturating_duration_since(Instant::now());
        inbox
            .recv_timeout(left)
            .expect("an event of the log in time")
    };
    let gen = loop {
        if let LogEvent::Up { gen, .. } = next() {
            break gen;
        }
    };
    let entry = |seq| Entry {
        node: NodeId::new("here", 7),
        seq,
        kind: EntryKind::Beat,
    };
    for seq in [1, 1, 2, 2, 3] {
        log.append(gen, &entry(seq)).expect("room in the outbox");
    }
    let mut seqs = Vec::new();
    while !seqs.contains(&3) {
        if let LogEvent::Logged { entries, .. } = next() {
            seqs.extend(entries.iter().map(|e| e.seq));
        }
    }
    assert_eq!(seqs, [1, 2, 3], "the entries the log holds");
}
