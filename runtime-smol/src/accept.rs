//! The acceptor task: accepts sockets, names them with a counter, and
//! spawns their connection tasks.
//!
//! Out of file descriptors (`EMFILE`, `ENFILE`), Linux fails `accept` at
//! once, client waiting or not. So the acceptor then waits until the
//! listener is readable (a client is waiting; the reactor needs no new
//! descriptor for that), tries `accept` again, and if it fails the same way
//! turns that client away with the spare descriptor on the underlying
//! (non-blocking) std listener ([`SpareDescriptor::refuse_one`]): the
//! client gets `error: server full` and a clean close, and the acceptor
//! never spins.

use crate::conn::{self, Socket};
use crate::link::Link;
use crate::live::Live;
use crate::room::{Msg, RoomEnd};
use async_channel::Sender;
use async_io::{Async, Timer};
use async_net::TcpStream;
use chat_core::ConnId;
use chat_runtime_common::admission::{Admission, HandshakeSlot};
use chat_runtime_common::listener;
use chat_runtime_common::refuse::{self, Refusal, SpareDescriptor};
use chat_runtime_common::tls::{Handshake, HandshakeError, HandshakeFailure, ServerTls};
use chat_runtime_common::transport::Transport;
use chat_runtime_common::written::Counters;
use smol::LocalExecutor;
use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Pause after an accept error that is not about one connection (say, out
/// of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every acceptor of one server shares.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) executor: Rc<LocalExecutor<'static>>,
    pub(crate) room: Sender<Msg>,
    pub(crate) counters: Counters,
    pub(crate) live: Rc<Live>,
    /// The next connection id, for every listener of the server.
    pub(crate) next_id: Rc<Cell<u64>>,
    /// Counts the TLS handshakes in progress with the room's connections
    /// against `max_clients`.
    pub(crate) admission: Arc<Admission>,
}

/// Accepts until cancelled or the room is gone. Ids start at 1 and are never
/// reused. On a TLS port (`tls` set) each connection's task runs the
/// handshake first (see [`start_tls`]).
///
/// Holds a reference to the executor to spawn connection tasks: the server
/// cancels this task when the room stops, which also breaks that cycle.
pub(crate) async fn accept_loop(
    shared: Shared,
    listener: Async<std::net::TcpListener>,
    mut spare: SpareDescriptor,
    tls: Option<Arc<ServerTls>>,
) {
    // Set once out of descriptors and a client is known to be waiting: if
    // the next accept fails the same way, that client is turned away.
    let mut client_waits = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                client_waits = false;
                let stream = TcpStream::from(stream);
                let conn = ConnId(shared.next_id.get());
                shared.next_id.set(conn.0 + 1);
                tracing::debug!(%conn, %peer, "accepted");
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%conn, %error, "cannot set TCP_NODELAY");
                }
                let socket: Socket = stream.into();
                match &tls {
                    None => {
                        if start(&shared, (conn, peer.ip()), socket, Transport::plain())
                            .await
                            .is_err()
                        {
                            return; // the room is gone
                        }
                    }
                    Some(tls) => match shared.admission.begin_handshake() {
                        Some(slot) => {
                            let handshake = Handshake::server(tls);
                            let from = (conn, peer.ip());
                            let task = start_tls(shared.clone(), from, socket, handshake, slot);
                            shared.executor.spawn(task).detach();
                        }
                        None => {
                            tracing::debug!(%conn, "TLS port full; closed before the handshake");
                            refuse::close_silently(socket.get_ref());
                        }
                    },
                }
            }
            Err(error) if refuse::is_out_of_descriptors(&error) => {
                if client_waits {
                    client_waits = false;
                    refuse_one(&listener, &mut spare).await;
                } else {
                    client_waits = wait_for_a_client(&listener).await;
                }
            }
            Err(error) if listener::is_per_connection(&error) => {
                tracing::debug!(%error, "accept failed");
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Registers a connection with the room and spawns its task. `Err` when
/// the room is gone.
async fn start(
    shared: &Shared,
    (conn, peer): (ConnId, IpAddr),
    socket: Socket,
    transport: Transport,
) -> Result<(), ()> {
    let link = Rc::new(Link::new(conn, &shared.counters));
    let connected = Msg::Connected {
        conn,
        peer,
        link: RoomEnd(Rc::clone(&link)),
    };
    // Connected is queued before the reader exists, so the room
    // always sees it before any read of this connection.
    shared.room.send(connected).await.map_err(drop)?;
    let task = conn::run(
        conn,
        socket,
        transport,
        link,
        shared.room.clone(),
        shared.live.enter(),
    );
    shared.executor.spawn(task).detach();
    Ok(())
}

/// Asks the room to judge the connection's address (one over its limits
/// is closed before any handshake), runs its handshake, then [`start`]s
/// it. A plaintext client gets [`chat_core::TLS_ONLY_LINE`] in clear and
/// is closed. `slot` counts the handshake until the room was told of the
/// connection or the handshake failed (then the room releases the
/// address's reservation).
///
/// Not counted in [`Live`]: the room has not heard of the connection, and a
/// handshake still running when the server stops is cancelled with the executor.
async fn start_tls(
    shared: Shared,
    (conn, peer): (ConnId, IpAddr),
    socket: Socket,
    handshake: Handshake,
    slot: HandshakeSlot,
) {
    if !reserve_address(&shared, conn, peer).await {
        tracing::debug!(%conn, "over its address's limits (or the room is gone); closed before the handshake");
        refuse::close_silently(socket.get_ref());
        return;
    }
    match crate::tls::run(&socket, handshake).await {
        Ok(halves) => {
            let _ = start(&shared, (conn, peer), socket, Transport::tls(halves)).await;
        }
        Err(failure) => {
            match failure {
                HandshakeFailure::Handshake(HandshakeError::NotTls) => {
                    tracing::debug!(%conn, "plaintext on the TLS port; turned away");
                    refuse::turn_away_with(socket.get_ref(), chat_core::TLS_ONLY_LINE);
                }
                error => {
                    tracing::debug!(%conn, error = %std::io::Error::from(error), "TLS handshake failed");
                }
            }
            // Gone with the room: nothing to release.
            let _ = shared.room.send(Msg::Cancel { conn }).await;
        }
    }
    drop(slot);
}

/// Asks the room whether `conn` from `peer` is within its address's
/// limits, and waits for the answer; `false` also when the room is gone.
async fn reserve_address(shared: &Shared, conn: ConnId, peer: IpAddr) -> bool {
    let (reply, answer) = async_channel::bounded(1);
    let reply = Box::new(move |within| {
        // The asker may be gone; then there is no one to tell.
        let _ = reply.try_send(within);
    });
    let asked = shared.room.send(Msg::Reserve { conn, peer, reply }).await;
    asked.is_ok() && answer.recv().await.unwrap_or(false)
}

/// Waits until a client waits to be accepted. Returns `false`, after a
/// pause, if the reactor failed.
async fn wait_for_a_client(listener: &Async<std::net::TcpListener>) -> bool {
    match listener.readable().await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot wait for the listener");
            Timer::after(ACCEPT_BACKOFF).await;
            false
        }
    }
}

/// Turns one waiting client away with the spare descriptor (the std
/// listener under `Async` is non-blocking, so this never waits).
async fn refuse_one(listener: &Async<std::net::TcpListener>, spare: &mut SpareDescriptor) {
    match spare.refuse_one(listener.get_ref()) {
        Refusal::Refused(peer) => tracing::debug!(%peer, "turned away: out of file descriptors"),
        Refusal::NoneWaiting => {}
        Refusal::Failed(error) => {
            tracing::debug!(%error, "accept failed even with the spare descriptor");
            Timer::after(ACCEPT_BACKOFF).await;
        }
    }
}
