//! The listening socket, with a backlog sized for the clients the server
//! is sized for.
//!
//! The backlog bounds the connections the kernel has completed and the
//! server has not accepted yet. With std's fixed 128, a burst of a thousand
//! connects (a restart, and every client reconnecting at once) overflows
//! it: Linux then drops SYNs (the client retries after a second or more) or,
//! with SYN cookies, leaves clients that believe they are connected but
//! that the server never hears of until they send a byte, so they never get
//! the prompt. A backlog of `max_clients` holds every client the server
//! would accept anyway.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};

/// Whether an `accept` error concerns one incoming connection only (the
/// client gave up, a signal came): the acceptor accepts again at once.
pub fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Where Linux publishes the cap on every listen backlog.
const SOMAXCONN_PATH: &str = "/proc/sys/net/core/somaxconn";

/// Binds `addr` (port 0 picks a free port) and listens with the backlog
/// [`backlog_for`] gives for `max_clients`. Like std's `bind`, it sets
/// `SO_REUSEADDR` on Unix (a restarted server can bind at once while old
/// connections linger in `TIME_WAIT`) and leaves the socket blocking.
pub fn bind(addr: SocketAddr, max_clients: usize) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog_for(max_clients, kernel_cap()))?;
    Ok(socket.into())
}

/// The backlog to ask for: `max_clients`, but no more than the kernel's cap
/// (`None`: unknown, as on systems without `somaxconn` in /proc) nor
/// `i32::MAX`, and at least 1. Logs at info when the kernel's cap is the
/// smaller, since a burst of more connects than the cap can then overflow
/// the queue.
pub fn backlog_for(max_clients: usize, kernel_cap: Option<u32>) -> i32 {
    let wanted = i32::try_from(max_clients).unwrap_or(i32::MAX).max(1);
    match kernel_cap.and_then(|cap| i32::try_from(cap).ok()) {
        Some(cap) if cap < wanted => {
            tracing::info!(
                max_clients,
                backlog = cap,
                "the kernel caps the listen backlog below max_clients \
                 (net.core.somaxconn); raise it for bursts of connects"
            );
            cap.max(1)
        }
        _ => wanted,
    }
}

/// The kernel's cap on listen backlogs, where it can be read.
fn kernel_cap() -> Option<u32> {
    crate::proc_number::read(SOMAXCONN_PATH).and_then(|cap| u32::try_from(cap).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_max_clients_within_the_kernel_cap() {
        assert_eq!(backlog_for(10_000, Some(4096)), 4096);
        assert_eq!(backlog_for(1000, Some(4096)), 1000);
        assert_eq!(backlog_for(1000, None), 1000);
        assert_eq!(backlog_for(0, Some(4096)), 1);
        assert_eq!(backlog_for(usize::MAX, None), i32::MAX);
        assert_eq!(backlog_for(usize::MAX, Some(u32::MAX)), i32::MAX);
    }

    #[test]
    fn bind_listens_on_the_port_it_picked() -> io::Result<()> {
        let listener = bind("127.0.0.1:0".parse().map_err(io::Error::other)?, 16)?;
        let addr = listener.local_addr()?;
        assert_ne!(addr.port(), 0);
        let _client = std::net::TcpStream::connect(addr)?;
        let (_served, _) = listener.accept()?;
        Ok(())
    }
}

/// What a server does before it binds `endpoints`: refuses an empty list,
/// raises the open-file limit and fits `config.max_clients` to it at
/// `per_client` descriptors each (see
/// [`open_files::fit_max_clients`](crate::open_files::fit_max_clients)).
///
/// # Errors
/// When `endpoints` is empty.
pub fn prepare(
    endpoints: &[Endpoint],
    config: chat_core::Config,
    per_client: u64,
) -> std::io::Result<chat_core::Config> {
    if endpoints.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no address to listen on",
        ));
    }
    let max_clients = crate::open_files::fit_max_clients(config.max_clients, per_client);
    Ok(chat_core::Config {
        max_clients,
        ..config
    })
}

/// One port a server listens on, and what it speaks there.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// The chat protocol straight over TCP.
    Plain(SocketAddr),
    /// The chat protocol inside TLS, with this certificate and key.
    Tls(SocketAddr, std::sync::Arc<crate::tls::ServerTls>),
}

impl Endpoint {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Endpoint::Plain(addr) | Endpoint::Tls(addr, _) => *addr,
        }
    }

    /// The TLS configuration, on a TLS port.
    pub fn tls(&self) -> Option<&std::sync::Arc<crate::tls::ServerTls>> {
        match self {
            Endpoint::Plain(_) => None,
            Endpoint::Tls(_, tls) => Some(tls),
        }
    }
}
