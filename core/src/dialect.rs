//! The two dialects of the protocol, shared by the room and the client.
//!
//! The *seed dialect* is the one the small Python program this project grew
//! from speaks: the server sends `alias?`, the client answers with its nick
//! and no terminator, then sends each message as `NICK: text` in one packet,
//! and nothing is framed by newlines in either direction. The *framed*
//! dialect is this project's: every line ends with `\n`.

use std::fmt;

/// Which dialect a peer speaks (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// This project's protocol: lines end with `\n`.
    #[default]
    Framed,
    /// The seed dialect: nick and messages sent with no terminator, own
    /// messages prefixed `NICK: `, every received chunk is one line.
    Seed,
}

impl Dialect {
    /// The dialect's name, as `--dialect` takes it: `framed` or `seed`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Framed => "framed",
            Dialect::Seed => "seed",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_are_named_as_the_command_line_takes_them() {
        assert_eq!(Dialect::Framed.name(), "framed");
        assert_eq!(Dialect::Seed.to_string(), "seed");
    }
}
