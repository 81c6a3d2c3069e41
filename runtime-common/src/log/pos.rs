//! [`LogPos`]: where in the room's log an entry is.

use std::fmt;
use std::str::FromStr;

/// A position in the room's log, written `MS-SEQ`: ordered as the log
/// orders its entries (by `MS`, then by `SEQ`).
///
/// The Redis stream's entry ids are positions (`MS` is a time in
/// milliseconds); the memory log counts its entries `0-1`, `0-2`, ….
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPos {
    ms: u64,
    seq: u64,
}

impl LogPos {
    /// Before every entry (`0-0`): reading after it reads the whole log.
    pub const START: LogPos = LogPos { ms: 0, seq: 0 };

    /// The position `ms-seq`.
    pub const fn new(ms: u64, seq: u64) -> Self {
        LogPos { ms, seq }
    }
}

impl fmt::Display for LogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Text that is not a position (`MS-SEQ`, two decimal numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLogPos(pub String);

impl fmt::Display for BadLogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a log position: {:?}", self.0)
    }
}

impl std::error::Error for BadLogPos {}

impl FromStr for LogPos {
    type Err = BadLogPos;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadLogPos(s.chars().take(64).collect());
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        let number = |part: &str| {
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse::<u64>().ok())
                .flatten()
        };
        match (number(ms), number(seq)) {
            (Some(ms), Some(seq)) => Ok(LogPos { ms, seq }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_read_back_and_order_as_redis_does() {
        let a: LogPos = "1700000000000-3".parse().expect("an id");
        let b: LogPos = "1700000000000-12".parse().expect("an id");
        let c: LogPos = "1700000000001-0".parse().expect("an id");
        assert!(LogPos::START < a && a < b && b < c);
        assert_eq!(a.to_string(), "1700000000000-3");
        assert_eq!(LogPos::new(1_700_000_000_000, 12), b);
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-+2",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<LogPos>().is_err(), "{bad:?}");
        }
    }
}
