//! The acceptor task: accepts sockets, names them with a counter, and
//! spawns their connection tasks.

use crate::conn;
use crate::link::Link;
use crate::live::Live;
use crate::room::Msg;
use crate::written::Reports;
use async_channel::Sender;
use async_io::Timer;
use async_net::TcpListener;
use chat_core::ConnId;
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
    listener: TcpListener,
    room: Sender<Msg>,
    reports: Rc<Reports>,
    live: Rc<Live>,
) {
    let mut next_id = 1u64;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let conn = ConnId(next_id);
                next_id += 1;
                tracing::info!(%conn, %peer, "accepted");
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%conn, %error, "cannot set TCP_NODELAY");
                }
                let link = Rc::new(Link::new(conn, &reports));
                let connected = Msg::Connected {
                    conn,
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

/// Errors that concern one incoming connection only: accept again at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
