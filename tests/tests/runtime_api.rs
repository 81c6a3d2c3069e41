//! Smoke tests of what a runtime is to the CLI and the tests (the
//! `Runtime` and `RunningServer` traits, the `ShutdownHandle`) on both
//! runtimes, and of the client's `ClientConn`, over loopback with raw
//! `std::net::TcpStream`s. Every wait is bounded: each test body runs
//! under `within`.

#[macro_use]
mod common;

use chat_core::Config;
use chat_runtime_common::client::ClientConn;
use chat_runtime_common::listener::Endpoint;
use chat_runtime_common::runtime::{RunningServer, ShutdownHandle};
use common::server::Runtime;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

on_both_runtimes!(
    server_reports_its_port,
    a_client_is_asked_for_its_alias,
    shutdown_notifies_and_closes_connected_clients,
    shutdown_is_harmless_when_repeated_and_after_stop,
    dropping_the_server_stops_it,
);

/// Generous bound for a whole test.
const BOUND: Duration = Duration::from_secs(20);

/// Bound for one read that should take milliseconds.
const READ_BOUND: Duration = Duration::from_secs(5);

/// Runs `body` on its own thread and fails the test if it takes longer than `BOUND`.
fn within(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(BOUND) {
        Ok(()) => worker.join().expect("the test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish within {BOUND:?}"),
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a valid address")
}

fn start(rt: Runtime) -> Box<dyn RunningServer> {
    rt.runtime()
        .start(&[Endpoint::Plain(loopback())], Config::default(), None)
        .expect("the server starts")
}

fn connect(server: &dyn RunningServer) -> TcpStream {
    let stream = TcpStream::connect(server.local_addrs()[0]).expect("connect");
    stream
        .set_read_timeout(Some(READ_BOUND))
        .expect("set a read timeout");
    stream
}

/// Reads until `want` bytes arrived (or end of stream / timeout).
fn read_n(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn server_reports_its_port(rt: Runtime) {
    within(move || {
        let server = start(rt);
        let addr = server.local_addrs()[0];
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        server.shutdown_handle().shutdown();
        server.wait().expect("the server stops cleanly");
    });
}

fn a_client_is_asked_for_its_alias(rt: Runtime) {
    within(move || {
        let server = start(rt);
        let mut client = connect(server.as_ref());
        assert_eq!(read_n(&mut client, 6), b"alias?");
        server.shutdown_handle().shutdown();
        server.wait().expect("the server stops cleanly");
    });
}

fn shutdown_notifies_and_closes_connected_clients(rt: Runtime) {
    within(move || {
        let server = start(rt);
        let mut client = connect(server.as_ref());
        assert_eq!(read_n(&mut client, 6), b"alias?");
        let handle = server.shutdown_handle();
        let signal = thread::spawn(move || handle.shutdown());
        server.wait().expect("the server stops cleanly");
        signal.join().expect("shutdown() does not panic");
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("the server closes the connection");
        assert_eq!(rest, b"server is shutting down\n");
    });
}

fn shutdown_is_harmless_when_repeated_and_after_stop(rt: Runtime) {
    fn clone_send_sync<T: Clone + Send + Sync + 'static>(_: &T) {}
    within(move || {
        let server = start(rt);
        let handle: ShutdownHandle = server.shutdown_handle();
        clone_send_sync(&handle);
        let _client = connect(server.as_ref());
        handle.shutdown();
        handle.clone().shutdown();
        server.wait().expect("the server stops cleanly");
        handle.shutdown();
    });
}

fn dropping_the_server_stops_it(rt: Runtime) {
    within(move || {
        let server = start(rt);
        let addr = server.local_addrs()[0];
        drop(server);
        // The listener closes once the room stopped; poll for it, bounded by `within`.
        while TcpStream::connect(addr).is_ok() {
            thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn client_conn_moves_bytes_both_ways() {
    within(move || {
        let listener = TcpListener::bind(loopback()).expect("bind");
        let addr = listener.local_addr().expect("local address");
        let peer = thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(READ_BOUND)).expect("timeout");
            stream.write_all(b"hello").expect("write");
            let mut got = Vec::new();
            stream
                .read_to_end(&mut got)
                .expect("read until the client shuts down");
            got
            // dropping the stream closes it: the client reads end of stream
        });
        let conn = ClientConn::connect(addr, BOUND).expect("connect");
        let (mut reader, mut writer) = conn.split();
        fn send<T: Send + 'static>(_: &T) {}
        send(&reader);
        send(&writer);
        let sending = thread::spawn(move || {
            writer.write_all(b"ping ").expect("write");
            writer.write_all(b"pong").expect("write");
            writer.shutdown_write().expect("shutdown");
        });
        let mut got = Vec::new();
        while let Some(bytes) = reader.read().expect("read") {
            assert!(!bytes.is_empty() && bytes.len() <= chat_core::MAX_READ);
            got.extend_from_slice(&bytes);
        }
        assert_eq!(got, b"hello");
        assert_eq!(reader.read().expect("read after end"), None);
        sending.join().expect("the writer thread");
        assert_eq!(peer.join().expect("the peer thread"), b"ping pong");
    });
}

#[test]
fn client_conn_connect_fails_when_nobody_listens() {
    within(move || {
        let listener = TcpListener::bind(loopback()).expect("bind");
        let addr = listener.local_addr().expect("local address");
        drop(listener);
        assert!(ClientConn::connect(addr, BOUND).is_err());
    });
}
