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

use crate::conn;
use crate::link::Link;
use crate::live::Live;
use crate::room::Msg;
use crate::written::Reports;
use async_channel::Sender;
use async_io::{Async, Timer};
use async_net::TcpStream;
use chat_core::ConnId;
use chat_runtime_common::refuse::{self, Refusal, SpareDescriptor};
use smol::LocalExecutor;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// Pause after an accept error that is not about one connection (say, out
/// of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts until cancelled or the room is gone. Ids start at 1 and are never reused.
///
/// Holds a reference to the executor to spawn connection tasks: the server
/// cancels this task when the room stops, which also breaks that cycle.
pub(crate) async fn accept_loop(
    executor: Rc<LocalExecutor<'static>>,
    listener: Async<std::net::TcpListener>,
    mut spare: SpareDescriptor,
    room: Sender<Msg>,
    reports: Rc<Reports>,
    live: Rc<Live>,
) {
    let mut next_id = 1u64;
    // Set once out of descriptors and a client is known to be waiting: if
    // the next accept fails the same way, that client is turned away.
    let mut client_waits = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                client_waits = false;
                let stream = TcpStream::from(stream);
                let conn = ConnId(next_id);
                next_id += 1;
                tracing::debug!(%conn, %peer, "accepted");
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%conn, %error, "cannot set TCP_NODELAY");
                }
                let link = Rc::new(Link::new(conn, &reports));
                let connected = Msg::Connected {
                    conn,
                    peer: peer.ip(),
                    link: Rc::clone(&link),
                };
                // Connected is queued before the reader exists, so the room
                // always sees it before any read of this connection.
                if room.send(connected).await.is_err() {
                    return; // the room is gone
                }
                let task = conn::run(conn, stream, link, room.clone(), live.enter());
                executor.spawn(task).detach();
            }
            Err(error) if refuse::is_out_of_descriptors(&error) => {
                if client_waits {
                    client_waits = false;
                    refuse_one(&listener, &mut spare).await;
                } else {
                    client_waits = wait_for_a_client(&listener).await;
                }
            }
            Err(error) if is_per_connection(&error) => {
                tracing::debug!(%error, "accept failed");
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
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

/// Errors that concern one incoming connection only: accept again at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
