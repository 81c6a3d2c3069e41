//! The vocabulary between a driver and the room: connection ids, shared
//! payloads, inputs and actions.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

/// A connection, named by the driver.
///
/// # Contract
/// The driver picks ids and never reuses one, not even after the connection
/// closed: the core may still be holding actions for an old id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Immutable bytes shared by every recipient of one room line.
///
/// A broadcast to N users allocates one `Payload` and hands out N cheap
/// clones (a reference count increment each), never N copies.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Arc<[u8]>);

impl Payload {
    /// Wraps bytes in a new shared payload.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        Payload(bytes.into())
    }

    /// The bytes to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether two payloads share one allocation.
    pub fn ptr_eq(&self, other: &Payload) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Payload {
    fn from(bytes: &[u8]) -> Self {
        Payload(bytes.into())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload(bytes.into())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Something that happened, handed to [`Room::handle`](crate::Room::handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A connection was accepted. The id must be new.
    Connected {
        /// The new connection.
        conn: ConnId,
        /// The address it comes from (the per-address limits count it).
        peer: IpAddr,
    },
    /// One socket read: at most [`MAX_READ`] bytes, never empty.
    Received {
        /// Who sent them.
        conn: ConnId,
        /// The bytes, exactly as read.
        bytes: &'a [u8],
    },
    /// The socket took `len` more bytes of what was sent to `conn`.
    Written {
        /// Whose socket.
        conn: ConnId,
        /// How many bytes, counted in the stream of [`Action::Send`] payloads.
        len: usize,
    },
    /// The peer closed the connection: end of stream, reset or I/O error.
    Closed {
        /// The connection that ended.
        conn: ConnId,
    },
    /// Only time passed; sent when [`Room::poll_timeout`](crate::Room::poll_timeout) is due.
    Tick,
    /// The server is asked to stop (SIGINT, SIGTERM).
    Shutdown,
}

/// The most bytes a driver hands in with one [`Input::Received`]: the seed's `recv(1024)`.
pub const MAX_READ: usize = 1024;

/// How a connection is to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseMode {
    /// Write everything already sent to it, then close (quit, shutdown, server full).
    Flush,
    /// Close at once and drop what is queued (a client too slow to read).
    Abort,
}

/// Something the driver must do, drained with [`Room::poll_action`](crate::Room::poll_action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Append `bytes` to the outgoing stream of `conn`.
    Send {
        /// The recipient.
        conn: ConnId,
        /// What to write; shared with the other recipients of the same line.
        bytes: Payload,
    },
    /// Close `conn`. It is the last action for that id: the core has forgotten it.
    Close {
        /// The connection to close.
        conn: ConnId,
        /// Whether to flush what is queued first.
        mode: CloseMode,
    },
    /// Stop reading from `conn` until [`Action::ResumeReading`]: flood
    /// control holds its lines, and TCP is to slow its sender down. A read
    /// already under way may still be handed in; the core keeps it.
    StopReading {
        /// The connection to stop reading from.
        conn: ConnId,
    },
    /// Read from `conn` again (after [`Action::StopReading`]).
    ResumeReading {
        /// The connection to read from.
        conn: ConnId,
    },
}

impl Action {
    /// The connection this action is for.
    pub fn conn(&self) -> ConnId {
        match self {
            Action::Send { conn, .. }
            | Action::Close { conn, .. }
            | Action::StopReading { conn }
            | Action::ResumeReading { conn } => *conn,
        }
    }
}
