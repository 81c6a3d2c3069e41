//! Attacks through nicks: reserved words that would make a user's lines
//! look like the server's, look-alikes of a joined user, invisible or
//! fullwidth letters, and nicks typed one byte at a time.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::{self, Honest};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    reserved_words_are_refused,
    look_alike_nicks_are_refused,
    nick_command_follows_the_same_rules,
    nick_typed_slowly_is_one_nick,
    seed_nick_in_one_write_joins_after_settling,
    one_byte_seed_nick_then_its_first_message,
);

const RESERVED: &str = "error: nick is reserved";
const MIXED: &str = "error: nick may not mix scripts";
const INVALID: &str = "error: nick may only contain letters, digits and _-.[]{}|^";

/// Nicks that are refused as reserved: they would start lines the way the
/// server's own lines start.
const RESERVED_NICKS: [&str; 20] = [
    "error",
    "Error",
    "ERROR",
    "online",
    "server",
    "you",
    "[pm",
    "[pm]",
    "[pmx",
    "[PM",
    // Nothing starts with `[`: `[history] …` and the like are the server's.
    "[",
    "[history]",
    "[server]",
    "[error]",
    // Digits written for letters.
    "ERR0R",
    "err0r",
    "0nline",
    "5erver",
    "Y0U",
    "onl1ne",
];

/// Nicks refused for their characters, though each looks like letters.
const INVISIBLE_OR_WIDE: [&str; 5] = [
    "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}", // fullwidth alice
    "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}", // mathematical bold alice
    "a\u{3164}b",                               // Hangul filler
    "a\u{200b}b",                               // zero width space
    "ali\u{202e}ce",                            // right-to-left override
];

/// The refusals to check with `alice` and `ape` joined: nick, error line.
fn look_alikes() -> Vec<(&'static str, String)> {
    let mut cases = vec![
        ("aIice", "error: nick is too similar to alice".to_string()),
        ("\u{430}lice", MIXED.to_string()),
        (
            "\u{430}\u{440}\u{435}",
            "error: nick is too similar to ape".to_string(),
        ),
        // Digits written for the letters of a present user's nick.
        ("b0b", "error: nick is too similar to bob".to_string()),
        ("al1ce", "error: nick is too similar to alice".to_string()),
        ("4pe", "error: nick is too similar to ape".to_string()),
    ];
    cases.extend(INVISIBLE_OR_WIDE.iter().map(|n| (*n, INVALID.to_string())));
    cases
}

/// A fresh connection offers `nick`: it gets `error` and the prompt again.
fn refused_at_handshake(addr: SocketAddr, nick: &str, error: &str) {
    let mut peer = Peer::connect("newcomer", addr);
    peer.expect_prompt();
    peer.send(format!("{nick}\n"));
    let got = peer.line();
    assert_eq!(got, error, "the nick {nick:?} at the handshake");
    peer.expect_prompt();
}

fn reserved_words_are_refused(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    for nick in RESERVED_NICKS {
        refused_at_handshake(server.addr(), nick, RESERVED);
    }
    let report = honest.finish();
    report.assert_nothing_else();
    server.stop();
}

fn look_alike_nicks_are_refused(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let _ape = honest::join(&honest, "ape", server.addr());
    for (nick, error) in look_alikes() {
        refused_at_handshake(server.addr(), nick, &error);
    }
    let report = honest.finish();
    assert_eq!(report.alice.others, ["ape joined the chat"]);
    assert_eq!(report.bob.others, ["ape joined the chat"]);
    server.stop();
}

fn nick_command_follows_the_same_rules(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let _ape = honest::join(&honest, "ape", server.addr());
    let mut mallory = honest::join(&honest, "mallory", server.addr());
    let mut cases: Vec<(&str, String)> = RESERVED_NICKS
        .iter()
        .map(|n| (*n, RESERVED.to_string()))
        .collect();
    cases.extend(look_alikes());
    for (i, (nick, error)) in cases.iter().enumerate() {
        mallory.send(format!("/nick {nick}\n"));
        // The error line and no prompt: the next line is mallory's own.
        mallory.send(format!("check {i}\n"));
        honest::expect_lines(
            &mut mallory,
            &[error.as_str(), &format!("mallory: check {i}")],
        );
    }
    let report = honest.finish();
    report.assert_nowhere("known as");
    for i in 0..cases.len() {
        report.assert_count(&format!("mallory: check {i}"), 1);
    }
    server.stop();
}

fn nick_typed_slowly_is_one_nick(rt: Runtime) {
    // The test config's settle time is 50 ms; the pauses here are longer.
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut zoe = Peer::connect("zoe", server.addr());
    zoe.expect_prompt();
    for byte in ["z", "o", "e", "\n"] {
        zoe.send(byte);
        thread::sleep(Duration::from_millis(200));
    }
    honest::expect_lines(
        &mut zoe,
        &["zoe joined the chat", "You are connected to the server!"],
    );
    let online = honest::next_line(&mut zoe);
    assert!(online.starts_with("Online (3): "), "{online:?}");
    zoe.send("hi\n");
    honest::expect_lines(&mut zoe, &["zoe: hi"]);
    honest.wait_for_line("zoe: hi");

    let report = honest.finish();
    report.assert_count("zoe joined the chat", 1);
    report.assert_count("zoe: hi", 1);
    report.assert_nowhere("z joined");
    report.assert_nowhere("z: ");
    report.assert_nowhere("zo joined");
    report.assert_nowhere("zo: ");
    server.stop();
}

fn seed_nick_in_one_write_joins_after_settling(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut carol = Peer::connect("carol", server.addr());
    carol.expect_prompt();
    // The seed's client: the nick in one write, no newline, then silence.
    carol.send("carol");
    honest::expect_lines(
        &mut carol,
        &["carol joined the chat", "You are connected to the server!"],
    );
    let online = honest::next_line(&mut carol);
    assert!(online.starts_with("Online (3): "), "{online:?}");
    // Its messages: `NICK: text`, one write each, no newline.
    carol.send("carol: hello from python");
    honest::expect_lines(&mut carol, &["carol: hello from python"]);
    honest.wait_for_line("carol: hello from python");
    let report = honest.finish();
    report.assert_count("carol joined the chat", 1);
    report.assert_count("carol: hello from python", 1);
    server.stop();
}

fn one_byte_seed_nick_then_its_first_message(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut z = Peer::connect("z", server.addr());
    z.expect_prompt();
    z.send("z");
    thread::sleep(Duration::from_millis(200));
    z.send("z: hello");
    honest::expect_lines(
        &mut z,
        &["z joined the chat", "You are connected to the server!"],
    );
    let online = honest::next_line(&mut z);
    assert!(online.starts_with("Online (3): "), "{online:?}");
    honest::expect_lines(&mut z, &["z: hello"]);
    honest.wait_for_line("z: hello");
    let report = honest.finish();
    report.assert_count("z joined the chat", 1);
    report.assert_count("z: hello", 1);
    report.assert_nowhere("z: z:");
    server.stop();
}
