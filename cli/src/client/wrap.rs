//! Long received lines broken into rows at word boundaries, for a terminal
//! of a known width. Continuation rows start at an indent (where the text
//! after `nick: ` starts), so a message reads as one block. SGR escape
//! sequences take no room; everything else is unchanged, except the one
//! space at each break, which the break replaces.

use unicode_width::UnicodeWidthChar;

/// `text` (one line, possibly with SGR codes) laid out in rows of at most
/// `columns` cells: breaks go at spaces, continuation rows start with
/// `indent` spaces (at most half the width, so every row has room), and a
/// word wider than a row is cut where the row ends. A line that fits is
/// returned as it is.
pub(crate) fn wrap(text: &str, indent: usize, columns: usize) -> String {
    if columns == 0 || width(text) <= columns {
        return text.to_string();
    }
    let indent = indent.min(columns / 2);
    let mut out = String::with_capacity(text.len() + 16);
    let mut col = 0;
    let new_row = |out: &mut String, col: &mut usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent));
        *col = indent;
    };
    for (i, word) in text.split(' ').enumerate() {
        let word_width = width(word);
        if i > 0 {
            if col + 1 + word_width <= columns {
                out.push(' ');
                col += 1;
            } else if word_width <= columns - indent && col > indent {
                new_row(&mut out, &mut col);
            } else if col + 1 < columns {
                // Too wide for any row: it starts here and is cut.
                out.push(' ');
                col += 1;
            } else {
                new_row(&mut out, &mut col);
            }
        }
        for piece in pieces(word) {
            match piece {
                Piece::Escape(code) => out.push_str(code),
                Piece::Char(c, w) => {
                    if col + w > columns {
                        new_row(&mut out, &mut col);
                    }
                    out.push(c);
                    col += w;
                }
            }
        }
    }
    out
}

/// Part of a line: an escape sequence (no width) or a character and its width.
enum Piece<'a> {
    Escape(&'a str),
    Char(char, usize),
}

/// The pieces of `text`, in order. An escape sequence is `ESC [`, then
/// parameters, up to its final byte (`@` to `~`).
fn pieces(text: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        if let Some(tail) = rest.strip_prefix("\x1b[") {
            let end = tail
                .find(|c: char| ('@'..='~').contains(&c))
                .map_or(rest.len(), |at| at + 3);
            let (code, after) = rest.split_at(end);
            rest = after;
            return Some(Piece::Escape(code));
        }
        rest = &rest[c.len_utf8()..];
        Some(Piece::Char(c, c.width().unwrap_or(0)))
    })
}

/// How many cells `text` takes, escape sequences aside.
pub(crate) fn width(text: &str) -> usize {
    pieces(text)
        .map(|p| match p {
            Piece::Escape(_) => 0,
            Piece::Char(_, w) => w,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, indent: usize, columns: usize) -> Vec<String> {
        wrap(text, indent, columns)
            .split('\n')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_line_that_fits_is_unchanged() {
        assert_eq!(wrap("bob: hi  there ", 5, 15), "bob: hi  there ");
        assert_eq!(wrap("bob: \x1b[1mhi\x1b[0m", 5, 7), "bob: \x1b[1mhi\x1b[0m");
    }

    #[test]
    fn breaks_go_between_words_with_the_indent() {
        assert_eq!(
            rows("bob: the quick brown fox jumps over", 5, 16),
            ["bob: the quick", "     brown fox", "     jumps over"]
        );
    }

    #[test]
    fn no_row_is_wider_than_the_terminal_and_no_letter_is_lost() {
        let line = "carol: a aa aaa aaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa é日本語 b  c";
        for columns in 4..40 {
            let rows = rows(line, 7, columns);
            for row in &rows {
                assert!(width(row) <= columns, "{columns}: {rows:?}");
            }
            let letters = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
            assert_eq!(letters(&rows.concat()), letters(line), "{columns}");
        }
    }

    #[test]
    fn a_word_wider_than_a_row_is_cut() {
        assert_eq!(
            rows("bob: abcdefghijklmnop", 5, 10),
            ["bob: abcde", "     fghij", "     klmno", "     p"]
        );
    }

    #[test]
    fn escape_sequences_take_no_room() {
        let line = "\x1b[32mbob\x1b[0m: one two three";
        assert_eq!(
            rows(line, 5, 13),
            ["\x1b[32mbob\x1b[0m: one two", "     three"]
        );
    }
}
