//! # chat-runtime-std: `chat-core` over TCP with std threads
//!
//! A thin driver: it moves bytes between sockets and a [`chat_core::Room`]
//! and holds no protocol logic at all (nick rules, framing, notices and limits
//! are the core's).
//!
//! # Threads
//! - **room**: owns the `Room`. Takes messages from one bounded channel with
//!   `recv_timeout(deadline - now)`, feeds each to `Room::handle`, drains every
//!   action and event, and sends a `Tick` when the room's deadline passes. It
//!   never blocks on a socket, so a client that stops reading stalls nobody:
//!   the core kicks it once its unflushed bytes pass the send-queue limit.
//!   It hands the lines it sends over once per burst of messages (when its
//!   inbox is empty, or after 64 messages), so under load a writer wakes
//!   once for many lines. A plaintext connection whose writer has written
//!   everything handed to it gets its lines from the room thread itself, in
//!   one non-blocking write: a line to N users then costs N system calls,
//!   not N thread wake-ups. Only what that write leaves goes to the writer,
//!   which alone ever blocks on the socket. Then it waits, at most 50 ms, for any writer
//!   it just fed that has more than 64 KiB unwritten while not in a write:
//!   such a writer is ready but gets no CPU, and without the wait one
//!   flooding client could outrun it and get its fast reader kicked. A
//!   writer in a write may be blocked by its client, and is never waited for.
//! - **acceptor**: accepts, sets `TCP_NODELAY`, names the connection with a
//!   counter (never reused) and starts its two threads. Out of file
//!   descriptors, it turns waiting clients away with `error: server full`
//!   (see `chat-runtime-common`).
//! - per connection, a **reader** (reads of at most [`chat_core::MAX_READ`]
//!   bytes, reported as `Received`, then `Closed` at end of stream or error)
//!   and a **writer** (the two share one socket: one file descriptor per
//!   connection), fed with the shared `Payload`s (never copied per
//!   recipient). The reader has one read buffer: it reads again only once
//!   the room handled its last read and handed the buffer back, so a client
//!   sending faster than the room relays is slowed down by TCP, memory stays
//!   bounded, and no connection's reads crowd out the others'. The writer
//!   drains everything queued and writes it with one vectored write, adding
//!   each write to its connection's unreported count. The room thread feeds
//!   those counts to the core as `Written` before each input it handles, so
//!   they never wait behind received bytes. On `Close{Flush}` the writer
//!   writes what is queued (giving up after about 5 s) and shuts the socket
//!   down; on `Close{Abort}` the room thread shuts the socket down so a blocked
//!   write returns at once, and the writer stops. Writers' sockets have a
//!   250 ms write timeout, so a writer blocked on a peer that never reads
//!   still sees a `Flush` arrive and its deadline pass. After a `Close` the
//!   reader reads and drops what arrives until the socket is shut down (a
//!   socket closed with unread bytes would reset the peer).
//!
//! Connection threads have 64 KiB stacks so that thousands of clients fit.
//! Time is converted from `Instant` to `chat_core::Time` in one place,
//! `chat_runtime_common::clock` (an epoch taken when the server starts).
//!
//! # TLS
//! [`Server::start_endpoints`] listens on several ports into one room, some
//! of them TLS (`chat_runtime_common::listener::Endpoint`). On a TLS port
//! a thread of its own runs the handshake, then the connection gets its
//! reader and writer threads as any other: the reader decrypts
//! through `chat_runtime_common::tls::TlsReader` (still reads of at most
//! `MAX_READ` plaintext bytes) and the writer seals through `TlsWriter`,
//! reporting plaintext as `Written` once the records carrying it were
//! written. The TLS logic is that crate's; this one only moves raw bytes.
//!
//! Writes use `writev`, which (unlike `send`) can raise `SIGPIPE` on a closed
//! socket; Rust programs ignore `SIGPIPE` by default, and this crate relies on it.
//!
//! # Logging
//! With `tracing`: every room `Event` (joins, leaves) at info, accepts and
//! I/O errors at debug or warn; running out of file descriptors at warn, at
//! most once per 10 s. No subscriber is installed here.
//!
//! ```
//! use chat_runtime_std::{ClientConn, Server};
//! use std::time::Duration;
//! # fn main() -> std::io::Result<()> {
//! let server = Server::start("127.0.0.1:0".parse().unwrap(), chat_core::Config::default())?;
//! let conn = ClientConn::connect(server.local_addr(), Duration::from_secs(5))?;
//! let (_reader, _writer) = conn.split();
//! let stop = server.shutdown_handle();
//! stop.shutdown();
//! server.wait()?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod accept;

mod conn;
mod live;
mod pace;
mod room;
mod server;
mod threads;

pub use chat_runtime_common::client::{ClientConn, ClientReader, ClientWriter};
pub use chat_runtime_common::runtime::ShutdownHandle;
pub use server::{Server, StdRuntime};
