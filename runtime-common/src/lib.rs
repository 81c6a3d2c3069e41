//! # chat-runtime-common: socket-level setup both chat runtimes share
//!
//! One concern: what a TCP driver of `chat-core` must get right about the
//! operating system before and around `accept`, and around reading,
//! whatever its I/O model.
//! Nothing here knows the protocol; the one line it writes (the refusal)
//! comes from `chat-core`.
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
//! - [`read_pause`]: the read buffer of a connection flood control stopped
//!   reading, kept until the room resumes it.
//!
//! Both runtimes call these in the same order: [`open_files::raise_limit`],
//! [`open_files::fit_max_clients`], [`listener::bind`],
//! [`refuse::SpareDescriptor::open`]; then in their accept loops, on an error
//! for which [`refuse::is_out_of_descriptors`] holds, they wait for a client
//! to be waiting and call [`refuse::SpareDescriptor::refuse_one`].

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod listener;
pub mod open_files;
pub mod read_pause;
pub mod refuse;
