//! The client-side transport: a connected socket split into a reading and a
//! writing half. The protocol is `chat_core::client::Session`'s business.

use chat_core::MAX_READ;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to a chat server, before it is split.
#[derive(Debug)]
pub struct ClientConn {
    reader: TcpStream,
    writer: TcpStream,
}

impl ClientConn {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<ClientConn> {
        let writer = TcpStream::connect_timeout(&addr, timeout)?;
        writer.set_nodelay(true)?;
        let reader = writer.try_clone()?;
        Ok(ClientConn { reader, writer })
    }

    /// The two halves, usable from different threads.
    pub fn split(self) -> (ClientReader, ClientWriter) {
        (
            ClientReader {
                stream: self.reader,
            },
            ClientWriter {
                stream: self.writer,
            },
        )
    }
}

/// The reading half of a [`ClientConn`].
#[derive(Debug)]
pub struct ClientReader {
    stream: TcpStream,
}

impl ClientReader {
    /// Blocks until bytes arrive; returns at most [`MAX_READ`] bytes, or
    /// `Ok(None)` at end of stream.
    pub fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = [0u8; MAX_READ];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some(buf[..n].to_vec())),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// The writing half of a [`ClientConn`].
#[derive(Debug)]
pub struct ClientWriter {
    stream: TcpStream,
}

impl ClientWriter {
    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Tells the server nothing more will be sent (the reading half keeps working).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}
