//! # chat-core: the chat room as a pure state machine
//!
//! This crate is the whole chat protocol (`docs/protocol.md`) and nothing
//! else: no sockets, threads, clocks, randomness or printing. It is *sans-IO*:
//! a driver feeds it [`Input`]s (a connection opened, bytes arrived, bytes were
//! written, a connection closed, time passed) and drains [`Action`]s (send
//! these bytes to that connection, close it, stop or resume reading it) and
//! the next deadline. Given the
//! same inputs at the same [`Time`]s it produces the same actions, byte for
//! byte, on every run: that is what makes the simulation tests replayable.
//!
//! # The run loop
//!
//! ```
//! use chat_core::{Action, Config, ConnId, Input, Room, Time};
//! use std::time::Duration;
//!
//! let mut room = Room::new(Config::default());
//! let mut now = Time::ZERO;
//! let alice = ConnId(1);
//! let mut wire = Vec::new(); // what a socket would carry to alice
//!
//! let mut step = |room: &mut Room, now: Time, input: Input<'_>, wire: &mut Vec<u8>| {
//!     room.handle(now, input);
//!     // Drain every action after every input.
//!     while let Some(action) = room.poll_action() {
//!         match action {
//!             Action::Send { conn, bytes } => {
//!                 assert_eq!(conn, alice);
//!                 wire.extend_from_slice(&bytes);
//!                 // The socket took it all at once.
//!                 let (len, sends) = (bytes.len(), usize::from(!bytes.is_empty()));
//!                 room.handle(now, Input::Written { conn, len, sends });
//!             }
//!             Action::Close { .. } => {}
//!             // Flood control: stop (then resume) reading that socket.
//!             Action::StopReading { .. } | Action::ResumeReading { .. } => {}
//!             // Only a clustered room appends to a log (`Room::clustered`).
//!             Action::Append { .. } => unreachable!(),
//!         }
//!     }
//! };
//!
//! let peer = "192.0.2.1".parse().unwrap();
//! step(&mut room, now, Input::Connected { conn: alice, peer }, &mut wire);
//! assert_eq!(wire, b"alias?");
//! step(&mut room, now, Input::Received { conn: alice, bytes: b"alice\n" }, &mut wire);
//! now = now + Duration::from_millis(10);
//! step(&mut room, now, Input::Received { conn: alice, bytes: b"hello\n" }, &mut wire);
//! assert_eq!(
//!     String::from_utf8(wire).unwrap(),
//!     "alias?alice joined the chat\n\
//!      You are connected to the server!\n\
//!      Online (1): alice\n\
//!      alice: hello\n"
//! );
//! // Nothing is pending: the next deadline is the flood bucket's or none.
//! assert!(room.poll_timeout().map_or(true, |t| t > now));
//! ```
//!
//! The client side of the protocol lives here too, in [`client`], so that the
//! `chat client` command holds no protocol logic either.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod address;
mod batch;
pub mod client;
pub mod cluster;
mod command;
mod config;
mod conn;
mod dialect;
mod event;
mod flood;
mod framing;
mod io;
mod leave;
mod nick;
mod room;
mod roster;
mod sniff;
mod text;
mod time;
mod timer;
mod wire;

pub use address::AddressGroup;
pub use cluster::{ClusterConfig, Entry, EntryKind, NodeId, Snapshot};
pub use command::MAX_PING_TOKEN;
pub use config::{
    Config, ConfigError, ADDRESS_CONNECT_BURST, MAX_HISTORY, MAX_MAX_LINE, MAX_NOTICE_HOLD,
    MIN_NOTICE_HOLD, MIN_SEND_QUEUE,
};
pub use dialect::Dialect;
pub use event::{DisconnectReason, Event};
pub use io::{Action, CloseMode, ConnId, Input, Payload, MAX_READ, SEND_OVERHEAD};
pub use room::Room;
pub use time::Time;
pub use wire::{ONLINE_LINE_MAX, SERVER_FULL_LINE, TLS_ONLY_LINE};
