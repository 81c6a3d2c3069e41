//! Reading the room's notices and who said a line: for an interface that
//! shows some notices and not others (see docs/protocol.md for the texts).

use super::{classify, LineKind};
use crate::{nick, wire};

/// A join, leave or rename notice, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice<'a> {
    /// `NICK joined the chat`.
    Joined {
        /// Who joined.
        nick: &'a str,
    },
    /// `NICK left the chat!`, or with ` (REASON)`.
    Left {
        /// Who left.
        nick: &'a str,
        /// Why, if the line says.
        reason: Option<&'a str>,
    },
    /// `OLD is now known as NEW`.
    Renamed {
        /// The nick before.
        old: &'a str,
        /// The nick after.
        new: &'a str,
    },
}

/// The notice `line` is, if it is one: its nicks are shaped like nicks and
/// nothing else is on the line, so no user's message reads as one.
///
/// ```
/// use chat_core::client::{notice, Notice};
/// assert_eq!(notice("bob joined the chat"), Some(Notice::Joined { nick: "bob" }));
/// assert_eq!(
///     notice("bob left the chat! (server lost)"),
///     Some(Notice::Left { nick: "bob", reason: Some("server lost") })
/// );
/// assert_eq!(notice("bob: carol joined the chat"), None);
/// ```
pub fn notice(line: &str) -> Option<Notice<'_>> {
    let is_nick = |word: &str| nick::validate_form(word).is_ok();
    if let Some(nick) = line.strip_suffix(wire::JOINED).filter(|n| is_nick(n)) {
        return Some(Notice::Joined { nick });
    }
    if let Some((nick, rest)) = line.split_once(wire::LEFT).filter(|(n, _)| is_nick(n)) {
        let reason = match rest {
            "" => None,
            rest => Some(rest.strip_prefix(" (")?.strip_suffix(')')?),
        };
        return Some(Notice::Left { nick, reason });
    }
    let (old, new) = line.split_once(wire::RENAMED)?;
    (is_nick(old) && is_nick(new)).then_some(Notice::Renamed { old, new })
}

/// Who said `line`: the nick of a message, a `/me` line or a private line
/// to us, also when it is a line of the room's history.
///
/// ```
/// use chat_core::client::speaker;
/// assert_eq!(speaker("bob: hi"), Some("bob"));
/// assert_eq!(speaker("[history] * bob waves"), Some("bob"));
/// assert_eq!(speaker("bob joined the chat"), None);
/// ```
pub fn speaker(line: &str) -> Option<&str> {
    let line = line.strip_prefix(wire::HISTORY).unwrap_or(line);
    match classify(line) {
        LineKind::Message { nick } | LineKind::Action { nick } | LineKind::PrivateFrom { nick } => {
            Some(nick)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_read_and_look_alikes_are_not() {
        assert_eq!(
            notice("bob left the chat!"),
            Some(Notice::Left {
                nick: "bob",
                reason: None
            })
        );
        assert_eq!(
            notice("bob is now known as rob"),
            Some(Notice::Renamed {
                old: "bob",
                new: "rob"
            })
        );
        for not_one in [
            "bob joined the chat twice",
            "bob left the chat! and more",
            "bob is now known as two words",
            "two words joined the chat",
            "Online (1): bob",
        ] {
            assert_eq!(notice(not_one), None, "{not_one:?}");
        }
        assert_eq!(speaker("[pm from bob] psst"), Some("bob"));
        assert_eq!(speaker("[pm to bob] psst"), None);
        assert_eq!(speaker("error: no such user bob"), None);
    }
}
