//! Server limits, with PROTOCOL.md's defaults.

use std::time::Duration;

/// The limits of one room. `Config::default()` is PROTOCOL.md's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most connections at once, joined or not; one more gets `error: server full`.
    pub max_clients: usize,
    /// Longest line in bytes, terminator excluded.
    pub max_line: usize,
    /// How long a connection may take to join before it is closed silently.
    pub handshake_timeout: Duration,
    /// Most bytes sent to a client and not yet written to its socket.
    pub send_queue: usize,
    /// Sustained lines per second per user; `0` turns flood control off.
    pub flood_rate: u32,
    /// Lines a user may send at once before the rate applies.
    pub flood_burst: u32,
    /// How long a nick with no terminator waits before it is taken as a legacy nick.
    pub settle: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: 10_000,
            max_line: 1024,
            handshake_timeout: Duration::from_secs(30),
            send_queue: 256 * 1024,
            flood_rate: 20,
            flood_burst: 40,
            settle: Duration::from_millis(250),
        }
    }
}
