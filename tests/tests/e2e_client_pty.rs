//! `chat client` at a terminal: the real binary on a pseudo-terminal, its
//! screen read through a terminal emulator. Each case is about what a
//! person sees and what the keys they press do.

#[allow(unused_macros)]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::pty::PtyChat;
use std::net::SocketAddr;

/// `chat client --port PORT EXTRA...` on a terminal.
fn client_at_terminal(addr: SocketAddr, extra: &[&str], no_color: bool) -> PtyChat {
    let port = addr.port().to_string();
    let mut args = vec!["client", "--host", "127.0.0.1", "--port", &port];
    args.extend_from_slice(extra);
    PtyChat::spawn(&args, no_color)
}

/// A joined terminal client `alice` (no colour), its screen past the join.
fn alice_at_terminal(addr: SocketAddr, extra: &[&str]) -> PtyChat {
    let mut args = vec!["--nick", "alice"];
    args.extend_from_slice(extra);
    let alice = client_at_terminal(addr, &args, true);
    alice.wait_for("the prompt after the join", |rows| {
        rows.iter().any(|r| r.starts_with("Online ("))
            && rows.last().is_some_and(|r| r.starts_with('>'))
    });
    alice
}

#[test]
fn half_a_line_is_kept_while_lines_arrive_and_is_replaced_by_the_room_copy() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    alice.type_keys("half a li");
    alice.wait_for_row("> half a li");
    for n in 1..=3 {
        bob.send(format!("line {n}\n"));
    }
    // The lines come above the typed half, which is drawn again below them.
    let rows = alice.wait_for("bob's lines above the typed half", |rows| {
        rows.iter().any(|r| r == "bob: line 3") && rows.last().is_some_and(|r| r == "> half a li")
    });
    assert!(
        rows.iter().filter(|r| r.contains("half a li")).count() == 1,
        "the typed half once, below bob's lines: {rows:#?}"
    );
    alice.type_keys("ne\r");
    bob.expect_line("bob: line 1");
    bob.skip_to_line("alice: half a line");
    // The room's copy, and the prompt drawn again below it (it may come a
    // moment after the copy: wait for both).
    let rows = alice.wait_for("the room's copy, then an empty prompt", |rows| {
        rows.iter().any(|r| r == "alice: half a line") && rows.last().is_some_and(|r| r == ">")
    });
    assert!(
        !rows.iter().any(|r| r.contains("> half a line")),
        "the typed line stayed beside the room's copy: {rows:#?}"
    );
}

#[test]
fn shutdown_while_typing_shows_the_notice_last_and_exits_0() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = alice_at_terminal(addr, &[]);
    alice.type_keys("not sent yet");
    alice.wait_for_row("> not sent yet");
    server.terminate();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(0), "screen: {:#?}", alice.text_rows());
    let rows = alice.text_rows();
    let tail: Vec<&str> = rows
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "server is shutting down",
            "connection closed: the server shut down"
        ],
        "{rows:#?}"
    );
    assert!(!rows.iter().any(|r| r.starts_with('>')), "{rows:#?}");
}

#[test]
fn handshake_time_limit_at_the_nick_prompt_is_named_and_exits_3() {
    let (_server, addr) = ChatProcess::server("smol", &["--handshake-timeout", "1500ms"]);
    let _alice = Peer::join("alice", addr);
    let mut late = client_at_terminal(addr, &["--nick", "ALICE"], true);
    late.wait_for("the nick prompt after the refusal", |rows| {
        rows.iter().any(|r| r == "error: nick is already taken")
            && rows
                .last()
                .is_some_and(|r| r.starts_with("Choose a nick >>>"))
    });
    let status = late.wait_exit();
    assert_eq!(status.code(), Some(3), "screen: {:#?}", late.text_rows());
    let rows = late.text_rows();
    assert_eq!(
        rows.last().map(String::as_str),
        Some("error: the server's time limit for choosing a nick passed"),
        "{rows:#?}"
    );
}

#[test]
fn ctrl_c_clears_a_typed_line_and_quits_on_an_empty_one() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    alice.type_keys("oops");
    alice.wait_for_row("> oops");
    alice.type_keys("\x03");
    alice.wait_for("the line cleared", |rows| {
        rows.last().is_some_and(|r| r == ">") && !rows.iter().any(|r| r.contains("oops"))
    });
    assert!(
        alice.is_running(),
        "Ctrl-C on a typed line ended the client"
    );
    alice.type_keys("\x03");
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(0));
    bob.expect_line("alice left the chat!");
}

#[test]
fn tab_completes_a_nick_and_a_command() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bobby = Peer::join("bobby_tables", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bobby.expect_line("alice joined the chat");
    alice.type_keys("/ms\t");
    alice.wait_for_row("> /msg");
    alice.type_keys("bob\t");
    alice.wait_for_row("> /msg bobby_tables");
    alice.type_keys("hi\r");
    bobby.expect_line("[pm from alice] hi");
}

#[test]
fn private_lines_and_mentions_ring_the_bell_unless_told_not_to() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    bob.send("plain line\n/msg alice psst\n");
    alice.wait_for_row("[pm from bob] psst");
    let bells = alice.raw().iter().filter(|&&b| b == 0x07).count();
    assert_eq!(bells, 1, "one bell for one private line");

    let carol = {
        let port = addr.port().to_string();
        PtyChat::spawn(
            &["client", "--port", &port, "--nick", "carol", "--no-bell"],
            true,
        )
    };
    carol.wait_for_row("You are connected to the server!");
    bob.send("hi carol\n");
    carol.wait_for_row("* bob: hi carol");
    assert!(!carol.raw().contains(&0x07), "--no-bell rang");
}

#[test]
fn typed_lines_are_remembered_across_runs() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let data_home = std::env::temp_dir().join(format!("chat-history-{}", std::process::id()));
    let port = addr.port().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["client", "--port", &port, "--nick", "alice"];
        args.extend_from_slice(extra);
        let chat = PtyChat::spawn_with_data_home(&args, true, &data_home);
        chat.wait_for_row("You are connected to the server!");
        chat
    };
    let mut first = run(&[]);
    first.type_keys("remember me\r");
    first.wait_for_row("alice: remember me");
    first.type_keys("\x04");
    assert_eq!(first.wait_exit().code(), Some(0));

    let mut second = run(&[]);
    second.type_keys("\x1b[A");
    second.wait_for_row("> remember me");
    second.type_keys("\x03\x03");
    assert_eq!(second.wait_exit().code(), Some(0));

    let mut forgetful = run(&["--no-history"]);
    forgetful.type_keys("\x1b[A");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !forgetful.text_rows().iter().any(|r| r == "> remember me"),
        "--no-history read the history"
    );
    forgetful.type_keys("\x04");
    assert_eq!(forgetful.wait_exit().code(), Some(0));
    let _ = std::fs::remove_dir_all(&data_home);
}

#[test]
fn type_ahead_is_not_left_to_the_shell() {
    // A listener that never accepts: the client is connected, waits for the
    // prompt, and its line editor is not reading yet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("its address").port();
    let data_home = std::env::temp_dir().join(format!("chat-typeahead-{}", std::process::id()));
    let script = format!(
        "\"$0\" client --port {port} --nick alice; echo \"exit:$?\"; read line; echo \"shell read:$line\""
    );
    let mut shell = PtyChat::spawn_shell(&script, &data_home);
    // Typed while the client waits; a shell would run it after the client.
    std::thread::sleep(std::time::Duration::from_millis(300));
    shell.type_keys("echo leaked\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(listener); // resets the waiting connection
    shell.wait_for("the client's exit", |rows| {
        rows.iter().any(|r| r.starts_with("exit:"))
    });
    shell.type_keys("fresh\r");
    let rows = shell.wait_for("the shell's read", |rows| {
        rows.iter().any(|r| r.starts_with("shell read:"))
    });
    assert!(rows.iter().any(|r| r == "shell read:fresh"), "{rows:#?}");
    shell.wait_exit();
    let _ = std::fs::remove_dir_all(&data_home);
}

/// Types a line of 120 characters (two rows at 80 columns, one at 130,
/// three at 60) after bob's three lines, resizes the terminal to each size
/// in turn as a reflowing terminal's resize, or xterm's (`xterm`: the client is told it
/// is in xterm, and the screen is not reflowed), and checks after each that
/// bob's lines are all still there and the typed line is shown once, whole,
/// on the last rows.
fn resize_with_a_multi_row_input_line(xterm: bool) {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = if xterm {
        let port = addr.port().to_string();
        let args = [
            "client",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--nick",
            "alice",
        ];
        let alice = PtyChat::spawn_as_xterm(&args, true);
        alice.wait_for("the prompt after the join", |rows| {
            rows.iter().any(|r| r.starts_with("Online ("))
                && rows.last().is_some_and(|r| r.starts_with('>'))
        });
        alice
    } else {
        alice_at_terminal(addr, &[])
    };
    bob.expect_line("alice joined the chat");
    for n in 1..=3 {
        bob.send(format!("line {n}\n"));
    }
    alice.wait_for_row("bob: line 3");
    let long: String = (0..12).map(|n| format!("word{n:02}....")).collect();
    alice.type_keys(&long);
    alice.wait_for("the long line on two rows", |rows| {
        rows.iter().any(|r| r.starts_with("> word00"))
            && rows.last().is_some_and(|r| r.ends_with("word11...."))
    });
    let typed = format!("> {long}");
    for (rows, columns) in [(24, 130), (24, 60), (24, 100), (24, 50), (24, 80)] {
        if xterm {
            alice.resize_without_reflow(rows, columns);
        } else {
            alice.resize(rows, columns);
        }
        // The editor draws the input line again for the new width; give it
        // time to, then read the screen it settled on.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let screen = alice.wait_for("the input line drawn again", |rows| {
            rows.concat().ends_with("word11....")
        });
        for n in 1..=3 {
            let line = format!("bob: line {n}");
            assert!(
                screen.contains(&line),
                "{line:?} erased by the resize to {columns} columns: {screen:#?}"
            );
        }
        let first = screen
            .iter()
            .position(|r| r.starts_with("> word00"))
            .unwrap_or(screen.len());
        assert_eq!(
            screen[first..].concat(),
            typed,
            "the typed line, once and whole, last, at {columns} columns: {screen:#?}"
        );
        assert_eq!(
            screen.iter().filter(|r| r.contains("word00")).count(),
            1,
            "a piece of the typed line left behind at {columns} columns: {screen:#?}"
        );
    }
}

#[test]
fn resizing_with_a_multi_row_input_line_keeps_the_received_lines() {
    resize_with_a_multi_row_input_line(false);
}

#[test]
fn resizing_a_terminal_that_does_not_reflow_keeps_the_received_lines() {
    resize_with_a_multi_row_input_line(true);
}

#[test]
fn lines_typed_in_one_burst_all_arrive_and_the_rest_stays_in_the_input() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    // One write: as fast as tmux's send-keys, or a paste without bracketed
    // paste mode (whose lines end with Enter, or with a line feed).
    alice.type_keys("fast one\rfast two\rfast three\rpasted four\npasted five\ntyped ahead");
    bob.expect_lines(&[
        "alice: fast one",
        "alice: fast two",
        "alice: fast three",
        "alice: pasted four",
        "alice: pasted five",
    ]);
    // The room's copies arrive while the next lines are being entered:
    // each is shown, and each entered line is taken off the screen.
    let rows = alice.wait_for("the room's copies above the typed-ahead text", |rows| {
        rows.iter().any(|r| r == "alice: pasted five")
            && rows.last().is_some_and(|r| r == "> typed ahead")
    });
    let copies: Vec<&str> = rows
        .iter()
        .filter(|r| r.starts_with("alice: "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        copies,
        [
            "alice: fast one",
            "alice: fast two",
            "alice: fast three",
            "alice: pasted four",
            "alice: pasted five"
        ],
        "{rows:#?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.starts_with('>')).count(),
        1,
        "an entered line left on screen: {rows:#?}"
    );
    alice.type_keys("\r");
    bob.expect_line("alice: typed ahead");
}

#[test]
fn a_multi_line_bracketed_paste_leaves_no_rows_behind() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    alice.type_keys("\x1b[200~one\ntwo\nthree\x1b[201~");
    alice.wait_for_row("three");
    alice.type_keys("\r");
    bob.expect_lines(&["alice: one", "alice: two", "alice: three"]);
    let rows = alice.wait_for("the room's copies, then an empty prompt", |rows| {
        rows.iter().any(|r| r == "alice: three") && rows.last().is_some_and(|r| r == ">")
    });
    assert!(
        !rows
            .iter()
            .any(|r| r == "> one" || r == "two" || r == "three"),
        "rows of the pasted input left on screen: {rows:#?}"
    );
}

#[test]
fn a_silent_server_is_waited_for_out_loud_then_given_up_on_with_exit_1() {
    // Accepts, then says nothing: a stalled server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let accepted = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let mut alice = client_at_terminal(addr, &["--nick", "alice", "--wait-for-server", "4s"], true);
    alice.wait_for_row("(waiting for the server…)");
    assert!(
        alice.is_running(),
        "gave up at once: {:#?}",
        alice.text_rows()
    );
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "screen: {:#?}", alice.text_rows());
    let rows = alice.text_rows();
    assert_eq!(
        rows.last().map(String::as_str),
        Some("error: connected, but the server said nothing for 4 s (a TLS port? try --tls)"),
        "{rows:#?}"
    );
    drop(accepted.join());
}

#[test]
fn help_adds_the_clients_keys_and_a_bare_reply_is_a_usage_line() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    alice.type_keys("/help\r");
    let rows = alice.wait_for_row("(this client: Ctrl-D    leave)");
    let server_help_end = rows.iter().position(|r| r.starts_with("//TEXT"));
    let client_help = rows
        .iter()
        .position(|r| r.starts_with("(this client: /r TEXT"));
    assert!(
        server_help_end.is_some() && client_help > server_help_end,
        "the client's lines after the server's help: {rows:#?}"
    );
    alice.type_keys("/r\r");
    alice.wait_for_row("(usage: /r TEXT (answers the last private line))");
    bob.send("/msg alice psst\n/nick rob\n");
    alice.wait_for_row("bob is now known as rob");
    alice.type_keys("/r hi\r");
    bob.skip_to_line("[pm from alice] hi");
}

#[test]
fn the_seed_server_is_said_to_have_no_commands_and_a_command_waits_for_a_second_enter() {
    let seed = common::seed::SeedServer::start();
    let mut dave = Peer::connect("dave", seed.addr());
    dave.expect_prompt();
    dave.send("dave");
    dave.read_until(b"servidor!");
    let seed_args = ["--nick", "carol", "--dialect", "seed", "--ping-after", "1s"];
    let mut carol = client_at_terminal(seed.addr(), &seed_args, true);
    carol.wait_for_row(
        "(seed-dialect server: it has no commands (/who, /msg…); /quit and Ctrl-D leave)",
    );
    dave.read_until(b"ao chat");
    carol.type_keys("/who\r");
    carol.wait_for("the warning", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(not sent: this server has no commands, so /who"))
    });
    carol.type_keys("\x1b[A");
    carol.wait_for_row("> /who");
    carol.type_keys("\r");
    let relayed = dave.read_bytes("carol: /who".len());
    assert_eq!(String::from_utf8_lossy(&relayed), "carol: /who");
    // Quiet for longer than --ping-after: no /ping reaches the seed's room
    // (it has no commands), so the next thing dave reads is carol's line.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    carol.type_keys("still here\r");
    let next = dave.read_bytes("carol: still here".len());
    assert_eq!(String::from_utf8_lossy(&next), "carol: still here");
    carol.type_keys("\x04");
    assert_eq!(
        carol.wait_exit().code(),
        Some(0),
        "{:#?}",
        carol.text_rows()
    );
}

/// A received line wider than the terminal breaks between words, and its
/// continuation row starts under the text, not under the nick.
#[test]
fn a_long_line_wraps_between_words_under_its_text() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let alice = alice_at_terminal(addr, &[]);
    bob.expect_line("alice joined the chat");
    let words: Vec<String> = (0..15).map(|i| format!("word{i:02}")).collect();
    bob.send(format!("{}\n", words.join(" ")));
    let first = format!("bob: {}", words[..10].join(" "));
    let second = format!("     {}", words[10..].join(" "));
    let rows = alice.wait_for("bob's line on two rows", |rows| {
        rows.iter().any(|r| r.starts_with("bob: word00"))
            && rows.last().is_some_and(|r| r.starts_with('>'))
    });
    let at = rows
        .iter()
        .position(|r| r.starts_with("bob: word00"))
        .expect("bob's line");
    assert_eq!(rows[at..at + 2], [first, second], "{rows:#?}");
}

/// The server stops (SIGSTOP) while alice types: within a bound she is told
/// it does not answer and sees her line marked as waiting; once it goes on
/// she is told so once, and the room's copy shows the line normally. The
/// client's own pings are never shown.
#[test]
fn a_stalled_server_is_told_and_a_line_waiting_for_it_is_marked() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = alice_at_terminal(addr, &["--ping-after", "1s"]);
    alice.type_keys("before the stall\r");
    alice.wait_for_row("alice: before the stall");
    // Quiet for longer than --ping-after: pinged, answered, nothing shown.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let quiet = alice.text_rows();
    assert!(
        !quiet
            .iter()
            .any(|r| r.starts_with("pong ") || r.starts_with("(no answer")),
        "{quiet:#?}"
    );
    server.stop();
    alice.type_keys("during the stall\r");
    let rows = alice.wait_for("the stall told and the line marked", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(no answer from the server for "))
            && rows
                .iter()
                .any(|r| r == "(waiting for the server) alice: during the stall")
    });
    assert!(
        !rows.iter().any(|r| r == "alice: during the stall"),
        "{rows:#?}"
    );
    server.resume();
    let rows = alice.wait_for("the server back, and the room's copy", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(the server answers again, after "))
            && rows.iter().any(|r| r == "alice: during the stall")
            && rows.last().is_some_and(|r| r == ">")
    });
    let back = rows
        .iter()
        .filter(|r| r.starts_with("(the server answers again"))
        .count();
    assert_eq!(back, 1, "said once: {rows:#?}");
    assert!(!rows.iter().any(|r| r.starts_with("pong ")), "{rows:#?}");
}

/// Nothing typed: the silence itself brings a ping, and its missing answer
/// is told.
#[test]
fn a_server_stalled_in_a_quiet_room_is_found_out_by_a_ping() {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let alice = alice_at_terminal(addr, &["--ping-after", "1s"]);
    server.stop();
    alice.wait_for("the stall told", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(no answer from the server for "))
    });
    server.resume();
    alice.wait_for("the server back", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(the server answers again, after "))
    });
}

/// By default the join and leave of users who never spoke are hidden; a
/// speaker's leave is shown (their first line says they came).
#[test]
fn the_notices_of_silent_users_are_hidden_and_a_speakers_leave_is_shown() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let alice = alice_at_terminal(addr, &[]);
    let bot = Peer::join("bot", addr);
    drop(bot);
    let mut carol = Peer::join("carol", addr);
    carol.send("hi\n/quit\n");
    carol.expect_line("carol: hi");
    let mut dave = Peer::join("dave", addr);
    dave.send("done\n");
    let rows = alice.wait_for("dave's line", |rows| rows.iter().any(|r| r == "dave: done"));
    let notices: Vec<&str> = rows
        .iter()
        .map(String::as_str)
        .filter(|r| r.contains("joined") || r.contains("left") || r.starts_with("carol"))
        .collect();
    assert_eq!(
        notices,
        ["alice joined the chat", "carol: hi", "carol left the chat!"],
        "{rows:#?}"
    );
}

/// With --show-joins every notice is shown, and notices arriving together
/// are one line.
#[test]
fn a_burst_of_joins_or_leaves_is_one_line() {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let alice = alice_at_terminal(addr, &["--show-joins"]);
    let mut bots: Vec<Peer> = ["bot1", "bot2", "bot3"]
        .iter()
        .map(|nick| {
            let mut bot = Peer::connect(nick, addr);
            bot.expect_prompt();
            bot
        })
        .collect();
    // Back to back: the three join notices reach alice together.
    for bot in &mut bots {
        let nick = bot.name().to_string();
        bot.send(format!("{nick}\n"));
    }
    alice.wait_for_row("(3 joined: bot1, bot2, bot3)");
    drop(bots);
    let rows = alice.wait_for_row("(3 left: bot1, bot2, bot3)");
    assert!(
        !rows.iter().any(|r| r.starts_with("bot")),
        "a notice of the burst shown on its own too: {rows:#?}"
    );
}
