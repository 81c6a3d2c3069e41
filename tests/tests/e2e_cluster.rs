//! End-to-end tests of clustered rooms: real `chat server --cluster`
//! processes (std and smol in one cluster) sharing a room through a real
//! `redis-server` each test starts on its own free loopback port.
//!
//! They need `redis-server` on PATH. Every wait is bounded.

#[macro_use]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::redis::{free_port, RedisServer};
use common::server::Runtime;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

on_both_runtimes!(
    users_of_three_servers_share_one_room_in_one_order,
    a_nick_is_unique_across_servers,
    a_killed_servers_users_leave_once_as_server_lost,
    a_stopped_servers_users_leave_as_shut_down,
    a_restarted_redis_closes_users_and_the_room_starts_again,
    history_crosses_servers_and_a_late_server_starts_from_the_snapshot,
    a_server_without_redis_serves_once_redis_is_there,
);

/// The bound the design gives for a lost server's users to leave.
const LOSS_BOUND: Duration = Duration::from_secs(10);

/// The log line of a server that serves the room from its log.
const SERVING: &str = "serving the room from its log";

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
    let status = Command::new("kill")
        .args(["-KILL", &process.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {} failed", process.pid());
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
