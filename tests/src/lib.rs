//! Test harness for chat (to be written).
#![forbid(unsafe_code)]
