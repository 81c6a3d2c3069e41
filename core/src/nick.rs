//! Nick rules.
//!
//! A nick is 1–32 characters: letters and digits (any script that Unicode's
//! identifier profile allows) and `_ - . [ ] { } | ^`; no whitespace,
//! control, format or invisible characters; letters of one script only
//! (digits and the punctuation go with any); it may not start with `-`; and
//! it may not be, or look like, a word the protocol gives meaning to
//! ([`RESERVED`]). Uniqueness is decided on [`fold`]ed nicks, and two nicks
//! that look alike ([`looks`]) cannot be in the room at once.
//!
//! The judgement of what looks alike is Unicode's (TR39): its confusable
//! skeletons, applied to the nick as typed and to its lowercase form, so
//! `aIice` (capital i) looks like `alice`, and `АРЕ` like `ape`. The
//! lowercase form's skeleton is then folded further ([`fold_look_alikes`]):
//! digits that are read as letters become those letters (`0` an `o`, `1`
//! an `l`, `5` an `s`, …) and `i` becomes `l`, so `err0r`, `5erver` and
//! `onl1ne` look like the words they imitate, and `b0b` like `bob`.

use std::fmt;
use std::sync::OnceLock;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// The most characters in a nick.
pub(crate) const MAX_NICK_CHARS: usize = 32;

/// Punctuation allowed in a nick besides letters and digits.
const NICK_PUNCTUATION: &str = "_-.[]{}|^";

/// Words no nick may be or look like: a line from such a user would read
/// like one of the server's own (`error: …`, `Online (…`, `server is …`,
/// `You are …`).
const RESERVED: [&str; 4] = ["error", "online", "server", "you"];

/// No nick may start with (a look-alike of) this: a line from such a user
/// would read like one the server marks (`[pm from …] …`, `[history] …`).
const RESERVED_PREFIX: &str = "[";

/// Why a nick was refused; `Display` is the text after `error: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NickError {
    /// No characters at all.
    Empty,
    /// More than [`MAX_NICK_CHARS`] characters.
    TooLong,
    /// A character outside the allowed set.
    InvalidCharacter,
    /// Letters of more than one script.
    MixedScripts,
    /// Starts with `-`.
    LeadingDash,
    /// Is, or looks like, one of the [`RESERVED`] words.
    Reserved,
    /// Another joined user has it, ignoring case.
    Taken,
    /// Looks like the nick of this joined user.
    TooSimilar(String),
    /// The room's log is down: no nick can be claimed now.
    Unavailable,
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
            NickError::MixedScripts => f.write_str("nick may not mix scripts"),
            NickError::LeadingDash => f.write_str("nick may not start with '-'"),
            NickError::Reserved => f.write_str("nick is reserved"),
            NickError::Taken => f.write_str("nick is already taken"),
            NickError::TooSimilar(other) => write!(f, "nick is too similar to {other}"),
            NickError::Unavailable => f.write_str("room unavailable, try again"),
        }
    }
}

/// The keys a nick is compared under, computed once per nick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NickKeys {
    /// For uniqueness: [`fold`].
    pub(crate) folded: String,
    /// For looking alike: [`looks`].
    pub(crate) looks: [String; 2],
}

/// Checks `nick` (not its uniqueness) and returns its keys.
pub(crate) fn validate(nick: &str) -> Result<NickKeys, NickError> {
    validate_form(nick)?;
    let keys = NickKeys {
        folded: fold(nick),
        looks: looks(nick),
    };
    if is_reserved(&keys.looks) {
        return Err(NickError::Reserved);
    }
    Ok(keys)
}

/// Checks the characters, length and script of `nick`: whether it is
/// shaped like a nick, reserved words aside. Cheap: no skeletons.
pub(crate) fn validate_form(nick: &str) -> Result<(), NickError> {
    if nick.is_empty() {
        return Err(NickError::Empty);
    }
    if nick.chars().count() > MAX_NICK_CHARS {
        return Err(NickError::TooLong);
    }
    if !nick.chars().all(is_nick_char) {
        return Err(NickError::InvalidCharacter);
    }
    if !nick.is_ascii() && !nick.is_single_script() {
        return Err(NickError::MixedScripts);
    }
    if nick.starts_with('-') {
        return Err(NickError::LeadingDash);
    }
    Ok(())
}

/// Letters and digits that Unicode's identifier profile allows (which
/// leaves out fillers, invisible and compatibility characters such as
/// fullwidth or mathematical letters), and [`NICK_PUNCTUATION`].
fn is_nick_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || NICK_PUNCTUATION.contains(c);
    }
    c.is_alphanumeric() && c.identifier_allowed()
}

/// Whether a nick with these look-alike keys is (a look-alike of) a
/// reserved word or starts with the reserved prefix.
fn is_reserved(keys: &[String; 2]) -> bool {
    static KEYS: OnceLock<(Vec<String>, [String; 2])> = OnceLock::new();
    let (words, prefixes) = KEYS.get_or_init(|| {
        let words = RESERVED.iter().flat_map(|word| looks(word));
        (words.collect(), looks(RESERVED_PREFIX))
    });
    keys.iter().any(|key| {
        words.contains(key)
            || prefixes
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
    })
}

/// The key under which nicks are compared for uniqueness: lowercase.
pub(crate) fn fold(nick: &str) -> String {
    if nick.is_ascii() {
        nick.to_ascii_lowercase()
    } else {
        nick.to_lowercase()
    }
}

/// The two keys under which nicks are compared for looking alike: the
/// confusable skeleton of the nick as typed, and that of its [`fold`]
/// with look-alike digits and letters folded ([`fold_look_alikes`]). Two
/// nicks look alike when any key of one equals any key of the other.
/// Equal [`fold`]s give equal second keys, so looking alike includes
/// being taken.
pub(crate) fn looks(nick: &str) -> [String; 2] {
    [skeleton(nick), fold_look_alikes(&skeleton(&fold(nick)))]
}

/// Folds a skeleton's ASCII further, where a reader takes one character
/// for another: lowercase, digits to the letters they are written for
/// (`0` o, `1` l, `2` z, `3` e, `4` a, `5` s, `7` t, `8` b; no two digits
/// to one letter, so nicks that differ only in digits stay apart), and
/// `i` to `l` (so `1` counts as both). Applied after the skeleton, so nicks
/// with equal skeletons keep equal keys.
fn fold_look_alikes(skeleton: &str) -> String {
    skeleton
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' | 'i' => 'l',
            '2' => 'z',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '7' => 't',
            '8' => 'b',
            other => other,
        })
        .collect()
}

fn skeleton(text: &str) -> String {
    unicode_security::skeleton(text).collect()
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
            "x[y]{z}|^",
            "José",
            "日本",
            "٣",
            "x",
        ] {
            assert!(validate(nick).is_ok(), "{nick}");
        }
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(validate(&"é".repeat(32)).is_ok());
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
            "a\u{3164}b",
            "a\u{115f}b",
            "a\u{200d}b",
            "a:b",
            "a'b",
            "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
            "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}",
        ] {
            assert_eq!(validate(nick), Err(NickError::InvalidCharacter), "{nick:?}");
        }
    }

    #[test]
    fn refuses_a_leading_dash_only() {
        assert_eq!(validate("-x"), Err(NickError::LeadingDash));
        assert!(validate("x-").is_ok());
    }

    #[test]
    fn refuses_letters_of_two_scripts() {
        assert_eq!(validate("\u{430}lice"), Err(NickError::MixedScripts));
        assert_eq!(validate("err\u{3bf}r"), Err(NickError::MixedScripts));
        // Japanese mixes Han and kana by nature; digits go with any script.
        assert!(validate("日本かな").is_ok());
        assert!(validate("José2").is_ok());
    }

    #[test]
    fn refuses_reserved_words_and_their_look_alikes() {
        for nick in [
            "error", "Error", "ERROR", "online", "Server", "you", "[pm", "[pmx", "[prn",
        ] {
            assert_eq!(validate(nick), Err(NickError::Reserved), "{nick:?}");
        }
        // Nothing starts with `[`: lines the server marks do.
        for nick in ["[", "[history]", "[server]", "[error]", "[x]"] {
            assert_eq!(validate(nick), Err(NickError::Reserved), "{nick:?}");
        }
        // Digits written for letters.
        for nick in [
            "ERR0R", "err0r", "0nline", "onl1ne", "0NL1NE", "5erver", "s3rv3r", "Y0U", "y0u",
        ] {
            assert_eq!(validate(nick), Err(NickError::Reserved), "{nick:?}");
        }
        // A look-alike in one other script: Cyrillic "е г г о г".
        assert_eq!(
            validate("\u{435}\u{433}\u{433}\u{43e}\u{433}"),
            Err(NickError::Reserved)
        );
        for nick in ["errors", "you2", "x[y]", "pm", "serv", "y0u2", "5erv"] {
            assert!(validate(nick).is_ok(), "{nick:?}");
        }
    }

    #[test]
    fn look_alikes_share_a_key() {
        let alike = |a: &str, b: &str| {
            let (a, b) = (looks(a), looks(b));
            a.iter().any(|k| b.contains(k))
        };
        assert!(alike("alice", "aIice"));
        assert!(alike("alice", "ALICE"));
        assert!(alike("ape", "\u{430}\u{440}\u{435}"));
        assert!(alike("rn", "m"));
        assert!(alike("bob", "b0b"));
        assert!(alike("bob", "B0B"));
        assert!(alike("alice", "al1ce"));
        assert!(alike("sue", "5ue"));
        assert!(alike("l33t", "leet"));
        assert!(!alike("alice", "alicia"));
        assert!(!alike("bob", "dave"));
    }

    #[test]
    fn fold_ignores_case_in_any_script() {
        assert_eq!(fold("Alice"), fold("aLICE"));
        assert_eq!(fold("ÉLODIE"), fold("élodie"));
        assert_ne!(fold("alice"), fold("alicia"));
    }
}
