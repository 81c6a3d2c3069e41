//! Attacks on the server's limits: an endless line, a reader that never
//! reads, a flood, and handshakes that never finish.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::{self, Honest};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    mebibyte_line_without_newline,
    reader_that_never_reads,
    flood_of_lines,
    slowloris_and_silent_connections,
);

const TOO_LONG: &str = "error: line too long (max 1024 bytes)";

fn mebibyte_line_without_newline(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());

    // Joined: one error, and the connection stays.
    let mut mallory = honest::join(&honest, "mallory", server.addr());
    mallory.send(vec![b'x'; 1 << 20]);
    honest::expect_lines(&mut mallory, &[TOO_LONG]);
    // The rest of the long line runs to its newline and is discarded.
    mallory.send("more of the same line\nstill here\n");
    honest::expect_lines(&mut mallory, &["mallory: still here"]);

    // Not joined yet: one error, the prompt again, and it can still join.
    let mut ghost = Peer::connect("ghost", server.addr());
    ghost.expect_prompt();
    ghost.send(vec![b'y'; 1 << 20]);
    ghost.expect_line(TOO_LONG);
    ghost.expect_prompt();
    ghost.send("\nghost\n");
    ghost.expect_lines(&["ghost joined the chat", "You are connected to the server!"]);
    honest.wait_for_line("ghost joined the chat");

    let report = honest.finish();
    report.assert_count("mallory: still here", 1);
    report.assert_nowhere("xxxx");
    report.assert_nowhere("yyyy");
    report.assert_nowhere("more of the same");
    server.stop();
}

/// A bound on the noise sent to fill the stalled reader: 20 MB.
const MAX_NOISE_LINES: usize = 20_000;

fn reader_that_never_reads(rt: Runtime) {
    // A quarter of the default send queue. Not smaller: on a loaded machine a
    // driver's writer may lag tens of KiB behind the room for a moment, and a
    // queue below that closes readers that do read (the noise sender itself).
    let config = chat_core::Config {
        send_queue: 64 * 1024,
        flood_rate: 0,
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let honest = Honest::start(server.addr());

    // Joins, then never reads again; its tiny receive buffer fills at once.
    let mut stall = Peer::connect_small_rcvbuf("stall", server.addr(), 4096);
    stall.expect_prompt();
    stall.send("stall\n");
    stall.expect_line("stall joined the chat");
    honest.wait_for_line("stall joined the chat");

    // Room traffic in small batches; each waits for the honest readers, so
    // that only the stalled one can fall a send queue behind.
    let mut noise = honest::join(&honest, "noise", server.addr());
    let mut noise_writer = noise.writer();
    let drain = thread::spawn(move || noise.drain_until_closed());
    let pad = "n".repeat(1000);
    let mut sent = 0;
    let kicked = "stall left the chat! (too slow)";
    loop {
        let seen = |lines: &[String]| lines.iter().rev().any(|l| l == kicked);
        if honest.users_all(seen) {
            break;
        }
        assert!(
            sent < MAX_NOISE_LINES,
            "the stalled reader was still in the room after {sent} lines of 1 KB"
        );
        let mut batch = String::new();
        for _ in 0..8 {
            batch.push_str(&format!("{sent:06} {pad}\n"));
            sent += 1;
        }
        noise_writer
            .write_all(batch.as_bytes())
            .expect("noise writes");
        let last = format!("noise: {:06} {pad}", sent - 1);
        honest.wait_for(
            "the noise batch or the too-slow notice",
            |lines: &[String]| lines.iter().rev().any(|l| *l == last || l == kicked),
        );
    }
    noise_writer.write_all(b"/quit\n").expect("noise quits");
    drain.join().expect("the noise drain");
    honest.wait_for_line("noise left the chat!");

    let report = honest.finish();
    report.assert_count(kicked, 1);
    for r in report.both() {
        let noise: Vec<&String> = r
            .others
            .iter()
            .filter(|l| l.starts_with("noise: "))
            .collect();
        assert_eq!(noise.len(), sent, "{}: noise lines lost", r.nick);
        for (n, line) in noise.iter().enumerate() {
            assert_eq!(**line, format!("noise: {n:06} {pad}"), "{}", r.nick);
        }
    }
    // The stalled connection was closed: its backlog ends in EOF or a reset.
    stall.drain_until_closed();
    server.stop();
}

fn flood_of_lines(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut flooder = honest::join(&honest, "flooder", server.addr());
    let mut writer = flooder.writer();
    // The flooder reads everything, so it is never too slow: only the flood
    // rules decide what happens to it.
    let drain = thread::spawn(move || flooder.drain_until_closed());

    // 800 lines in two writes, the second while the first is being refused;
    // a failed write is the server closing the flooder, which is allowed.
    for burst in 0..2 {
        let mut flood = String::new();
        for n in burst * 400..(burst + 1) * 400 {
            flood.push_str(&format!("f-{n}\n"));
        }
        let _ = writer.write_all(flood.as_bytes());
    }
    // After the flood, honest lines keep flowing for a moment.
    let at = honest.sent_so_far();
    honest.wait_for("more honest lines after the flood", |lines| {
        lines
            .iter()
            .rev()
            .any(|l| *l == format!("alice: a-{}", at + 2))
    });
    let report = honest.finish();
    let _ = writer.shutdown(std::net::Shutdown::Both);
    drain.join().expect("the flooder's drain");

    for r in report.both() {
        let relayed: Vec<usize> = r
            .others
            .iter()
            .filter_map(|l| l.strip_prefix("flooder: f-"))
            .map(|n| n.parse().expect("a flood line number"))
            .collect();
        assert!(!relayed.is_empty(), "{}: no flood line relayed", r.nick);
        assert!(
            relayed.windows(2).all(|w| w[0] < w[1]),
            "{}: flood lines out of order or repeated: {relayed:?}",
            r.nick
        );
    }
    server.stop();
}

fn slowloris_and_silent_connections(rt: Runtime) {
    // The settle time is longer than the pause between the loris's bytes, so
    // its nick is never complete; the handshake timeout closes it.
    let config = chat_core::Config {
        handshake_timeout: Duration::from_secs(2),
        settle: Duration::from_secs(1),
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let honest = Honest::start(server.addr());

    let mut loris = Peer::connect("loris", server.addr());
    loris.expect_prompt();
    let stop = Arc::new(AtomicBool::new(false));
    let typing = {
        let mut writer = loris.writer();
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // Bounded: 30 letters, fewer than a nick may have.
            for b in b"abcdefghijklmnopqrstuvwxyzabcd" {
                if stop.load(Ordering::SeqCst) || writer.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut silent: Vec<Peer> = (0..3)
        .map(|i| {
            let mut peer = Peer::connect(&format!("silent{i}"), server.addr());
            peer.expect_prompt();
            peer
        })
        .collect();

    for peer in silent.iter_mut().chain([&mut loris]) {
        let rest = peer.expect_closed();
        assert!(
            rest.is_empty(),
            "{}: closed silently, got {:?}",
            peer.name(),
            String::from_utf8_lossy(&rest)
        );
    }
    stop.store(true, Ordering::SeqCst);
    typing.join().expect("the loris");

    let report = honest.finish();
    report.assert_nothing_else();
    server.stop();
}
