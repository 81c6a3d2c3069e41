//! End-to-end: flood control that loses nothing, on both runtimes. A bot
//! piping more lines than the burst has every one of them said, in order,
//! at the allowed rate, and exits 0; another user's line is not held up by
//! it; a flooder that never reads is closed once, as too slow.

#[macro_use]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::server::Runtime;

on_both_runtimes!(
    a_piped_bot_past_the_burst_loses_no_line,
    a_flooder_that_never_reads_leaves_once,
);

/// Lines the bot pipes: the default burst (40) and then 13 s at 20 a second.
const BOT_LINES: usize = 300;

fn a_piped_bot_past_the_burst_loses_no_line(rt: Runtime) {
    // Default flood settings: 20 lines a second, 40 at once.
    let (mut server, addr) = ChatProcess::server(&rt.to_string(), &[]);
    let mut watcher = Peer::join("watcher", addr);
    let mut carol = Peer::join("carol", addr);
    watcher.expect_line("carol joined the chat");

    let mut bot = ChatProcess::client("bot", addr, &["--nick", "bot"]);
    for i in 0..BOT_LINES {
        bot.send_line(&format!("line {i}"));
    }
    bot.close_stdin();
    watcher.expect_line("bot joined the chat");
    // The bot's burst is out; the rest is held. Carol's line goes out now,
    // before the bot's last lines, not after them.
    watcher.expect_line("bot: line 0");
    carol.send("while the bot floods\n");
    let mut bot_lines = 1;
    let mut carol_seen_after = None;
    loop {
        let line = watcher.line();
        if line == "carol: while the bot floods" {
            carol_seen_after = Some(bot_lines);
            continue;
        }
        if line == "bot left the chat!" {
            break;
        }
        assert_eq!(
            line,
            format!("bot: line {bot_lines}"),
            "every line, in order"
        );
        bot_lines += 1;
    }
    assert_eq!(bot_lines, BOT_LINES, "no line lost");
    let after = carol_seen_after.expect("carol's line was said");
    assert!(
        after < BOT_LINES - 1,
        "carol waited for the whole flood: after {after}"
    );
    assert!(bot.wait_exit().success(), "the bot's exit status");
    let said = bot.rest_of_stdout();
    assert_eq!(
        said.last().map(String::as_str),
        Some("bot: line 299"),
        "the bot saw its own lines"
    );
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn a_flooder_that_never_reads_leaves_once(rt: Runtime) {
    // A fast flood rate so the test is short; a send queue the std
    // runtime's pacing keeps its readers within on a loaded machine.
    let (mut server, addr) = ChatProcess::server(
        &rt.to_string(),
        &["--flood-rate", "200", "--send-queue", "64KiB"],
    );
    let mut watcher = Peer::join("watcher", addr);
    let mut flooder = Peer::connect_small_rcvbuf("flooder", addr, 4096);
    flooder.expect_prompt();
    flooder.send("flooder\n");
    watcher.expect_line("flooder joined the chat");
    // The watcher reads everything, on its own thread, until the notice.
    let reader = std::thread::spawn(move || {
        let skipped = watcher.skip_to_line("flooder left the chat! (too slow)");
        (watcher, skipped)
    });
    // The flooder never reads: its own lines fill its send queue. Bounded:
    // at most 20 000 lines of 1 KiB, each write bounded by the socket's
    // timeout; a write fails once the server closed it.
    let line = format!("{}\n", "x".repeat(1000));
    for _ in 0..20_000 {
        if !flooder.try_send(&line) {
            break;
        }
    }
    let (mut watcher, skipped) = reader.join().expect("the watcher's thread");
    assert!(
        skipped
            .iter()
            .all(|l| l == &format!("flooder: {}", "x".repeat(1000))),
        "only the flooder's lines before its one leave notice"
    );
    watcher.send("/who\n");
    watcher.expect_line("Online (1): watcher");
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}
