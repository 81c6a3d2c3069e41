//! When the certificate a TLS port presents is valid, and what an operator
//! should be told about it: a certificate that is not valid yet, has
//! expired, or expires within [`EXPIRES_SOON`] is still served (clients
//! will refuse it, or soon will), so the server warns instead.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long before its end a certificate is warned about.
pub const EXPIRES_SOON: Duration = Duration::from_secs(14 * DAY_SECS);

const DAY_SECS: u64 = 24 * 60 * 60;

/// The validity period of a certificate, in seconds since the Unix epoch
/// (UTC), as its `notBefore` and `notAfter` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    not_before: i64,
    not_after: i64,
}

/// Something wrong, or soon wrong, with a certificate's validity period.
/// `Display` is a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertWarning {
    /// `now` is before `notBefore` (at this Unix time).
    NotYetValid(i64),
    /// `now` is past `notAfter` (at this Unix time).
    Expired(i64),
    /// `notAfter` (at this Unix time) is less than [`EXPIRES_SOON`] away.
    ExpiresSoon(i64),
}

impl Validity {
    /// The validity period of the DER certificate `der`.
    ///
    /// # Errors
    /// `der` is not an X.509 certificate; the text says why.
    pub fn of(der: &[u8]) -> Result<Validity, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
        let validity = cert.validity();
        Ok(Validity {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }

    /// What to warn about at `now`, if anything.
    pub fn warning(&self, now: SystemTime) -> Option<CertWarning> {
        let now = unix_seconds(now);
        let soon = i64::try_from(EXPIRES_SOON.as_secs()).unwrap_or(i64::MAX);
        if now < self.not_before {
            Some(CertWarning::NotYetValid(self.not_before))
        } else if now > self.not_after {
            Some(CertWarning::Expired(self.not_after))
        } else if self.not_after.saturating_sub(now) < soon {
            Some(CertWarning::ExpiresSoon(self.not_after))
        } else {
            None
        }
    }
}

impl fmt::Display for CertWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CertWarning::NotYetValid(at) => write!(
                f,
                "the TLS certificate is not valid yet (not before {}): clients will refuse it",
                Utc(at)
            ),
            CertWarning::Expired(at) => write!(
                f,
                "the TLS certificate has expired (not after {}): clients will refuse it; \
                 renew it and send SIGHUP",
                Utc(at)
            ),
            CertWarning::ExpiresSoon(at) => write!(
                f,
                "the TLS certificate expires soon (not after {}); renew it and send SIGHUP",
                Utc(at)
            ),
        }
    }
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// A Unix time shown as `YYYY-MM-DD HH:MM:SS UTC`.
struct Utc(i64);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day_secs = DAY_SECS as i64;
        let (days, secs) = (self.0.div_euclid(day_secs), self.0.rem_euclid(day_secs));
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    const JAN_2030: i64 = 1_893_456_000;

    #[test]
    fn dates_are_shown_in_utc() {
        assert_eq!(Utc(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(Utc(JAN_2030).to_string(), "2030-01-01 00:00:00 UTC");
        assert_eq!(
            Utc(951_782_400 + 3661).to_string(),
            "2000-02-29 01:01:01 UTC"
        );
    }

    #[test]
    fn warns_outside_the_period_and_in_its_last_two_weeks() {
        let validity = Validity {
            not_before: JAN_2030 - 365 * 86_400,
            not_after: JAN_2030,
        };
        let jan = JAN_2030 as u64;
        assert_eq!(
            validity.warning(at(jan - 366 * DAY_SECS)),
            Some(CertWarning::NotYetValid(validity.not_before))
        );
        assert_eq!(validity.warning(at(jan - 100 * DAY_SECS)), None);
        assert_eq!(validity.warning(at(jan - 15 * DAY_SECS)), None);
        assert_eq!(
            validity.warning(at(jan - 13 * DAY_SECS)),
            Some(CertWarning::ExpiresSoon(JAN_2030))
        );
        assert_eq!(
            validity.warning(at(jan + 1)),
            Some(CertWarning::Expired(JAN_2030))
        );
        let line = CertWarning::Expired(JAN_2030).to_string();
        assert!(
            line.contains("expired") && line.contains("2030-01-01"),
            "{line}"
        );
    }
}
