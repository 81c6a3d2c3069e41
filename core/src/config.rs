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
    /// How long join and leave notices may wait, per joined user, so that
    /// one write carries many of them; `0` sends each at once. Holds shorter
    /// than [`MIN_NOTICE_HOLD`] are not worth a timer and are not made;
    /// longer ones are cut to [`MAX_NOTICE_HOLD`]. See the room's
    /// `hold` module for why a crowd of joins would otherwise cost O(n²)
    /// writes.
    pub notice_hold_per_user: Duration,
}

/// The shortest hold of join and leave notices: below it, they go at once
/// (with the default of 50 µs per user: rooms of fewer than 20 users).
pub const MIN_NOTICE_HOLD: Duration = Duration::from_millis(1);

/// The longest hold of join and leave notices, however large the room.
pub const MAX_NOTICE_HOLD: Duration = Duration::from_millis(250);

impl Config {
    /// How long join and leave notices may wait in a room of `joined`
    /// users: `None` when they go at once.
    pub fn notice_hold(&self, joined: usize) -> Option<Duration> {
        let factor = u32::try_from(joined).unwrap_or(u32::MAX);
        let hold = self.notice_hold_per_user.saturating_mul(factor);
        (hold >= MIN_NOTICE_HOLD).then(|| hold.min(MAX_NOTICE_HOLD))
    }
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
            notice_hold_per_user: Duration::from_micros(50),
        }
    }
}
