//! The acceptor thread: accepts sockets, names them with a counter, and
//! starts their threads.

use crate::conn;
use crate::live::{Live, LiveGuard};
use crate::pace::Pace;
use crate::room::Msg;
use crate::written::Counters;
use chat_core::ConnId;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Pause after an accept error that is not about one connection (say, out
/// of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long [`wake`] tries to reach the listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts until `stop` is set (see [`wake`]) or the room is gone.
///
/// Ids start at 1 and are never reused.
pub(crate) fn accept_loop(
    listener: TcpListener,
    room: SyncSender<Msg>,
    counters: &Counters,
    pace: &Arc<Pace>,
    stop: &AtomicBool,
    live: &Arc<Live>,
    _guard: LiveGuard,
) {
    let mut next_id = 1u64;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                let conn = ConnId(next_id);
                next_id += 1;
                tracing::info!(%conn, %peer, "accepted");
                if conn::start(
                    conn,
                    stream,
                    &room,
                    counters,
                    pace,
                    live.enter(),
                    live.enter(),
                )
                .is_err()
                {
                    return; // the room is gone
                }
            }
            Err(error) if is_per_connection(&error) => {
                tracing::debug!(%error, "accept failed");
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// Errors that concern one incoming connection only: accept again at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Wakes an acceptor blocked in `accept` by connecting to it, after `stop`
/// was set. A listener on an unspecified address is reached over loopback.
///
/// If this fails the acceptor stays blocked until the next real connection;
/// [`Server::wait`](crate::Server::wait) does not wait for it forever.
pub(crate) fn wake(listening: SocketAddr) {
    let mut addr = listening;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    if let Err(error) = TcpStream::connect_timeout(&addr, WAKE_TIMEOUT) {
        tracing::warn!(%addr, %error, "cannot wake the acceptor");
    }
}
