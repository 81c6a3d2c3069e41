//! Attacks through the text of lines: broken UTF-8, terminal escapes,
//! pretending to be someone else, invisible separators and BiDi controls.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::{self, Honest};
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    invalid_and_split_utf8,
    terminal_escape_sequences,
    nick_spoofing,
    line_separators_and_bidi_controls_are_removed,
    quit_reasons_cannot_pass_for_the_servers,
);

const INVALID_NICK: &str = "error: nick may only contain letters, digits and _-.[]{}|^";

/// Gives the server a chance to read what was sent on its own, so the next
/// write most likely arrives as a separate read. Not synchronisation: the
/// test holds whichever way the bytes are cut.
fn separate_reads() {
    thread::sleep(Duration::from_millis(30));
}

fn invalid_and_split_utf8(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut mallory = honest::join(&honest, "mallory", server.addr());

    // Invalid bytes, a lone continuation byte, a truncated sequence at the
    // end of the line: each becomes one U+FFFD.
    mallory.send(b"bad \xff byte\n");
    mallory.send(b"lone \x80 cont\n");
    mallory.send(b"cut \xe2\x82\n");
    // Every byte of a 2-, 3- and 4-byte character in its own write.
    for chunk in [
        &b"split "[..],
        b"\xc3",
        b"\xa9 \xe2",
        b"\x82",
        b"\xac \xf0",
        b"\x9f",
        b"\x98",
        b"\x80\n",
    ] {
        mallory.send(chunk);
        separate_reads();
    }
    let expected = [
        "mallory: bad \u{FFFD} byte",
        "mallory: lone \u{FFFD} cont",
        "mallory: cut \u{FFFD}",
        "mallory: split \u{e9} \u{20ac} \u{1F600}",
    ];
    honest::expect_lines(&mut mallory, &expected);

    // A nick with an invalid byte is refused.
    let mut ghost = Peer::connect("ghost", server.addr());
    ghost.expect_prompt();
    ghost.send(b"gh\xffst\n");
    ghost.expect_line(INVALID_NICK);
    ghost.expect_prompt();
    drop(ghost);

    let report = honest.finish();
    for line in expected {
        report.assert_count(line, 1);
    }
    report.assert_nowhere("ghost");
    server.stop();
}

fn terminal_escape_sequences(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut mallory = honest::join(&honest, "mallory", server.addr());

    // Clear screen, a window title (OSC ended by BEL, then by ST), a C1 CSI
    // in its UTF-8 form and as a raw byte, a bell, a cursor move.
    mallory.send("\x1b[2Jcleared\n");
    mallory.send("\x1b]0;owned\x07title \x1b]2;again\x1b\\\n");
    mallory.send("c1 \u{9b}31mred \x07bell \x1b[10;10Hmoved\n");
    mallory.send(b"raw \x9b31m\n");
    mallory.send(b"nul\0byte\n");
    // A line of nothing but control characters is empty once cleaned.
    mallory.send("\x1b\x07\x7f\u{9b}\r\n");
    mallory.send("/me \x1b[5mblinks\n");
    mallory.send("/msg alice \x1b[2Jpsst\n");
    let expected = [
        "mallory: [2Jcleared",
        "mallory: ]0;ownedtitle ]2;again\\",
        "mallory: c1 31mred bell [10;10Hmoved",
        "mallory: raw \u{FFFD}31m",
        "mallory: nulbyte",
        "* mallory [5mblinks",
    ];
    honest::expect_lines(&mut mallory, &expected);
    honest::expect_lines(&mut mallory, &["[pm to alice] [2Jpsst"]);
    // A nick with an escape in it is refused, at the handshake and by /nick.
    mallory.send("/nick \x1b[31mred\n");
    honest::expect_lines(&mut mallory, &[INVALID_NICK]);
    let mut ghost = Peer::connect("ghost", server.addr());
    ghost.expect_prompt();
    ghost.send("gh\x1b[2Jost\n");
    ghost.expect_line(INVALID_NICK);
    ghost.expect_prompt();
    drop(ghost);
    // The reason of a /quit is cleaned too.
    mallory.send("/quit \x1b]0;x\x07gone\n");
    honest::lines_until_closed(&mut mallory);
    let left = "mallory left the chat! (Quit: ]0;xgone)";
    honest.wait_for_line(left);

    let report = honest.finish();
    for line in expected.iter().chain([&left]) {
        report.assert_count(line, 1);
    }
    assert_eq!(
        report
            .alice
            .others
            .iter()
            .filter(|l| *l == "[pm from mallory] [2Jpsst")
            .count(),
        1,
        "alice's private line: {:?}",
        report.alice.others
    );
    assert!(
        report.bob.others.iter().all(|l| !l.contains("pm")),
        "bob saw a private line: {:?}",
        report.bob.others
    );
    server.stop();
}

fn nick_spoofing(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut mallory = honest::join(&honest, "mallory", server.addr());

    // Lines that look like someone else's, a carriage return to overwrite
    // the start of the line, and a fake notice.
    mallory.send("bob: fake\n");
    mallory.send("x\rbob: b-0\n");
    mallory.send("alice left the chat!\n");
    let expected = [
        "mallory: bob: fake",
        "mallory: xbob: b-0",
        "mallory: alice left the chat!",
    ];
    honest::expect_lines(&mut mallory, &expected);
    // Taking an honest nick, in any case.
    mallory.send("/nick bob\n");
    mallory.send("/nick ALICE\n");
    honest::expect_lines(
        &mut mallory,
        &[
            "error: nick is already taken",
            "error: nick is already taken",
        ],
    );
    let mut twin = Peer::connect("twin", server.addr());
    twin.expect_prompt();
    for nick in ["alice", "ALICE", "Bob"] {
        twin.send(format!("{nick}\n"));
        twin.expect_line("error: nick is already taken");
        twin.expect_prompt();
    }
    drop(twin);

    let report = honest.finish();
    // The `mallory: ` prefixes above are kept; the checker saw no extra
    // `bob: ` or `alice: ` line, and no notice about an honest user.
    for line in expected {
        report.assert_count(line, 1);
    }
    report.assert_nowhere("known as");
    server.stop();
}

fn line_separators_and_bidi_controls_are_removed(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let mut mallory = honest::join(&honest, "mallory", server.addr());

    mallory.send("hi\u{2028}error: fake\n");
    mallory.send("para\u{2029}graph\n");
    let mut bidi = String::from("bidi");
    for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
        bidi.push(c);
        bidi.push('.');
    }
    mallory.send(format!("{bidi}\n"));
    let expected = [
        "mallory: hierror: fake",
        "mallory: paragraph",
        "mallory: bidi.........",
    ];
    honest::expect_lines(&mut mallory, &expected);

    let report = honest.finish();
    for line in expected {
        report.assert_count(line, 1);
    }
    for r in report.both() {
        for line in &r.others {
            let hidden: Vec<char> = line
                .chars()
                .filter(|c| {
                    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                })
                .collect();
            assert!(hidden.is_empty(), "{}: {hidden:?} in {line:?}", r.nick);
        }
    }
    server.stop();
}

/// `/quit` reasons that would read like the server's: each is shown marked
/// as the user's, with no bracket of its own.
fn quit_reasons_cannot_pass_for_the_servers(rt: Runtime) {
    let server = TestServer::start(rt, test_config());
    let honest = Honest::start(server.addr());
    let cases = [
        ("mallory1", "server lost", "(Quit: server lost)"),
        ("mallory2", "too slow)", "(Quit: too slow)"),
        ("mallory3", "x) (too slow", "(Quit: x too slow)"),
        ("mallory4", "\u{ff09}\u{2769} ()", ""),
    ];
    let mut expected = Vec::new();
    for (nick, reason, shown) in cases {
        let mut mallory = honest::join(&honest, nick, server.addr());
        mallory.send(format!("/quit {reason}\n"));
        honest::lines_until_closed(&mut mallory);
        let left = format!("{nick} left the chat! {shown}");
        let left = left.trim_end().to_string();
        honest.wait_for_line(&left);
        expected.push(left);
    }
    let report = honest.finish();
    for line in &expected {
        report.assert_count(line, 1);
    }
    report.assert_nowhere("(server lost)");
    report.assert_nowhere("(too slow)");
    server.stop();
}
