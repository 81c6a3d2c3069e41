//! # chat-runtime-smol: `chat-core` over TCP with smol tasks
//!
//! A thin driver: it moves bytes between sockets and a [`chat_core::Room`]
//! and holds no protocol logic at all (nick rules, framing, notices and limits
//! are the core's).
//!
//! # Executor: one thread
//! Each [`Server`] runs on one thread of its own, with a
//! `smol::LocalExecutor` driven by `smol::block_on` (which also drives the
//! async-io reactor on that thread). The room is a single owner anyway, so a
//! single thread costs little parallelism and buys a lot: no locks, no
//! cross-thread wake-ups, and the room task hands bytes to writers through a
//! `RefCell` queue plus a waker instead of a channel per line per recipient.
//!
//! # Tasks
//! - **room**: owns the `Room`. Waits with
//!   `future::or(shutdown, future::or(recv, timer))` (`or` prefers its first
//!   future; `race` would pick at random) on one persistent `async_io::Timer`,
//!   re-armed only when the room's deadline changes and never firing when
//!   there is none. Feeds each message to `Room::handle`, drains every action
//!   and event. It never writes to a socket, so a client that stops reading
//!   stalls nobody: the core kicks it once its unflushed bytes pass the
//!   send-queue limit.
//! - **acceptor**: accepts, sets `TCP_NODELAY`, names the connection with a
//!   counter (never reused) and spawns its task. Out of file descriptors,
//!   it turns waiting clients away with `error: server full` (see
//!   `chat-runtime-common`).
//! - per connection, one task running a **reader** (reads of at most
//!   [`chat_core::MAX_READ`] bytes, reported as `Received`, then `Closed`) and
//!   a **writer** side by side, each with its own clone of the
//!   `async_net::TcpStream`. The reader has one read buffer: it reads again
//!   only once the room handled its last read and handed the buffer back, so
//!   a client sending faster than the room relays is slowed down by TCP,
//!   memory stays bounded, and no connection's reads crowd out the others'.
//!   The writer takes everything queued in the connection's outbox (shared
//!   `Payload`s, never copied per recipient) and writes it with vectored
//!   writes, adding each write to its connection's unreported count. The
//!   room task feeds those counts to the core as `Written` before each input
//!   it handles, so they never wait behind received bytes. On `Close{Flush}`
//!   the writer writes what is queued (giving up after about 5 s) and shuts
//!   the socket down; on `Close{Abort}` it stops at once, even in the middle
//!   of a blocked write. When the writer ends, the task (and its reader)
//!   ends; until then, after a `Close`, the reader reads and drops what
//!   arrives (a socket closed with unread bytes would reset the peer).
//!
//! Time is converted from `Instant` to `chat_core::Time` in one place,
//! `chat_runtime_common::clock` (an epoch taken when the server starts).
//!
//! # TLS
//! [`Server::start_endpoints`] listens on several ports into one room, some
//! of them TLS (`chat_runtime_common::listener::Endpoint`). On a TLS port
//! the connection's task runs the handshake first, then its reader and
//! writer as any other: the reader decrypts
//! through `chat_runtime_common::tls::TlsReader` (still reads of at most
//! `MAX_READ` plaintext bytes) and the writer seals through `TlsWriter`,
//! reporting plaintext as `Written` once the records carrying it were
//! written. The TLS logic is that crate's; this one only moves raw bytes.
//! [`tls::run`] drives a handshake on any `async-io` socket, for async
//! clients too.
//!
//! # Logging
//! With `tracing`: every room `Event` (joins, leaves) at info, accepts and
//! I/O errors at debug or warn; running out of file descriptors at warn, at
//! most once per 10 s. No subscriber is installed here.
//!
//! ```
//! use chat_runtime_smol::{ClientConn, Server};
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
mod credit;
mod link;
mod live;
mod outbox;
mod room;
mod server;
pub mod tls;

pub use chat_runtime_common::client::{ClientConn, ClientReader, ClientWriter};
pub use chat_runtime_common::runtime::ShutdownHandle;
pub use server::{Server, SmolRuntime};
