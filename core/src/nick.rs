//! Nick rules.
//!
//! A nick is 1–32 characters: letters and digits (any script) and
//! `_ - . [ ] { } | ^`; no whitespace, control or format characters; it may
//! not start with `-`. Uniqueness is decided on [`fold`]ed nicks.

use std::fmt;

/// The most characters in a nick.
pub(crate) const MAX_NICK_CHARS: usize = 32;

/// Punctuation allowed in a nick besides letters and digits.
const NICK_PUNCTUATION: &str = "_-.[]{}|^";

/// Why a nick was refused; `Display` is the text after `error: `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NickError {
    /// No characters at all.
    Empty,
    /// More than [`MAX_NICK_CHARS`] characters.
    TooLong,
    /// A character outside the allowed set.
    InvalidCharacter,
    /// Starts with `-`.
    LeadingDash,
    /// Another joined user has it, ignoring case.
    Taken,
}

impl fmt::Display for NickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NickError::Empty => f.write_str("nick is empty"),
            NickError::TooLong => write!(f, "nick too long (max {MAX_NICK_CHARS} characters)"),
            NickError::InvalidCharacter => {
                write!(
                    f,
                    "nick may only contain letters, digits and {NICK_PUNCTUATION}"
                )
            }
            NickError::LeadingDash => f.write_str("nick may not start with '-'"),
            NickError::Taken => f.write_str("nick is already taken"),
        }
    }
}

/// Checks the form of `nick` (not its uniqueness).
pub(crate) fn validate(nick: &str) -> Result<(), NickError> {
    if nick.is_empty() {
        return Err(NickError::Empty);
    }
    if nick.chars().count() > MAX_NICK_CHARS {
        return Err(NickError::TooLong);
    }
    if !nick.chars().all(is_nick_char) {
        return Err(NickError::InvalidCharacter);
    }
    if nick.starts_with('-') {
        return Err(NickError::LeadingDash);
    }
    Ok(())
}

fn is_nick_char(c: char) -> bool {
    c.is_alphanumeric() || NICK_PUNCTUATION.contains(c)
}

/// The key under which nicks are compared for uniqueness: lowercase.
pub(crate) fn fold(nick: &str) -> String {
    if nick.is_ascii() {
        nick.to_ascii_lowercase()
    } else {
        nick.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_punctuation() {
        for nick in [
            "alice",
            "Bob_2",
            "a.b-c",
            "[x]{y}|z^",
            "José",
            "日本",
            "٣",
            "x",
        ] {
            assert_eq!(validate(nick), Ok(()), "{nick}");
        }
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(validate(&"é".repeat(32)), Ok(()));
        assert_eq!(validate(&"a".repeat(33)), Err(NickError::TooLong));
        assert_eq!(validate(""), Err(NickError::Empty));
    }

    #[test]
    fn refuses_whitespace_control_format_and_symbols() {
        for nick in [
            "a b",
            "a\tb",
            "a\u{7}",
            "a\u{200b}",
            "a\u{202e}",
            "a:b",
            "a?",
            "a@b",
            "a\u{fffd}",
        ] {
            assert_eq!(validate(nick), Err(NickError::InvalidCharacter), "{nick:?}");
        }
    }

    #[test]
    fn refuses_a_leading_dash_only() {
        assert_eq!(validate("-x"), Err(NickError::LeadingDash));
        assert_eq!(validate("x-"), Ok(()));
    }

    #[test]
    fn fold_ignores_case_in_any_script() {
        assert_eq!(fold("Alice"), fold("aLICE"));
        assert_eq!(fold("ÉLODIE"), fold("élodie"));
        assert_ne!(fold("alice"), fold("alicia"));
    }
}
