//! # chat-tests: a deterministic simulation of the chat room
//!
//! The harness has the shape of the thing it tests: a [`sim::Sim`] owns a
//! real [`chat_core::Room`], a virtual clock starting at `Time::ZERO`, a
//! simulated TCP network ([`net::Net`]) and scripted clients (framed ones,
//! and seed-dialect ones that talk like the seed's Python client). A
//! [`scenario::Scenario`] is plain data that decides everything a run does;
//! quickcheck generates and shrinks it, so a failure ends as a short script
//! (its `Debug` is Rust: paste it into a named `#[test]`). The checkers in
//! [`check`] look at the room only from the outside, after every step.
//!
//! ```
//! use chat_tests::prelude::*;
//!
//! let scenario = Scenario::plain(vec![
//!     Connect { dialect: Framed, crlf: false },
//!     Nick { client: 0, nick: Valid(0) },
//!     Connect { dialect: Seed, crlf: false },
//!     Nick { client: 1, nick: Valid(1) },
//!     Say { client: 0, pad: 2 },
//! ]);
//! // Every phase, every checker, the recut run: all hold.
//! chat_tests::run::check_scenario(&scenario).expect("a plain chat keeps every invariant");
//! ```
//!
//! Run the properties with `cargo test -p chat-tests --release --test sim`;
//! every run prints its seed and the command that replays it. Run a million
//! scenarios with `CHAT_SIM_TESTS=1000000 cargo test -p chat-tests --release
//! --test sim -- --nocapture`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod act;
pub mod arbitrary;
pub mod check;
pub mod client;
pub mod cluster;
pub mod net;
pub mod run;
pub mod scenario;
pub mod script;
pub mod seed;
pub mod sim;
pub mod words;

/// Everything a scenario's `Debug` names, for pasting a shrunk failure into a test.
pub mod prelude {
    pub use crate::run::assert_scenario_passes;
    pub use crate::scenario::Cmd::*;
    pub use crate::scenario::Dialect::*;
    pub use crate::scenario::NickKind::*;
    pub use crate::scenario::Op::*;
    pub use crate::scenario::Partial::*;
    pub use crate::scenario::{Cfg, Cmd, Dialect, Faults, NickKind, Op, Partial, Scenario};
}
