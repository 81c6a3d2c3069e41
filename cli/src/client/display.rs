//! How a received line looks on a terminal: an optional timestamp (local
//! time, or UTC),
//! nicks in stable colours, private lines and mentions standing out, `/me`
//! lines in italics. Presentation only: the line's text is never changed,
//! only wrapped in SGR codes (none at all without colour).

use chat_core::client::{classify, Attention, LineKind};
use jiff::tz::TimeZone;
use jiff::Timestamp;

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
#[derive(Clone, Debug)]
pub(crate) struct Style {
    /// Wrap nicks and errors in ANSI colours.
    pub(crate) colour: bool,
    /// Prefix each line with `[HH:MM:SS] ` in this time zone.
    pub(crate) timestamps: Option<TimeZone>,
}

/// The zone timestamps are shown in: UTC, or the local one (`TZ` when set,
/// else the system's; UTC when neither can be read).
pub(crate) fn clock_zone(utc: bool) -> TimeZone {
    if utc {
        return TimeZone::UTC;
    }
    TimeZone::try_system().unwrap_or_else(|e| {
        tracing::warn!("no local time zone ({e}); timestamps in UTC");
        TimeZone::UTC
    })
}

impl Style {
    /// The line as it is shown, without a trailing newline.
    pub(crate) fn render(&self, line: &str, attention: Attention) -> String {
        self.render_at(line, attention, Timestamp::now())
    }

    /// A note of the client's own, dim, in brackets: never mistaken for a
    /// server line.
    pub(crate) fn render_local(&self, note: &str) -> String {
        self.paint(DIM, &format!("({note})"))
    }

    fn render_at(&self, line: &str, attention: Attention, now: Timestamp) -> String {
        let mut out = String::with_capacity(line.len() + 32);
        if let Some(zone) = &self.timestamps {
            let stamp = format!("[{}] ", now.to_zoned(zone.clone()).strftime("%H:%M:%S"));
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

    const PLAIN: Style = Style {
        colour: false,
        timestamps: None,
    };
    const COLOUR: Style = Style {
        colour: true,
        timestamps: None,
    };

    /// Renders an ordinary line with `style`.
    trait RenderNormal {
        fn line(&self, line: &str) -> String;
    }

    impl RenderNormal for Style {
        fn line(&self, line: &str) -> String {
            self.render(line, Attention::Normal)
        }
    }

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
            assert_eq!(PLAIN.line(line), line);
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
            assert_eq!(strip_sgr(&COLOUR.line(line)), line);
        }
    }

    #[test]
    fn nicks_get_their_colour() {
        let colour = nick_colour("alice");
        assert_eq!(
            COLOUR.line("alice: hi"),
            format!("\x1b[{colour}malice\x1b[0m: hi")
        );
        assert!(COLOUR
            .line("* alice waves")
            .contains(&format!("\x1b[{colour}malice")));
        assert!(COLOUR
            .line("alice joined the chat")
            .starts_with(&format!("\x1b[{colour}malice")));
        assert!(COLOUR.line("error: x").starts_with("\x1b[31m"));
        assert_eq!(COLOUR.line("Online (1): alice"), "Online (1): alice");
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
    fn timestamps_are_in_the_zone_given() {
        let at = |zone: TimeZone| Style {
            colour: false,
            timestamps: Some(zone),
        };
        let t = Timestamp::from_second(3 * 86_400 + 13 * 3600 + 5 * 60 + 9).expect("in range");
        let line = |style: Style| style.render_at("alice: hi", Attention::Normal, t);
        assert_eq!(line(at(TimeZone::UTC)), "[13:05:09] alice: hi");
        // What `TZ=EST5` means: five hours behind UTC.
        let est = TimeZone::posix("EST5").expect("a POSIX TZ string");
        assert_eq!(line(at(est)), "[08:05:09] alice: hi");
    }

    #[test]
    fn private_lines_mentions_and_actions_are_styled_only_with_colour() {
        let private = COLOUR.line("[pm from bob] hi");
        assert!(private.starts_with("\x1b[1;35m"), "{private:?}");
        let mention = COLOUR.render("bob: hi alice", Attention::Mention);
        assert!(mention.starts_with("\x1b[7m"), "{mention:?}");
        assert!(COLOUR.line("* bob waves").contains("\x1b[3m waves"));
        for line in ["[pm from bob] hi", "* bob waves"] {
            assert_eq!(strip_sgr(&COLOUR.line(line)), line);
            assert_eq!(PLAIN.line(line), line);
        }
        assert_eq!(
            PLAIN.render("bob: hi alice", Attention::Mention),
            "bob: hi alice"
        );
    }
}
