//! Every way a connection can end: EOF, EOF in the middle of a line, a
//! reset, a close while the server is writing to it, a close during the
//! handshake, a close right after connecting, and a half-close after a last
//! line with no newline. Each joined attacker leaves exactly one notice; an
//! unjoined one leaves none.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::{self, Honest, Report};
use socket2::SockRef;
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    disconnect_by_eof,
    disconnect_by_eof_mid_line,
    disconnect_by_reset,
    disconnect_while_the_server_writes,
    disconnect_during_the_handshake,
    disconnect_right_after_connect,
    half_close_relays_the_last_line,
);

/// Attackers per test.
const ATTACKERS: usize = 3;

/// Makes the next close of `peer`'s socket send a reset instead of a FIN.
fn reset_on_close(peer: &Peer) {
    SockRef::from(peer.stream())
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
}

/// Joins `ATTACKERS` users named `PREFIX0`…, has `leave` end each, and checks
/// that the honest pair saw each join once and each leave once.
fn joined_attackers_leave(rt: Runtime, prefix: &str, leave: impl Fn(Peer)) -> Report {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let nicks: Vec<String> = (0..ATTACKERS).map(|i| format!("{prefix}{i}")).collect();
    for nick in &nicks {
        let peer = honest::join(&honest, nick, server.addr());
        leave(peer);
    }
    for nick in &nicks {
        let notice = format!("{nick} left the chat!");
        honest.wait_for(&notice, |lines| {
            lines.iter().any(|l| l.starts_with(&notice))
        });
    }
    let report = honest.finish();
    for nick in &nicks {
        report.assert_count(&format!("{nick} joined the chat"), 1);
        let notice = format!("{nick} left the chat!");
        for r in report.both() {
            let leaves: Vec<&String> = r.others.iter().filter(|l| l.starts_with(&notice)).collect();
            assert_eq!(leaves.len(), 1, "{}: leave notices {leaves:?}", r.nick);
        }
    }
    server.stop();
    report
}

fn disconnect_by_eof(rt: Runtime) {
    let report = joined_attackers_leave(rt, "eof", |peer| {
        peer.shutdown_write();
        drop(peer);
    });
    for r in report.both() {
        assert!(
            r.others.iter().all(|l| !l.contains(": ")),
            "{}: a message from an attacker that sent none: {:?}",
            r.nick,
            r.others
        );
    }
}

fn disconnect_by_eof_mid_line(rt: Runtime) {
    let report = joined_attackers_leave(rt, "cut", |mut peer| {
        peer.send("half a li");
        peer.shutdown_write();
        drop(peer);
    });
    // The unfinished line may be relayed (if the server read it before the
    // close turned into a reset), once and before the leave notice.
    last_words_at_most_once(&report, "cut", "half a li");
}

fn disconnect_by_reset(rt: Runtime) {
    let report = joined_attackers_leave(rt, "rst", |mut peer| {
        peer.send("unfinished");
        reset_on_close(&peer);
        drop(peer);
    });
    last_words_at_most_once(&report, "rst", "unfinished");
}

/// Each attacker `PREFIX0`… said `text` at most once, and only before it left.
fn last_words_at_most_once(report: &Report, prefix: &str, text: &str) {
    for r in report.both() {
        for i in 0..ATTACKERS {
            let said = format!("{prefix}{i}: {text}");
            let copies: Vec<usize> = (0..r.others.len())
                .filter(|&at| r.others[at] == said)
                .collect();
            let left = r
                .others
                .iter()
                .position(|l| l.starts_with(&format!("{prefix}{i} left the chat!")));
            assert!(
                copies.len() <= 1 && copies.iter().all(|&at| Some(at) < left),
                "{}: {said:?} more than once or after the leave notice: {:?}",
                r.nick,
                r.others
            );
        }
    }
}

fn disconnect_while_the_server_writes(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let nicks: Vec<String> = (0..ATTACKERS).map(|i| format!("busy{i}")).collect();
    for (i, nick) in nicks.iter().enumerate() {
        // A small window, and 30 help texts asked for at once: the server
        // is still writing them when the socket goes away.
        let mut peer = Peer::connect_small_rcvbuf(nick, server.addr(), 2048);
        peer.expect_prompt();
        peer.send(format!("{nick}\n"));
        peer.expect_line(&format!("{nick} joined the chat"));
        honest.wait_for_line(&format!("{nick} joined the chat"));
        peer.send("/help\n".repeat(30));
        thread::sleep(Duration::from_millis(20));
        if i % 2 == 0 {
            reset_on_close(&peer);
        }
        drop(peer);
    }
    for nick in &nicks {
        let notice = format!("{nick} left the chat!");
        honest.wait_for(&notice, |lines| {
            lines.iter().any(|l| l.starts_with(&notice))
        });
    }
    let report = honest.finish();
    for nick in &nicks {
        let notice = format!("{nick} left the chat!");
        for r in report.both() {
            let leaves = r.others.iter().filter(|l| l.starts_with(&notice)).count();
            assert_eq!(leaves, 1, "{}: leave notices of {nick}", r.nick);
        }
    }
    server.stop();
}

fn disconnect_during_the_handshake(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    for i in 0..ATTACKERS * 2 {
        let mut peer = Peer::connect(&format!("shy{i}"), server.addr());
        peer.expect_prompt();
        match i % 3 {
            0 => {}
            1 => peer.send(format!("shy{i}")),
            _ => peer.send(b"sh\xc3"),
        }
        if i % 2 == 0 {
            reset_on_close(&peer);
        } else {
            peer.shutdown_write();
        }
        drop(peer);
    }
    // A newcomer's join notice after all of them: what they left would
    // have come before it.
    let _late = honest::join(&honest, "late", server.addr());
    let report = honest.finish();
    report.assert_nowhere("shy");
    report.assert_nowhere("sh\u{FFFD}");
    report.assert_count("late joined the chat", 1);
    assert_eq!(report.alice.others, ["late joined the chat"]);
    assert_eq!(report.bob.others, ["late joined the chat"]);
    server.stop();
}

fn disconnect_right_after_connect(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    for i in 0..ATTACKERS * 2 {
        let peer = Peer::connect(&format!("gone{i}"), server.addr());
        if i % 2 == 0 {
            reset_on_close(&peer);
        }
        drop(peer);
    }
    let _late = honest::join(&honest, "late", server.addr());
    let report = honest.finish();
    assert_eq!(report.alice.others, ["late joined the chat"]);
    assert_eq!(report.bob.others, ["late joined the chat"]);
    server.stop();
}

fn half_close_relays_the_last_line(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut quitter = honest::join(&honest, "quitter", server.addr());
    // Like `nc -N`: the last line has no newline, then the write side shuts.
    quitter.send("bye");
    quitter.shutdown_write();
    // Its read side is still open: it gets its own line, then EOF.
    let got = honest::lines_until_closed(&mut quitter);
    assert_eq!(got, ["quitter: bye"], "quitter's last lines");
    honest.wait_for_line("quitter left the chat!");

    let report = honest.finish();
    for r in report.both() {
        let said = r.others.iter().position(|l| l == "quitter: bye");
        let left = r.others.iter().position(|l| l == "quitter left the chat!");
        assert!(
            matches!((said, left), (Some(s), Some(l)) if s < l),
            "{}: the last line, then the leave notice: {:?}",
            r.nick,
            r.others
        );
    }
    report.assert_count("quitter: bye", 1);
    report.assert_count("quitter left the chat!", 1);
    server.stop();
}
