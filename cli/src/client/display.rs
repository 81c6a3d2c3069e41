//! How a received line looks on a terminal: an optional UTC timestamp,
//! nicks in stable colours, private lines and mentions standing out, `/me`
//! lines in italics. Presentation only: the line's text is never changed,
//! only wrapped in SGR codes (none at all without colour).

use chat_core::client::{classify, Attention, LineKind};
use std::time::{SystemTime, UNIX_EPOCH};

/// Colours a nick can get: green, yellow, blue, magenta, cyan and their
/// bright variants. Red is kept for error lines.
const NICK_COLOURS: [u8; 10] = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96];
const RED: u8 = 31;
const DIM: u8 = 2;
/// Bold magenta: private lines, sent and received.
const PRIVATE: &str = "1;35";
/// Reverse video: someone named you.
const MENTION: &str = "7";
/// Italics: the text of a `/me` line.
const ACTION: &str = "3";
/// What a `/me` line starts with, before the nick.
const ACTION_PREFIX: &str = "* ";

/// Rendering options for received lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    /// Wrap nicks and errors in ANSI colours.
    pub(crate) colour: bool,
    /// Prefix each line with `[HH:MM:SS] ` (UTC).
    pub(crate) timestamps: bool,
}

impl Style {
    /// The line as it is shown, without a trailing newline.
    pub(crate) fn render(&self, line: &str, attention: Attention) -> String {
        self.render_at(line, attention, SystemTime::now())
    }

    /// A note of the client's own, dim, in brackets: never mistaken for a
    /// server line.
    pub(crate) fn render_local(&self, note: &str) -> String {
        self.paint(DIM, &format!("({note})"))
    }

    fn render_at(&self, line: &str, attention: Attention, now: SystemTime) -> String {
        let mut out = String::with_capacity(line.len() + 32);
        if self.timestamps {
            let stamp = format!("[{}] ", utc_clock(now));
            out.push_str(&self.paint(DIM, &stamp));
        }
        if !self.colour {
            out.push_str(line);
            return out;
        }
        let kind = classify(line);
        match (attention, kind) {
            (Attention::Mention, _) => out.push_str(&format!("\x1b[{MENTION}m{line}\x1b[0m")),
            (_, LineKind::PrivateFrom { .. } | LineKind::PrivateTo { .. }) => {
                out.push_str(&format!("\x1b[{PRIVATE}m{line}\x1b[0m"));
            }
            _ => colour_line(&mut out, line),
        }
        out
    }

    fn paint(&self, code: u8, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// `HH:MM:SS` in UTC.
fn utc_clock(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The colour of a nick: the same for the same nick (ignoring case, as the
/// server compares nicks) on every run and every machine (FNV-1a, not std's
/// randomly seeded hasher).
pub(crate) fn nick_colour(nick: &str) -> u8 {
    let mut hash: u32 = 0x811c_9dc5;
    for c in nick.chars().flat_map(char::to_lowercase) {
        let mut buf = [0; 4];
        for byte in c.encode_utf8(&mut buf).bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    let index = usize::try_from(hash).unwrap_or(0) % NICK_COLOURS.len();
    NICK_COLOURS[index]
}

/// Appends `line` with its nick coloured, for the shapes the core's
/// [`classify`] recognises; `error: ...` lines are red. Anything else is
/// unchanged.
fn colour_line(out: &mut String, line: &str) {
    let nick = match classify(line) {
        LineKind::Error => {
            out.push_str(&format!("\x1b[{RED}m{line}\x1b[0m"));
            return;
        }
        LineKind::Action { nick } => {
            // `* NICK TEXT`: the nick coloured, the text in italics.
            let text_at = (ACTION_PREFIX.len() + nick.len()).min(line.len());
            out.push_str(&format!(
                "* \x1b[{}m{nick}\x1b[0m\x1b[{ACTION}m{}\x1b[0m",
                nick_colour(nick),
                &line[text_at..]
            ));
            return;
        }
        LineKind::Message { nick } | LineKind::Notice { nick } => nick,
        LineKind::PrivateFrom { .. } | LineKind::PrivateTo { .. } | LineKind::Other => {
            out.push_str(line);
            return;
        }
    };
    // The nick is the first word of the line, or the second after `* `.
    let start = line.find(nick).unwrap_or(0);
    let end = start + nick.len();
    out.push_str(&line[..start]);
    out.push_str(&format!("\x1b[{}m{nick}\x1b[0m", nick_colour(nick)));
    out.push_str(&line[end..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PLAIN: Style = Style {
        colour: false,
        timestamps: false,
    };
    const COLOUR: Style = Style {
        colour: true,
        timestamps: false,
    };

    fn strip_sgr(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn plain_style_leaves_lines_unchanged() {
        for line in [
            "alice: hi",
            "* bob waves",
            "error: nick is empty",
            "Online (1): a",
        ] {
            assert_eq!(PLAIN.render(line), line);
        }
    }

    #[test]
    fn colour_only_adds_sgr_codes() {
        for line in [
            "alice: hi: there",
            "* bob waves",
            "error: nick is empty",
            "Online (2): a, b",
            "carol joined the chat",
            "carol left the chat! (bye)",
            "carol is now known as caz",
            "[pm from bob] hi",
            "",
        ] {
            assert_eq!(strip_sgr(&COLOUR.render(line)), line);
        }
    }

    #[test]
    fn nicks_get_their_colour() {
        let colour = nick_colour("alice");
        assert_eq!(
            COLOUR.render("alice: hi"),
            format!("\x1b[{colour}malice\x1b[0m: hi")
        );
        assert!(COLOUR
            .render("* alice waves")
            .contains(&format!("\x1b[{colour}malice")));
        assert!(COLOUR
            .render("alice joined the chat")
            .starts_with(&format!("\x1b[{colour}malice")));
        assert!(COLOUR.render("error: x").starts_with("\x1b[31m"));
        assert_eq!(COLOUR.render("Online (1): alice"), "Online (1): alice");
    }

    #[test]
    fn nick_colour_is_stable_and_ignores_case() {
        assert_eq!(nick_colour("Alice"), nick_colour("aLICE"));
        assert!(NICK_COLOURS.contains(&nick_colour("")));
        let distinct: std::collections::BTreeSet<u8> = ["alice", "bob", "carol", "dave", "eve"]
            .iter()
            .map(|n| nick_colour(n))
            .collect();
        assert!(distinct.len() > 1, "every nick got the same colour");
    }

    #[test]
    fn timestamps_are_utc_clock_time() {
        let style = Style {
            colour: false,
            timestamps: true,
        };
        let t = UNIX_EPOCH + Duration::from_secs(3 * 86_400 + 13 * 3600 + 5 * 60 + 9);
        assert_eq!(style.render_at("alice: hi", t), "[13:05:09] alice: hi");
    }
}
