//! A chat server on either runtime, on `127.0.0.1:0`, stopped on drop.

use super::WAIT;
use chat_core::Config;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Which runtime drives the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    Std,
    Smol,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Std => "std",
            Runtime::Smol => "smol",
        })
    }
}

/// The limits tests start from: docs/protocol.md's defaults with a short settle
/// time, so seed-dialect clients join quickly.
pub(crate) fn test_config() -> Config {
    Config {
        settle: Duration::from_millis(50),
        ..Config::default()
    }
}

enum Inner {
    Std(chat_runtime_std::Server),
    Smol(chat_runtime_smol::Server),
}

enum Handle {
    Std(chat_runtime_std::ShutdownHandle),
    Smol(chat_runtime_smol::ShutdownHandle),
}

/// A running server. Dropping it shuts it down and waits (bounded).
pub(crate) struct TestServer {
    addr: SocketAddr,
    /// The TLS port's address, when it has one.
    tls_addr: Option<SocketAddr>,
    handle: Handle,
    inner: Option<Inner>,
}

impl TestServer {
    /// Starts a server with `config` on a free loopback port.
    pub(crate) fn start(runtime: Runtime, config: Config) -> TestServer {
        TestServer::start_endpoints(runtime, config, None)
    }

    /// Starts a server with a plain port and, with `tls`, a TLS port too,
    /// both on free loopback ports and into one room.
    pub(crate) fn start_endpoints(
        runtime: Runtime,
        config: Config,
        tls: Option<std::sync::Arc<chat_runtime_common::tls::ServerTls>>,
    ) -> TestServer {
        use chat_runtime_common::listener::Endpoint;
        let any: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
        let mut endpoints = vec![Endpoint::Plain(any)];
        if let Some(tls) = tls {
            endpoints.push(Endpoint::Tls(any, tls));
        }
        let (inner, handle) = match runtime {
            Runtime::Std => {
                let s = chat_runtime_std::Server::start_endpoints(&endpoints, config)
                    .expect("std server starts");
                let h = s.shutdown_handle();
                (Inner::Std(s), Handle::Std(h))
            }
            Runtime::Smol => {
                let s = chat_runtime_smol::Server::start_endpoints(&endpoints, config)
                    .expect("smol server starts");
                let h = s.shutdown_handle();
                (Inner::Smol(s), Handle::Smol(h))
            }
        };
        let addrs = match &inner {
            Inner::Std(s) => s.local_addrs().to_vec(),
            Inner::Smol(s) => s.local_addrs().to_vec(),
        };
        let addr = addrs[0];
        assert_ne!(addr.port(), 0, "the server reports the port it bound");
        TestServer {
            addr,
            tls_addr: addrs.get(1).copied(),
            handle,
            inner: Some(inner),
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its TLS port listens; panics when it has none.
    pub(crate) fn tls_addr(&self) -> SocketAddr {
        self.tls_addr
            .expect("the server was started with a TLS port")
    }

    /// Starts the graceful shutdown (what SIGINT/SIGTERM do).
    pub(crate) fn shutdown(&self) {
        match &self.handle {
            Handle::Std(h) => h.shutdown(),
            Handle::Smol(h) => h.shutdown(),
        }
    }

    /// Shuts down and waits for the server to stop; panics if it does not
    /// stop within [`WAIT`] or stops with an error.
    pub(crate) fn stop(mut self) {
        self.shutdown();
        let inner = self.inner.take().expect("stop runs once");
        match wait_bounded(inner) {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("the server stopped with an error: {e}"),
            None => panic!("the server did not stop within {WAIT:?} of the shutdown"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.shutdown();
            // A test already failing must not hang here; the result is not
            // checked, since the test body decides what it asserts.
            let _ = wait_bounded(inner);
        }
    }
}

/// `wait()` on a thread, so a hung server fails the test instead of hanging it.
fn wait_bounded(inner: Inner) -> Option<io::Result<()>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = match inner {
            Inner::Std(s) => s.wait(),
            Inner::Smol(s) => s.wait(),
        };
        let _ = tx.send(result);
    });
    rx.recv_timeout(WAIT).ok()
}
