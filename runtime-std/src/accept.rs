//! The acceptor thread: accepts sockets, names them with a counter, and
//! starts their threads.
//!
//! Out of file descriptors (`EMFILE`, `ENFILE`), Linux fails `accept` at
//! once, client waiting or not. So the acceptor then waits (with `poll`,
//! which takes no descriptor) until a client is waiting, tries `accept`
//! again, and if it fails the same way turns that client away with the
//! spare descriptor ([`SpareDescriptor::refuse_one`]): the client gets
//! `error: server full` and a clean close, and the acceptor never spins.

use crate::conn;
use crate::live::{Live, LiveGuard};
use crate::pace::Pace;
use crate::room::Msg;
use crate::written::Counters;
use chat_core::ConnId;
use chat_runtime_common::refuse::{self, Refusal, SpareDescriptor};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
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
/// Ids start at 1 and are never reused. `listener` is blocking.
#[allow(clippy::too_many_arguments)] // each is one shared piece of the server
pub(crate) fn accept_loop(
    listener: TcpListener,
    mut spare: SpareDescriptor,
    room: SyncSender<Msg>,
    counters: &Counters,
    pace: &Arc<Pace>,
    stop: &AtomicBool,
    live: &Arc<Live>,
    _guard: LiveGuard,
) {
    let mut next_id = 1u64;
    // Set once out of descriptors and a client is known to be waiting: if
    // the next accept fails the same way, that client is turned away.
    let mut client_waits = false;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                client_waits = false;
                let conn = ConnId(next_id);
                next_id += 1;
                tracing::debug!(%conn, %peer, "accepted");
                if conn::start(
                    (conn, peer.ip()),
                    stream,
                    &room,
                    counters,
                    pace,
                    (live.enter(), live.enter()),
                )
                .is_err()
                {
                    return; // the room is gone
                }
            }
            Err(error) if refuse::is_out_of_descriptors(&error) => {
                if client_waits {
                    client_waits = false;
                    refuse_one(&listener, &mut spare);
                } else {
                    client_waits = wait_for_a_client(&listener);
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

/// Blocks until a client waits to be accepted (or the acceptor is woken).
/// Returns `false`, after a pause, if `poll` failed.
fn wait_for_a_client(listener: &TcpListener) -> bool {
    let readable = PollFlags::POLLIN;
    loop {
        let mut fds = [PollFd::new(listener.as_fd(), readable)];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot wait for the listener");
                thread::sleep(ACCEPT_BACKOFF);
                return false;
            }
        }
    }
}

/// Turns one waiting client away with the spare descriptor. The listener
/// is non-blocking meanwhile, so that nothing waits with the spare closed.
fn refuse_one(listener: &TcpListener, spare: &mut SpareDescriptor) {
    if let Err(error) = listener.set_nonblocking(true) {
        tracing::warn!(%error, "cannot make the listener non-blocking");
        thread::sleep(ACCEPT_BACKOFF);
        return;
    }
    let refusal = spare.refuse_one(listener);
    if let Err(error) = listener.set_nonblocking(false) {
        // Accepts would then fail with WouldBlock, a per-retry warning
        // with a pause each; nothing can do better here.
        tracing::warn!(%error, "cannot make the listener blocking again");
    }
    match refusal {
        Refusal::Refused(peer) => tracing::debug!(%peer, "turned away: out of file descriptors"),
        Refusal::NoneWaiting => {}
        Refusal::Failed(error) => {
            tracing::debug!(%error, "accept failed even with the spare descriptor");
            thread::sleep(ACCEPT_BACKOFF);
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
