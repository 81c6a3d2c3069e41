//! A chat server on either runtime, on `127.0.0.1:0`, stopped on drop.

use super::WAIT;
use chat_core::Config;
use chat_runtime_common::runtime::{RunningServer, ShutdownHandle};
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

impl Runtime {
    /// The runtime itself.
    pub(crate) fn runtime(self) -> &'static dyn chat_runtime_common::runtime::Runtime {
        match self {
            Runtime::Std => &chat_runtime_std::StdRuntime,
            Runtime::Smol => &chat_runtime_smol::SmolRuntime,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.runtime().name())
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

/// A running server. Dropping it shuts it down and waits (bounded).
pub(crate) struct TestServer {
    addr: SocketAddr,
    /// The TLS port's address, when it has one.
    tls_addr: Option<SocketAddr>,
    handle: ShutdownHandle,
    server: Option<Box<dyn RunningServer>>,
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
        let server = runtime
            .runtime()
            .start(&endpoints, config, None)
            .unwrap_or_else(|e| panic!("the {runtime} server starts: {e}"));
        let addrs = server.local_addrs().to_vec();
        let addr = addrs[0];
        assert_ne!(addr.port(), 0, "the server reports the port it bound");
        TestServer {
            addr,
            tls_addr: addrs.get(1).copied(),
            handle: server.shutdown_handle(),
            server: Some(server),
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
        self.handle.shutdown();
    }

    /// Shuts down and waits for the server to stop; panics if it does not
    /// stop within [`WAIT`] or stops with an error.
    pub(crate) fn stop(mut self) {
        self.shutdown();
        let server = self.server.take().expect("stop runs once");
        match wait_bounded(server) {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("the server stopped with an error: {e}"),
            None => panic!("the server did not stop within {WAIT:?} of the shutdown"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.shutdown();
            // A test already failing must not hang here; the result is not
            // checked, since the test body decides what it asserts.
            let _ = wait_bounded(server);
        }
    }
}

/// `wait()` on a thread, so a hung server fails the test instead of hanging it.
fn wait_bounded(server: Box<dyn RunningServer>) -> Option<io::Result<()>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(server.wait());
    });
    rx.recv_timeout(WAIT).ok()
}
