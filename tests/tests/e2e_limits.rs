//! End-to-end: the per-address limits over real TCP on both runtimes, and
//! limits that make no sense refused at startup.

#[macro_use]
mod common;

use common::bin::ChatProcess;
use common::peer::Peer;
use common::server::Runtime;

on_both_runtimes!(
    one_address_gets_its_share_and_no_more,
    limits_that_make_no_sense_are_one_line_and_exit_2,
);

fn one_address_gets_its_share_and_no_more(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server(
        &rt.to_string(),
        &["--limit-loopback", "--max-per-address", "2"],
    );
    let mut alice = Peer::join("alice", addr);
    let mut bob = Peer::connect("bob", addr);
    bob.expect_prompt();
    let mut third = Peer::connect("third", addr);
    assert_eq!(
        String::from_utf8_lossy(&third.expect_closed()),
        "error: too many connections from your address\n"
    );
    // The ones in keep working; a close makes room for one more.
    bob.send("bob\n");
    alice.expect_line("bob joined the chat");
    drop(bob);
    alice.expect_line("bob left the chat!");
    let mut carol = Peer::connect("carol", addr);
    carol.expect_prompt();
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

fn limits_that_make_no_sense_are_one_line_and_exit_2(rt: Runtime) {
    for (flags, expected) in [
        (
            &["--send-queue", "0"][..],
            "error: --send-queue: must be at least",
        ),
        (&["--max-line", "0"], "error: --max-line: must be 1 to"),
        (
            &["--settle", "1m"],
            "error: --settle: must be more than 0 and less than",
        ),
        (
            &["--notice-hold-per-user", "1s"],
            "error: --notice-hold-per-user: must be at most",
        ),
    ] {
        let mut args = vec!["server", "--port", "0", "--runtime"];
        let runtime = rt.to_string();
        args.push(&runtime);
        args.extend_from_slice(flags);
        let mut server = ChatProcess::spawn("server", &args);
        let status = server.wait_exit();
        assert_eq!(status.code(), Some(2), "{flags:?}");
        let stderr = server.stderr_lines();
        assert_eq!(stderr.len(), 1, "{flags:?}: {stderr:?}");
        assert!(stderr[0].starts_with(expected), "{flags:?}: {stderr:?}");
    }
}
