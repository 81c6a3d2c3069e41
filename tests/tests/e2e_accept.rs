//! End-to-end tests of accepting under a hostile network: a burst of
//! connects larger than std's default listen backlog, a server whose
//! open-file limit holds fewer clients than it is configured for, and a std
//! server allowed fewer threads than its clients need. Both runtimes
//! (the thread limit: std, the one that spends threads per client), over
//! real TCP on loopback; every wait bounded.

#[macro_use]
mod common;

use common::bin::ChatProcess;
use common::peer::{Answer, Peer};
use common::server::{test_config, Runtime, TestServer};
use common::WAIT;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

on_both_runtimes!(
    every_connect_of_a_burst_gets_the_prompt,
    a_server_short_of_descriptors_admits_what_fits_and_refuses_the_rest,
);

#[test]
fn std_a_server_short_of_threads_admits_what_fits_and_refuses_the_rest() {
    a_server_short_of_threads_admits_what_fits_and_refuses_the_rest(Runtime::Std);
}

/// Connections in the burst: far more than a backlog of 128.
const BURST: usize = 1500;
/// Threads opening them.
const BURST_THREADS: usize = 4;

/// Two joined users who check, by a line each, that the room still relays.
struct Honest {
    alice: Peer,
    bob: Peer,
}

impl Honest {
    fn join(addr: SocketAddr) -> Honest {
        let mut alice = Peer::join("alice", addr);
        let bob = Peer::join("bob", addr);
        alice.expect_line("bob joined the chat");
        Honest { alice, bob }
    }

    /// Alice says `first`, then Bob says `second`; both read both, in order.
    fn chat(&mut self, first: &str, second: &str) {
        self.alice.send(format!("{first}\n"));
        let said = format!("alice: {first}");
        self.alice.expect_line(&said);
        self.bob.expect_line(&said);
        self.bob.send(format!("{second}\n"));
        let answer = format!("bob: {second}");
        self.bob.expect_line(&answer);
        self.alice.expect_line(&answer);
    }
}

fn every_connect_of_a_burst_gets_the_prompt(rt: Runtime) {
    // This process holds both ends of every connection.
    chat_runtime_common::open_files::raise_limit().expect("raise the open-file limit");
    let server = TestServer::start(rt, test_config());
    let addr = server.addr();
    let mut honest = Honest::join(addr);
    honest.chat("before the burst", "ok");

    // Each thread starts its share of connects without waiting for any
    // handshake (so SYNs arrive faster than any acceptor takes them), waits
    // until each is connected, sends nothing, and reads every prompt.
    let per_thread = BURST / BURST_THREADS;
    let threads: Vec<_> = (0..BURST_THREADS)
        .map(|t| {
            thread::spawn(move || {
                let connecting: Vec<Socket> =
                    (0..per_thread).map(|_| start_connect(addr)).collect();
                let deadline = Instant::now() + WAIT;
                let mut peers: Vec<Peer> = connecting
                    .into_iter()
                    .enumerate()
                    .map(|(i, socket)| {
                        let name = format!("burst-{t}-{i}");
                        Peer::from_stream(&name, finish_connect(&name, socket, deadline))
                    })
                    .collect();
                for peer in &mut peers {
                    peer.expect_prompt();
                }
                peers
            })
        })
        .collect();
    let mut prompted = Vec::new();
    for thread in threads {
        prompted.extend(thread.join().expect("a burst thread"));
    }
    assert_eq!(prompted.len(), per_thread * BURST_THREADS);

    honest.chat("after the burst", "still here");
    drop(prompted);
    server.stop();
}

/// A non-blocking socket whose connect to `addr` has started.
fn start_connect(addr: SocketAddr) -> Socket {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .expect("a TCP socket");
    socket.set_nonblocking(true).expect("non-blocking");
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
        Err(e) => panic!("cannot start a connect to {addr}: {e}"),
    }
    socket
}

/// Waits (until `deadline`) for `socket`'s connect to complete; returns it
/// blocking.
fn finish_connect(name: &str, socket: Socket, deadline: Instant) -> TcpStream {
    loop {
        if let Some(error) = socket.take_error().expect("SO_ERROR") {
            panic!("{name}: connect failed: {error}");
        }
        if socket.peer_addr().is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not connected within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    socket.set_nonblocking(false).expect("blocking");
    socket.into()
}

/// Connects `n` peers, each reading the prompt or `error: server full`:
/// the peers, their answers, and how many got the prompt.
fn connect_peers(addr: SocketAddr, n: usize) -> (Vec<Peer>, Vec<Answer>, usize) {
    let mut peers: Vec<Peer> = (0..n)
        .map(|i| Peer::connect(&format!("peer-{i}"), addr))
        .collect();
    let answers: Vec<Answer> = peers
        .iter_mut()
        .map(Peer::expect_prompt_or_refusal)
        .collect();
    let prompted = answers.iter().filter(|a| **a == Answer::Prompt).count();
    (peers, answers, prompted)
}

/// Open files the server runs with: a few for itself, the rest for clients.
const OPEN_FILES: u64 = 64;
/// Connections opened: more than the limit holds, even more than the limit.
const CONNECTS: usize = 80;

fn a_server_short_of_descriptors_admits_what_fits_and_refuses_the_rest(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server_with_open_files(&rt.to_string(), OPEN_FILES, &[]);
    let lowered = server.stderr_line_containing("max_clients lowered");
    assert!(lowered.contains("from 10000 to "), "{lowered}");

    let mut honest = Honest::join(addr);
    let (mut peers, answers, prompted) = connect_peers(addr, CONNECTS);
    assert!(prompted > 0, "nobody got the prompt: {answers:?}");
    assert!(prompted < CONNECTS, "nobody was refused: {answers:?}");
    honest.chat("with a full room", "fine");

    // Every refused peer is gone: the prompted ones can still join.
    let mut joined = 0;
    for (peer, answer) in peers.iter_mut().zip(&answers) {
        if *answer == Answer::Prompt && joined < 2 {
            let nick = format!("late{joined}");
            peer.send(format!("{nick}\n"));
            peer.expect_line(&format!("{nick} joined the chat"));
            joined += 1;
        }
    }
    for user in [&mut honest.alice, &mut honest.bob] {
        user.expect_lines(&["late0 joined the chat", "late1 joined the chat"]);
    }
    honest.chat("one more", "bye");
    drop(peers);
    drop(honest);
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}

/// Threads the std server may have: the 256 it keeps for itself and the
/// user's other processes, and two (a reader and a writer) for each of
/// [`THREADS_HOLD`] clients.
const THREADS: u64 = 256 + 2 * THREADS_HOLD as u64;
/// Clients the threads hold.
const THREADS_HOLD: usize = 16;
/// Connections opened beside the two honest users: more than the threads hold.
const THREAD_CONNECTS: usize = 30;

fn a_server_short_of_threads_admits_what_fits_and_refuses_the_rest(rt: Runtime) {
    let (mut server, addr) = ChatProcess::server_with_threads(&rt.to_string(), THREADS, &[]);
    let lowered = server.stderr_line_containing("max_clients lowered");
    assert!(
        lowered.contains(&format!("from 10000 to {THREADS_HOLD} to fit the threads")),
        "{lowered}"
    );

    let mut honest = Honest::join(addr);
    let (peers, answers, prompted) = connect_peers(addr, THREAD_CONNECTS);
    assert!(prompted > 0, "nobody got the prompt: {answers:?}");
    assert_eq!(
        prompted,
        THREADS_HOLD - 2,
        "not as many clients as the threads hold: {answers:?}"
    );
    honest.chat("with a full room", "fine");
    drop(peers);
    drop(honest);
    server.terminate();
    assert!(server.wait_exit().success(), "server's exit status");
}
