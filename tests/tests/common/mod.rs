//! Shared helpers for the end-to-end tests: a server on either runtime, a raw
//! TCP peer with bounded reads, the seed's server as a Rust stand-in, and the
//! real `chat` binary.
//!
//! Every wait here is bounded by [`WAIT`]; nothing asserts how long anything
//! took. Each test file uses a different subset, hence `dead_code`.
#![allow(dead_code)]

pub(crate) mod bin;
pub(crate) mod peer;
pub(crate) mod pty;
pub(crate) mod redis;
pub(crate) mod seed;
pub(crate) mod server;

use std::time::Duration;

/// The bound on every single wait (a line, an EOF, a process exit). Generous:
/// it only matters when something is broken, and CI machines are slow.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// Defines one `#[test]` per runtime for each named body `fn(Runtime)`:
/// `std_runtime::NAME` and `smol_runtime::NAME`.
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod std_runtime {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::server::Runtime::Std)
                }
            )*
        }
        mod smol_runtime {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::server::Runtime::Smol)
                }
            )*
        }
    };
}
