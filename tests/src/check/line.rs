//! What kind of line the server sent: the checkers' reading of docs/protocol.md's
//! texts. A line that fits no known shape is [`Line::Other`] (help text).

use crate::words::{is_valid_nick, Token};

/// One line the server sent, terminator removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `NICK joined the chat` (a room line).
    Joined(String),
    /// `NICK left the chat!` or `NICK left the chat! (REASON)` (a room line).
    Left {
        /// Who left.
        nick: String,
        /// Why, if said.
        reason: Option<String>,
    },
    /// `OLD is now known as NEW` (a room line).
    Renamed {
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
    },
    /// `NICK: TEXT` (a room line). `/help`'s lines cannot look like this:
    /// they start with spaces or end with a colon.
    Msg {
        /// Sender.
        nick: String,
        /// Text.
        text: String,
    },
    /// `* NICK TEXT` (a room line).
    Me {
        /// Sender.
        nick: String,
        /// Text.
        text: String,
    },
    /// `[pm from NICK] TEXT`.
    PmFrom {
        /// Sender.
        nick: String,
        /// Text.
        text: String,
    },
    /// `[pm to NICK] TEXT`.
    PmTo {
        /// Recipient.
        nick: String,
        /// Text.
        text: String,
    },
    /// `You are connected to the server!`.
    Welcome,
    /// `Online (N): a, b, c`, or one line of a list split over several:
    /// the last may end with the item `and K more`.
    Online {
        /// N as written.
        count: usize,
        /// The nicks, in the order written.
        nicks: Vec<String>,
        /// K of a last item `and K more`, else 0.
        more: usize,
    },
    /// `server is shutting down`.
    Shutdown,
    /// `pong TOKEN`: the answer to `/ping TOKEN` (TOKEN is one word).
    Pong(String),
    /// `error: …`.
    Error(String),
    /// Anything else (only `/help` may produce it).
    Other(String),
}

impl Line {
    /// Whether every joined user gets this line (in the room's one order).
    pub fn is_room_line(&self) -> bool {
        matches!(
            self,
            Line::Joined(_)
                | Line::Left { .. }
                | Line::Renamed { .. }
                | Line::Msg { .. }
                | Line::Me { .. }
        )
    }

    /// The tokens in the line's user text, if it has any.
    pub fn tokens(&self) -> Vec<Token> {
        match self {
            Line::Msg { text, .. }
            | Line::Me { text, .. }
            | Line::PmFrom { text, .. }
            | Line::PmTo { text, .. }
            | Line::Other(text)
            | Line::Pong(text) => Token::find_all(text),
            Line::Left {
                reason: Some(reason),
                ..
            } => Token::find_all(reason),
            _ => Vec::new(),
        }
    }
}

/// The starts of every error line docs/protocol.md lists, plus the
/// core's `/nick` to one's own nick.
pub const ERROR_PREFIXES: [&str; 9] = [
    "error: too many connections from your address",
    "error: too many failed nick attempts",
    "error: line too long",
    "error: server full",
    "error: unknown command",
    "error: no such user",
    "error: usage:",
    "error: nick",
    "error: you are already ",
];

/// The error line after the last refused nick a connection may send.
pub const TOO_MANY_ATTEMPTS: &str = "error: too many failed nick attempts";

/// Refused nicks after which a connection is closed.
pub const MAX_NICK_ATTEMPTS: u32 = 10;

/// The prompt, sent with no terminator.
pub const PROMPT: &[u8] = b"alias?";

/// Reads one line (without its `\n`).
pub fn classify(line: &str) -> Line {
    if line.starts_with("error: ") {
        return Line::Error(line.to_string());
    }
    match line {
        "You are connected to the server!" => return Line::Welcome,
        "server is shutting down" => return Line::Shutdown,
        _ => {}
    }
    if let Some(word) = line
        .strip_prefix("pong ")
        .filter(|word| !word.is_empty() && !word.contains(char::is_whitespace))
    {
        return Line::Pong(word.to_string());
    }
    if let Some(l) = online(line) {
        return l;
    }
    if let Some(l) = pm(line) {
        return l;
    }
    if let Some(rest) = line.strip_prefix("* ") {
        if let Some((nick, text)) = rest.split_once(' ') {
            if is_valid_nick(nick) {
                return Line::Me {
                    nick: nick.to_string(),
                    text: text.to_string(),
                };
            }
        }
    }
    if let Some(nick) = line.strip_suffix(" joined the chat") {
        if is_valid_nick(nick) {
            return Line::Joined(nick.to_string());
        }
    }
    if let Some(l) = left(line) {
        return l;
    }
    if let Some((old, new)) = line.split_once(" is now known as ") {
        if is_valid_nick(old) && is_valid_nick(new) {
            return Line::Renamed {
                old: old.to_string(),
                new: new.to_string(),
            };
        }
    }
    if let Some((nick, text)) = line.split_once(": ") {
        if is_valid_nick(nick) {
            return Line::Msg {
                nick: nick.to_string(),
                text: text.to_string(),
            };
        }
    }
    Line::Other(line.to_string())
}

fn online(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("Online (")?;
    let (count, list) = rest.split_once("): ")?;
    let count = count.parse().ok()?;
    let mut nicks: Vec<String> = list.split(", ").map(str::to_string).collect();
    let more = match nicks.last().and_then(|last| last.strip_prefix("and ")) {
        Some(tail) => {
            let more = tail.strip_suffix(" more")?.parse().ok()?;
            nicks.pop();
            more
        }
        None => 0,
    };
    Some(Line::Online { count, nicks, more })
}

fn pm(line: &str) -> Option<Line> {
    let (from, rest) = if let Some(rest) = line.strip_prefix("[pm from ") {
        (true, rest)
    } else {
        (false, line.strip_prefix("[pm to ")?)
    };
    let (nick, text) = rest.split_once("] ")?;
    let (nick, text) = (nick.to_string(), text.to_string());
    Some(if from {
        Line::PmFrom { nick, text }
    } else {
        Line::PmTo { nick, text }
    })
}

fn left(line: &str) -> Option<Line> {
    let (nick, rest) = line.split_once(" left the chat!")?;
    if !is_valid_nick(nick) {
        return None;
    }
    let reason = match rest {
        "" => None,
        r => Some(r.strip_prefix(" (")?.strip_suffix(')')?.to_string()),
    };
    Some(Line::Left {
        nick: nick.to_string(),
        reason,
    })
}

/// The first character a user must never receive: C0 but TAB, DEL, C1,
/// the line and paragraph separators, and the BiDi embeddings, overrides
/// and isolates.
pub fn forbidden_control(line: &str) -> Option<char> {
    line.chars().find(|&c| {
        (c < ' ' && c != '\t')
            || c == '\u{7f}'
            || ('\u{80}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_read() {
        assert_eq!(
            classify("alice joined the chat"),
            Line::Joined("alice".into())
        );
        assert_eq!(
            classify("bob left the chat! (too slow)"),
            Line::Left {
                nick: "bob".into(),
                reason: Some("too slow".into())
            }
        );
        assert_eq!(
            classify("bob left the chat!"),
            Line::Left {
                nick: "bob".into(),
                reason: None
            }
        );
        assert!(matches!(classify("a: #1.2 x"), Line::Msg { .. }));
        assert!(matches!(classify("a: no token"), Line::Msg { .. }));
        assert!(matches!(
            classify("  /who    who is online"),
            Line::Other(_)
        ));
        assert!(matches!(
            classify("a: #1.2 bob joined the chat"),
            Line::Msg { .. }
        ));
        assert!(matches!(classify("* a #1.2"), Line::Me { .. }));
        assert_eq!(
            classify("Online (2): a, B"),
            Line::Online {
                count: 2,
                nicks: vec!["a".into(), "B".into()],
                more: 0
            }
        );
        assert_eq!(
            classify("Online (9): a, and 8 more"),
            Line::Online {
                count: 9,
                nicks: vec!["a".into()],
                more: 8
            }
        );
        assert_eq!(
            classify("Online (9): and 9 more"),
            Line::Online {
                count: 9,
                nicks: vec![],
                more: 9
            }
        );
        assert_eq!(forbidden_control("a\u{2028}b"), Some('\u{2028}'));
        assert!(matches!(classify("[pm from a] #1.1"), Line::PmFrom { .. }));
        assert!(matches!(classify("error: nick is empty"), Line::Error(_)));
        assert!(matches!(classify("Commands:"), Line::Other(_)));
        assert_eq!(classify("pong #1.2"), Line::Pong("#1.2".into()));
        assert!(matches!(classify("pong left the chat!"), Line::Left { .. }));
        assert!(matches!(classify("pong: #1.2"), Line::Msg { .. }));
        assert_eq!(forbidden_control("a\tb"), None);
        assert_eq!(forbidden_control("a\u{9b}b"), Some('\u{9b}'));
        assert_eq!(forbidden_control("a\u{1b}b"), Some('\u{1b}'));
    }
}
