//! A client's connection to a chat server: a connected socket and its
//! [`Transport`], split into a reading and a writing half that may be used
//! from different threads. Blocking; the protocol is
//! `chat_core::client::Session`'s business.

use crate::tls::{blocking, ClientTls, Handshake};
use crate::transport::{Inbound, OutQueue, Outbound, Transport};
use chat_core::Payload;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to a chat server, before it is split.
#[derive(Debug)]
pub struct ClientConn {
    reader: TcpStream,
    writer: TcpStream,
    transport: Transport,
}

impl ClientConn {
    /// Connects to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    /// When the connection fails or times out.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<ClientConn> {
        let writer = TcpStream::connect_timeout(&addr, timeout)?;
        writer.set_nodelay(true)?;
        Ok(ClientConn {
            reader: writer.try_clone()?,
            writer,
            transport: Transport::plain(),
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
        let halves = blocking::run(&conn.writer, Handshake::client(tls)?)?;
        conn.transport = Transport::tls(halves);
        Ok(conn)
    }

    /// The two halves, usable from different threads.
    pub fn split(self) -> (ClientReader, ClientWriter) {
        let Transport { inbound, outbound } = self.transport;
        (
            ClientReader {
                stream: self.reader,
                inbound,
            },
            ClientWriter {
                stream: self.writer,
                outbound,
                queue: OutQueue::default(),
            },
        )
    }
}

/// The reading half of a [`ClientConn`].
#[derive(Debug)]
pub struct ClientReader {
    stream: TcpStream,
    inbound: Box<dyn Inbound>,
}

impl ClientReader {
    /// Blocks until bytes arrive; returns at most
    /// [`MAX_READ`](chat_core::MAX_READ) bytes, or `Ok(None)` at end of
    /// stream.
    ///
    /// # Errors
    /// A failed read, or bytes that do not decrypt.
    pub fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut stream = &self.stream;
        let mut buffer = Vec::new();
        let more = self
            .inbound
            .read(&mut |into: &mut [u8]| stream.read(into), &mut buffer)?;
        Ok(more.then_some(buffer))
    }
}

/// The writing half of a [`ClientConn`].
#[derive(Debug)]
pub struct ClientWriter {
    stream: TcpStream,
    outbound: Box<dyn Outbound>,
    queue: OutQueue,
}

impl ClientWriter {
    /// Writes all of `bytes`.
    ///
    /// # Errors
    /// A failed write.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.queue.push(Payload::new(bytes));
        let mut stream = &self.stream;
        let mut raw = |slices: &[IoSlice<'_>]| stream.write_vectored(slices);
        while !self.queue.is_empty() || self.outbound.has_unsent() {
            self.outbound.write(&mut self.queue, &mut raw)?;
        }
        Ok(())
    }

    /// Tells the server nothing more will be sent (the reading half keeps
    /// working), after what the transport sends to end its session (a TLS
    /// `close_notify`).
    ///
    /// # Errors
    /// A failed write or shutdown.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        let last = self.outbound.close();
        (&self.stream).write_all(&last)?;
        self.stream.shutdown(Shutdown::Write)
    }
}
