//! One face for the two runtimes. `chat-runtime-std` and `chat-runtime-smol`
//! export the same shape (`Server`, `ShutdownHandle`, `ClientConn`); these
//! enums pick one at run time and forward every call.

use chat_core::Config;
use chat_runtime_common::listener::Endpoint;
use chat_runtime_common::log::redis::ClusterOptions;
use chat_runtime_common::tls::ClientTls;
use clap::ValueEnum;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Which I/O driver runs the room or moves the client's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeKind {
    /// smol tasks (async-io, async-net)
    Smol,
    /// std threads and blocking sockets
    Std,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Smol => "smol",
            RuntimeKind::Std => "std",
        })
    }
}

/// Runs the same expression on whichever runtime's value `$value` holds.
macro_rules! dispatch {
    ($enum:ident, $value:expr, $inner:ident => $body:expr) => {
        match $value {
            $enum::Std($inner) => $body,
            $enum::Smol($inner) => $body,
        }
    };
}

/// A listening chat server.
#[derive(Debug)]
pub(crate) enum Server {
    Std(chat_runtime_std::Server),
    Smol(chat_runtime_smol::Server),
}

impl Server {
    /// Binds every endpoint and starts serving (clustered with `cluster`);
    /// returns once the sockets listen.
    pub(crate) fn start(
        kind: RuntimeKind,
        endpoints: &[Endpoint],
        config: Config,
        cluster: Option<&ClusterOptions>,
    ) -> io::Result<Self> {
        use chat_runtime_smol::Server as Smol;
        use chat_runtime_std::Server as Std;
        Ok(match (kind, cluster) {
            (RuntimeKind::Std, None) => Server::Std(Std::start_endpoints(endpoints, config)?),
            (RuntimeKind::Std, Some(c)) => Server::Std(Std::start_clustered(endpoints, config, c)?),
            (RuntimeKind::Smol, None) => Server::Smol(Smol::start_endpoints(endpoints, config)?),
            (RuntimeKind::Smol, Some(c)) => {
                Server::Smol(Smol::start_clustered(endpoints, config, c)?)
            }
        })
    }

    /// The addresses actually bound (the real ports when 0 was asked for),
    /// in the order of the endpoints.
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        dispatch!(Server, self, s => s.local_addrs().to_vec())
    }

    /// A handle that starts the graceful shutdown from any thread.
    pub(crate) fn shutdown_handle(&self) -> ShutdownHandle {
        match self {
            Server::Std(s) => ShutdownHandle::Std(s.shutdown_handle()),
            Server::Smol(s) => ShutdownHandle::Smol(s.shutdown_handle()),
        }
    }

    /// Blocks until the server has stopped.
    pub(crate) fn wait(self) -> io::Result<()> {
        dispatch!(Server, self, s => s.wait())
    }
}

/// Starts a server's graceful shutdown.
#[derive(Clone, Debug)]
pub(crate) enum ShutdownHandle {
    Std(chat_runtime_std::ShutdownHandle),
    Smol(chat_runtime_smol::ShutdownHandle),
}

impl ShutdownHandle {
    /// Asks the server to stop: every client gets the shutdown notice.
    pub(crate) fn shutdown(&self) {
        dispatch!(ShutdownHandle, self, h => h.shutdown())
    }
}

/// Connects to `addr` and returns the two halves of the connection.
/// With `tls`, the connection speaks TLS and checks the server as it says.
pub(crate) fn connect(
    kind: RuntimeKind,
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> io::Result<(ConnReader, ConnWriter)> {
    Ok(match kind {
        RuntimeKind::Std => {
            let conn = match tls {
                None => chat_runtime_std::ClientConn::connect(addr, timeout)?,
                Some(tls) => chat_runtime_std::ClientConn::connect_tls(addr, timeout, tls)?,
            };
            let (r, w) = conn.split();
            (ConnReader::Std(r), ConnWriter::Std(w))
        }
        RuntimeKind::Smol => {
            let conn = match tls {
                None => chat_runtime_smol::ClientConn::connect(addr, timeout)?,
                Some(tls) => chat_runtime_smol::ClientConn::connect_tls(addr, timeout, tls)?,
            };
            let (r, w) = conn.split();
            (ConnReader::Smol(r), ConnWriter::Smol(w))
        }
    })
}

/// The receiving half of a client connection.
#[derive(Debug)]
pub(crate) enum ConnReader {
    Std(chat_runtime_std::ClientReader),
    Smol(chat_runtime_smol::ClientReader),
}

impl ConnReader {
    /// One read of at most 1024 bytes; `None` at end of stream.
    pub(crate) fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        dispatch!(ConnReader, self, r => r.read())
    }
}

/// The sending half of a client connection.
#[derive(Debug)]
pub(crate) enum ConnWriter {
    Std(chat_runtime_std::ClientWriter),
    Smol(chat_runtime_smol::ClientWriter),
}

impl ConnWriter {
    /// Writes all of `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        dispatch!(ConnWriter, self, w => w.write_all(bytes))
    }

    /// Ends our direction of the stream; the server still gets to answer.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        dispatch!(ConnWriter, self, w => w.shutdown_write())
    }
}

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
