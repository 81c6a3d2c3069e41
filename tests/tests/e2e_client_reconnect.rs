//! `chat client --reconnect`: the real binary against a real server that is
//! killed and started again on the same port. At a terminal (a
//! pseudo-terminal read through an emulator) the user sees when the client
//! is offline and when it is back; a line typed offline is never sent
//! unseen. Piped, lines read offline are reported and the exit code says so.

#[allow(unused_macros)]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::pty::PtyChat;
use std::net::SocketAddr;

/// `chat client --nick alice --reconnect` on a terminal (no colour),
/// its screen past the join.
fn alice_reconnecting(addr: SocketAddr) -> PtyChat {
    reconnecting_at_terminal("alice", addr)
}

/// `chat client --nick NICK --reconnect` on a terminal (no colour), its
/// screen past the join.
fn reconnecting_at_terminal(nick: &str, addr: SocketAddr) -> PtyChat {
    let port = addr.port().to_string();
    let args = [
        "client",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--nick",
        nick,
        "--reconnect",
    ];
    let alice = PtyChat::spawn(&args, true);
    alice.wait_for("the prompt after the join", |rows| {
        rows.iter().any(|r| r.starts_with("Online ("))
            && rows.last().is_some_and(|r| r.starts_with('>'))
    });
    alice
}

/// Whether a row is the offline notice.
fn is_offline_notice(row: &str) -> bool {
    row.starts_with("(disconnected: ") && row.contains("; reconnecting in ")
}

#[test]
fn a_lost_server_is_announced_and_the_client_rejoins_with_the_same_nick() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = alice_reconnecting(addr);
    server.kill();
    let rows = alice.wait_for("the offline notice", |rows| {
        rows.iter().any(|r| is_offline_notice(r))
    });
    assert!(
        rows.iter().any(
            |r| r.contains("disconnected: the server closed the connection")
                || r.contains("disconnected: connection lost")
        ),
        "the notice says why: {rows:#?}"
    );
    assert!(alice.is_running(), "the client gave up: {rows:#?}");

    let _server = ChatProcess::server_on_port("smol", addr.port());
    alice.wait_for_row("(reconnected as alice)");
    let mut bob = Peer::join("bob", addr);
    bob.send("welcome back\n");
    alice.wait_for_row("bob: welcome back");
    alice.type_keys("back again\r");
    bob.skip_to_line("alice: back again");
}

#[test]
fn a_line_typed_offline_is_not_sent_and_comes_back_with_up() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = alice_reconnecting(addr);
    server.kill();
    alice.wait_for("the offline notice", |rows| {
        rows.iter().any(|r| is_offline_notice(r))
    });
    alice.type_keys("typed offline\r");
    alice.wait_for_row("(offline, not sent (Up brings it back): typed offline)");

    let _server = ChatProcess::server_on_port("smol", addr.port());
    let mut bob = Peer::join("bob", addr);
    alice.wait_for_row("(reconnected as alice)");
    // Up brings the line back to the prompt; nothing was sent meanwhile.
    alice.type_keys("\x1b[A");
    alice.wait_for_row("> typed offline");
    alice.type_keys("\x15now online\r");
    let before = bob.skip_to_line("alice: now online");
    assert!(
        !before.iter().any(|l| l.contains("typed offline")),
        "the offline line reached the room unseen: {before:#?}"
    );
}

#[test]
fn when_rejoining_fails_the_nick_prompt_says_why_and_the_draft_waits() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut carol = reconnecting_at_terminal("carol", addr);
    carol.type_keys("half typed");
    carol.wait_for_row("> half typed");
    server.kill();
    carol.wait_for("the offline notice", |rows| {
        rows.iter().any(|r| is_offline_notice(r))
    });
    let _server = ChatProcess::server_on_port("smol", addr.port());
    let mut other = Peer::join("carol", addr);
    // Each rejoin finds the nick taken; after the last, the user is asked.
    let retried = |n: usize| {
        move |rows: &[String]| {
            rows.iter()
                .filter(|r| r.starts_with("(cannot rejoin: nick is already taken; trying again"))
                .count()
                >= n
        }
    };
    carol.wait_for("the first retry", retried(1));
    carol.wait_for("the second retry", retried(2));
    carol.wait_for("the third retry", retried(3));
    let rows = carol.wait_for("the nick prompt", |rows| {
        rows.last()
            .is_some_and(|r| r.starts_with("Choose a nick >>>"))
    });
    assert!(
        rows.iter()
            .any(|r| r == "(cannot rejoin as carol: nick is already taken; choose another nick)"),
        "the reason the nick is asked: {rows:#?}"
    );
    carol.type_keys("carol2\r");
    // Joined under the new nick; the half-typed line is back at the prompt.
    other.skip_to_line("carol2 joined the chat");
    carol.wait_for_row("> half typed");
    carol.type_keys(" line\r");
    other.expect_line("carol2: half typed line");
}

#[test]
fn piped_lines_read_offline_are_reported_and_the_exit_code_is_4() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = ChatProcess::client("alice", addr, &["--nick", "alice", "--reconnect"]);
    alice.skip_to_line("You are connected to the server!");
    server.kill();
    alice.stderr_line_containing("disconnected: ");
    alice.send_line("lost in the gap");
    alice.stderr_line_containing("not sent, offline: lost in the gap");
    alice.close_stdin();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(4));
    let stderr = alice.stderr_lines();
    assert!(
        stderr
            .iter()
            .any(|l| l == "error: 1 line not sent while offline"),
        "{stderr:#?}"
    );
}

#[test]
fn without_reconnect_a_lost_server_ends_the_client() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = ChatProcess::client("alice", addr, &["--nick", "alice"]);
    alice.skip_to_line("You are connected to the server!");
    server.kill();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1));
}
