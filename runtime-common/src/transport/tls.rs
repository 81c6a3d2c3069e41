//! The TLS transport: decrypts what the socket reads and seals what the
//! room sends, with the halves of a session whose handshake is over.

use super::{retrying, Inbound, OutQueue, Outbound, RawRead, RawWrite};
use crate::tls::session::RAW_READ;
use crate::tls::{Plain, TlsReader, TlsWriter};
use crate::written::Released;
use std::io::{self, IoSlice};

/// Decrypts raw reads into room bytes.
///
/// # Invariants
/// `raw` holds memory only during a read: a connection waiting for its
/// peer keeps no raw buffer.
#[derive(Debug)]
pub(super) struct TlsInbound {
    session: TlsReader,
    raw: Vec<u8>,
}

impl TlsInbound {
    pub(super) fn new(session: TlsReader) -> Self {
        TlsInbound {
            session,
            raw: Vec::new(),
        }
    }
}

impl Inbound for TlsInbound {
    fn read(&mut self, socket: &mut RawRead<'_>, buffer: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            match self.session.read_plain(buffer)? {
                Plain::Bytes(_) => return Ok(true),
                Plain::Closed => return Ok(false),
                Plain::NeedMore => {}
            }
            self.raw.resize(RAW_READ, 0);
            let read = retrying(|| socket(&mut self.raw));
            let n = match read {
                Ok(n) => n,
                Err(error) => {
                    self.raw = Vec::new();
                    *buffer = Vec::new();
                    return Err(error);
                }
            };
            self.session.feed(&self.raw[..n])?;
        }
    }
}

/// Seals the front of the queue into records and writes them.
#[derive(Debug)]
pub(super) struct TlsOutbound {
    session: TlsWriter,
}

impl TlsOutbound {
    pub(super) fn new(session: TlsWriter) -> Self {
        TlsOutbound { session }
    }
}

impl Outbound for TlsOutbound {
    fn write(&mut self, queue: &mut OutQueue, socket: &mut RawWrite<'_>) -> io::Result<Released> {
        if !self.session.has_unsent() {
            if queue.is_empty() {
                return Ok(Released::default());
            }
            let taken = queue.with_front_slices(|slices| self.session.seal(slices));
            // Sealed: gone from the queue, reported once the records are out.
            queue.consume(taken);
            if !self.session.has_unsent() {
                // The session takes no more plaintext (it was closed).
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        let records = self.session.unsent();
        let written = retrying(|| socket(&[IoSlice::new(records)]))?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let plaintext = self.session.wrote(written);
        Ok(queue.release(plaintext))
    }

    fn has_unsent(&self) -> bool {
        self.session.has_unsent()
    }

    fn close(&mut self) -> Vec<u8> {
        self.session.close_notify()
    }

    fn is_transparent(&self) -> bool {
        false
    }
}
