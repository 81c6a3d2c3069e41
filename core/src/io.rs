//! The vocabulary between a driver and the room: connection ids, shared
//! payloads, inputs and actions.

use crate::cluster::Entry;
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
    /// The socket took `len` more bytes of what was sent to `conn`, and the
    /// driver let go of `sends` more of its [`Action::Send`] payloads.
    /// Together they credit the send account with what the sends cost
    /// ([`Config::send_cost`](crate::Config::send_cost)).
    Written {
        /// Whose socket.
        conn: ConnId,
        /// How many bytes, counted in the stream of [`Action::Send`] payloads.
        len: usize,
        /// How many non-empty payloads the driver dropped since its last
        /// report: written in full (or sealed into TLS records, whose bytes
        /// `len` counts once written). Never more than were sent.
        sends: usize,
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
    /// Clustered rooms only: the next entries of the room's log, in the
    /// log's order, each exactly once, with no gap since the start (or the
    /// snapshot the room was made from). Entries this node appended come
    /// back here too.
    Logged {
        /// Entries in log order.
        entries: &'a [Entry],
    },
    /// Clustered rooms only: the log cannot be reached. From now until
    /// [`Input::LogUp`], the driver appends nothing it was asked to append
    /// before this input and not yet appended (those appends are lost;
    /// the room tells their users). The room appends nothing meanwhile.
    LogDown,
    /// Clustered rooms only: the log can be reached, and every entry it
    /// holds was handed in ([`Input::Logged`]). The first `LogUp` starts
    /// the node serving the room.
    LogUp,
    /// Clustered rooms only: the log lost entries (it was emptied or
    /// replaced: a new epoch). The users of this node may have missed room
    /// lines, so they are closed with a reason, and the node starts again
    /// as a new incarnation in an empty room. Entries handed in after it are
    /// of the new log.
    LogReset,
    /// Clustered rooms only: entries this node had not read were trimmed
    /// from the log (it was away, or slow, for longer than the log keeps
    /// them). It lost contact with the room: its users are closed with the
    /// lost-contact error, and the node starts again as a new incarnation
    /// in an empty room, which the driver then restores from the snapshot
    /// that covers the trimmed entries
    /// ([`Room::restore_snapshot`](crate::Room::restore_snapshot)) before
    /// handing the entries after it.
    FellBehind,
}

/// What one non-empty [`Action::Send`] costs a connection's send account on
/// top of its bytes (the default of `Config::send_overhead`), until the
/// driver lets go of it ([`Input::Written`]'s
/// `sends`): the memory that holds a queued payload besides its bytes. A
/// driver keeps each in a queue slot (a [`Payload`], 16 bytes, up to twice
/// that in a queue that grew by doubling: 32); the shared allocation adds
/// the reference counts (16) and the allocator's header and rounding (at
/// most 24). So `send_queue` bounds what waits for one connection in
/// memory, however small its lines, not only its bytes.
pub const SEND_OVERHEAD: usize = 72;

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
    /// Clustered rooms only: append `entry` to the room's log, after every
    /// entry appended before it (see [`Input::LogDown`] for a log that
    /// cannot be reached).
    Append {
        /// What to append (boxed: it is rare, and the other actions small).
        entry: Box<Entry>,
    },
}

impl Action {
    /// The connection this action is for; `None` for an append to the log.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Action::Send { conn, .. }
            | Action::Close { conn, .. }
            | Action::StopReading { conn }
            | Action::ResumeReading { conn } => Some(*conn),
            Action::Append { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_share_an_allocation_only_when_cloned() {
        let a = Payload::from(&b"hi\n"[..]);
        let same_bytes = Payload::from(&b"hi\n"[..]);
        assert!(a.ptr_eq(&a.clone()));
        assert!(!a.ptr_eq(&same_bytes));
        assert_eq!(a, same_bytes);
        assert_eq!(a.as_ref(), b"hi\n");
        assert_eq!(AsRef::<[u8]>::as_ref(&same_bytes), a.as_bytes());
    }

    #[test]
    fn a_payload_debugs_as_its_text() {
        let bytes = Payload::from(&b"bob: hi\n\xff"[..]);
        assert_eq!(format!("{bytes:?}"), "\"bob: hi\\n\u{fffd}\"");
    }
}
