//! Splitting a byte stream into lines, with a cap on line length.
//!
//! # Invariants
//! - The buffer never holds more than `max_line + 1` bytes (the `+ 1` is a
//!   `\r` that may turn out to be part of a `\r\n` terminator).
//! - A line over the cap yields exactly one [`Frame::TooLong`]; the rest of it,
//!   up to and including its `\n`, is discarded.
//! - Bytes are kept raw until a line is complete, so a UTF-8 character split
//!   across two reads is whole when the line is decoded.

/// One result of [`LineBuffer::next_frame`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A complete line, terminator (`\n` or `\r\n`) removed.
    Line(&'a [u8]),
    /// A line passed the cap; its remaining bytes will be discarded.
    TooLong,
}

/// A line assembler for one connection.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    partial: Vec<u8>,
    /// The bytes of the line handed out last; reused for the next one.
    line: Vec<u8>,
    discarding: bool,
}

impl LineBuffer {
    /// Consumes bytes from the front of `input` until one frame is complete.
    /// Returns `None` once `input` is used up without completing a frame.
    pub(crate) fn next_frame<'a>(
        &'a mut self,
        input: &mut &[u8],
        max_line: usize,
    ) -> Option<Frame<'a>> {
        while !input.is_empty() {
            let newline = input.iter().position(|&b| b == b'\n');
            let (chunk, rest) = match newline {
                Some(at) => (&input[..at], &input[at + 1..]),
                None => (*input, &input[input.len()..]),
            };
            *input = rest;
            if self.discarding {
                self.discarding = newline.is_none();
                continue;
            }
            if self.partial.len() + chunk.len() > max_line + 1 {
                self.partial.clear();
                self.discarding = newline.is_none();
                return Some(Frame::TooLong);
            }
            self.partial.extend_from_slice(chunk);
            // No terminator yet: the line waits for the next read.
            newline?;
            if self.partial.last() == Some(&b'\r') {
                self.partial.pop();
            }
            if self.partial.len() > max_line {
                self.partial.clear();
                return Some(Frame::TooLong);
            }
            std::mem::swap(&mut self.line, &mut self.partial);
            self.partial.clear();
            return Some(Frame::Line(&self.line));
        }
        None
    }

    /// The bytes of an unfinished line.
    pub(crate) fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// Takes the unfinished line out, leaving the buffer empty.
    pub(crate) fn take_partial(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `reads` one by one and records every frame as text.
    fn frames(reads: &[&[u8]], max_line: usize) -> Vec<String> {
        let mut buffer = LineBuffer::default();
        let mut out = Vec::new();
        for read in reads {
            let mut input = *read;
            while let Some(frame) = buffer.next_frame(&mut input, max_line) {
                out.push(match frame {
                    Frame::Line(line) => String::from_utf8_lossy(line).into_owned(),
                    Frame::TooLong => "<too long>".to_string(),
                });
            }
            assert!(input.is_empty());
            assert!(buffer.partial().len() <= max_line + 1);
        }
        out
    }

    #[test]
    fn splits_coalesced_lines_and_strips_crlf() {
        assert_eq!(frames(&[b"a\nb\r\nc"], 10), ["a", "b"]);
    }

    #[test]
    fn joins_lines_cut_across_reads() {
        assert_eq!(
            frames(&[b"hel", b"lo\nwor", b"ld\n"], 10),
            ["hello", "world"]
        );
    }

    #[test]
    fn keeps_a_utf8_character_split_across_reads() {
        let snowman = "☃".as_bytes();
        let reads: [&[u8]; 3] = [&snowman[..1], &snowman[1..], b"\n"];
        assert_eq!(frames(&reads, 10), ["☃"]);
    }

    #[test]
    fn line_at_the_cap_passes_and_one_over_fails_once() {
        assert_eq!(frames(&[b"abcd\n"], 4), ["abcd"]);
        assert_eq!(frames(&[b"abcd\r\n"], 4), ["abcd"]);
        assert_eq!(frames(&[b"abcde\n", b"ok\n"], 4), ["<too long>", "ok"]);
    }

    #[test]
    fn overlong_line_is_discarded_up_to_its_terminator() {
        let reads: [&[u8]; 4] = [b"abc", b"defgh", b"ijk", b"lm\nok\n"];
        assert_eq!(frames(&reads, 4), ["<too long>", "ok"]);
    }

    #[test]
    fn empty_lines_are_frames() {
        assert_eq!(frames(&[b"\n\r\n"], 4), ["", ""]);
    }
}
