//! Screens of `chat client` at a terminal, for people to look at: each case
//! of the terminal interface run against a real server on loopback, drawn
//! by a terminal emulator (80×24, no colour), framed, and written to
//! `<target>/client-screens.txt` and stdout. Not a check: the cases' checks
//! are the `e2e_client_pty` and `e2e_client_reconnect` tests.
//!
//! `cargo run --release -p chat-tests --example client_screens`
//!
//! `CHAT_CLIENT_BIN=/path/to/chat` draws another build's client (the
//! server is always this tree's): a case it cannot do is drawn as far as it
//! got, with a note. Every wait is bounded.

#[allow(unused_macros)]
#[path = "../tests/common/mod.rs"]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::pty::PtyChat;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

/// How long a case waits for what it is drawing.
const CASE_WAIT: Duration = Duration::from_secs(8);

/// The screens drawn so far.
#[derive(Default)]
struct Screens {
    out: String,
}

impl Screens {
    /// Frames the screen (trailing empty rows left out) under `title`, with
    /// `note` under it when the case did not get where it meant to.
    fn draw(&mut self, title: &str, chat: &PtyChat, note: Option<String>) {
        let mut rows = chat.rows();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        let width = rows
            .iter()
            .map(|r| r.chars().count())
            .max()
            .unwrap_or(0)
            .max(40);
        let _ = writeln!(self.out, "== {title}");
        if let Some(note) = note {
            let _ = writeln!(self.out, "   ({note})");
        }
        let _ = writeln!(self.out, "+{}+", "-".repeat(width));
        for row in rows {
            let _ = writeln!(self.out, "|{row:<width$}|");
        }
        let _ = writeln!(self.out, "+{}+\n", "-".repeat(width));
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "== {text}\n");
    }
}

/// Waits (at most [`CASE_WAIT`]) until the non-empty rows satisfy `ready`;
/// `Err` names what never showed.
fn wait(chat: &PtyChat, what: &str, ready: impl Fn(&[String]) -> bool) -> Result<(), String> {
    let deadline = Instant::now() + CASE_WAIT;
    loop {
        if ready(&chat.text_rows()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("did not show {what} within {CASE_WAIT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn row_is(row: &'static str) -> impl Fn(&[String]) -> bool {
    move |rows| rows.iter().any(|r| r == row)
}

/// Waits (bounded) for the process to end; its exit code, if it did.
fn wait_exit(chat: &mut PtyChat) -> Option<String> {
    let deadline = Instant::now() + CASE_WAIT;
    while chat.is_running() {
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(100));
    Some(
        chat.wait_exit()
            .code()
            .map_or("a signal".into(), |c| c.to_string()),
    )
}

fn client(addr: SocketAddr, extra: &[&str]) -> PtyChat {
    let port = addr.port().to_string();
    let mut args = vec!["client", "--host", "127.0.0.1", "--port", &port];
    args.extend_from_slice(extra);
    PtyChat::spawn(&args, true)
}

/// `alice` joined; `Err` when the prompt after the join never showed.
fn joined(addr: SocketAddr, extra: &[&str]) -> (PtyChat, Result<(), String>) {
    let mut args = vec!["--nick", "alice"];
    args.extend_from_slice(extra);
    let alice = client(addr, &args);
    let ready = wait(&alice, "the prompt after the join", |rows| {
        rows.iter().any(|r| r.starts_with("Online ("))
            && rows.last().is_some_and(|r| r.starts_with('>'))
    });
    (alice, ready)
}

fn half_typed_line(screens: &mut Screens) {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let (mut alice, ready) = joined(addr, &[]);
    if ready.is_ok() {
        bob.expect_line("alice joined the chat");
    }
    alice.type_keys("half a li");
    let typed = wait(&alice, "the typed half", |rows| {
        rows.iter().any(|r| r.ends_with("half a li"))
    });
    for n in 1..=3 {
        bob.send(format!("line {n}\n"));
    }
    let shown = wait(&alice, "bob's lines above the typed half", |rows| {
        rows.iter().any(|r| r == "bob: line 3") && rows.last().is_some_and(|r| r == "> half a li")
    });
    let note = ready.and(typed).and(shown).err();
    screens.draw("a half-typed line while lines arrive", &alice, note);
}

fn shutdown_while_typing(screens: &mut Screens) {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let (mut alice, ready) = joined(addr, &[]);
    alice.type_keys("not sent yet");
    let typed = wait(&alice, "the typed line", |rows| {
        rows.iter().any(|r| r.ends_with("not sent yet"))
    });
    server.terminate();
    let exit = wait_exit(&mut alice);
    let title = match &exit {
        Some(code) => format!("server shutdown while typing (exit code {code})"),
        None => "server shutdown while typing (still running)".to_string(),
    };
    screens.draw(&title, &alice, ready.and(typed).err());
}

fn handshake_limit(screens: &mut Screens) {
    let (_server, addr) = ChatProcess::server("smol", &["--handshake-timeout", "2s"]);
    let _taken = Peer::join("alice", addr);
    let mut late = client(addr, &["--nick", "ALICE"]);
    let exit = wait_exit(&mut late);
    let title = match &exit {
        Some(code) => format!(
            "handshake time limit (2 s) at the nick prompt after a collision (exit code {code})"
        ),
        None => "handshake time limit (2 s) at the nick prompt after a collision (still running)"
            .to_string(),
    };
    screens.draw(&title, &late, None);
}

fn tab_completion(screens: &mut Screens) {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bobby = Peer::join("bobby_tables", addr);
    let (mut alice, ready) = joined(addr, &[]);
    if ready.is_ok() {
        bobby.expect_line("alice joined the chat");
    }
    alice.type_keys("/ms\t");
    let command = wait(&alice, "`/msg` completed", |rows| {
        rows.last().is_some_and(|r| r.ends_with("/msg"))
    });
    screens.draw(
        "Tab completion of a command: `/ms<Tab>`",
        &alice,
        ready.clone().and(command).err(),
    );
    alice.type_keys("bob\t");
    let nick = wait(&alice, "the nick completed", |rows| {
        rows.last().is_some_and(|r| r.ends_with("bobby_tables"))
    });
    screens.draw(
        "... then of a nick: `bob<Tab>`",
        &alice,
        ready.and(nick).err(),
    );
}

fn ctrl_c(screens: &mut Screens) {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let (mut alice, ready) = joined(addr, &[]);
    alice.type_keys("oops, not this");
    let typed = wait(&alice, "the typed line", |rows| {
        rows.last().is_some_and(|r| r.ends_with("oops, not this"))
    });
    screens.draw(
        "a typed line, before Ctrl-C",
        &alice,
        ready.clone().and(typed).err(),
    );
    alice.type_keys("\x03");
    let cleared = wait(&alice, "the line cleared", |rows| {
        rows.last().is_some_and(|r| r == ">")
    });
    thread::sleep(Duration::from_millis(200));
    let title = if alice.is_running() {
        "after Ctrl-C (the client still running)"
    } else {
        "after Ctrl-C (the client ended)"
    };
    screens.draw(title, &alice, ready.and(cleared).err());
}

fn offline_and_back(screens: &mut Screens) {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let (mut alice, ready) = joined(addr, &["--reconnect"]);
    if ready.is_err() {
        thread::sleep(Duration::from_millis(300));
        screens.draw("--reconnect", &alice, ready.err());
        return;
    }
    server.kill();
    let offline = wait(&alice, "the offline notice", |rows| {
        rows.iter().any(|r| r.starts_with("(disconnected: "))
    });
    alice.type_keys("typed offline\r");
    let refused = wait(&alice, "the refused line", |rows| {
        rows.iter()
            .any(|r| r.contains("not sent") && r.contains("typed offline"))
    });
    screens.draw(
        "--reconnect: offline, a line typed offline",
        &alice,
        offline.and(refused).err(),
    );
    let _server = ChatProcess::server_on_port("smol", addr.port());
    let back = wait(&alice, "the rejoin", row_is("(reconnected as alice)"));
    alice.type_keys("\x1b[A");
    let recalled = wait(
        &alice,
        "the unsent line recalled",
        row_is("> typed offline"),
    );
    screens.draw(
        "--reconnect: back, Up recalls the unsent line",
        &alice,
        back.and(recalled).err(),
    );
}

fn resize(screens: &mut Screens) {
    let (_server, addr) = ChatProcess::server("smol", &[]);
    let mut bob = Peer::join("bob", addr);
    let (mut alice, ready) = joined(addr, &[]);
    if ready.is_ok() {
        bob.expect_line("alice joined the chat");
    }
    for n in 1..=3 {
        bob.send(format!("line {n}\n"));
    }
    let lines = wait(&alice, "bob's lines", row_is("bob: line 3"));
    let long: String = (0..12).map(|n| format!("word{n:02}....")).collect();
    alice.type_keys(&long);
    let typed = wait(&alice, "the long line", |rows| {
        rows.concat().ends_with("word11....")
    });
    screens.draw(
        "a two-row input line at 80 columns",
        &alice,
        ready.and(lines).and(typed).err(),
    );
    for columns in [130, 60] {
        alice.resize(24, columns);
        thread::sleep(Duration::from_millis(700));
        screens.draw(
            &format!("resized to {columns} columns (a reflowing terminal)"),
            &alice,
            None,
        );
    }
}

/// The server stops (SIGSTOP) after alice typed a line: the stall is told
/// and the line marked; then it goes on.
fn stalled_server(screens: &mut Screens) {
    let (server, addr) = ChatProcess::server("smol", &[]);
    let (mut alice, ready) = joined(addr, &["--ping-after", "1s"]);
    server.stop();
    alice.type_keys("are you there?\r");
    let told = wait(&alice, "the stall told", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(no answer from the server for 2 s"))
    });
    screens.draw(
        "the server stopped (SIGSTOP), --ping-after 1s",
        &alice,
        ready.and(told).err(),
    );
    server.resume();
    let back = wait(&alice, "the server back", |rows| {
        rows.iter()
            .any(|r| r.starts_with("(the server answers again"))
    });
    screens.draw("the server goes on (SIGCONT)", &alice, back.err());
}

/// Bots come and go without a word, carol says something: by default only
/// carol shows; with --show-joins every notice, bursts as one line.
fn join_and_leave_noise(screens: &mut Screens) {
    for (title, extra) in [
        ("bots come and go, carol speaks (default)", &[][..]),
        ("the same with --show-joins", &["--show-joins"][..]),
    ] {
        let (_server, addr) = ChatProcess::server("smol", &[]);
        let (alice, ready) = joined(addr, extra);
        let mut bots: Vec<Peer> = ["bot1", "bot2", "bot3"]
            .iter()
            .map(|nick| {
                let mut bot = Peer::connect(nick, addr);
                bot.expect_prompt();
                bot
            })
            .collect();
        for bot in &mut bots {
            let nick = bot.name().to_string();
            bot.send(format!("{nick}\n"));
        }
        thread::sleep(Duration::from_millis(500));
        drop(bots);
        let mut carol = Peer::join("carol", addr);
        carol.send("hi, just passing\n/quit\n");
        let shown = wait(&alice, "carol's leave", row_is("carol left the chat!"));
        screens.draw(title, &alice, ready.and(shown).err());
    }
}

fn main() {
    let client = std::env::var("CHAT_CLIENT_BIN").unwrap_or_else(|_| "this tree's".into());
    let mut screens = Screens::default();
    screens.note(&format!("client: {client}; 80x24, NO_COLOR"));
    half_typed_line(&mut screens);
    shutdown_while_typing(&mut screens);
    handshake_limit(&mut screens);
    tab_completion(&mut screens);
    ctrl_c(&mut screens);
    offline_and_back(&mut screens);
    resize(&mut screens);
    stalled_server(&mut screens);
    join_and_leave_noise(&mut screens);
    let name = if std::env::var_os("CHAT_CLIENT_BIN").is_some() {
        "client-screens-other.txt"
    } else {
        "client-screens.txt"
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    if let Err(e) = std::fs::write(&path, &screens.out) {
        eprintln!("cannot write {}: {e}", path.display());
    }
    print!("{}", screens.out);
}
