//! The TLS handshake on the executor: the shared stepwise [`Handshake`]
//! driven with async reads and writes, within the handshake timeout. The
//! server's TLS port runs it, and so does any async client on `async-io`
//! (`chat bench --tls`).

use async_io::{Async, Timer};
use chat_runtime_common::tls::session::RAW_READ;
use chat_runtime_common::tls::{
    Handshake, HandshakeFailure, Step, TlsReader, TlsWriter, HANDSHAKE_TIMEOUT,
};
use futures_lite::future;
use std::io::{self, Read, Write};

/// Runs `handshake` (a server's or a client's) to its end on the
/// non-blocking `socket`, within [`HANDSHAKE_TIMEOUT`].
///
/// # Errors
/// What the handshake found wrong, a socket error, or `TimedOut`.
pub async fn run(
    socket: &Async<std::net::TcpStream>,
    handshake: Handshake,
) -> Result<(TlsReader, TlsWriter), HandshakeFailure> {
    future::or(steps(socket, handshake), async {
        Timer::after(HANDSHAKE_TIMEOUT).await;
        Err(HandshakeFailure::Io(io::ErrorKind::TimedOut.into()))
    })
    .await
}

async fn steps(
    socket: &Async<std::net::TcpStream>,
    mut handshake: Handshake,
) -> Result<(TlsReader, TlsWriter), HandshakeFailure> {
    let mut raw = vec![0u8; RAW_READ];
    loop {
        match handshake.step() {
            Step::Send(bytes) => {
                let mut sent = 0;
                while sent < bytes.len() {
                    let n = socket
                        .write_with(|stream| {
                            let mut stream = stream;
                            stream.write(&bytes[sent..])
                        })
                        .await
                        .map_err(HandshakeFailure::Io)?;
                    if n == 0 {
                        return Err(HandshakeFailure::Io(io::ErrorKind::WriteZero.into()));
                    }
                    sent += n;
                }
            }
            Step::Receive => {
                let n = socket
                    .read_with(|stream| {
                        let mut stream = stream;
                        stream.read(&mut raw)
                    })
                    .await
                    .map_err(HandshakeFailure::Io)?;
                handshake
                    .feed(&raw[..n])
                    .map_err(HandshakeFailure::Handshake)?;
            }
            Step::Done => return Ok(handshake.finish()),
        }
    }
}
