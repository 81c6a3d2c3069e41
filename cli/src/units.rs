//! Human-friendly durations (`30s`, `250ms`, `2m`) and byte sizes (`256KiB`)
//! for command-line flags. Each type prints back in the form it parses.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as a whole number with an optional unit:
/// `us` (or `µs`), `ms`, `s`, `m` or `h`. A plain number is seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (number, unit) = split_number(s)?;
        let micros_per_unit: u64 = match unit {
            "us" | "µs" => 1,
            "ms" => 1_000,
            "" | "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            other => return Err(format!("unknown unit `{other}` (use us, ms, s, m or h)")),
        };
        number
            .checked_mul(micros_per_unit)
            .map(|us| HumanDuration(Duration::from_micros(us)))
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            let secs = d.as_secs();
            match secs {
                0 => write!(f, "0s"),
                s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
                s if s % 60 == 0 => write!(f, "{}m", s / 60),
                s => write!(f, "{s}s"),
            }
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else if d.subsec_nanos().is_multiple_of(1_000) {
            write!(f, "{}us", d.as_micros())
        } else {
            write!(f, "{d:?}")
        }
    }
}

/// A size in bytes: a whole number with an optional suffix. `K`/`KiB`,
/// `M`/`MiB` and `G`/`GiB` are powers of 1024; `KB`, `MB` and `GB` are
/// powers of 1000; `B` or no suffix is bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteSize(pub(crate) usize);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (number, unit) = split_number(s)?;
        let factor: u64 = match unit {
            "" | "B" => 1,
            "K" | "k" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown size suffix `{other}` (use B, KiB, MiB, GiB, KB, MB or GB)"
                ))
            }
        };
        number
            .checked_mul(factor)
            .and_then(|n| usize::try_from(n).ok())
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        let n = self.0;
        for (factor, suffix) in UNITS {
            if n != 0 && n.is_multiple_of(factor) {
                return write!(f, "{}{suffix}", n / factor);
            }
        }
        write!(f, "{n}")
    }
}

/// Splits `"250ms"` into `(250, "ms")`; surrounding spaces are allowed.
fn split_number(s: &str) -> Result<(u64, &str), String> {
    let s = s.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits_end == 0 {
        return Err(format!("`{s}` does not start with a number"));
    }
    let number = s[..digits_end]
        .parse::<u64>()
        .map_err(|_| format!("`{s}` is too large"))?;
    Ok((number, s[digits_end..].trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(s: &str) -> Result<Duration, String> {
        s.parse::<HumanDuration>().map(|d| d.0)
    }

    fn size(s: &str) -> Result<usize, String> {
        s.parse::<ByteSize>().map(|b| b.0)
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(dur("30"), Ok(Duration::from_secs(30)));
        assert_eq!(dur("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(dur("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(dur("20us"), Ok(Duration::from_micros(20)));
        assert_eq!(dur("20µs"), Ok(Duration::from_micros(20)));
        assert_eq!(dur("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(dur("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(dur(" 5 s "), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn bad_durations_are_rejected() {
        for bad in ["", "s", "-1s", "1.5s", "10 parsecs", "99999999999999999999"] {
            assert!(dur(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(dur(&format!("{}h", u64::MAX / 1000)).is_err());
        assert!(dur(&format!("{}s", u64::MAX / 1000)).is_err());
    }

    #[test]
    fn durations_print_as_they_parse() {
        for s in ["30s", "250ms", "20us", "1500us", "2m", "1h", "0s", "90s"] {
            assert_eq!(
                dur(s).map(|d| HumanDuration(d).to_string()),
                Ok(s.to_string())
            );
        }
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_suffixes() {
        assert_eq!(size("65536"), Ok(65536));
        assert_eq!(size("256KiB"), Ok(256 * 1024));
        assert_eq!(size("256K"), Ok(256 * 1024));
        assert_eq!(size("1MiB"), Ok(1 << 20));
        assert_eq!(size("2 M"), Ok(2 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("64KB"), Ok(64_000));
        assert_eq!(size("10B"), Ok(10));
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for bad in ["", "KiB", "12XB", "-5", "99999999999999999999GiB"] {
            assert!(size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn sizes_print_as_they_parse() {
        for s in ["256KiB", "1MiB", "3GiB", "1000", "0"] {
            assert_eq!(size(s).map(|n| ByteSize(n).to_string()), Ok(s.to_string()));
        }
    }
}
