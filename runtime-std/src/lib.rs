//! A driver for `chat-core` (to be written).
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
