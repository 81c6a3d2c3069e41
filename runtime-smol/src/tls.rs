//! The TLS handshake on the executor: the shared stepwise [`Handshake`]
//! driven with async reads and writes, within the handshake timeout.

use crate::conn::{Socket, TlsHalves};
use async_io::Timer;
use chat_runtime_common::tls::session::RAW_READ;
use chat_runtime_common::tls::{Handshake, HandshakeFailure, Step, HANDSHAKE_TIMEOUT};
use futures_lite::future;
use std::io::{self, Read, Write};

/// Runs `handshake` to its end on `socket`.
pub(crate) async fn run(
    socket: &Socket,
    handshake: Handshake,
) -> Result<TlsHalves, HandshakeFailure> {
    future::or(steps(socket, handshake), async {
        Timer::after(HANDSHAKE_TIMEOUT).await;
        Err(HandshakeFailure::Io(io::ErrorKind::TimedOut.into()))
    })
    .await
}

async fn steps(socket: &Socket, mut handshake: Handshake) -> Result<TlsHalves, HandshakeFailure> {
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
