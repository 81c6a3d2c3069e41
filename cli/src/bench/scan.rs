//! Finding payload markers in a received byte stream, whatever its framing.
//!
//! A read may end in the middle of a marker; the cut-off start is kept in a
//! [`Carry`] (at most [`MAX_MARKER`] bytes) and put in front of the next
//! read. Nothing here allocates.

use super::payload::{self, Marker, Parsed, MAX_MARKER, START};

/// The most bytes a [`Carry`] holds.
pub(crate) const MAX_CARRY: usize = MAX_MARKER;

/// The unfinished start of a marker from the end of the previous read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Carry {
    bytes: [u8; MAX_MARKER],
    len: usize,
}

impl Default for Carry {
    fn default() -> Self {
        Carry {
            bytes: [0; MAX_MARKER],
            len: 0,
        }
    }
}

impl Carry {
    /// The carried bytes, to go in front of the next read.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Keeps `tail` (as returned by [`scan`]) for the next read.
    pub(crate) fn set(&mut self, tail: &[u8]) {
        assert!(tail.len() < MAX_MARKER, "scan returns short tails only");
        self.bytes[..tail.len()].copy_from_slice(tail);
        self.len = tail.len();
    }
}

/// Calls `on_marker` for every whole marker in `bytes`, in order, counting
/// broken ones in `malformed`. Returns the tail to carry into the next read:
/// a marker's valid beginning cut off by the end of `bytes` (shorter than
/// [`MAX_MARKER`]), or nothing.
pub(crate) fn scan<'a>(
    bytes: &'a [u8],
    malformed: &mut u64,
    mut on_marker: impl FnMut(Marker),
) -> &'a [u8] {
    let mut from = 0;
    while let Some(found) = memchr::memchr(START, &bytes[from..]) {
        let at = from + found;
        match payload::parse(&bytes[at..]) {
            Parsed::Marker { marker, len } => {
                on_marker(marker);
                from = at + len;
            }
            Parsed::Incomplete => return &bytes[at..],
            Parsed::Malformed => {
                *malformed += 1;
                from = at + 1;
            }
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::payload::encode;

    fn marker(sender: u32, seq: u32) -> Marker {
        Marker {
            sender,
            seq,
            sent_ns: 1_000_000 + u64::from(seq),
        }
    }

    /// A framed stream: notices and `NICK: payload` lines.
    fn framed(markers: &[Marker]) -> Vec<u8> {
        let mut text = String::from("b1 joined the chat\nOnline (2): b0, b1\n");
        for m in markers {
            text.push_str(&format!("b{}: ", m.sender));
            encode(&mut text, *m, 64);
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Scans `stream` cut into reads of `chunk` bytes, as a reader would.
    fn scan_in_reads(stream: &[u8], chunk: usize) -> (Vec<Marker>, u64) {
        let (mut found, mut malformed) = (Vec::new(), 0);
        let mut carry = Carry::default();
        for read in stream.chunks(chunk) {
            let mut buf = carry.bytes().to_vec();
            buf.extend_from_slice(read);
            let tail = scan(&buf, &mut malformed, |m| found.push(m));
            carry.set(tail);
        }
        (found, malformed)
    }

    #[test]
    fn markers_are_found_across_any_read_boundary() {
        let sent: Vec<Marker> = (0..20).map(|i| marker(i % 3, i)).collect();
        let stream = framed(&sent);
        for chunk in [1, 2, 3, 7, 13, 64, 65, 1024, stream.len()] {
            assert_eq!(scan_in_reads(&stream, chunk), (sent.clone(), 0), "{chunk}");
        }
    }

    #[test]
    fn seed_dialect_chunks_are_scanned_the_same() {
        let sent = [marker(0, 0), marker(1, 0), marker(0, 1)];
        let mut text = String::from("b'b0' esta conectado ao chatVoce esta conectado ao servidor!");
        for m in &sent {
            text.push_str(&format!("b{}: ", m.sender));
            encode(&mut text, *m, 40);
        }
        assert_eq!(scan_in_reads(text.as_bytes(), 5), (sent.to_vec(), 0));
    }

    #[test]
    fn a_marker_broken_by_other_bytes_is_malformed_and_the_rest_still_found() {
        let (a, b) = (marker(0, 0), marker(1, 0));
        let mut whole = String::new();
        encode(&mut whole, a, 0);
        let mut text = whole[..5].to_string();
        text.push_str("b1: ");
        encode(&mut text, b, 40);
        text.push_str(&whole[5..]);
        assert_eq!(scan_in_reads(text.as_bytes(), 1024), (vec![b], 1));
    }

    #[test]
    fn a_stray_hash_is_malformed() {
        let mut text = String::from("b0: # is not a marker, #1.2 neither; ");
        encode(&mut text, marker(2, 3), 40);
        assert_eq!(
            scan_in_reads(text.as_bytes(), 1024),
            (vec![marker(2, 3)], 2)
        );
    }

    #[test]
    fn carry_stays_short() {
        let mut malformed = 0;
        let tail = scan(b"xx#12.34.5678", &mut malformed, |_| {});
        assert_eq!(tail, b"#12.34.5678");
        assert_eq!(malformed, 0);
        let mut carry = Carry::default();
        carry.set(tail);
        assert_eq!(carry.bytes(), tail);
    }
}
