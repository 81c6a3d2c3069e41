//! # chat-runtime-common: the transport layer both chat runtimes share
//!
//! What a TCP driver of `chat-core` must get right below the protocol,
//! whatever its I/O model: the operating system around `accept` and
//! reading, the clock, the step around the room, the room's log, and
//! TLS. Nothing here knows the protocol; the lines it writes (the
//! refusals) come from `chat-core`.
//!
//! - [`listener`]: binds with a listen backlog sized for `max_clients`
//!   (std's `TcpListener::bind` always asks for 128), capped by the kernel's
//!   `somaxconn`.
//! - [`open_files`]: raises the soft open-file limit to the hard one, and
//!   lowers `max_clients` to what the limit can hold.
//! - [`refuse`]: when descriptors run out anyway, a spare descriptor kept
//!   open for the purpose is closed to accept one waiting client, tell it
//!   `error: server full` and close it cleanly, so no client hangs in the
//!   kernel's queue or sees a bare end of stream; and a log of it that says
//!   so once per interval, not once per refusal.
//! - [`conn_map`]: the driver's tables keyed by connection id, with a
//!   hash of one multiplication (ids are the server's, never a peer's).
//! - [`read_pause`]: the read buffer of a connection flood control stopped
//!   reading, kept until the room resumes it.
//! - [`listener::Endpoint`]: a port and what it speaks there (plain or TLS).
//! - [`clock`]: the one conversion from `Instant` to the core's `Time`.
//! - [`driver`] and [`written`]: the step around the room (input, actions,
//!   events, `Written` reports, and a clustered room's log) and the
//!   counters writers leave for it.
//! - [`log`]: a clustered room's log: what the step needs of one
//!   ([`log::RoomLog`]: append, store a snapshot, flush, hand back what
//!   the log says) and its two implementations, in process
//!   ([`log::MemoryLog`]: appends come back at once, in order) and a Redis
//!   stream shared by the servers of a room ([`log::redis::RedisLog`]).
//! - [`admission`]: TLS handshakes in progress counted with the room's
//!   connections against `max_clients`, so that half-open handshakes cannot
//!   pile up unbounded before the room hears of them.
//! - [`tls`]: TLS over rustls, sans-IO: certificate loading, a stepwise
//!   handshake, and the reading and writing halves of a session, so both
//!   runtimes serve (and connect with) TLS through the same code and only
//!   move raw bytes.
//!
//! Both runtimes call these in the same order: [`open_files::raise_limit`],
//! [`open_files::fit_max_clients`], [`listener::bind`],
//! [`refuse::SpareDescriptor::open`]; then in their accept loops, on an error
//! for which [`refuse::is_out_of_descriptors`] holds, they wait for a client
//! to be waiting and call [`refuse::SpareDescriptor::refuse_one`].

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod admission;
pub mod client;
pub mod clock;
pub mod conn_map;
pub mod driver;
pub mod listener;
pub mod log;
pub mod open_files;
pub mod proc_number;
pub mod read_pause;
pub mod refuse;
pub mod runtime;
pub mod tls;
pub mod transport;
pub mod written;
