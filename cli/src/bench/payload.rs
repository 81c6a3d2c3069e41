//! The bench payload: a marker `#SENDER.SEQ.NANOS;` followed by `x` up to
//! the requested size, e.g. `#3.17.120034;xxxxxxxx`.
//!
//! `NANOS` is the send time in nanoseconds since the bench's epoch (one
//! `Instant` shared by every thread), so receive time minus it is the
//! latency. The marker survives both dialects as it is: `#` occurs in no
//! nick and no server notice, and every byte of it is printable ASCII, which
//! the server relays untouched. Receivers find markers by scanning the byte
//! stream for `#` (see `scan`), so they need no line framing: the seed
//! dialect's raw chunks are read the same way.
//!
//! # Invariants
//! - [`encode`] writes exactly `size` bytes when `size >= min_size(..)`.
//! - [`parse`] accepts exactly what [`encode`] writes (the padding aside) and
//!   never reads more than [`MAX_MARKER`] bytes.

use std::fmt::Write as _;

/// The first byte of a marker.
pub(crate) const START: u8 = b'#';
/// Between the marker's numbers.
const SEP: u8 = b'.';
/// The last byte of a marker.
const END: u8 = b';';
/// What fills the payload after the marker.
const PAD: char = 'x';
/// The longest marker: `#`, a `u32`, `.`, a `u32`, `.`, a `u64`, `;`.
pub(crate) const MAX_MARKER: usize = 1 + 10 + 1 + 10 + 1 + 20 + 1;

/// What one payload says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The sending client's index.
    pub(crate) sender: u32,
    /// The message's number among its sender's, from 0.
    pub(crate) seq: u32,
    /// Send time, nanoseconds since the bench's epoch.
    pub(crate) sent_ns: u64,
}

/// The smallest payload size that holds every marker of a run with
/// `senders` senders of `messages` messages each, whatever the send time.
pub(crate) fn min_size(senders: u32, messages: u32) -> usize {
    let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let sender = digits(u64::from(senders.saturating_sub(1)));
    let seq = digits(u64::from(messages.saturating_sub(1)));
    1 + sender + 1 + seq + 1 + digits(u64::MAX) + 1
}

/// Appends `marker`, padded to `size` bytes, to `out`. A marker longer than
/// `size` is written whole (callers check [`min_size`] first).
pub(crate) fn encode(out: &mut String, marker: Marker, size: usize) {
    let start = out.len();
    let Marker {
        sender,
        seq,
        sent_ns,
    } = marker;
    write!(out, "#{sender}.{seq}.{sent_ns};").expect("writing to a String cannot fail");
    let written = out.len() - start;
    out.extend(std::iter::repeat_n(PAD, size.saturating_sub(written)));
}

/// What [`parse`] found at the start of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole marker, `len` bytes long.
    Marker { marker: Marker, len: usize },
    /// A valid beginning cut off by the end of the input (shorter than
    /// [`MAX_MARKER`]): read more and try again.
    Incomplete,
    /// Not a marker (a stray `#`, a number out of range, or a marker broken
    /// by bytes from elsewhere).
    Malformed,
}

/// Parses the marker at the start of `bytes`, which must begin with [`START`].
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    debug_assert_eq!(bytes.first(), Some(&START));
    let mut at = 1;
    let mut fields = [0u64; 3];
    for (field, end) in fields.iter_mut().zip([SEP, SEP, END]) {
        match number(bytes, &mut at, end) {
            Number::Value(value) => *field = value,
            Number::Cut if bytes.len() < MAX_MARKER => return Parsed::Incomplete,
            Number::Cut | Number::Bad => return Parsed::Malformed,
        }
    }
    let [sender, seq, sent_ns] = fields;
    match (u32::try_from(sender), u32::try_from(seq)) {
        (Ok(sender), Ok(seq)) => Parsed::Marker {
            marker: Marker {
                sender,
                seq,
                sent_ns,
            },
            len: at,
        },
        _ => Parsed::Malformed,
    }
}

/// What [`number`] found.
enum Number {
    /// Digits and their end byte.
    Value(u64),
    /// The input ended first.
    Cut,
    /// Something else: a wrong byte, no digits, or more than a `u64`.
    Bad,
}

/// Reads decimal digits then `end`, advancing `at` past both.
fn number(bytes: &[u8], at: &mut usize, end: u8) -> Number {
    let first = *at;
    let mut value: u64 = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        match b {
            b'0'..=b'9' => {
                let Some(next) = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                else {
                    return Number::Bad;
                };
                value = next;
            }
            _ if b == end && *at - 1 > first => return Number::Value(value),
            _ => return Number::Bad,
        }
    }
    Number::Cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(marker: Marker, size: usize) -> String {
        let mut out = String::new();
        encode(&mut out, marker, size);
        out
    }

    const M: Marker = Marker {
        sender: 3,
        seq: 17,
        sent_ns: 120_034,
    };

    #[test]
    fn encode_pads_to_the_size() {
        assert_eq!(encoded(M, 20), "#3.17.120034;xxxxxxx");
        assert_eq!(encoded(M, 20).len(), 20);
    }

    #[test]
    fn encode_appends() {
        let mut out = String::from("bob: ");
        encode(&mut out, M, 13);
        assert_eq!(out, "bob: #3.17.120034;");
    }

    #[test]
    fn parse_reads_what_encode_wrote() {
        for marker in [
            M,
            Marker {
                sender: 0,
                seq: 0,
                sent_ns: 0,
            },
            Marker {
                sender: u32::MAX,
                seq: u32::MAX,
                sent_ns: u64::MAX,
            },
        ] {
            let text = encoded(marker, 64);
            let len = text.find(';').expect("marker has an end") + 1;
            assert_eq!(
                parse(text.as_bytes()),
                Parsed::Marker { marker, len },
                "{text}"
            );
        }
    }

    #[test]
    fn min_size_holds_the_longest_marker() {
        let (senders, messages) = (1000, 100);
        let longest = Marker {
            sender: senders - 1,
            seq: messages - 1,
            sent_ns: u64::MAX,
        };
        let size = min_size(senders, messages);
        assert_eq!(encoded(longest, 0).len(), size);
        assert_eq!(min_size(1, 1), 1 + 1 + 1 + 1 + 1 + 20 + 1);
    }

    #[test]
    fn every_cut_of_a_marker_is_incomplete() {
        let text = encoded(M, 0);
        for cut in 1..text.len() {
            assert_eq!(parse(&text.as_bytes()[..cut]), Parsed::Incomplete, "{cut}");
        }
    }

    #[test]
    fn broken_markers_are_malformed() {
        for bad in [
            &b"#"[..],
            b"#;",
            b"#3..5;",
            b"#3.17;",
            b"#3.17.12x;",
            b"#3.17.12bob: #4.1.1;",
            b"#-3.17.12;",
            b"#99999999999.1.1;",
            b"#1.1.99999999999999999999999;",
        ] {
            // Padding makes the input longer than a marker, so a valid
            // prefix cannot pass as merely cut off.
            let mut long = bad.to_vec();
            long.resize(MAX_MARKER + 1, b' ');
            assert_eq!(
                parse(&long),
                Parsed::Malformed,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_number_out_of_range_is_malformed_even_when_short() {
        assert_eq!(parse(b"#4294967296.0.0;"), Parsed::Malformed);
        assert_eq!(parse(b"#0.1x"), Parsed::Malformed);
    }
}
