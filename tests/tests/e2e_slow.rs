//! End-to-end: the send queue tells slow readers from fast ones.
//!
//! - A client that stops reading cannot hold up the room. It is dropped as
//!   too slow once its send queue passes the limit, and everyone else gets
//!   every line, in order. The sender waits for the readers to receive each
//!   batch before sending the next (a bounded poll), so the readers that do
//!   read never fall a send queue behind: only the stalled one can be too slow.
//! - A sender bursting megabytes without pausing (flood control off) gets no
//!   reader kicked that reads as fast as it can: the drivers report what the
//!   sockets took without waiting behind the burst, and push back on the sender.

#[macro_use]
mod common;

use common::peer::Peer;
use common::server::{test_config, Runtime, TestServer};
use common::WAIT;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

on_both_runtimes!(
    stalled_reader_is_dropped_and_the_others_lose_nothing,
    fast_readers_survive_a_burst_of_megabytes,
    readers_of_many_tiny_lines_get_every_sends_cost_back,
);

const TOO_SLOW: &str = "stall left the chat! (too slow)";
/// A bound on the test, far above what a 64 KiB queue and small socket
/// buffers need: 20 MB of chat.
const MAX_LINES: usize = 20_000;

/// What a reader thread has seen so far.
#[derive(Default)]
struct Progress {
    /// `bob: msg` lines received.
    messages: AtomicUsize,
    /// The too-slow notice arrived.
    kicked: AtomicBool,
}

/// Reads `peer`'s lines until `bob: done`, publishing its progress.
fn collect(mut peer: Peer, progress: &Progress) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = peer.line();
        if line == "bob: done" {
            return lines;
        }
        if line.starts_with("bob: msg ") {
            progress.messages.fetch_add(1, Ordering::SeqCst);
        } else if line == TOO_SLOW {
            progress.kicked.store(true, Ordering::SeqCst);
        }
        lines.push(line);
    }
}

/// Waits (bounded) until every reader has received `sent` messages.
fn wait_for_readers(readers: &[&Progress], sent: usize) {
    let deadline = Instant::now() + WAIT;
    while readers
        .iter()
        .any(|p| p.messages.load(Ordering::SeqCst) < sent)
    {
        assert!(
            Instant::now() < deadline,
            "the readers did not receive {sent} lines within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Checks that `lines` hold `bob: msg 0..sent` in order, each intact, and the
/// too-slow notice exactly once (bob also sees stall join).
fn check_nothing_lost(who: &str, lines: &[String], sent: usize, pad: &str) {
    let mut next = 0;
    let mut notices = 0;
    for line in lines {
        if let Some(rest) = line.strip_prefix("bob: msg ") {
            let expected = format!("{next:06} {pad}");
            assert!(
                rest == expected,
                "{who}: got {rest:.20}... where msg {next} was due"
            );
            next += 1;
        } else if line == TOO_SLOW {
            notices += 1;
        } else {
            assert_eq!(line, "stall joined the chat", "{who}: unexpected line");
        }
    }
    assert_eq!(next, sent, "{who}: lines lost");
    assert_eq!(notices, 1, "{who}: the too-slow notice");
}

fn stalled_reader_is_dropped_and_the_others_lose_nothing(rt: Runtime) {
    let config = chat_core::Config {
        send_queue: 64 * 1024,
        flood_rate: 0,
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let mut alice = Peer::join("alice", server.addr());
    let bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    // Joins, then never reads again; its tiny receive buffer fills at once.
    let mut stall = Peer::connect_small_rcvbuf("stall", server.addr(), 4096);
    stall.expect_prompt();
    stall.send("stall\n");
    stall.expect_line("stall joined the chat");

    let alice_progress = Arc::new(Progress::default());
    let bob_progress = Arc::new(Progress::default());
    let alice_reader = {
        let progress = Arc::clone(&alice_progress);
        thread::spawn(move || collect(alice, &progress))
    };
    let mut bob_writer = bob.writer();
    let bob_reader = {
        let progress = Arc::clone(&bob_progress);
        thread::spawn(move || collect(bob, &progress))
    };

    let pad = "x".repeat(1000);
    let mut sent = 0;
    while !alice_progress.kicked.load(Ordering::SeqCst) {
        assert!(
            sent < MAX_LINES,
            "the stalled reader was still in the room after {sent} lines of 1 KB"
        );
        let mut batch = String::new();
        for _ in 0..32 {
            batch.push_str(&format!("msg {sent:06} {pad}\n"));
            sent += 1;
        }
        bob_writer.write_all(batch.as_bytes()).expect("bob writes");
        wait_for_readers(&[&alice_progress, &bob_progress], sent);
    }
    bob_writer.write_all(b"done\n").expect("bob writes");

    let alice_lines = alice_reader.join().expect("alice's reader");
    let bob_lines = bob_reader.join().expect("bob's reader");
    check_nothing_lost("alice", &alice_lines, sent, &pad);
    check_nothing_lost("bob", &bob_lines, sent, &pad);

    // The stalled connection was closed: its backlog ends in EOF or a reset.
    stall.drain_until_closed();
    server.stop();
}

/// Lines in the burst: 2 100 lines of 1 000 bytes, 2.1 MB, eight times the
/// default send queue.
const BURST_LINES: usize = 2_100;

/// The bound on the whole burst test: every reader gives up after it.
const BURST_WAIT: Duration = Duration::from_secs(30);

/// The `N`-th line of the burst as sent: 1 000 bytes with its `\n`.
fn burst_line(n: usize) -> String {
    format!("msg {n:06} {}\n", "x".repeat(988))
}

/// Reads raw bytes from `stream` as fast as it can until `end` arrived, the
/// connection ends, or [`BURST_WAIT`] passed; returns everything read.
fn read_all_until(mut stream: &TcpStream, end: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + BURST_WAIT;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                // Only the new bytes (and the few before them) can complete `end`.
                let from = got.len().saturating_sub(end.len());
                got.extend_from_slice(&chunk[..n]);
                if got[from..].windows(end.len()).any(|w| w == end) {
                    break;
                }
            }
            Err(e) if common::peer::read_timed_out(&e) => {}
            Err(_) => break,
        }
    }
    got
}

/// Checks that `got` is exactly every burst line from `carol`, in order, then
/// `carol: done`: nothing lost, repeated, reordered or added (no one left).
fn check_burst(who: &str, got: &[u8]) {
    let text = String::from_utf8_lossy(got);
    let kicks: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("left the chat"))
        .collect();
    assert!(
        kicks.is_empty(),
        "{who}: users left during the burst: {kicks:?}"
    );
    let mut lines = text.lines();
    for n in 0..BURST_LINES {
        let expected = format!("carol: {}", burst_line(n));
        match lines.next() {
            Some(line) if line == expected.trim_end() => {}
            Some(line) => panic!("{who}: got {line:.30}... where line {n} was due"),
            None => panic!(
                "{who}: the stream ended after {n} of {BURST_LINES} lines \
                 (closed as too slow, or {BURST_WAIT:?} passed)"
            ),
        }
    }
    assert_eq!(lines.next(), Some("carol: done"), "{who}: after the burst");
    assert_eq!(lines.next(), None, "{who}: lines after the burst");
}

fn fast_readers_survive_a_burst_of_megabytes(rt: Runtime) {
    // The default send queue (256 KiB), flood control off.
    let config = chat_core::Config {
        flood_rate: 0,
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    let carol = Peer::join("carol", server.addr());
    alice.expect_lines(&["bob joined the chat", "carol joined the chat"]);
    bob.expect_line("carol joined the chat");
    // Every peer's buffer is empty now (nothing else was sent): read raw.

    let mut sender = carol.writer();
    // The sender reads its own lines too, or it would be too slow itself.
    let readers: Vec<_> = [alice, bob, carol]
        .into_iter()
        .map(|peer| {
            thread::spawn(move || {
                let got = read_all_until(peer.stream(), b"carol: done\n");
                // The peer stays open until every reader is done, so that
                // nobody leaves while the others still read.
                (peer, got)
            })
        })
        .collect();

    let mut burst = String::with_capacity(BURST_LINES * 1000 + 5);
    for n in 0..BURST_LINES {
        burst.push_str(&burst_line(n));
    }
    burst.push_str("done\n");
    // One write, no pause; may fail if the server closed carol (checked below).
    let written = sender.write_all(burst.as_bytes());

    let results: Vec<_> = readers
        .into_iter()
        .map(|reader| reader.join().expect("a reader thread"))
        .collect();
    for (peer, got) in &results {
        check_burst(peer.name(), got);
    }
    written.expect("carol sends the whole burst");
    server.stop();
}

/// Each send costs its bytes plus its bookkeeping against the send queue;
/// a reader that keeps up gets both back as its socket takes the bytes,
/// whichever way the driver wrote them. Here 1 000 tiny lines, each costing
/// about seven times its bytes, pass through a 4 KiB queue in batches of
/// ten that are read before the next: were any send's bookkeeping never
/// given back, the readers would pass the limit within a few dozen batches.
fn readers_of_many_tiny_lines_get_every_sends_cost_back(rt: Runtime) {
    const LINES: usize = 1_000;
    const BATCH: usize = 10;
    let server = TestServer::start(
        rt,
        chat_core::Config {
            send_queue: 4096,
            flood_rate: 0,
            ..test_config()
        },
    );
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");
    for batch in 0..LINES / BATCH {
        let lines: Vec<String> = (0..BATCH)
            .map(|i| format!("m{}", batch * BATCH + i))
            .collect();
        alice.send(lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        for line in &lines {
            let said = format!("alice: {line}");
            alice.expect_line(&said);
            bob.expect_line(&said);
        }
    }
    bob.send("still here\n");
    alice.expect_line("bob: still here");
    bob.expect_line("bob: still here");
}
