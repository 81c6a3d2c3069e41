//! Seeds: which scenarios a property run generates, and the command that
//! generates the same ones again.
//!
//! `CHAT_SIM_SEED` fixes the seed (else a fresh one is drawn from the clock);
//! `CHAT_SIM_SIZE` the generator size (the longest script);
//! `CHAT_SIM_TESTS` (or quickcheck's own `QUICKCHECK_TESTS`) the number of
//! scenarios; `CHAT_SIM_SHRINK=0` reports the first failing scenario as it
//! was generated, without shrinking it (for mutation runs, where only
//! whether it fails matters). The same three values replay the same run exactly: quickcheck's
//! `Gen::from_size_and_seed` is the only source of randomness, and it is
//! only consulted while generating.

use std::env;
use std::time::{SystemTime, UNIX_EPOCH};

/// The scenarios of one property run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The generator's seed.
    pub seed: u64,
    /// The generator's size: the longest script has this many ops (plus a few).
    pub size: usize,
    /// How many scenarios to run.
    pub tests: u64,
    /// Whether a failing scenario is shrunk before it is reported.
    pub shrink: bool,
}

impl Seed {
    /// Reads the environment; `tests` and `size` are the defaults.
    pub fn from_env(tests: u64, size: usize) -> Self {
        let var = |name: &str| {
            env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Seed {
            seed: var("CHAT_SIM_SEED").unwrap_or_else(fresh_seed),
            size: var("CHAT_SIM_SIZE").map_or(size, |s| s as usize),
            tests: var("CHAT_SIM_TESTS")
                .or_else(|| var("QUICKCHECK_TESTS"))
                .unwrap_or(tests),
            shrink: var("CHAT_SIM_SHRINK") != Some(0),
        }
    }

    /// The shell command that replays this run of the integration test `test`.
    pub fn replay(&self, test: &str) -> String {
        format!(
            "CHAT_SIM_SEED={} CHAT_SIM_SIZE={} CHAT_SIM_TESTS={} cargo test -p chat-tests --release --test {test}",
            self.seed, self.size, self.tests
        )
    }
}

/// A seed from the clock, mixed (splitmix64) so close times differ a lot.
fn fresh_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    splitmix64(nanos ^ u64::from(std::process::id()).rotate_left(32))
}

/// The splitmix64 mixing function.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
