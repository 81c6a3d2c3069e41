//! A room whose online list is longer than a send queue: the answer to a
//! join and to `/who` is split into lines of at most 1024 bytes, cut at a
//! quarter of the send queue with `and K more`, and the newcomer or the
//! asker is not closed as too slow by it.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::{self, Honest, ALICE, BOB};
use std::collections::BTreeSet;
use std::net::SocketAddr;

on_both_runtimes!(
    online_list_of_wide_nicks_is_split_and_bounded,
    online_list_of_ascii_nicks_stays_within_a_quarter_of_the_send_queue,
);

/// Most bytes in one line the server sends, its `\n` included.
const MAX_LINE_BYTES: usize = 1024;

/// 28 four-byte letters and 4 digits: a nick of 116 bytes, the `k`-th of
/// a series of distinct ones. The letter is U+2070E, of CJK Extension B:
/// most of that block is outside the letters Unicode's identifier profile
/// allows in a nick, this one is in.
fn wide_nick(k: u32) -> String {
    format!("{}{k:04}", "\u{2070e}".repeat(28))
}

/// 32 ASCII characters, the `k`-th of a series of distinct ones.
fn ascii_nick(k: u32) -> String {
    format!("user{k:04}{}", "x".repeat(24))
}

/// Joins `nick` without reading past the welcome: the rest of what it is
/// sent stays in its socket.
fn join_quietly(k: u32, nick: &str, addr: SocketAddr) -> Peer {
    let mut peer = Peer::connect(&format!("filler {k} (closed at its own join?)"), addr);
    peer.expect_prompt();
    peer.send(format!("{nick}\n"));
    peer.read_until(b"You are connected to the server!\n");
    peer
}

/// Reads the lines of an online answer (they start `Online (`), up to and
/// without the first other line, which it returns too.
fn read_online_answer(peer: &mut Peer) -> (Vec<String>, String) {
    let mut answer = Vec::new();
    // Bounded: the answer is at most a send queue of lines.
    for _ in 0..1_000 {
        let line = peer.line();
        if line.starts_with("Online (") {
            answer.push(line);
        } else {
            return (answer, line);
        }
    }
    panic!("an online answer of more than 1 000 lines");
}

/// Checks the shape of an online answer when `everyone` is joined and the
/// list does not fit in a quarter of `send_queue`.
fn check_online_answer(answer: &[String], everyone: &BTreeSet<String>, send_queue: usize) {
    assert!(!answer.is_empty(), "no online answer");
    let n = everyone.len();
    let head = format!("Online ({n}): ");
    let total: usize = answer.iter().map(|l| l.len() + 1).sum();
    assert!(
        total <= send_queue / 4,
        "the answer takes {total} bytes, over a quarter of the {send_queue}-byte send queue"
    );
    let mut listed: Vec<&str> = Vec::new();
    let mut more = None;
    for (i, line) in answer.iter().enumerate() {
        assert!(
            line.len() < MAX_LINE_BYTES,
            "line {i} of the answer is {} bytes with its newline",
            line.len() + 1
        );
        let items = line
            .strip_prefix(&head)
            .unwrap_or_else(|| panic!("line {i} does not start {head:?}: {line:.80}"));
        for item in items.split(", ") {
            assert!(more.is_none(), "items after `and K more`: {line:.80}");
            if let Some(k) = item
                .strip_prefix("and ")
                .and_then(|rest| rest.strip_suffix(" more"))
            {
                more = Some(k.parse::<usize>().expect("K in `and K more`"));
                assert_eq!(i, answer.len() - 1, "`and K more` ends the last line");
            } else {
                listed.push(item);
            }
        }
    }
    let distinct: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "a nick listed twice");
    for nick in &listed {
        assert!(
            everyone.contains(*nick),
            "listed {nick:?}, who is not joined"
        );
    }
    for pair in listed.windows(2) {
        assert!(
            pair[0].to_lowercase() <= pair[1].to_lowercase(),
            "not ordered ignoring case: {:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    let more = more.expect("a list that does not fit ends with `and K more`");
    assert!(more > 0, "`and 0 more`");
    assert_eq!(listed.len() + more, n, "listed nicks + K = N");
}

/// Fills a room with `users` nicks from `nick`, then has a newcomer join and
/// ask `/who`: both answers are split and bounded, and it stays.
fn long_online_list(rt: Runtime, send_queue: usize, users: u32, nick: fn(u32) -> String) {
    let config = chat_core::Config {
        send_queue,
        ..test_config()
    };
    let server = TestServer::start(rt, config);
    let honest = Honest::start(server.addr());
    let mut everyone: BTreeSet<String> = [ALICE, BOB].map(str::to_string).into();
    let mut fillers = Vec::new();
    for k in 0..users {
        let nick = nick(k);
        fillers.push(join_quietly(k, &nick, server.addr()));
        everyone.insert(nick);
    }
    let one_line: usize = everyone.iter().map(|n| n.len() + 2).sum();
    assert!(
        one_line > send_queue,
        "the setup: the whole list ({one_line} bytes) must not fit in the send queue"
    );

    let mut newbie = Peer::connect("newbie", server.addr());
    newbie.expect_prompt();
    newbie.send("newbie\n");
    everyone.insert("newbie".to_string());
    newbie.expect_lines(&["newbie joined the chat", "You are connected to the server!"]);
    let (answer, after) = read_online_answer(&mut newbie);
    check_online_answer(&answer, &everyone, send_queue);
    assert!(
        honest::is_honest_line(&after),
        "after the answer: {after:?}"
    );

    newbie.send("hello\n");
    honest::expect_lines(&mut newbie, &["newbie: hello"]);
    newbie.send("/who\n");
    let first = honest::next_line(&mut newbie);
    assert!(
        first.starts_with("Online ("),
        "the /who answer: {first:.80}"
    );
    let (rest, after) = read_online_answer(&mut newbie);
    let answer: Vec<String> = [first].into_iter().chain(rest).collect();
    check_online_answer(&answer, &everyone, send_queue);
    assert!(
        honest::is_honest_line(&after),
        "after the answer: {after:?}"
    );
    newbie.send("still here\n");
    honest::expect_lines(&mut newbie, &["newbie: still here"]);
    honest.wait_for_line("newbie: still here");

    let report = honest.finish();
    for r in report.both() {
        let left: Vec<&String> = r
            .others
            .iter()
            .filter(|l| l.contains(" left the chat!"))
            .collect();
        assert!(left.is_empty(), "{}: users closed: {left:?}", r.nick);
    }
    report.assert_count("newbie joined the chat", 1);
    report.assert_count("newbie: still here", 1);
    server.stop();
    drop(fillers);
}

fn online_list_of_wide_nicks_is_split_and_bounded(rt: Runtime) {
    // 150 nicks of 118 bytes each in the list: 17 KiB, over a 16 KiB queue.
    long_online_list(rt, 16 * 1024, 150, wide_nick);
}

fn online_list_of_ascii_nicks_stays_within_a_quarter_of_the_send_queue(rt: Runtime) {
    // 260 nicks of 34 bytes each in the list: 8.6 KiB, over an 8 KiB queue.
    long_online_list(rt, 8 * 1024, 260, ascii_nick);
}
