//! An established TLS session, split into a reading and a writing half that
//! share rustls's state behind a lock (held only to encrypt or decrypt,
//! never across socket I/O).

use chat_core::MAX_READ;
use rustls::Connection;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// Most plaintext bytes sealed at once: one full TLS record. The writer
/// reports a batch as written once all of its records reached the socket,
/// so this is also how coarse `Written` reports are under TLS.
pub const MAX_SEAL: usize = 16 * 1024;

/// Raw bytes a reader should read from its socket at once.
pub const RAW_READ: usize = 4096;

type Shared = Arc<Mutex<Connection>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Connection> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn split(conn: Connection) -> (TlsReader, TlsWriter) {
    let shared = Arc::new(Mutex::new(conn));
    (
        TlsReader {
            shared: Arc::clone(&shared),
            eof: false,
        },
        TlsWriter {
            shared,
            records: Vec::new(),
            sent: 0,
            sealed_plaintext: 0,
        },
    )
}

/// Moves every record rustls has ready to the back of a new buffer.
pub(crate) fn drain_records(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    append_records(conn, &mut out);
    out
}

fn append_records(conn: &mut Connection, out: &mut Vec<u8>) {
    while conn.wants_write() {
        // Writing into a Vec cannot fail.
        if conn.write_tls(out).is_err() {
            break;
        }
    }
}

pub(crate) enum FeedError {
    Tls(rustls::Error),
    Io(io::Error),
}

/// Hands `bytes` (raw, from the socket) to rustls and processes the records.
pub(crate) fn feed_records(conn: &mut Connection, mut bytes: &[u8]) -> Result<(), FeedError> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes).map_err(FeedError::Io)?;
        conn.process_new_packets().map_err(FeedError::Tls)?;
    }
    Ok(())
}

/// What [`TlsReader::read_plain`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Plain {
    /// The buffer holds this many plaintext bytes (at most [`MAX_READ`], never 0).
    Bytes(usize),
    /// No plaintext is ready: read more raw bytes and [`feed`](TlsReader::feed) them.
    NeedMore,
    /// The peer ended the session (`close_notify`, or end of stream after it).
    Closed,
}

/// The reading half of a session.
#[derive(Debug)]
pub struct TlsReader {
    shared: Shared,
    eof: bool,
}

impl TlsReader {
    /// Takes raw bytes read from the socket; an empty slice is the end of
    /// the stream.
    ///
    /// # Errors
    /// A record that does not decrypt or parse, or an alert from the peer:
    /// the connection is over.
    pub fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            self.eof = true;
            return Ok(());
        }
        feed_records(&mut lock(&self.shared), bytes).map_err(|error| match error {
            FeedError::Tls(error) => io::Error::new(io::ErrorKind::InvalidData, error),
            FeedError::Io(error) => error,
        })
    }

    /// Moves at most [`MAX_READ`] plaintext bytes into `buffer`, replacing
    /// what it held.
    ///
    /// # Errors
    /// The stream ended without `close_notify` while plaintext was expected
    /// (a truncation the peer may not have meant).
    pub fn read_plain(&mut self, buffer: &mut Vec<u8>) -> io::Result<Plain> {
        buffer.resize(MAX_READ, 0);
        let plain = self.read_plain_into(buffer);
        match &plain {
            Ok(Plain::Bytes(n)) => buffer.truncate(*n),
            _ => buffer.clear(),
        }
        plain
    }

    /// Moves as much plaintext as is ready, at most `out.len()` bytes, to
    /// the front of `out` (which must not be empty): for a reader that
    /// takes more than [`MAX_READ`] at once.
    ///
    /// # Errors
    /// As [`read_plain`](TlsReader::read_plain).
    pub fn read_plain_into(&mut self, out: &mut [u8]) -> io::Result<Plain> {
        debug_assert!(!out.is_empty(), "reading plaintext into nothing");
        let result = lock(&self.shared).reader().read(out);
        match result {
            Ok(0) => Ok(Plain::Closed),
            Ok(n) => Ok(Plain::Bytes(n)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if self.eof {
                    // End of stream without close_notify: many clients
                    // close that way; the connection is over all the same.
                    Ok(Plain::Closed)
                } else {
                    Ok(Plain::NeedMore)
                }
            }
            Err(error) => Err(error),
        }
    }
}

/// The writing half of a session: seals plaintext into records and tells
/// which plaintext the socket has taken.
///
/// `Written` under TLS is an approximation: plaintext counts as written once
/// every record of the batch it was sealed in (at most [`MAX_SEAL`] bytes)
/// was written to the socket. Until then it counts as not taken, so the
/// send-queue limit still means "bytes the client has not taken", late by
/// at most one batch and the records' overhead.
///
/// # Invariants
/// `sent <= records.len()`; `sealed_plaintext` is the plaintext carried by
/// `records`, and is 0 when `records` is empty.
#[derive(Debug)]
pub struct TlsWriter {
    shared: Shared,
    records: Vec<u8>,
    sent: usize,
    sealed_plaintext: usize,
}

impl TlsWriter {
    /// Whether sealed records wait for the socket.
    pub fn has_unsent(&self) -> bool {
        self.sent < self.records.len()
    }

    /// Seals the front of `plaintext` (at most [`MAX_SEAL`] bytes) into
    /// records, together with anything rustls has to send of its own (a key
    /// update, an alert). Only when nothing is unsent. Returns how many
    /// plaintext bytes it took, for the caller to drop from its queue.
    pub fn seal(&mut self, plaintext: &[IoSlice<'_>]) -> usize {
        debug_assert!(!self.has_unsent(), "sealing over unsent records");
        self.records.clear();
        self.sent = 0;
        let mut conn = lock(&self.shared);
        let mut taken = 0;
        for slice in plaintext {
            let room = MAX_SEAL - taken;
            if room == 0 {
                break;
            }
            let part = &slice[..slice.len().min(room)];
            // Only rustls's buffer limit stops a write short; then stop too.
            let n = conn.writer().write(part).unwrap_or(0);
            taken += n;
            if n < part.len() {
                break;
            }
        }
        append_records(&mut conn, &mut self.records);
        self.sealed_plaintext = taken;
        taken
    }

    /// The sealed bytes the socket has not taken yet.
    pub fn unsent(&self) -> &[u8] {
        &self.records[self.sent..]
    }

    /// The socket took `n` more bytes of [`unsent`](TlsWriter::unsent).
    /// Returns the plaintext bytes now written: the batch's, once its last
    /// record went out, else 0.
    pub fn wrote(&mut self, n: usize) -> usize {
        self.sent = (self.sent + n).min(self.records.len());
        if self.has_unsent() {
            return 0;
        }
        self.records.clear();
        self.sent = 0;
        std::mem::take(&mut self.sealed_plaintext)
    }

    /// Queues `close_notify` and returns the records that carry it (best
    /// effort: the caller writes them if the socket takes them).
    pub fn close_notify(&mut self) -> Vec<u8> {
        let mut conn = lock(&self.shared);
        conn.send_close_notify();
        drain_records(&mut conn)
    }
}
