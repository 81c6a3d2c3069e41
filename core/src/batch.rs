//! Room lines not yet delivered: the room batch (lines accepted during one
//! input) and the held join and leave notices of a large room.
//!
//! # Invariants
//! `ends` holds the end offset of every line in `bytes`, strictly
//! increasing, the last one equal to `bytes.len()`: the batch is always a
//! whole number of lines.

/// Room lines waiting to be sent to every joined user as one payload.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// Appends one line: the concatenation of `parts`, then `\n`.
    pub(crate) fn push_line(&mut self, parts: &[&str]) {
        for part in parts {
            self.bytes.extend_from_slice(part.as_bytes());
        }
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len());
    }

    /// Whether no line waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes of every waiting line.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The end of the first line that does not fit in `room` bytes, or the
    /// end of the batch if every line fits.
    pub(crate) fn end_of_line_crossing(&self, room: usize) -> usize {
        let crossing = self.ends.partition_point(|&end| end <= room);
        self.ends.get(crossing).copied().unwrap_or(self.bytes.len())
    }

    /// The bytes from offset `from` to offset `to`.
    pub(crate) fn slice(&self, from: usize, to: usize) -> &[u8] {
        &self.bytes[from..to]
    }

    /// Takes the lines before offset `at` (a line end) out of the batch.
    pub(crate) fn take_front(&mut self, at: usize) -> Vec<u8> {
        let lines = self.ends.partition_point(|&end| end <= at);
        debug_assert!(
            at == 0 || self.ends.get(lines - 1) == Some(&at),
            "cut inside a line"
        );
        if at == self.bytes.len() {
            self.ends.clear();
            return std::mem::take(&mut self.bytes);
        }
        let rest = self.bytes.split_off(at);
        self.ends.drain(..lines);
        self.ends.iter_mut().for_each(|end| *end -= at);
        std::mem::replace(&mut self.bytes, rest)
    }

    /// Moves every line of `later` after the lines of `self`.
    pub(crate) fn append(&mut self, later: Batch) {
        let offset = self.bytes.len();
        self.bytes.extend_from_slice(&later.bytes);
        self.ends.extend(later.ends.iter().map(|end| end + offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for line in lines {
            batch.push_line(&[line]);
        }
        batch
    }

    #[test]
    fn crossing_line_is_found_by_its_end() {
        let b = batch(&["aa", "bbb", "c"]); // ends 3, 7, 9
        assert_eq!(b.end_of_line_crossing(0), 3);
        assert_eq!(b.end_of_line_crossing(3), 7);
        assert_eq!(b.end_of_line_crossing(8), 9);
        assert_eq!(b.end_of_line_crossing(9), 9);
        assert_eq!(b.end_of_line_crossing(100), 9);
    }

    #[test]
    fn take_front_keeps_the_rest_as_whole_lines() {
        let mut b = batch(&["aa", "bbb", "c"]);
        assert_eq!(b.take_front(3), b"aa\n");
        assert_eq!(b.end_of_line_crossing(0), 4);
        b.append(batch(&["dd"]));
        assert_eq!(b.take_front(b.len()), b"bbb\nc\ndd\n");
        assert!(b.is_empty());
    }
}
