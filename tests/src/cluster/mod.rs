//! A deterministic simulation of a cluster of rooms over one ordered log.
//!
//! A [`world::World`] runs 2 to 6 real clustered rooms (`Room::clustered`)
//! as nodes, one simulated log (a vector of entries: the total order),
//! each node's cursor into it and its delivery delay (bursty when a
//! `Burst` op holds it), scripted framed clients, and virtual time that
//! moves by the rooms' `poll_timeout`, the log's deliveries and the
//! script's waits. Faults: a node crashes, is cut off from the log and
//! healed, shuts down; the log loses every entry (a reset); a node starts
//! from another's snapshot. [`model`] reads the log independently;
//! [`check`] compares what every user was sent with it after every input.
//!
//! A [`scenario::ClusterScenario`] is plain data; quickcheck generates and
//! shrinks it, and its `Debug` pastes into a test with [`prelude`].

pub mod check;
pub mod model;
pub mod reader;
pub mod run;
pub mod scenario;
pub mod world;

/// What a cluster scenario's `Debug` names.
pub mod prelude {
    pub use super::run::assert_cluster_passes;
    pub use super::scenario::COp::*;
    pub use super::scenario::{COp, ClusterScenario, DEFAULT_SEND_QUEUE};
}
