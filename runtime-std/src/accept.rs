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
use crate::threads::Budget;
use chat_core::ConnId;
use chat_runtime_common::admission::{Admission, HandshakeSlot};
use chat_runtime_common::listener;
use chat_runtime_common::refuse::{self, Refusal, SpareDescriptor};
use chat_runtime_common::tls::blocking;
use chat_runtime_common::tls::{Handshake, HandshakeError, HandshakeFailure, ServerTls};
use chat_runtime_common::transport::Transport;
use chat_runtime_common::written::Counters;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io;
use std::net::IpAddr;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Pause after an accept error that is not about one connection (say, out
/// of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Stack size of a TLS handshake thread (rustls keeps its state on the heap).
const HANDSHAKE_STACK: usize = 128 * 1024;

/// How long [`wake`] tries to reach the listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// One listener's acceptor: what it shares with the rest of the server.
#[derive(Debug)]
pub(crate) struct Acceptor {
    pub(crate) room: SyncSender<Msg>,
    pub(crate) counters: Counters,
    pub(crate) pace: Arc<Pace>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) live: Arc<Live>,
    /// The next connection id, shared by every listener of the server.
    pub(crate) next_id: Arc<AtomicU64>,
    /// Counts this server's TLS handshakes in progress with its room's
    /// connections against `max_clients`.
    pub(crate) admission: Arc<Admission>,
    /// The connection threads the process can hold.
    pub(crate) budget: Budget,
    /// Set on a TLS port.
    pub(crate) tls: Option<Arc<ServerTls>>,
}

impl Acceptor {
    /// Accepts until `stop` is set (see [`wake`]) or the room is gone.
    ///
    /// Ids start at 1 and are never reused. `listener` is blocking.
    pub(crate) fn run(self, listener: TcpListener, mut spare: SpareDescriptor, _guard: LiveGuard) {
        // Set once out of descriptors and a client is known to be waiting: if
        // the next accept fails the same way, that client is turned away.
        let mut client_waits = false;
        loop {
            let accepted = listener.accept();
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            match accepted {
                Ok((stream, peer)) => {
                    client_waits = false;
                    let conn = ConnId(self.next_id.fetch_add(1, Ordering::Relaxed));
                    tracing::debug!(%conn, %peer, "accepted");
                    let from = (conn, peer.ip());
                    if !self.budget.has_room(self.live.count()) {
                        self.refuse_over_budget(conn, &stream);
                        continue;
                    }
                    let started = match &self.tls {
                        None => self.start(from, stream, Transport::plain()),
                        Some(tls) => self.start_tls(from, stream, tls),
                    };
                    if started.is_err() {
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
                Err(error) if listener::is_per_connection(&error) => {
                    tracing::debug!(%error, "accept failed");
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }

    /// Turns `conn` away without starting its threads: those of the
    /// connections already open fill the budget (refused clients whose
    /// threads have not ended yet, say). A TLS port closes it without a
    /// word, as it does when full.
    fn refuse_over_budget(&self, conn: ConnId, stream: &TcpStream) {
        tracing::debug!(%conn, "no threads left for the connection; turned away");
        match self.tls {
            None => refuse::turn_away(stream),
            Some(_) => refuse::close_silently(stream),
        }
    }

    /// Starts the connection's threads; see [`conn::start`].
    fn start(
        &self,
        from: (ConnId, IpAddr),
        stream: TcpStream,
        transport: Transport,
    ) -> Result<(), ()> {
        conn::start(
            from,
            stream,
            transport,
            &self.room,
            &self.counters,
            &self.pace,
            (self.live.enter(), self.live.enter()),
        )
    }

    /// Asks the room whether `conn` from `peer` is within its address's
    /// limits, and waits for the answer; `false` also when the room is gone.
    fn reserve_address(&self, conn: ConnId, peer: IpAddr) -> bool {
        let (reply, answer) = mpsc::sync_channel(1);
        let reply = Box::new(move |within| {
            // The asker may be gone; then there is no one to tell.
            let _ = reply.try_send(within);
        });
        let asked = self.room.send(Msg::Reserve { conn, peer, reply });
        asked.is_ok() && answer.recv().unwrap_or(false)
    }

    /// Runs the TLS handshake on a thread of its own (it may wait for the
    /// client up to the handshake timeout), then starts the connection as
    /// [`start`](Acceptor::start) does. A plaintext client gets
    /// [`chat_core::TLS_ONLY_LINE`] in clear and is closed.
    ///
    /// When the handshakes in progress and the room's connections already
    /// reach `max_clients` ([`Admission`]), the connection is closed at
    /// once instead, without a handshake and without a thread.
    fn start_tls(
        &self,
        from: (ConnId, IpAddr),
        stream: TcpStream,
        tls: &ServerTls,
    ) -> Result<(), ()> {
        let conn = from.0;
        let Some(slot) = self.admission.begin_handshake() else {
            tracing::debug!(%conn, "TLS port full; closed before the handshake");
            refuse::close_silently(&stream);
            return Ok(());
        };
        let handshake = Handshake::server(tls);
        let acceptor = Acceptor {
            room: self.room.clone(),
            counters: self.counters.clone(),
            pace: Arc::clone(&self.pace),
            stop: Arc::clone(&self.stop),
            live: Arc::clone(&self.live),
            next_id: Arc::clone(&self.next_id),
            admission: Arc::clone(&self.admission),
            budget: self.budget,
            tls: None,
        };
        // Not counted in `live`: the room has not heard of the connection,
        // and a handshake still running when the server stops ends by its
        // own timeout, its connection refused by the stopped room.
        let spawned = thread::Builder::new()
            .name(format!("chat-tls{}", conn.0))
            .stack_size(HANDSHAKE_STACK)
            .spawn(move || handshake_then_start(acceptor, from, stream, handshake, slot));
        if let Err(error) = spawned {
            tracing::warn!(%conn, %error, "cannot spawn a handshake thread");
        }
        Ok(())
    }
}

/// The handshake thread of [`Acceptor::start_tls`]: first the room judges
/// the connection's address (a connection over its limits is closed
/// before any handshake), then the handshake. `slot` is held until the
/// room was told of the connection, or the handshake failed (then the
/// room releases the address's reservation).
fn handshake_then_start(
    acceptor: Acceptor,
    from: (ConnId, IpAddr),
    stream: TcpStream,
    handshake: Handshake,
    slot: HandshakeSlot,
) {
    let (conn, peer) = from;
    if !acceptor.reserve_address(conn, peer) {
        tracing::debug!(%conn, "over its address's limits (or the room is gone); closed before the handshake");
        refuse::close_silently(&stream);
        return;
    }
    match blocking::run(&stream, handshake) {
        Ok(halves) => {
            let _ = acceptor.start(from, stream, Transport::tls(halves));
        }
        Err(failure) => {
            match failure {
                HandshakeFailure::Handshake(HandshakeError::NotTls) => {
                    tracing::debug!(%conn, "plaintext on the TLS port; turned away");
                    refuse::turn_away_with(&stream, chat_core::TLS_ONLY_LINE);
                }
                error => {
                    tracing::debug!(%conn, error = %io::Error::from(error), "TLS handshake failed");
                }
            }
            // Gone with the room: nothing to release.
            let _ = acceptor.room.send(Msg::Cancel { conn });
        }
    }
    drop(slot);
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
