//! End-to-end test of a server that runs out of file descriptors despite
//! sizing `max_clients` to its limit (here: because the same process burns
//! them): a new client gets `error: server full` and a clean close, never a
//! hang or a bare end of stream, and the server recovers once descriptors
//! are free again. Both runtimes, over real TCP on loopback.
//!
//! A test binary of its own: it lowers the open-file limit of its whole
//! process (soft and hard, for good), and the two runtimes' tests take
//! turns so that one's burnt descriptors do not starve the other.

#[macro_use]
mod common;

use common::peer::{Answer, Peer};
use common::server::{test_config, Runtime, TestServer};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::fs::File;
use std::sync::{Mutex, PoisonError};

on_both_runtimes!(a_client_gets_server_full_when_descriptors_run_out);

/// The open-file limit of this test process: room for a server, a few
/// peers and the harness, small enough to burn quickly.
const OPEN_FILES: u64 = 256;

/// Clients tried, one freed descriptor each, before one must be refused.
/// (A blocking acceptor holds a descriptor reserved while it waits in
/// `accept`, so the first client may still get in.)
const TRIES: usize = 3;

/// One test at a time: descriptors are per process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn a_client_gets_server_full_when_descriptors_run_out(rt: Runtime) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft > OPEN_FILES || hard > OPEN_FILES {
        setrlimit(Resource::RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES).expect("setrlimit");
    }
    let server = TestServer::start(rt, test_config());
    let addr = server.addr();
    let mut alice = Peer::join("alice", addr);

    let mut burnt = burn_every_descriptor();
    let mut answers = Vec::new();
    let mut peers = Vec::new();
    while !answers.contains(&Answer::ServerFull) {
        assert!(answers.len() < TRIES, "no client was refused: {answers:?}");
        // One descriptor for this client's socket; none for the server.
        burnt.pop();
        let mut peer = Peer::connect(&format!("peer-{}", answers.len()), addr);
        answers.push(peer.expect_prompt_or_refusal());
        peers.push(peer);
    }

    drop(burnt);
    alice.send("still here\n");
    alice.expect_line("alice: still here");
    let mut bob = Peer::join("bob", addr);
    alice.expect_line("bob joined the chat");
    bob.send("hi\n");
    bob.expect_line("bob: hi");
    alice.expect_line("bob: hi");
    drop(peers);
    server.stop();
}

/// Opens `/dev/null` until the process has no descriptor left; bounded by
/// the limit.
fn burn_every_descriptor() -> Vec<File> {
    let mut burnt = Vec::new();
    for _ in 0..=OPEN_FILES {
        match File::open("/dev/null") {
            Ok(file) => burnt.push(file),
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EMFILE as i32) => {
                return burnt;
            }
            Err(e) => panic!("opening /dev/null: {e}"),
        }
    }
    panic!("still opening files past the limit of {OPEN_FILES}");
}
