//! Screens of `chat client` at a terminal, for people to look at: each case
//! of the terminal interface drawn by a terminal emulator and written to
//! `<target>/client-screens.txt` (and stdout). Not a check (the cases'
//! checks are in `e2e_client_pty` and `e2e_client_reconnect`), so ignored
//! by default:
//! `cargo test -p chat-tests --release --test client_screens -- --ignored --nocapture`.

#[allow(unused_macros)]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::pty::PtyChat;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

fn client(addr: SocketAddr, extra: &[&str]) -> PtyChat {
    let port = addr.port().to_string();
    let mut args = vec!["client", "--host", "127.0.0.1", "--port", &port];
    args.extend_from_slice(extra);
    PtyChat::spawn(&args, true)
}

fn joined(addr: SocketAddr, extra: &[&str]) -> PtyChat {
    let mut args = vec!["--nick", "alice"];
    args.extend_from_slice(extra);
    let alice = client(addr, &args);
    alice.wait_for("the prompt after the join", |rows| {
        rows.iter().any(|r| r.starts_with("Online ("))
            && rows.last().is_some_and(|r| r.starts_with('>'))
    });
    alice
}

/// The screen, its trailing empty rows left out, in a frame.
fn framed(title: &str, chat: &PtyChat) -> String {
    let mut rows = chat.rows();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    let width = rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let mut out = format!("== {title}\n+{}+\n", "-".repeat(width));
    for row in rows {
        let _ = writeln!(out, "|{row:<width$}|");
    }
    let _ = writeln!(out, "+{}+\n", "-".repeat(width));
    out
}

#[test]
#[ignore = "draws screens for review; run with --ignored"]
fn draw_client_screens() {
    let mut out = String::new();

    // A half-typed line while lines arrive.
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let mut alice = joined(addr, &[]);
    bob.expect_line("alice joined the chat");
    alice.type_keys("half a li");
    alice.wait_for_row("> half a li");
    for n in 1..=3 {
        bob.send(format!("line {n}\n"));
    }
    alice.wait_for("bob's lines", |rows| {
        rows.iter().any(|r| r == "bob: line 3") && rows.last().is_some_and(|r| r == "> half a li")
    });
    out += &framed("half-typed line while lines arrive", &alice);

    // Tab completion.
    alice.type_keys("\x15/ms\t");
    alice.wait_for_row("> /msg");
    alice.type_keys("bo\t");
    alice.wait_for_row("> /msg bob");
    out += &framed("Tab completion: `/ms<Tab>bo<Tab>`", &alice);

    // Ctrl-C clearing a line.
    alice.type_keys("\x15oops, not this");
    alice.wait_for_row("> oops, not this");
    out += &framed("before Ctrl-C", &alice);
    alice.type_keys("\x03");
    alice.wait_for("the line cleared", |rows| {
        rows.last().is_some_and(|r| r == ">")
    });
    out += &framed("after Ctrl-C: the line is cleared", &alice);

    // Resize with a multi-row input line.
    let long: String = (0..12).map(|n| format!("word{n:02}....")).collect();
    alice.type_keys(&long);
    alice.wait_for("two rows", |rows| {
        rows.last().is_some_and(|r| r.ends_with("word11...."))
    });
    out += &framed("a two-row input line at 80 columns", &alice);
    alice.resize(24, 60);
    std::thread::sleep(std::time::Duration::from_millis(500));
    out += &framed("resized to 60 columns", &alice);
    drop(alice);

    // Shutdown while typing.
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = joined(addr, &[]);
    alice.type_keys("not sent yet");
    alice.wait_for_row("> not sent yet");
    server.terminate();
    alice.wait_exit();
    out += &framed("server shutdown while typing", &alice);

    // The handshake time limit.
    let (_server, addr) = ChatProcess::server("smol", &["--handshake-timeout", "1500ms"]);
    let _taken = Peer::join("alice", addr);
    let mut late = client(addr, &["--nick", "ALICE"]);
    late.wait_exit();
    out += &framed("handshake time limit at the nick prompt", &late);

    // Offline, a line typed offline, reconnected.
    let (server, addr) = ChatProcess::server("smol", &[]);
    let mut alice = joined(addr, &["--reconnect"]);
    server.kill();
    alice.wait_for("offline", |rows| {
        rows.iter().any(|r| r.starts_with("(disconnected: "))
    });
    alice.type_keys("typed offline\r");
    alice.wait_for_row("(offline, not sent (Up brings it back): typed offline)");
    out += &framed("--reconnect: offline, a line typed offline", &alice);
    let _server = ChatProcess::server_on_port("smol", addr.port());
    alice.wait_for_row("(reconnected as alice)");
    alice.type_keys("\x1b[A");
    alice.wait_for_row("> typed offline");
    out += &framed("--reconnect: back, Up recalls the unsent line", &alice);

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/client-screens.txt");
    std::fs::write(&path, &out).expect("write the screens");
    println!("{out}");
}
