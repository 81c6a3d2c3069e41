//! How a received line looks on a terminal: an optional timestamp (local
//! time, or UTC),
//! nicks in stable colours, private lines and mentions standing out, `/me`
//! lines in italics. Presentation only: the line's text is never changed,
//! only wrapped in SGR codes; without colour, a line that names you is
//! marked with `* ` in its first column instead, and nothing else changes.

use super::wrap::{self, wrap};
use chat_core::client::{classify, Attention, LineKind};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Colours a nick can get on an 8- or 16-colour terminal: green, yellow,
/// blue, magenta, cyan. Never a colour and its bright variant, which look
/// alike; red is kept for error lines.
const BASIC_NICK_COLOURS: [u8; 5] = [32, 33, 34, 35, 36];
/// Colours a nick can get on a 256-colour terminal, by index in its 6×6×6
/// colour cube: orange, lime, green, aquamarine, blue, violet, pink. Their hues
/// are at least 30° apart, and none is red (kept for error lines).
const CUBE_NICK_COLOURS: [u8; 7] = [208, 148, 40, 43, 33, 135, 205];
const RED: u8 = 31;
/// How wide a timestamp is: `[HH:MM:SS] `.
const STAMP_WIDTH: usize = "[HH:MM:SS] ".len();
const DIM: u8 = 2;
/// Bold magenta: private lines, sent and received.
const PRIVATE: &str = "1;35";
/// Reverse video: someone named you.
const MENTION: &str = "7";
/// Italics: the text of a `/me` line.
const ACTION: &str = "3";
/// What a line that names you starts with when there is no colour to show
/// it: the first column, before any timestamp.
const MENTION_MARKER: &str = "* ";
/// What a `/me` line starts with, before the nick.
const ACTION_PREFIX: &str = "* ";

/// Rendering options for received lines.
#[derive(Clone, Debug)]
pub(crate) struct Style {
    /// Wrap nicks and errors in ANSI colours.
    pub(crate) colour: bool,
    /// The colours nicks are drawn from (unused without `colour`).
    pub(crate) palette: Palette,
    /// Prefix each line with `[HH:MM:SS] ` in this time zone.
    pub(crate) timestamps: Option<TimeZone>,
}

/// The colours a terminal can show, which decides the nicks' palette.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Palette {
    /// The 8 standard colours (and their bright variants).
    Basic,
    /// The xterm 256-colour set.
    Cube,
}

impl Palette {
    /// What the terminal says it shows: 256 colours when `TERM` names a
    /// `256color` terminal or `COLORTERM` announces true colour, else basic.
    pub(crate) fn of_terminal() -> Palette {
        let var = |name| std::env::var(name).unwrap_or_default();
        Palette::from_env(&var("TERM"), &var("COLORTERM"))
    }

    fn from_env(term: &str, colorterm: &str) -> Palette {
        if term.ends_with("256color") || matches!(colorterm, "truecolor" | "24bit") {
            Palette::Cube
        } else {
            Palette::Basic
        }
    }

    /// The SGR parameters of a nick's colour: the same for the same nick
    /// (ignoring case, as the server compares nicks) on every run and every
    /// machine.
    pub(crate) fn nick_colour(self, nick: &str) -> String {
        let hash = nick_hash(nick);
        match self {
            Palette::Basic => BASIC_NICK_COLOURS[hash % BASIC_NICK_COLOURS.len()].to_string(),
            Palette::Cube => format!("38;5;{}", CUBE_NICK_COLOURS[hash % CUBE_NICK_COLOURS.len()]),
        }
    }
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

    /// The line as it is shown on a terminal `columns` wide: rows broken
    /// between words, continuation rows starting where the line's text
    /// does (see [`wrap`]).
    pub(crate) fn render_in(&self, line: &str, attention: Attention, columns: usize) -> String {
        let text = self.render(line, attention);
        wrap(&text, self.text_column(line, attention), columns)
    }

    /// The column where the line's text starts: after the mention marker
    /// and the timestamp, after `NICK: `, `* NICK ` or `[pm from NICK] `.
    fn text_column(&self, line: &str, attention: Attention) -> usize {
        let marker = if !self.colour && attention == Attention::Mention {
            MENTION_MARKER.len()
        } else {
            0
        };
        let stamp = if self.timestamps.is_some() {
            STAMP_WIDTH
        } else {
            0
        };
        let head = match classify(line) {
            LineKind::Message { nick } => nick.len() + ": ".len(),
            LineKind::Action { nick } => ACTION_PREFIX.len() + nick.len() + 1,
            LineKind::PrivateFrom { .. } | LineKind::PrivateTo { .. } => {
                line.find("] ").map_or(0, |at| at + 2)
            }
            LineKind::Notice { .. } | LineKind::Error | LineKind::Other => 0,
        };
        marker + stamp + line.get(..head).map_or(0, wrap::width)
    }

    /// A note of the client's own, dim, in brackets: never mistaken for a
    /// server line.
    pub(crate) fn render_local(&self, note: &str) -> String {
        self.paint(DIM, &format!("({note})"))
    }

    /// One of our lines the server has not sent back yet, dim, behind a
    /// note that says so (a line starting with `(` is never the server's).
    pub(crate) fn render_waiting(&self, copy: &str) -> String {
        self.paint(DIM, &format!("(waiting for the server) {copy}"))
    }

    fn render_at(&self, line: &str, attention: Attention, now: Timestamp) -> String {
        let mut out = String::with_capacity(line.len() + 32);
        if !self.colour && attention == Attention::Mention {
            out.push_str(MENTION_MARKER);
        }
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
            _ => colour_line(&mut out, line, self.palette),
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

/// A hash of the nick, ignoring case: FNV-1a, not std's randomly seeded
/// hasher, so that a nick keeps its colour across runs and machines.
fn nick_hash(nick: &str) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for c in nick.chars().flat_map(char::to_lowercase) {
        let mut buf = [0; 4];
        for byte in c.encode_utf8(&mut buf).bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    usize::try_from(hash).unwrap_or(0)
}

/// Appends `line` with its nick coloured, for the shapes the core's
/// [`classify`] recognises; `error: ...` lines are red. Anything else is
/// unchanged.
fn colour_line(out: &mut String, line: &str, palette: Palette) {
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
                palette.nick_colour(nick),
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
    out.push_str(&format!("\x1b[{}m{nick}\x1b[0m", palette.nick_colour(nick)));
    out.push_str(&line[end..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style {
        colour: false,
        palette: Palette::Basic,
        timestamps: None,
    };
    const COLOUR: Style = Style {
        colour: true,
        palette: Palette::Basic,
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
        let colour = Palette::Basic.nick_colour("alice");
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
        for palette in [Palette::Basic, Palette::Cube] {
            assert_eq!(palette.nick_colour("Alice"), palette.nick_colour("aLICE"));
            let distinct: std::collections::BTreeSet<String> =
                ["alice", "bob", "carol", "dave", "eve"]
                    .iter()
                    .map(|n| palette.nick_colour(n))
                    .collect();
            assert!(distinct.len() > 1, "every nick got the same colour");
        }
        assert_eq!(
            Palette::Cube.nick_colour("alice"),
            Palette::Cube.nick_colour("ALICE")
        );
    }

    #[test]
    fn every_palette_colour_is_given_to_some_nick() {
        for (palette, size) in [
            (Palette::Basic, BASIC_NICK_COLOURS.len()),
            (Palette::Cube, CUBE_NICK_COLOURS.len()),
        ] {
            let given: std::collections::BTreeSet<String> = (0..200)
                .map(|i| palette.nick_colour(&format!("nick{i}")))
                .collect();
            assert_eq!(given.len(), size, "{palette:?}: {given:?}");
        }
    }

    /// The hue, in degrees, of a colour of the xterm 6×6×6 cube (16..=231).
    fn cube_hue(index: u8) -> f64 {
        let i = index - 16;
        let level = |v: u8| {
            if v == 0 {
                0.0
            } else {
                f64::from(55 + 40 * v) / 255.0
            }
        };
        let (r, g, b) = (level(i / 36), level(i / 6 % 6), level(i % 6));
        let max = r.max(g).max(b);
        let spread = max - r.min(g).min(b);
        assert!(spread > 0.0, "colour {index} is a grey");
        let sector = if max == r {
            ((g - b) / spread).rem_euclid(6.0)
        } else if max == g {
            (b - r) / spread + 2.0
        } else {
            (r - g) / spread + 4.0
        };
        sector * 60.0
    }

    /// No two nick colours look alike: on a basic terminal no colour comes
    /// with its bright variant; in the 256-colour cube hues are 30° apart,
    /// and away from the red of error lines.
    #[test]
    fn nick_colours_are_well_separated() {
        let base = |code: u8| if code >= 90 { code - 60 } else { code };
        for (i, a) in BASIC_NICK_COLOURS.iter().enumerate() {
            assert_ne!(base(*a), RED, "red is for errors");
            for b in &BASIC_NICK_COLOURS[i + 1..] {
                assert_ne!(base(*a), base(*b), "{a} and {b} look alike");
            }
        }
        let gap = |a: f64, b: f64| {
            let d = (a - b).abs();
            d.min(360.0 - d)
        };
        for (i, a) in CUBE_NICK_COLOURS.iter().enumerate() {
            assert!(gap(cube_hue(*a), 0.0) >= 30.0, "{a} is too close to red");
            for b in &CUBE_NICK_COLOURS[i + 1..] {
                let d = gap(cube_hue(*a), cube_hue(*b));
                assert!(d >= 30.0, "{a} and {b} are only {d}° apart");
            }
        }
    }

    #[test]
    fn the_palette_follows_what_the_terminal_says() {
        assert_eq!(Palette::from_env("xterm-256color", ""), Palette::Cube);
        assert_eq!(Palette::from_env("tmux-256color", ""), Palette::Cube);
        assert_eq!(Palette::from_env("xterm", "truecolor"), Palette::Cube);
        assert_eq!(Palette::from_env("linux", ""), Palette::Basic);
        assert_eq!(Palette::from_env("", ""), Palette::Basic);
        let cube = Style {
            palette: Palette::Cube,
            ..COLOUR
        };
        let colour = Palette::Cube.nick_colour("alice");
        assert!(colour.starts_with("38;5;"), "{colour}");
        assert_eq!(
            cube.line("alice: hi"),
            format!("\x1b[{colour}malice\x1b[0m: hi")
        );
    }

    #[test]
    fn long_lines_wrap_with_the_text_indent() {
        let rows = |style: &Style, line: &str, attention| {
            style
                .render_in(line, attention, 20)
                .split('\n')
                .map(strip_sgr)
                .collect::<Vec<_>>()
        };
        let said = "bob: one two three four five";
        assert_eq!(
            rows(&COLOUR, said, Attention::Normal),
            ["bob: one two three", "     four five"]
        );
        assert_eq!(
            rows(&PLAIN, said, Attention::Mention),
            ["* bob: one two three", "       four five"]
        );
        assert_eq!(
            rows(&PLAIN, "* bob waves at everyone here", Attention::Normal),
            ["* bob waves at", "      everyone here"]
        );
        assert_eq!(
            rows(&PLAIN, "[pm from bob] one two three", Attention::Private),
            // The indent is at most half the width.
            ["[pm from bob] one", "          two three"]
        );
        let stamped = Style {
            timestamps: Some(TimeZone::UTC),
            ..PLAIN
        };
        let wide = rows(&stamped, said, Attention::Normal);
        assert_eq!(wide.len(), 3, "{wide:?}");
        assert!(wide[1].starts_with(&" ".repeat(10)), "{wide:?}");
        assert_eq!(PLAIN.render_in("bob: hi", Attention::Normal, 20), "bob: hi");
    }

    #[test]
    fn timestamps_are_in_the_zone_given() {
        let at = |zone: TimeZone| Style {
            colour: false,
            palette: Palette::Basic,
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
    }

    #[test]
    fn without_colour_a_mention_is_marked_in_the_first_column() {
        assert_eq!(
            PLAIN.render("bob: hi alice", Attention::Mention),
            "* bob: hi alice"
        );
        let stamped = Style {
            timestamps: Some(TimeZone::UTC),
            ..PLAIN
        };
        let t = Timestamp::from_second(13 * 3600).expect("in range");
        assert_eq!(
            stamped.render_at("bob: hi alice", Attention::Mention, t),
            "* [13:00:00] bob: hi alice"
        );
        assert_eq!(PLAIN.line("bob: hi alice"), "bob: hi alice");
        let coloured = COLOUR.render("bob: hi alice", Attention::Mention);
        assert_eq!(strip_sgr(&coloured), "bob: hi alice");
    }
}
