//! End-to-end tests over real TCP: docs/protocol.md checked byte for byte through
//! raw sockets, each body run against both runtimes on `127.0.0.1:0`.
//!
//! "Nothing else arrived" is checked by order, never by waiting: a sentinel
//! line sent afterwards must be the next line a peer reads.

#[macro_use]
mod common;

use common::peer::Peer;
use common::server::{test_config, Runtime, TestServer};
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    handshake_prompt_is_exactly_alias,
    join_notices_come_in_order_and_online_list_is_sorted,
    lines_are_broadcast_with_echo_to_the_sender,
    leaving_is_announced_once_and_unjoined_leave_no_trace,
    taken_or_invalid_nick_is_refused_and_retried,
    help_and_who_go_to_the_sender_only,
    nick_me_and_msg,
    quit_with_reason_flushes_and_closes,
    unknown_command_and_double_slash,
    line_over_limit_is_refused_and_connection_kept,
    invalid_utf8_is_replaced_and_split_chars_survive,
    control_characters_are_not_relayed,
    seed_style_client_joins_and_chats,
    handshake_that_never_finishes_is_closed,
    server_full_refuses_the_next_connection,
    shutdown_notice_then_close,
    held_notices_arrive_by_themselves_and_before_anything_else,
);

/// Gives the server a chance to read `first` on its own, so the next write
/// most likely arrives as a separate read. Not synchronisation: the test
/// holds whichever way the bytes are cut.
fn separate_reads() {
    thread::sleep(Duration::from_millis(30));
}

fn handshake_prompt_is_exactly_alias(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::connect("alice", server.addr());
    // Exactly the 6 prompt bytes, and nothing else before the answer: the
    // next bytes after the nick are the join notice.
    alice.expect_prompt();
    alice.send("alice\n");
    alice.expect_lines(&[
        "alice joined the chat",
        "You are connected to the server!",
        "Online (1): alice",
    ]);
    server.stop();
}

fn join_notices_come_in_order_and_online_list_is_sorted(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut zoe = Peer::join("zoe", server.addr());

    // A `\r` before the `\n` is dropped.
    let mut bob = Peer::connect("Bob", server.addr());
    bob.expect_prompt();
    bob.send("Bob\r\n");
    bob.expect_lines(&[
        "Bob joined the chat",
        "You are connected to the server!",
        "Online (2): Bob, zoe",
    ]);
    zoe.expect_line("Bob joined the chat");

    let mut alice = Peer::connect("alice", server.addr());
    alice.expect_prompt();
    alice.send("alice\n");
    alice.expect_lines(&[
        "alice joined the chat",
        "You are connected to the server!",
        // Sorted ignoring case: a plain byte sort would put Bob first.
        "Online (3): alice, Bob, zoe",
    ]);
    zoe.expect_line("alice joined the chat");
    bob.expect_line("alice joined the chat");
    server.stop();
}

fn lines_are_broadcast_with_echo_to_the_sender(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    alice.send("hello\n");
    alice.expect_line("alice: hello");
    bob.expect_line("alice: hello");

    bob.send("hi\r\n");
    alice.expect_line("bob: hi");
    bob.expect_line("bob: hi");

    // Empty lines are ignored; two lines in one write are two lines; a line
    // cut across writes is one line.
    alice.send("\n\r\none\ntwo\nspl");
    separate_reads();
    alice.send("it\n");
    for peer in [&mut alice, &mut bob] {
        peer.expect_lines(&["alice: one", "alice: two", "alice: split"]);
    }
    server.stop();
}

fn leaving_is_announced_once_and_unjoined_leave_no_trace(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let bob = Peer::join("bob", server.addr());
    let mut carol = Peer::join("carol", server.addr());
    alice.expect_lines(&["bob joined the chat", "carol joined the chat"]);

    // EOF: no reason.
    bob.shutdown_write();
    drop(bob);
    alice.expect_line("bob left the chat!");
    carol.expect_line("bob left the chat!");

    // A connection that never joined: no notice at all.
    let mut ghost = Peer::connect("ghost", server.addr());
    ghost.expect_prompt();
    drop(ghost);
    let mut ghost2 = Peer::connect("ghost2", server.addr());
    ghost2.expect_prompt();
    ghost2.send("gho");
    drop(ghost2);

    carol.send("still here\n");
    // The next line proves no second `bob left` and no ghost notice came first.
    alice.expect_line("carol: still here");
    carol.expect_line("carol: still here");
    server.stop();
}

fn taken_or_invalid_nick_is_refused_and_retried(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut newcomer = Peer::connect("newcomer", server.addr());
    newcomer.expect_prompt();
    for (nick, error) in [
        ("ALICE", "error: nick is already taken"),
        ("-dash", "error: nick may not start with '-'"),
        (
            "a b",
            "error: nick may only contain letters, digits and _-.[]{}|^",
        ),
        (&"n".repeat(33), "error: nick too long (max 32 characters)"),
    ] {
        newcomer.send(format!("{nick}\n"));
        newcomer.expect_line(error);
        newcomer.expect_prompt();
    }
    newcomer.send("bob\n");
    newcomer.expect_lines(&[
        "bob joined the chat",
        "You are connected to the server!",
        "Online (2): alice, bob",
    ]);
    // The refused attempts left no trace in the room.
    alice.expect_line("bob joined the chat");
    server.stop();
}

fn help_and_who_go_to_the_sender_only(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    alice.send("/help\n");
    alice.expect_line("Commands:");
    alice.send("/who\n");
    let help = alice.skip_to_line("Online (2): alice, bob");
    assert!(!help.is_empty(), "the help lists the commands");
    for line in &help {
        assert!(!line.starts_with("error: "), "help line {line:?}");
    }
    let help = help.join("\n");
    for command in ["/help", "/who", "/nick", "/me", "/msg", "/quit"] {
        assert!(
            help.contains(command),
            "the help does not mention {command}"
        );
    }

    alice.send("sentinel\n");
    bob.expect_line("alice: sentinel");
    alice.expect_line("alice: sentinel");
    server.stop();
}

fn nick_me_and_msg(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    let mut carol = Peer::join("carol", server.addr());
    alice.expect_lines(&["bob joined the chat", "carol joined the chat"]);
    bob.expect_line("carol joined the chat");

    alice.send("/nick alicia\n");
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.expect_line("alice is now known as alicia");
    }
    alice.send("/nick BOB\n");
    alice.expect_line("error: nick is already taken");

    alice.send("/me waves\n");
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.expect_line("* alicia waves");
    }

    alice.send("/msg bob psst, over here\n");
    bob.expect_line("[pm from alicia] psst, over here");
    alice.expect_line("[pm to bob] psst, over here");

    alice.send("/msg nobody hello\n");
    alice.expect_line("error: no such user nobody");
    alice.send("/msg bob\n");
    alice.expect_line("error: usage: /msg NICK TEXT");

    // carol saw none of the private or refused traffic.
    alice.send("sentinel\n");
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.expect_line("alicia: sentinel");
    }
    server.stop();
}

fn quit_with_reason_flushes_and_closes(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    let mut carol = Peer::join("carol", server.addr());
    alice.expect_lines(&["bob joined the chat", "carol joined the chat"]);

    // The line before the quit is still delivered to bob himself, then EOF.
    bob.send("bye all\n/quit gone fishing\n");
    let last = bob.expect_closed();
    assert_eq!(
        String::from_utf8_lossy(&last),
        "carol joined the chat\nbob: bye all\n"
    );
    alice.expect_lines(&["bob: bye all", "bob left the chat! (Quit: gone fishing)"]);

    carol.send("/quit\n");
    carol.expect_closed();
    alice.expect_line("carol left the chat!");
    server.stop();
}

fn unknown_command_and_double_slash(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    alice.send("/frob the widget\n");
    alice.expect_line("error: unknown command /frob (try /help)");
    alice.send("//etc/motd is a path\n");
    alice.expect_line("alice: /etc/motd is a path");
    bob.expect_line("alice: /etc/motd is a path");
    server.stop();
}

fn line_over_limit_is_refused_and_connection_kept(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    // Exactly the limit is fine.
    let longest = "x".repeat(1024);
    alice.send(format!("{longest}\n"));
    bob.expect_line(&format!("alice: {longest}"));
    alice.expect_line(&format!("alice: {longest}"));

    // One byte more is refused, and the connection stays.
    alice.send(format!("{}\n", "y".repeat(1025)));
    alice.expect_line("error: line too long (max 1024 bytes)");
    alice.send("still here\n");
    alice.expect_line("alice: still here");
    bob.expect_line("alice: still here");

    // A long line arriving in pieces gets one error; the rest up to its
    // terminator is discarded.
    for _ in 0..3 {
        alice.send("z".repeat(1000));
        separate_reads();
    }
    alice.send("tail of the long line\nnext\n");
    alice.expect_lines(&["error: line too long (max 1024 bytes)", "alice: next"]);
    bob.expect_line("alice: next");
    server.stop();
}

fn invalid_utf8_is_replaced_and_split_chars_survive(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    alice.send(b"bad \xff byte\n");
    bob.expect_line("alice: bad \u{FFFD} byte");

    // "café" with the two bytes of 'é' in two writes, then a 4-byte emoji in three.
    alice.send(b"caf\xc3");
    separate_reads();
    alice.send(b"\xa9 \xf0\x9f");
    separate_reads();
    alice.send(b"\x98");
    separate_reads();
    alice.send(b"\x80\n");
    bob.expect_line("alice: café \u{1F600}");
    server.stop();
}

fn control_characters_are_not_relayed(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    alice.send("\x1b[31mred\x1b[0m\tbell\x07 del\x7f c1\u{9b}31m end\n");
    let line = bob.line();
    assert!(line.starts_with("alice: "), "{line:?}");
    assert!(line.contains("red") && line.ends_with(" end"), "{line:?}");
    assert!(line.contains('\t'), "TAB is kept: {line:?}");
    let bad: Vec<char> = line
        .chars()
        .filter(|&c| c.is_control() && c != '\t')
        .collect();
    assert!(
        bad.is_empty(),
        "control characters relayed: {bad:?} in {line:?}"
    );
    server.stop();
}

fn seed_style_client_joins_and_chats(rt: Runtime) {
    // settle is 50 ms in the test config; the seed client's pauses are a
    // person typing, far longer.
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());

    // The seed client: the nick with no terminator...
    let mut carol = Peer::connect("carol", server.addr());
    carol.expect_prompt();
    carol.send("carol");
    // ...is taken as the nick once nothing more arrives for the settle time.
    carol.expect_lines(&[
        "carol joined the chat",
        "You are connected to the server!",
        "Online (2): alice, carol",
    ]);
    alice.expect_line("carol joined the chat");

    // Then `NICK: text`, again with no terminator: one chunk, one message,
    // and the seed client's own prefix is not doubled.
    carol.send("carol: hello from python");
    alice.expect_line("carol: hello from python");
    carol.expect_line("carol: hello from python");

    alice.send("hi carol\n");
    carol.expect_line("alice: hi carol");
    alice.expect_line("alice: hi carol");

    carol.send("carol: second message");
    alice.expect_line("carol: second message");
    carol.expect_line("carol: second message");

    // The seed client just disappears.
    drop(carol);
    alice.expect_line("carol left the chat!");
    server.stop();
}

fn handshake_that_never_finishes_is_closed(rt: Runtime) {
    let config = chat_core::Config {
        // Long enough for alice's own join on a busy machine.
        handshake_timeout: Duration::from_secs(1),
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let mut alice = Peer::join("alice", server.addr());

    let mut silent = Peer::connect("silent", server.addr());
    silent.expect_prompt();
    let rest = silent.expect_closed();
    assert!(
        rest.is_empty(),
        "closed silently, got {:?}",
        String::from_utf8_lossy(&rest)
    );

    alice.send("sentinel\n");
    alice.expect_line("alice: sentinel");
    server.stop();
}

fn server_full_refuses_the_next_connection(rt: Runtime) {
    let config = chat_core::Config {
        max_clients: 2,
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let mut alice = Peer::join("alice", server.addr());
    let bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");

    let mut third = Peer::connect("third", server.addr());
    let got = third.expect_closed();
    assert_eq!(String::from_utf8_lossy(&got), "error: server full\n");

    // A place frees up when someone leaves.
    drop(bob);
    alice.expect_line("bob left the chat!");
    let _carol = Peer::join("carol", server.addr());
    alice.expect_line("carol joined the chat");
    server.stop();
}

fn shutdown_notice_then_close(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    alice.expect_line("bob joined the chat");
    let mut pending = Peer::connect("pending", server.addr());
    pending.expect_prompt();

    server.shutdown();
    for peer in [&mut alice, &mut bob, &mut pending] {
        let got = peer.expect_closed();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "server is shutting down\n",
            "{}",
            peer.name()
        );
    }
    server.stop();
}

fn held_notices_arrive_by_themselves_and_before_anything_else(rt: Runtime) {
    // 5 ms per user: every join notice here is held (10 ms and more).
    let config = chat_core::Config {
        notice_hold_per_user: Duration::from_millis(5),
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let mut alice = Peer::join("alice", server.addr());
    let mut bob = Peer::join("bob", server.addr());
    let mut carol = Peer::join("carol", server.addr());
    // Nobody says anything: only the room's deadline sends these.
    alice.expect_lines(&["bob joined the chat", "carol joined the chat"]);
    bob.expect_line("carol joined the chat");

    // A held notice reaches its recipient before anything else does.
    let mut dave = Peer::join("dave", server.addr());
    alice.send("/who\n");
    alice.expect_lines(&[
        "dave joined the chat",
        "Online (4): alice, bob, carol, dave",
    ]);
    carol.send("hi\n");
    alice.expect_line("carol: hi");
    bob.expect_lines(&["dave joined the chat", "carol: hi"]);
    carol.expect_lines(&["dave joined the chat", "carol: hi"]);
    dave.expect_line("carol: hi");

    // Leave notices are held too, and also go out by the deadline alone.
    drop(bob);
    for peer in [&mut alice, &mut carol, &mut dave] {
        peer.expect_line("bob left the chat!");
    }
    server.stop();
}
