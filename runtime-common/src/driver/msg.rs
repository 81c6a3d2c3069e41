//! What a runtime's other threads or tasks tell its room driver.

use crate::log::LogEvent;
use chat_core::ConnId;
use std::fmt;
use std::net::IpAddr;

/// Where the answer to a [`Msg::Reserve`] goes: `true` when the
/// connection is within its address's limits. Called at most once; an
/// asker that is gone is simply not told.
pub type ReserveReply = Box<dyn FnOnce(bool) + Send>;

/// A message to the room driver, carrying a runtime's [`Link`](super::Link)
/// `L` for a new connection.
pub enum Msg<L> {
    /// The acceptor registered a new connection.
    Connected {
        /// The new, never used id.
        conn: ConnId,
        /// The address it comes from.
        peer: IpAddr,
        /// The room's handle on it.
        link: L,
    },
    /// A reader read these bytes (at most `MAX_READ`, never empty). The
    /// buffer goes back to the reader once handled: its credit for the next read.
    Received {
        /// Whose socket.
        conn: ConnId,
        /// The bytes as read.
        bytes: Vec<u8>,
    },
    /// End of stream, reset, or an I/O error.
    Closed {
        /// Whose socket.
        conn: ConnId,
    },
    /// A TLS port asks, before the handshake, whether `conn` is within
    /// its address's limits (`Stepper::reserve_address`); the answer goes
    /// to `reply`.
    Reserve {
        /// The new, never used id.
        conn: ConnId,
        /// The address it comes from.
        peer: IpAddr,
        /// Where the answer goes.
        reply: ReserveReply,
    },
    /// The handshake of a connection admitted by `Reserve` failed: it
    /// will never be `Connected`.
    Cancel {
        /// Whose reservation.
        conn: ConnId,
    },
    /// Stop the server. A second request changes nothing.
    Shutdown,
    /// What a clustered room's log says (from the log's own threads).
    Log(LogEvent),
}

impl<L> fmt::Debug for Msg<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Connected { conn, peer, .. } => f
                .debug_struct("Connected")
                .field("conn", conn)
                .field("peer", peer)
                .finish_non_exhaustive(),
            Msg::Received { conn, bytes } => f
                .debug_struct("Received")
                .field("conn", conn)
                .field("len", &bytes.len())
                .finish(),
            Msg::Closed { conn } => f.debug_struct("Closed").field("conn", conn).finish(),
            Msg::Reserve { conn, peer, .. } => f
                .debug_struct("Reserve")
                .field("conn", conn)
                .field("peer", peer)
                .finish_non_exhaustive(),
            Msg::Cancel { conn } => f.debug_struct("Cancel").field("conn", conn).finish(),
            Msg::Shutdown => f.write_str("Shutdown"),
            Msg::Log(event) => f.debug_tuple("Log").field(event).finish(),
        }
    }
}
