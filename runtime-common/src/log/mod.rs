//! The room's log.

pub mod redis;
