//! A connection's transport: what stands between its socket and the room.
//!
//! The room reads and writes *room bytes* (the protocol's lines); a socket
//! carries *raw bytes*. A transport turns one into the other in both
//! directions, sans-IO: it never owns the socket, it is handed a raw read
//! or a raw write to call. So the same transport serves a blocking socket
//! (the raw call blocks) and a non-blocking one (the raw call fails with
//! `WouldBlock`, the transport keeps what it has, and the caller waits for
//! the socket and calls again), and a driver moves bytes through it without
//! asking what it holds.
//!
//! - [`Inbound`] (socket to room): one read of at most
//!   [`MAX_READ`](chat_core::MAX_READ) room bytes at a time.
//! - [`Outbound`] (room to socket): writes the front of an [`OutQueue`]
//!   of payloads, and says which room bytes the socket took, for
//!   `Input::Written`.
//!
//! [`Transport::plain`] passes bytes through as they are (a vectored write
//! straight from the shared payloads, a read straight into the room's
//! buffer). [`Transport::tls`] decrypts and seals with a session whose
//! handshake is over (see [`crate::tls`]). A new kind of transport is one
//! more pair of implementations and one more constructor here.

mod out_queue;
mod plain;
mod tls;

pub use out_queue::{OutQueue, KEEP_CAPACITY};

use crate::tls::{TlsReader, TlsWriter};
use crate::written::Released;
use std::fmt;
use std::io::{self, IoSlice};

/// Most slices handed to one vectored write (Linux's `IOV_MAX`).
pub const MAX_IOV: usize = 1024;

/// One raw read of the socket: the bytes it took, 0 at the end of the
/// stream; blocking, or failing with `WouldBlock`.
pub type RawRead<'a> = dyn FnMut(&mut [u8]) -> io::Result<usize> + 'a;

/// One raw, vectored write to the socket: how many bytes it took; blocking,
/// or failing with `WouldBlock`.
pub type RawWrite<'a> = dyn FnMut(&[IoSlice<'_>]) -> io::Result<usize> + 'a;

/// Socket to room: turns raw bytes into room bytes.
pub trait Inbound: Send + fmt::Debug {
    /// One read of at most [`MAX_READ`](chat_core::MAX_READ) room bytes
    /// into `buffer`, replacing what it held: `Ok(true)` with bytes,
    /// `Ok(false)` at the end of the stream. Raw bytes come from `socket`,
    /// as often as it takes; an interrupted raw read is tried again.
    ///
    /// # Errors
    /// A failed raw read, or raw bytes that do not decode (the connection
    /// is over). A `WouldBlock` from `socket` is returned as is, with what
    /// was read so far kept: call again once the socket is readable.
    /// `buffer` then holds no memory, so a connection waiting for its peer
    /// keeps no read buffer.
    fn read(&mut self, socket: &mut RawRead<'_>, buffer: &mut Vec<u8>) -> io::Result<bool>;
}

/// Room to socket: turns room bytes into raw bytes.
pub trait Outbound: Send + fmt::Debug {
    /// One raw write (at most) of what waits: bytes this transport made
    /// earlier, else the front of `queue`. Returns the room bytes the
    /// socket has now taken, with the payloads let go of since the last
    /// report (see [`OutQueue::release`]).
    ///
    /// # Errors
    /// A failed raw write (`WriteZero` when the socket took nothing). A
    /// `WouldBlock` is returned as is, with nothing lost: call again once
    /// the socket is writable.
    fn write(&mut self, queue: &mut OutQueue, socket: &mut RawWrite<'_>) -> io::Result<Released>;

    /// Whether bytes this transport made wait for the socket (the rest of
    /// what waits is in the queue).
    fn has_unsent(&self) -> bool;

    /// Ends the session: the raw bytes that tell the peer so (a TLS
    /// `close_notify`; nothing on a plain connection), for one best-effort
    /// write before the socket is shut down.
    fn close(&mut self) -> Vec<u8>;

    /// Whether room bytes reach the socket unchanged: then, while this side
    /// has nothing unsent, a driver may write payloads to the socket itself.
    fn is_transparent(&self) -> bool;
}

/// Both directions of one connection's transport.
#[derive(Debug)]
pub struct Transport {
    /// Socket to room.
    pub inbound: Box<dyn Inbound>,
    /// Room to socket.
    pub outbound: Box<dyn Outbound>,
}

impl Transport {
    /// Bytes as they are.
    pub fn plain() -> Transport {
        Transport {
            inbound: Box::new(plain::PlainInbound),
            outbound: Box::new(plain::PlainOutbound),
        }
    }

    /// A TLS session whose handshake is over.
    pub fn tls((reader, writer): (TlsReader, TlsWriter)) -> Transport {
        Transport {
            inbound: Box::new(tls::TlsInbound::new(reader)),
            outbound: Box::new(tls::TlsOutbound::new(writer)),
        }
    }
}

/// Retries `call` while it is interrupted by a signal.
fn retrying<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
