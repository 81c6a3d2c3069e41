//! Server limits, with docs/protocol.md's defaults.

use std::time::Duration;

/// The limits of one room. `Config::default()` is docs/protocol.md's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most connections at once, joined or not; one more gets `error: server full`.
    pub max_clients: usize,
    /// Longest line in bytes, terminator excluded.
    pub max_line: usize,
    /// How long a connection may take to join before it is closed silently.
    pub handshake_timeout: Duration,
    /// Most a client's send account may hold: what was sent to it and not
    /// yet written to its socket, each send counted with the memory that
    /// holds it ([`Config::send_cost`]).
    pub send_queue: usize,
    /// What each non-empty send costs a send account besides its bytes:
    /// [`SEND_OVERHEAD`](crate::SEND_OVERHEAD), the memory that holds a
    /// queued payload in a driver. Drivers give it back per payload they
    /// drop (`Input::Written`'s `sends`).
    pub send_overhead: usize,
    /// Sustained lines per second per user; `0` turns flood control off.
    pub flood_rate: u32,
    /// Lines a user may send at once before the rate applies.
    pub flood_burst: u32,
    /// How long a nick with no terminator waits before it is taken as a seed-dialect nick.
    pub settle: Duration,
    /// How long join and leave notices may wait, per joined user, so that
    /// one write carries many of them; `0` sends each at once. Holds shorter
    /// than [`MIN_NOTICE_HOLD`] are not worth a timer and are not made;
    /// longer ones are cut to [`MAX_NOTICE_HOLD`]. See the room's
    /// `hold` module for why a crowd of joins would otherwise cost O(n²)
    /// writes.
    pub notice_hold_per_user: Duration,
    /// Most connections open at once from one address (an IPv6 address
    /// counts by its /64); one more gets `error: too many connections from
    /// your address`. `0` turns it off.
    pub max_per_address: usize,
    /// Connections one address may open a minute, after a burst of
    /// [`ADDRESS_CONNECT_BURST`]; past it, as for `max_per_address`. `0`
    /// turns it off.
    pub connects_per_minute: u32,
    /// Whether loopback addresses are limited too; by default they are
    /// exempt (a local proxy, bench or test is one address for everyone).
    pub limit_loopback: bool,
    /// Room lines (what users say, and `/me`) a joiner is sent from
    /// before it joined, marked as history; `0` keeps none.
    pub history: usize,
}

/// The longest history [`Config::validate`] accepts, in lines.
pub const MAX_HISTORY: usize = 10_000;

/// Connections one address may open at once before `connects_per_minute`
/// applies.
pub const ADDRESS_CONNECT_BURST: u32 = 16;

/// The smallest send queue [`Config::validate`] accepts: room for the
/// online list's lines and `/help` with the rest of a busy moment.
pub const MIN_SEND_QUEUE: usize = 4 * 1024;

/// The longest line [`Config::validate`] accepts, in bytes.
pub const MAX_MAX_LINE: usize = 64 * 1024;

/// A limit that makes no sense; `Display` says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The [`Config`] field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The shortest hold of join and leave notices: below it, they go at once
/// (with the default of 50 µs per user: rooms of fewer than 20 users).
pub const MIN_NOTICE_HOLD: Duration = Duration::from_millis(1);

/// The longest hold of join and leave notices, however large the room.
pub const MAX_NOTICE_HOLD: Duration = Duration::from_millis(250);

impl Config {
    /// Checks that every limit makes sense together. A room runs with any
    /// config, but these are the ones a server should refuse to start with.
    ///
    /// # Errors
    /// The first limit that does not, and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem: String| Err(ConfigError { field, problem });
        if self.max_clients == 0 {
            return fail("max_clients", "must be at least 1".into());
        }
        if self.max_line == 0 || self.max_line > MAX_MAX_LINE {
            return fail("max_line", format!("must be 1 to {MAX_MAX_LINE} bytes"));
        }
        // The longest room line: a nick of 32 four-byte letters, `: `, the
        // text and `\n`; two of them must fit.
        let longest_line = 4 * crate::nick::MAX_NICK_CHARS + 2 + self.max_line + 1;
        let min_queue = MIN_SEND_QUEUE.max(2 * longest_line);
        if self.send_queue < min_queue {
            return fail(
                "send_queue",
                format!("must be at least {min_queue} bytes (two of the longest lines, and 4 KiB)"),
            );
        }
        if self.handshake_timeout.is_zero() {
            return fail("handshake_timeout", "must be more than 0".into());
        }
        if self.settle.is_zero() || self.settle >= self.handshake_timeout {
            return fail(
                "settle",
                "must be more than 0 and less than the handshake timeout".into(),
            );
        }
        if self.flood_rate > 0 && self.flood_burst == 0 {
            return fail(
                "flood_burst",
                "must be at least 1 while flood control is on".into(),
            );
        }
        if self.notice_hold_per_user > MAX_NOTICE_HOLD {
            return fail(
                "notice_hold_per_user",
                format!(
                    "must be at most {} ms (the longest hold)",
                    MAX_NOTICE_HOLD.as_millis()
                ),
            );
        }
        if self.history > MAX_HISTORY {
            return fail("history", format!("must be at most {MAX_HISTORY} lines"));
        }
        Ok(())
    }

    /// The group `peer` is counted in by the per-address limits, or `None`
    /// if it is exempt (loopback, unless `limit_loopback`).
    pub fn address_group(&self, peer: std::net::IpAddr) -> Option<crate::AddressGroup> {
        crate::address::group_of(peer, self.limit_loopback)
    }

    /// The per-address limits, as the room applies them.
    pub(crate) fn address_limits(&self) -> crate::address::AddressLimits {
        crate::address::AddressLimits {
            max_open: self.max_per_address,
            connect_interval: (self.connects_per_minute > 0)
                .then(|| Duration::from_secs(60) / self.connects_per_minute),
            connect_burst: ADDRESS_CONNECT_BURST,
        }
    }

    /// How long join and leave notices may wait in a room of `joined`
    /// users: `None` when they go at once.
    pub fn notice_hold(&self, joined: usize) -> Option<Duration> {
        let factor = u32::try_from(joined).unwrap_or(u32::MAX);
        let hold = self.notice_hold_per_user.saturating_mul(factor);
        (hold >= MIN_NOTICE_HOLD).then(|| hold.min(MAX_NOTICE_HOLD))
    }
}

impl Config {
    /// What a send of `len` bytes costs a send account: its bytes, plus
    /// `send_overhead` unless it is empty (drivers drop empty payloads at
    /// once).
    pub const fn send_cost(&self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            len + self.send_overhead
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: 10_000,
            max_line: 1024,
            handshake_timeout: Duration::from_secs(30),
            send_queue: 256 * 1024,
            send_overhead: crate::io::SEND_OVERHEAD,
            flood_rate: 20,
            flood_burst: 40,
            settle: Duration::from_millis(250),
            notice_hold_per_user: Duration::from_micros(50),
            max_per_address: 16,
            connects_per_minute: 60,
            limit_loopback: false,
            history: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn limits_that_make_no_sense_are_named() {
        let d = Config::default();
        let field = |c: Config| c.validate().err().map(|e| e.field);
        assert_eq!(
            field(Config {
                send_queue: 0,
                ..d.clone()
            }),
            Some("send_queue")
        );
        assert_eq!(
            field(Config {
                max_line: 0,
                ..d.clone()
            }),
            Some("max_line")
        );
        assert_eq!(
            field(Config {
                max_clients: 0,
                ..d.clone()
            }),
            Some("max_clients")
        );
        let long_settle = Config {
            settle: Duration::from_secs(31),
            ..d.clone()
        };
        assert_eq!(field(long_settle), Some("settle"));
        let no_burst = Config {
            flood_burst: 0,
            ..d.clone()
        };
        assert_eq!(field(no_burst), Some("flood_burst"));
        let long_hold = Config {
            notice_hold_per_user: Duration::from_secs(1),
            ..d.clone()
        };
        assert_eq!(field(long_hold), Some("notice_hold_per_user"));
        // A send queue too small for two of the longest lines.
        let big_lines = Config {
            max_line: 8192,
            send_queue: 16 * 1024,
            ..d.clone()
        };
        assert_eq!(field(big_lines), Some("send_queue"));
        assert_eq!(
            field(Config {
                flood_rate: 0,
                flood_burst: 0,
                ..d
            }),
            None
        );
    }

    #[test]
    fn each_limit_is_accepted_at_its_bound_and_refused_past_it() {
        let d = Config::default();
        let field = |c: Config| c.validate().err().map(|e| e.field);
        // Lines: up to 64 KiB, with a queue for two of the longest room
        // lines (a nick of 32 four-byte letters, `: `, the text, `\n`).
        let queue_for = |max_line: usize| 2 * (4 * 32 + 2 + max_line + 1);
        let lines = |max_line, send_queue| Config {
            max_line,
            send_queue,
            ..d.clone()
        };
        assert_eq!(field(lines(65_536, queue_for(65_536))), None);
        assert_eq!(field(lines(65_537, queue_for(65_537))), Some("max_line"));
        assert_eq!(field(lines(8192, queue_for(8192))), None);
        assert_eq!(field(lines(8192, queue_for(8192) - 1)), Some("send_queue"));
        // At least 4 KiB, whatever the lines.
        assert_eq!(field(lines(1024, 4096)), None);
        assert_eq!(field(lines(1024, 4095)), Some("send_queue"));
        let hold = |notice_hold_per_user| Config {
            notice_hold_per_user,
            ..d.clone()
        };
        assert_eq!(field(hold(MAX_NOTICE_HOLD)), None);
        let past = MAX_NOTICE_HOLD + Duration::from_nanos(1);
        assert_eq!(field(hold(past)), Some("notice_hold_per_user"));
        let history = |history| Config {
            history,
            ..d.clone()
        };
        assert_eq!(field(history(MAX_HISTORY)), None);
        assert_eq!(field(history(MAX_HISTORY + 1)), Some("history"));
        let settle = |settle| Config {
            settle,
            ..d.clone()
        };
        assert_eq!(field(settle(Duration::ZERO)), Some("settle"));
        assert_eq!(field(settle(d.handshake_timeout)), Some("settle"));
        assert_eq!(field(settle(d.handshake_timeout / 2)), None);
    }

    #[test]
    fn a_config_error_reads_as_its_problem() {
        let error = Config {
            max_clients: 0,
            ..Config::default()
        }
        .validate()
        .err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("must be at least 1")
        );
    }
}
