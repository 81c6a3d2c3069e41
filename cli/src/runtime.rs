//! The runtimes as the command line names them (each one a
//! `chat_runtime_common::runtime::Runtime`), and the client's connection,
//! one implementation whatever runtime a server runs on.

use chat_runtime_common::client::{ClientConn, ClientReader, ClientWriter};
use chat_runtime_common::runtime::Runtime;
use chat_runtime_common::tls::ClientTls;
use clap::ValueEnum;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Which I/O driver runs the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeKind {
    /// smol tasks (async-io, async-net)
    Smol,
    /// std threads and blocking sockets
    Std,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.runtime().name())
    }
}

impl RuntimeKind {
    /// The runtime the flag names.
    pub(crate) fn runtime(self) -> &'static dyn Runtime {
        match self {
            RuntimeKind::Smol => &chat_runtime_smol::SmolRuntime,
            RuntimeKind::Std => &chat_runtime_std::StdRuntime,
        }
    }
}

/// Connects to `addr` and returns the two halves of the connection (one
/// blocking implementation, whatever runtime a server runs on). With `tls`,
/// the connection speaks TLS and checks the server as it says.
pub(crate) fn connect(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> io::Result<(ConnReader, ConnWriter)> {
    let conn = match tls {
        None => ClientConn::connect(addr, timeout)?,
        Some(tls) => ClientConn::connect_tls(addr, timeout, tls)?,
    };
    Ok(conn.split())
}

/// The receiving half of a client connection.
pub(crate) type ConnReader = ClientReader;

/// The sending half of a client connection.
pub(crate) type ConnWriter = ClientWriter;

/// A short, lowercase description of an I/O error for one-line messages.
pub(crate) fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => "address in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        _ => err.to_string(),
    }
}

/// Resolves `host:port` to one socket address (the first the resolver gives).
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}: no address"))
}
