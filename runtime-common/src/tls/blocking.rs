//! The handshake over a blocking socket, for threads that may block on it.

use super::handshake::{Handshake, HandshakeFailure, Step};
use super::session::{TlsReader, TlsWriter, RAW_READ};
use super::HANDSHAKE_TIMEOUT;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Runs `handshake` to its end on `stream`, within [`HANDSHAKE_TIMEOUT`].
/// Leaves `stream` with no read or write timeout.
pub fn run(
    stream: &TcpStream,
    mut handshake: Handshake,
) -> Result<(TlsReader, TlsWriter), HandshakeFailure> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut raw = vec![0u8; RAW_READ];
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(HandshakeFailure::Io(io::ErrorKind::TimedOut.into()));
        }
        let timeouts = stream
            .set_read_timeout(Some(left))
            .and_then(|()| stream.set_write_timeout(Some(left)));
        if let Err(error) = timeouts {
            break Err(HandshakeFailure::Io(error));
        }
        let mut socket = stream;
        match handshake.step() {
            Step::Send(bytes) => {
                if let Err(error) = socket.write_all(&bytes) {
                    break Err(HandshakeFailure::Io(error));
                }
            }
            Step::Receive => match socket.read(&mut raw) {
                Ok(n) => {
                    if let Err(error) = handshake.feed(&raw[..n]) {
                        break Err(HandshakeFailure::Handshake(error));
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break Err(HandshakeFailure::Io(error)),
            },
            Step::Done => break Ok(handshake.finish()),
        }
    };
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    result
}
