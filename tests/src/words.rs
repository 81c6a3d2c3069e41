//! The fixed vocabulary scripted clients draw from: nicks, message fillers,
//! garbage, and the unique token every message carries.
//!
//! Scenarios name entries of these tables by index, so a scenario stays plain
//! data and its `Debug` stays short.

use std::fmt;

/// Valid nicks (docs/protocol.md: 1–32 letters or digits, Unicode allowed, or
/// `_-.[]{}|^`; not starting with `-` or `[`). Distinct even ignoring case;
/// two pairs look alike (`aIice` and `alice`, `b0b` and `bob`), so at most
/// one of each pair can be in the room.
pub const NICKS: [&str; 15] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "Ärger",
    "日本",
    "x[y]",
    "a.b_c",
    "z|y^",
    "{w}",
    "Zoë",
    "q-1",
    // 32 characters, 64 bytes: the longest valid nick.
    "éééééééééééééééééééééééééééééééé",
    // A capital i: looks like alice.
    "aIice",
    // A zero: looks like bob.
    "b0b",
];

/// Invalid nicks, each breaking one rule.
pub const BAD_NICKS: [&str; 12] = [
    "",
    "has space",
    "-dash",
    "tab\tx",
    "bell\u{7}",
    "semi:colon",
    "smile\u{1f642}",
    "zero\u{200b}width",
    "a/b",
    "[x]",
    "error",
    "0nline",
];

/// Message fillers: valid UTF-8, no control characters but TAB.
pub const PADS: [&str; 8] = [
    "",
    "hello",
    "héllo wörld",
    "日本語のテキスト",
    "emoji \u{1f642} ok",
    "tab\tinside",
    "a  b   c",
    "0123456789abcdefghijklmnopqrstuvwxyz",
];

/// Bytes a hostile or broken client sends: escape sequences, control
/// characters, invalid and truncated UTF-8. None holds `\n` or `#`.
pub const GARBAGE: [&[u8]; 10] = [
    b"\x1b[31mred\x1b[0m",
    b"\xff\xfe bad",
    b"trunc \xc3",
    b"bell\x07 del\x7f",
    b"c1 \xc2\x9b x",
    b"nul\x00 z",
    b"mid\rcr",
    b"\xe2\x82",
    b"ok \xf0\x9f\x99",
    b"\x1b]0;title\x07",
];

/// What a web client sends to the chat port by mistake: a POST whose body,
/// read as chat, would be a nick and a line.
pub const HTTP_REQUEST: &[u8] = b"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n\
Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nwebbot\nhello\n";

/// The start of a TLS connection: a handshake record holding a ClientHello
/// (shortened; its first bytes are what matters).
pub const TLS_HELLO: &[u8] = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03\
\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\
\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\
\x00\x00\x02\x13\x01\x01\x00";

/// Where client `i` connects from, cycling: two IPv4 addresses, two IPv6
/// addresses of one /64 (one group), the first IPv4 address again as
/// IPv4-mapped IPv6 (the same group), and loopback (exempt unless limited).
pub fn address(i: u32) -> std::net::IpAddr {
    const ADDRESSES: [&str; 6] = [
        "198.51.100.1",
        "198.51.100.2",
        "2001:db8::1",
        "2001:db8::2",
        "::ffff:198.51.100.1",
        "127.0.0.1",
    ];
    let text = ADDRESSES[i as usize % ADDRESSES.len()];
    text.parse()
        .unwrap_or(std::net::IpAddr::from([198, 51, 100, 1]))
}

/// The longest nick docs/protocol.md allows, in characters.
pub const MAX_NICK_CHARS: usize = 32;

/// A too-long nick of `33 + extra % 8` characters.
pub fn too_long_nick(extra: u8) -> String {
    "n".repeat(MAX_NICK_CHARS + 1 + usize::from(extra % 8))
}

/// The valid nick number `i` (taken modulo the table).
pub fn nick(i: u8) -> &'static str {
    NICKS[usize::from(i) % NICKS.len()]
}

/// The invalid nick number `i` (taken modulo the table).
pub fn bad_nick(i: u8) -> &'static str {
    BAD_NICKS[usize::from(i) % BAD_NICKS.len()]
}

/// The filler number `i` (taken modulo the table).
pub fn pad(i: u8) -> &'static str {
    PADS[usize::from(i) % PADS.len()]
}

/// The garbage number `i` (taken modulo the table).
pub fn garbage(i: u8) -> &'static [u8] {
    GARBAGE[usize::from(i) % GARBAGE.len()]
}

/// The mark that makes every message of a run unique: `#CLIENT.SEQ`.
///
/// `#` is not a nick character, so a token can never be taken for a nick,
/// and no filler or garbage contains one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    /// The client that sent it (its index in the scenario).
    pub client: u32,
    /// Its number among that client's tokens.
    pub seq: u32,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.client, self.seq)
    }
}

impl Token {
    /// Every token in `text`, in order.
    pub fn find_all(text: &str) -> Vec<Token> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'#' {
                if let Some((token, len)) = Token::parse_at(&bytes[i + 1..]) {
                    found.push(token);
                    i += 1 + len;
                    continue;
                }
            }
            i += 1;
        }
        found
    }

    /// `DIGITS.DIGITS` at the start of `bytes`, and its length.
    fn parse_at(bytes: &[u8]) -> Option<(Token, usize)> {
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let a = digits(0);
        if a == 0 || a > 9 || bytes.get(a) != Some(&b'.') {
            return None;
        }
        let b = digits(a + 1);
        if b == 0 || b > 9 {
            return None;
        }
        let client = std::str::from_utf8(&bytes[..a]).ok()?.parse().ok()?;
        let seq = std::str::from_utf8(&bytes[a + 1..a + 1 + b])
            .ok()?
            .parse()
            .ok()?;
        Some((Token { client, seq }, a + 1 + b))
    }
}

/// Whether `nick` obeys docs/protocol.md's nick rules (uniqueness aside).
///
/// This is the checkers' oracle, not the core's rule: the core has its own.
pub fn is_valid_nick(nick: &str) -> bool {
    let count = nick.chars().count();
    (1..=MAX_NICK_CHARS).contains(&count)
        && !nick.starts_with('-')
        && !nick.starts_with('[')
        && !["error", "online", "server", "you"]
            .iter()
            .any(|word| looks_alike(nick, word))
        && nick
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.[]{}|^".contains(c))
}

/// The form of a nick that uniqueness compares.
pub fn fold(nick: &str) -> String {
    nick.to_lowercase()
}

/// Whether two nicks may not be in the room at once: equal ignoring case,
/// or with the same confusable skeleton (Unicode TR39) as typed or in
/// lowercase, the latter read with digits as the letters they are written
/// for and `i` as `l`.
pub fn looks_alike(a: &str, b: &str) -> bool {
    let as_letters = |c: char| {
        let lower = c.to_ascii_lowercase();
        match "01234578i".find(lower) {
            Some(at) => "olzeastbl".as_bytes()[at] as char,
            None => lower,
        }
    };
    let keys = |n: &str| -> [String; 2] {
        [
            unicode_security::skeleton(n).collect(),
            unicode_security::skeleton(&fold(n))
                .map(as_letters)
                .collect(),
        ]
    };
    let (a, b) = (keys(a), keys(b));
    a.iter().any(|k| b.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_what_they_claim() {
        assert!(NICKS.iter().all(|n| is_valid_nick(n)));
        assert!(BAD_NICKS.iter().all(|n| !is_valid_nick(n)));
        assert!(!is_valid_nick(&too_long_nick(0)));
        let mut folded: Vec<_> = NICKS.iter().map(|n| fold(n)).collect();
        folded.sort();
        folded.dedup();
        assert_eq!(folded.len(), NICKS.len());
        let alike: Vec<(&str, &str)> = NICKS
            .iter()
            .enumerate()
            .flat_map(|(i, a)| NICKS[i + 1..].iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| looks_alike(a, b))
            .collect();
        assert_eq!(alike, [("alice", "aIice"), ("bob", "b0b")]);
    }

    #[test]
    fn tokens_are_found() {
        let t = Token::find_all("alice: #3.17 x #1.2");
        assert_eq!(
            t,
            vec![Token { client: 3, seq: 17 }, Token { client: 1, seq: 2 }]
        );
        assert!(Token::find_all("# 3.1 #a.b #3.").is_empty());
    }
}
