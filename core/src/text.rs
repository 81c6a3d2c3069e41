//! Relayed text: lossy UTF-8 and control-character scrubbing.
//!
//! # Invariants
//! [`clean`] returns valid UTF-8 that holds no C0 control character but TAB,
//! no DEL and no C1 control character, so no ESC sequence survives it and no
//! user can drive another user's terminal; and no line or paragraph
//! separator (U+2028, U+2029) and no BiDi embedding, override or isolate
//! (U+202A–U+202E, U+2066–U+2069), so no client that splits lines on them
//! or reorders text by them shows a line that no user said.

use std::borrow::Cow;

/// Whether `c` is removed from relayed text: C0 except TAB, DEL, C1, the
/// line and paragraph separators, and the BiDi embeddings, overrides and
/// isolates.
pub(crate) fn is_scrubbed(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Decodes `bytes` (invalid UTF-8 becomes U+FFFD) and removes scrubbed characters.
pub(crate) fn clean(bytes: &[u8]) -> Cow<'_, str> {
    if bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
    {
        // Printable ASCII: already valid and clean.
        return Cow::Borrowed(std::str::from_utf8(bytes).expect("printable ASCII is UTF-8"));
    }
    let decoded = String::from_utf8_lossy(bytes);
    if decoded.chars().any(is_scrubbed) {
        Cow::Owned(decoded.chars().filter(|&c| !is_scrubbed(c)).collect())
    } else {
        decoded
    }
}

/// Whether [`clean`] would remove anything from `bytes` but invalid UTF-8.
pub(crate) fn has_scrubbed(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes).chars().any(is_scrubbed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_borrowed_unchanged() {
        assert!(matches!(
            clean(b"hello\tworld"),
            Cow::Borrowed("hello\tworld")
        ));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        assert_eq!(clean(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(clean(b"\xe2\x82"), "\u{fffd}");
    }

    #[test]
    fn escape_sequences_lose_their_control_bytes() {
        assert_eq!(clean(b"\x1b[31mred\x1b[0m"), "[31mred[0m");
        assert_eq!(clean(b"a\x07\x7f\x00b"), "ab");
        assert_eq!(clean("x\u{9b}31my".as_bytes()), "x31my");
    }

    #[test]
    fn separators_and_bidi_controls_are_removed() {
        assert_eq!(clean("hi\u{2028}error: fake".as_bytes()), "hierror: fake");
        assert_eq!(clean("a\u{2029}b".as_bytes()), "ab");
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(clean(format!("x{c}y").as_bytes()), "xy", "{c:?}");
        }
        // Marks that only set the direction of neutral characters stay.
        assert_eq!(clean("\u{200f}שלום".as_bytes()), "\u{200f}שלום");
    }

    #[test]
    fn unicode_text_is_kept() {
        assert_eq!(clean("olá, 世界 🎉".as_bytes()), "olá, 世界 🎉");
    }

    #[test]
    fn tab_is_kept_and_other_c0_removed() {
        for b in 0u8..0x20 {
            let cleaned = clean(&[b'a', b, b'b']).into_owned();
            let expected = if b == b'\t' { "a\tb" } else { "ab" };
            assert_eq!(cleaned, expected, "byte {b:#04x}");
        }
    }
}
