//! A TLS handshake, one step at a time, for any I/O model.
//!
//! The driver loops: [`Handshake::step`] says [`Step::Send`] (write all of
//! these bytes), [`Step::Receive`] (read from the socket and pass what came
//! to [`Handshake::feed`]) or [`Step::Done`]; then [`Handshake::finish`]
//! splits the session. The whole loop is bounded by the driver with
//! [`HANDSHAKE_TIMEOUT`](super::HANDSHAKE_TIMEOUT).

use super::config::{ClientTls, ServerTls};
use super::session::{self, TlsReader, TlsWriter};
use super::HANDSHAKE_RECORD;
use rustls::{ClientConnection, Connection, ServerConnection};
use std::fmt;
use std::io;

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// A server's peer sent a first byte that starts no TLS record: a
    /// plaintext client on a TLS port.
    NotTls,
    /// The peer closed the connection before the handshake ended.
    Eof,
    /// The handshake itself failed: a bad record, an unverifiable
    /// certificate, no protocol version or cipher in common, an alert.
    Tls(rustls::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotTls => f.write_str("the peer does not speak TLS"),
            HandshakeError::Eof => {
                f.write_str("the peer closed the connection during the TLS handshake")
            }
            HandshakeError::Tls(error) => write!(f, "TLS handshake failed: {error}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<HandshakeError> for io::Error {
    fn from(error: HandshakeError) -> io::Error {
        let kind = match error {
            HandshakeError::Eof => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// Why a handshake, run over a socket, ended without a session.
#[derive(Debug)]
pub enum HandshakeFailure {
    /// What the handshake found wrong.
    Handshake(HandshakeError),
    /// The socket failed, or the handshake timeout passed (`TimedOut`).
    Io(io::Error),
}

impl From<HandshakeFailure> for io::Error {
    fn from(error: HandshakeFailure) -> io::Error {
        match error {
            HandshakeFailure::Handshake(error) => error.into(),
            HandshakeFailure::Io(error) => error,
        }
    }
}

/// What the driver does next.
#[derive(Debug)]
pub enum Step {
    /// Write all of these bytes to the socket, then ask again.
    Send(Vec<u8>),
    /// Read from the socket, [`feed`](Handshake::feed) what came, ask again.
    Receive,
    /// The handshake is over: [`finish`](Handshake::finish).
    Done,
}

/// One connection's handshake in progress.
///
/// # Invariants
/// `checked_first_byte` is set once a server has seen a byte of its peer's,
/// and that byte started a TLS handshake record.
#[derive(Debug)]
pub struct Handshake {
    conn: Connection,
    checked_first_byte: bool,
}

impl Handshake {
    /// A server's side, with the configuration `tls` holds now.
    pub fn server(tls: &ServerTls) -> Self {
        let conn = ServerConnection::new(tls.current())
            .expect("a server configuration built by ServerTls is valid");
        Handshake {
            conn: Connection::Server(conn),
            checked_first_byte: false,
        }
    }

    /// A client's side, which speaks first.
    ///
    /// # Errors
    /// When rustls cannot start a session with this configuration.
    pub fn client(tls: &ClientTls) -> Result<Self, HandshakeError> {
        let conn = ClientConnection::new(tls.config.clone(), tls.server_name.clone())
            .map_err(HandshakeError::Tls)?;
        Ok(Handshake {
            conn: Connection::Client(conn),
            // A client's peer is the server: nothing to sniff.
            checked_first_byte: true,
        })
    }

    /// What to do next.
    pub fn step(&mut self) -> Step {
        if self.conn.wants_write() {
            return Step::Send(session::drain_records(&mut self.conn));
        }
        if self.conn.is_handshaking() {
            Step::Receive
        } else {
            Step::Done
        }
    }

    /// Takes bytes read from the socket (an empty slice: end of stream).
    ///
    /// # Errors
    /// See [`HandshakeError`]; the connection is then closed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), HandshakeError> {
        let Some(&first) = bytes.first() else {
            return Err(HandshakeError::Eof);
        };
        if !self.checked_first_byte {
            if first != HANDSHAKE_RECORD {
                return Err(HandshakeError::NotTls);
            }
            self.checked_first_byte = true;
        }
        session::feed_records(&mut self.conn, bytes).map_err(|error| match error {
            session::FeedError::Tls(error) => HandshakeError::Tls(error),
            session::FeedError::Io(_) => HandshakeError::Eof,
        })
    }

    /// The two halves of the established session. Plaintext that arrived
    /// with the last flight is the reader's first read.
    pub fn finish(self) -> (TlsReader, TlsWriter) {
        session::split(self.conn)
    }
}
