//! A hostile-input suite over real TCP on both runtimes: while `alice` and
//! `bob` chat (see `honest`), an attacker tries one thing per test, and
//! afterwards the honest pair must have received every line they sent, once
//! and in order, and nothing but clean, well-formed room lines besides.
//!
//! Every wait is bounded (by count and by [`common::WAIT`]), everything is
//! on loopback, and nothing asserts how long anything took.

#[macro_use]
mod common;

#[path = "hostile/disconnects.rs"]
mod disconnects;
#[path = "hostile/foreign.rs"]
mod foreign;
#[path = "hostile/honest.rs"]
mod honest;
#[path = "hostile/limits.rs"]
mod limits;
#[path = "hostile/nicks.rs"]
mod nicks;
#[path = "hostile/online.rs"]
mod online;
#[path = "hostile/text.rs"]
mod text;
