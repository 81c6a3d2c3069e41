//! End-to-end tests of the real `chat` binary: `chat server` on both
//! runtimes and piped `chat client`s; `chat client --dialect seed` against the
//! seed server's stand-in; the one-line errors and exit codes.

#[macro_use]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::seed::SeedServer;
use common::server::Runtime;
use std::net::TcpListener;

on_both_runtimes!(
    piped_clients_hold_a_conversation,
    lines_piped_before_the_join_are_sent_after_it,
    sigterm_tells_everyone_and_exits_zero,
    port_in_use_is_one_error_line_and_exit_1,
    rejected_nick_when_piped_exits_3,
    full_server_when_piped_exits_3,
    handshake_time_limit_is_named_and_exits_3,
    input_ending_before_a_nick_exits_2,
    refused_lines_are_reported_on_stderr_and_exit_4,
    server_and_client_speak_ipv6,
    bracketed_ipv6_host_is_accepted,
);

/// `chat client` with a nick, on `addr`.
fn client(nick: &str, addr: std::net::SocketAddr) -> ChatProcess {
    ChatProcess::client(nick, addr, &["--nick", nick])
}

fn piped_clients_hold_a_conversation(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let mut alice = client("alice", addr);
    alice.expect_lines(&[
        "alice joined the chat",
        "You are connected to the server!",
        "Online (1): alice",
    ]);

    // No --nick: the first input line is the nick.
    let mut bob = ChatProcess::client("bob", addr, &[]);
    bob.send_line("bob");
    bob.expect_lines(&[
        "bob joined the chat",
        "You are connected to the server!",
        "Online (2): alice, bob",
    ]);
    alice.expect_lines(&["bob joined the chat"]);

    alice.send_line("hi bob");
    bob.expect_lines(&["alice: hi bob"]);
    alice.expect_lines(&["alice: hi bob"]);
    bob.send_line("/me waves");
    alice.expect_lines(&["* bob waves"]);
    bob.expect_lines(&["* bob waves"]);
    bob.send_line("/msg alice see you");
    alice.expect_lines(&["[pm from bob] see you"]);
    bob.expect_lines(&["[pm to alice] see you"]);

    // End of input: /quit, the server closes, exit 0.
    alice.close_stdin();
    assert!(alice.wait_exit().success(), "alice's exit status");
    assert_eq!(alice.rest_of_stdout(), Vec::<String>::new());
    assert_eq!(alice.stderr_lines(), Vec::<String>::new());
    bob.expect_lines(&["alice left the chat!"]);

    bob.send_line("/quit off to lunch");
    assert!(bob.wait_exit().success(), "bob's exit status");
    assert_eq!(bob.stderr_lines(), Vec::<String>::new());

    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
    assert_eq!(server.rest_of_stdout(), Vec::<String>::new());
}

fn lines_piped_before_the_join_are_sent_after_it(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let mut watcher = Peer::join("watcher", addr);

    // The whole input at once: nick, a line, end of input.
    let mut carol = ChatProcess::client("carol", addr, &[]);
    carol.send_line("carol");
    carol.send_line("first and last");
    carol.close_stdin();
    assert!(carol.wait_exit().success(), "carol's exit status");
    assert_eq!(
        carol.rest_of_stdout(),
        [
            "carol joined the chat",
            "You are connected to the server!",
            "Online (2): carol, watcher",
            "carol: first and last",
        ]
    );
    watcher.expect_lines(&[
        "carol joined the chat",
        "carol: first and last",
        "carol left the chat!",
    ]);
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn sigterm_tells_everyone_and_exits_zero(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let mut alice = Peer::join("alice", addr);
    let mut bob = client("bob", addr);
    bob.skip_to_line("Online (2): alice, bob");
    alice.expect_line("bob joined the chat");

    server.terminate();
    let got = alice.expect_closed();
    assert_eq!(String::from_utf8_lossy(&got), "server is shutting down\n");
    assert!(server.wait_exit().success(), "server's exit status");

    // The server's last line is shown; a shutdown is a normal end.
    let status = bob.wait_exit();
    assert_eq!(status.code(), Some(0), "bob's exit status");
    assert_eq!(bob.rest_of_stdout(), ["server is shutting down"]);
    assert_eq!(bob.stderr_lines(), Vec::<String>::new());
}

fn port_in_use_is_one_error_line_and_exit_1(rt: Runtime) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("its address").port();
    let mut server = ChatProcess::spawn(
        "server",
        &[
            "server",
            "--port",
            &port.to_string(),
            "--runtime",
            &rt.to_string(),
        ],
    );
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        server.stderr_lines(),
        [format!(
            "error: cannot listen on 127.0.0.1:{port}: address in use"
        )]
    );
    assert_eq!(server.rest_of_stdout(), Vec::<String>::new());
}

#[test]
fn refused_connection_is_one_error_line_and_exit_1() {
    // A port that was free a moment ago and has no listener now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut alice = client("alice", addr);
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        alice.stderr_lines(),
        [format!(
            "error: cannot connect to {addr}: connection refused"
        )]
    );
}

#[test]
fn refused_connection_is_told_before_any_nick_is_read() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    // No --nick, and stdin stays open with nothing on it: the client must
    // not wait for a nick before it finds out there is no server.
    let mut alice = ChatProcess::client("alice", addr, &[]);
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        alice.stderr_lines(),
        [format!(
            "error: cannot connect to {addr}: connection refused"
        )]
    );
}

fn rejected_nick_when_piped_exits_3(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let _alice = Peer::join("alice", addr);
    let mut impostor = client("ALICE", addr);
    let status = impostor.wait_exit();
    assert_eq!(status.code(), Some(3));
    assert_eq!(impostor.stderr_lines(), ["error: nick is already taken"]);
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn full_server_when_piped_exits_3(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &["--max-clients", "1"]);
    let _alice = Peer::join("alice", addr);
    let mut bob = client("bob", addr);
    let status = bob.wait_exit();
    assert_eq!(status.code(), Some(3));
    assert_eq!(bob.rest_of_stdout(), ["error: server full"]);
    assert_eq!(bob.stderr_lines(), ["error: server full"]);
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn handshake_time_limit_is_named_and_exits_3(rt: Runtime) {
    let (mut server, addr) =
        ChatProcess::server(&rt.to_string(), &["--handshake-timeout", "300ms"]);
    // No --nick and no input: the server closes without a word.
    let mut slow = ChatProcess::client("slow", addr, &[]);
    let status = slow.wait_exit();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        slow.stderr_lines(),
        ["error: the server's time limit for choosing a nick passed"]
    );
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn input_ending_before_a_nick_exits_2(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let mut nobody = ChatProcess::client("nobody", addr, &[]);
    nobody.send_line("");
    nobody.close_stdin();
    let status = nobody.wait_exit();
    assert_eq!(status.code(), Some(2));
    assert_eq!(
        nobody.stderr_lines(),
        ["error: no nick: pass --nick or write it on the first line"]
    );
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn refused_lines_are_reported_on_stderr_and_exit_4(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &["--max-line", "16"]);
    let mut bot = client("bot", addr);
    bot.send_line("short");
    bot.send_line("this line is longer than sixteen bytes");
    bot.send_line("/frobnicate");
    bot.send_line("still here");
    bot.close_stdin();
    let status = bot.wait_exit();
    assert_eq!(status.code(), Some(4), "bot's exit status");
    // stdout is still the filter's output, in order, nothing added.
    assert_eq!(
        bot.rest_of_stdout(),
        [
            "bot joined the chat",
            "You are connected to the server!",
            "Online (1): bot",
            "bot: short",
            "error: line too long (max 16 bytes)",
            "error: unknown command /frobnicate (try /help)",
            "bot: still here",
        ]
    );
    assert_eq!(
        bot.stderr_lines(),
        [
            "error: line too long (max 16 bytes)",
            "error: unknown command /frobnicate (try /help)",
            "error: the server refused 2 lines",
        ]
    );
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn server_and_client_speak_ipv6(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &["--host", "::1"]);
    assert!(addr.is_ipv6(), "listening on {addr}");
    let mut alice = client("alice", addr);
    alice.expect_lines(&[
        "alice joined the chat",
        "You are connected to the server!",
        "Online (1): alice",
    ]);
    alice.close_stdin();
    assert!(alice.wait_exit().success(), "alice's exit status");
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn bracketed_ipv6_host_is_accepted(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &["--host", "::1"]);
    let port = addr.port().to_string();
    let mut alice = ChatProcess::spawn(
        "alice",
        &[
            "client", "--host", "[::1]", "--port", &port, "--nick", "alice",
        ],
    );
    alice.expect_lines(&["alice joined the chat"]);
    alice.close_stdin();
    assert!(alice.wait_exit().success(), "alice's exit status");
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

#[test]
fn seed_dialect_client_talks_to_the_seed_server() {
    let seed = SeedServer::start();

    // dave runs the seed's own client: a raw socket, no terminators.
    let mut dave = Peer::connect("dave", seed.addr());
    dave.expect_prompt();
    dave.send("dave");
    let welcome = dave.read_until(b"servidor!");
    assert_eq!(
        String::from_utf8_lossy(&welcome),
        "b'dave' esta conectado ao chatVoce esta conectado ao servidor!"
    );

    let mut carol = ChatProcess::client(
        "carol",
        seed.addr(),
        &["--nick", "carol", "--dialect", "seed"],
    );
    let joined = dave.read_until(b"ao chat");
    assert_eq!(
        String::from_utf8_lossy(&joined),
        "b'carol' esta conectado ao chat"
    );
    // The seed sends its two join texts separately; they may arrive as one read.
    loop {
        let line = carol.next_line();
        if line.ends_with("Voce esta conectado ao servidor!") {
            break;
        }
        assert_eq!(line, "b'carol' esta conectado ao chat");
    }

    // What carol types reaches the seed room exactly as the seed client sends it.
    carol.send_line("oi dave");
    let relayed = dave.read_bytes("carol: oi dave".len());
    assert_eq!(String::from_utf8_lossy(&relayed), "carol: oi dave");
    carol.expect_lines(&["carol: oi dave"]);

    dave.send("dave: ola carol");
    carol.expect_lines(&["dave: ola carol"]);
    let echo = dave.read_bytes("dave: ola carol".len());
    assert_eq!(String::from_utf8_lossy(&echo), "dave: ola carol");

    // End of input: the seed has no /quit, so carol just closes and exits 0.
    carol.close_stdin();
    assert!(carol.wait_exit().success(), "carol's exit status");
    let left = dave.read_until(b"sair do chat!");
    assert_eq!(
        String::from_utf8_lossy(&left),
        "b'carol' acabou de sair do chat!"
    );
}

/// The original Python server keeps a connection whose client closed its
/// sending side, and goes on sending it the room's lines: `/quit` to it
/// leaves at once, shows nothing more, and logs nothing.
#[test]
fn quit_to_a_seed_server_that_keeps_the_connection_leaves_at_once() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.write_all(b"alias?").expect("prompt");
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).expect("the nick");
        assert_eq!(&buf[..n], b"carol");
        stream
            .write_all(b"b'carol' esta conectado ao chat")
            .expect("join");
        // Until the client's end of stream: then one more line, and the
        // connection kept open.
        while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
        let _ = stream.write_all(b"dave: still here");
        std::thread::sleep(std::time::Duration::from_secs(6));
    });
    let mut carol = ChatProcess::client("carol", addr, &["--nick", "carol", "--dialect", "seed"]);
    carol.expect_lines(&["b'carol' esta conectado ao chat"]);
    carol.send_line("/quit");
    assert!(carol.wait_exit().success(), "carol's exit status");
    let rest = carol.rest_of_stdout();
    assert!(rest.is_empty(), "shown after /quit: {rest:?}");
    let stderr = carol.stderr_lines();
    assert!(stderr.is_empty(), "{stderr:?}");
    drop(server);
}
