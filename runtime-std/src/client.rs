//! The client-side transport: a connected socket split into a reading and a
//! writing half. The protocol is `chat_core::client::Session`'s business.

use chat_core::MAX_READ;
use chat_runtime_common::tls::{blocking, ClientTls, Handshake, TlsReader, TlsWriter};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to a chat server, before it is split.
#[derive(Debug)]
pub struct ClientConn {
    reader: TcpStream,
    writer: TcpStream,
    tls: Option<(TlsReader, TlsWriter)>,
}

impl ClientConn {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<ClientConn> {
        let writer = TcpStream::connect_timeout(&addr, timeout)?;
        writer.set_nodelay(true)?;
        let reader = writer.try_clone()?;
        Ok(ClientConn {
            reader,
            writer,
            tls: None,
        })
    }

    /// Connects to `addr` and runs a TLS handshake that checks the server
    /// as `tls` says; the handshake is bounded by its own timeout.
    ///
    /// # Errors
    /// As [`connect`](ClientConn::connect), and when the handshake fails
    /// (`InvalidData`, with rustls's reason, e.g. an unknown issuer).
    pub fn connect_tls(
        addr: SocketAddr,
        timeout: Duration,
        tls: &ClientTls,
    ) -> io::Result<ClientConn> {
        let mut conn = ClientConn::connect(addr, timeout)?;
        let handshake = Handshake::client(tls)?;
        conn.tls = Some(blocking::run(&conn.writer, handshake)?);
        Ok(conn)
    }

    /// The two halves, usable from different threads.
    pub fn split(self) -> (ClientReader, ClientWriter) {
        let (tls_reader, tls_writer) = match self.tls {
            Some((reader, writer)) => (Some(reader), Some(writer)),
            None => (None, None),
        };
        (
            ClientReader {
                stream: self.reader,
                tls: tls_reader,
            },
            ClientWriter {
                stream: self.writer,
                tls: tls_writer,
            },
        )
    }
}

/// The reading half of a [`ClientConn`].
#[derive(Debug)]
pub struct ClientReader {
    stream: TcpStream,
    tls: Option<TlsReader>,
}

impl ClientReader {
    /// Blocks until bytes arrive; returns at most [`MAX_READ`] bytes, or
    /// `Ok(None)` at end of stream.
    pub fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(tls) = &mut self.tls {
            let stream = &mut self.stream;
            return tls.read_blocking(|raw| stream.read(raw));
        }
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
    tls: Option<TlsWriter>,
}

impl ClientWriter {
    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return self.stream.write_all(bytes);
        };
        let stream = &mut self.stream;
        tls.write_all_blocking(bytes, |records| stream.write_all(records))
    }

    /// Tells the server nothing more will be sent (the reading half keeps
    /// working); over TLS, after a `close_notify`.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            self.stream.write_all(&tls.close_notify())?;
        }
        self.stream.shutdown(Shutdown::Write)
    }
}
