//! A client over a raw `std::net::TcpStream`: it sends exactly the bytes a
//! test gives it and reads with a deadline, so it can play any client,
//! including the seed's and a broken one.

use super::WAIT;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one `read` blocks before the deadline is checked again.
const POLL: Duration = Duration::from_millis(50);

/// What a bounded read ended with, when it did not find what it wanted.
#[derive(Debug)]
enum Stop {
    Eof,
    Error(io::Error),
    Deadline,
}

/// A raw TCP client with a receive buffer.
pub(crate) struct Peer {
    name: String,
    stream: TcpStream,
    /// Received and not yet consumed by an `expect_*`/`read_*` call.
    buf: Vec<u8>,
}

impl Peer {
    /// Connects to `addr`.
    pub(crate) fn connect(name: &str, addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, WAIT)
            .unwrap_or_else(|e| panic!("{name}: cannot connect to {addr}: {e}"));
        Peer::from_stream(name, stream)
    }

    /// Connects with a small receive buffer (set before `connect`, so the
    /// advertised window stays small): a reader that stalls fills up fast.
    pub(crate) fn connect_small_rcvbuf(name: &str, addr: SocketAddr, rcvbuf: usize) -> Peer {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .expect("a TCP socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        socket
            .connect_timeout(&addr.into(), WAIT)
            .unwrap_or_else(|e| panic!("{name}: cannot connect to {addr}: {e}"));
        Peer::from_stream(name, socket.into())
    }

    /// A peer on a connected `stream` (blocking); sets its timeouts.
    pub(crate) fn from_stream(name: &str, stream: TcpStream) -> Peer {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream.set_read_timeout(Some(POLL)).expect("read timeout");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        Peer {
            name: name.to_string(),
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects, checks the prompt, sends `nick\n` and reads the three join
    /// lines (the joiner's notice, the welcome, the online list).
    pub(crate) fn join(nick: &str, addr: SocketAddr) -> Peer {
        let mut peer = Peer::connect(nick, addr);
        peer.expect_prompt();
        peer.send(format!("{nick}\n"));
        peer.expect_line(&format!("{nick} joined the chat"));
        peer.expect_line("You are connected to the server!");
        let online = peer.line();
        assert!(
            online.starts_with("Online ("),
            "{nick}: expected the online list, got {online:?}"
        );
        peer
    }

    /// The nick this peer was created with.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The socket, for tests that need to change it.
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A second handle on the socket, for writing from another thread while
    /// this peer reads.
    pub(crate) fn writer(&self) -> TcpStream {
        let stream = self.stream.try_clone().expect("clone the socket");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        stream
    }

    /// Writes all of `bytes` (one `write_all`, so usually one segment).
    pub(crate) fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: sending {} bytes failed: {e}", self.name, bytes.len()));
    }

    /// Tries to write; `false` once the server has closed the connection.
    pub(crate) fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok()
    }

    /// Closes our sending side (the server reads EOF).
    pub(crate) fn shutdown_write(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Reads into the buffer until `done(buf)` gives a length to consume.
    fn read_until_with(
        &mut self,
        mut done: impl FnMut(&[u8]) -> Option<usize>,
    ) -> Result<Vec<u8>, (Stop, Vec<u8>)> {
        let deadline = Instant::now() + WAIT;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(n) = done(&self.buf) {
                return Ok(self.buf.drain(..n).collect());
            }
            if Instant::now() >= deadline {
                return Err((Stop::Deadline, self.buf.clone()));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err((Stop::Eof, self.buf.clone())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if read_timed_out(&e) => {}
                Err(e) => return Err((Stop::Error(e), self.buf.clone())),
            }
        }
    }

    fn fail(&self, what: &str, stop: Stop, seen: &[u8]) -> ! {
        panic!(
            "{}: waiting for {what}: {stop:?}; unconsumed bytes: {:?}",
            self.name,
            String::from_utf8_lossy(seen)
        )
    }

    /// Exactly `n` bytes.
    pub(crate) fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let what = format!("{n} bytes");
        self.read_until_with(|buf| (buf.len() >= n).then_some(n))
            .unwrap_or_else(|(stop, seen)| self.fail(&what, stop, &seen))
    }

    /// Everything up to and including the first `pattern`.
    pub(crate) fn read_until(&mut self, pattern: &[u8]) -> Vec<u8> {
        let what = format!("{:?}", String::from_utf8_lossy(pattern));
        self.read_until_with(|buf| {
            buf.windows(pattern.len())
                .position(|w| w == pattern)
                .map(|at| at + pattern.len())
        })
        .unwrap_or_else(|(stop, seen)| self.fail(&what, stop, &seen))
    }

    /// The next line as raw bytes, without its `\n`.
    pub(crate) fn line_bytes(&mut self) -> Vec<u8> {
        let mut line = self.read_until(b"\n");
        line.pop();
        line
    }

    /// The next line, which must be valid UTF-8, without its `\n`.
    pub(crate) fn line(&mut self) -> String {
        let bytes = self.line_bytes();
        String::from_utf8(bytes).unwrap_or_else(|e| {
            panic!(
                "{}: the server sent invalid UTF-8: {:?}",
                self.name,
                e.as_bytes()
            )
        })
    }

    /// The next line is exactly `expected`.
    pub(crate) fn expect_line(&mut self, expected: &str) {
        let line = self.line();
        assert_eq!(line, expected, "{}: unexpected line", self.name);
    }

    /// The next lines are exactly `expected`, in order.
    pub(crate) fn expect_lines(&mut self, expected: &[&str]) {
        for line in expected {
            self.expect_line(line);
        }
    }

    /// Reads lines until `expected` (skipping others) and returns the
    /// skipped ones; for waits where earlier lines do not matter.
    pub(crate) fn skip_to_line(&mut self, expected: &str) -> Vec<String> {
        let mut skipped = Vec::new();
        loop {
            let line = self.line();
            if line == expected {
                return skipped;
            }
            skipped.push(line);
        }
    }

    /// The handshake prompt: exactly the 6 bytes `alias?`.
    pub(crate) fn expect_prompt(&mut self) {
        let prompt = self.read_bytes(6);
        assert_eq!(
            String::from_utf8_lossy(&prompt),
            "alias?",
            "{}: the prompt",
            self.name
        );
    }

    /// Reads until the server closes (EOF or reset) and returns what came
    /// before. Panics if the connection is still open after [`WAIT`].
    pub(crate) fn expect_closed(&mut self) -> Vec<u8> {
        match self.read_until_with(|_| None) {
            Ok(_) => unreachable!("the predicate never matches"),
            Err((Stop::Eof | Stop::Error(_), seen)) => {
                self.buf.clear();
                seen
            }
            Err((Stop::Deadline, seen)) => self.fail("the close", Stop::Deadline, &seen),
        }
    }

    /// Reads whatever arrives until the server closes, discarding it: for a
    /// peer whose backlog is large and uninteresting. Bounded by [`WAIT`]
    /// per read that brings nothing.
    pub(crate) fn drain_until_closed(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut last_progress = Instant::now();
        self.buf.clear();
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => last_progress = Instant::now(),
                Err(e) if read_timed_out(&e) => {}
                Err(_) => return,
            }
            assert!(
                last_progress.elapsed() < WAIT,
                "{}: the server neither sent more nor closed",
                self.name
            );
        }
    }
}

/// What a server that may be full answers a new connection with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The handshake prompt: the connection is open.
    Prompt,
    /// `error: server full`, then a clean end of stream.
    ServerFull,
}

impl Peer {
    /// Reads the server's first bytes: the prompt, or the refusal line
    /// followed by the end of the stream. Anything else (a hang, a bare
    /// end of stream, a reset) fails.
    pub(crate) fn expect_prompt_or_refusal(&mut self) -> Answer {
        let first = self.read_bytes(6);
        if first == b"alias?" {
            return Answer::Prompt;
        }
        let mut refusal = first;
        refusal.extend(self.read_until(b"\n"));
        assert_eq!(
            String::from_utf8_lossy(&refusal),
            chat_core::SERVER_FULL_LINE,
            "{}: neither the prompt nor the refusal",
            self.name
        );
        self.expect_eof();
        Answer::ServerFull
    }

    /// Nothing more arrives, and the stream ends cleanly (an EOF, not a
    /// reset) within [`WAIT`].
    pub(crate) fn expect_eof(&mut self) {
        match self.read_until_with(|_| None) {
            Ok(_) => unreachable!("the predicate never matches"),
            Err((Stop::Eof, seen)) if seen.is_empty() => {}
            Err((stop, seen)) => self.fail("a clean end of stream", stop, &seen),
        }
    }
}

/// Whether a read with a timeout merely found nothing yet (try again).
pub(crate) fn read_timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
