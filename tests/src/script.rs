//! A scenario's `Debug`: a script that reads like a bug report and is also
//! Rust, so a shrunk failure can be pasted into a named `#[test]`:
//!
//! ```text
//! Scenario {
//!     faults: Faults { delay: false, cut: true, … },
//!     config: Cfg { max_clients: 3, … },
//!     reads: vec![3, 1],
//!     …
//!     ops: vec![
//!         Connect { dialect: Framed, crlf: false }, // c0 connects (framed)
//!         Nick { client: 0, nick: Valid(1) },       // c0 sends nick "bob"
//!         Say { client: 0, pad: 2 },                // c0 says "#0.0 héllo wörld"
//!     ],
//! }
//! ```
//!
//! With `use chat_tests::prelude::*;` in scope the text compiles as is.

use crate::scenario::{Cmd, Dialect, NickKind, Op, Partial, Scenario};
use crate::words;
use std::fmt;

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Scenario {{")?;
        writeln!(f, "    faults: {:?},", self.faults)?;
        writeln!(f, "    config: {:?},", self.config)?;
        writeln!(f, "    reads: vec!{:?},", self.reads)?;
        writeln!(f, "    writes: vec!{:?},", self.writes)?;
        writeln!(f, "    delays: vec!{:?},", self.delays)?;
        writeln!(f, "    recuts: vec!{:?},", self.recuts)?;
        writeln!(f, "    ops: vec![")?;
        let mut notes = Notes::default();
        for op in &self.ops {
            let code = format!("{op:?},");
            writeln!(f, "        {code:<48} // {}", notes.note(op))?;
        }
        writeln!(f, "    ],")?;
        write!(f, "}}")
    }
}

/// Which client an op's number names, given `clients` connects so far.
pub fn resolve(client: u8, clients: u32) -> Option<u32> {
    (clients > 0).then(|| u32::from(client) % clients)
}

/// How many tokens an op uses up for its client (whether or not it can send them).
pub fn tokens_used(op: &Op) -> u32 {
    match *op {
        Op::Say { .. }
        | Op::LongLine { .. }
        | Op::AtLimit { .. }
        | Op::Garbage { .. }
        | Op::Reset {
            partial: Partial::MidLine | Partial::MidChar,
            ..
        } => 1,
        Op::Command {
            cmd:
                Cmd::Me(_)
                | Cmd::Msg(_)
                | Cmd::MsgNobody
                | Cmd::Quit(true)
                | Cmd::Literal
                | Cmd::Unknown
                | Cmd::Ping,
            ..
        } => 1,
        Op::Flood { lines, .. } => u32::from(lines),
        _ => 0,
    }
}

/// Running state for the comments: clients so far and their token counters.
#[derive(Default)]
struct Notes {
    clients: u32,
    seqs: Vec<u32>,
}

impl Notes {
    fn note(&mut self, op: &Op) -> String {
        if let Op::Probe { tls } = *op {
            let c = self.clients;
            self.clients += 1;
            self.seqs.push(0);
            let what = if tls {
                "a TLS hello"
            } else {
                "an HTTP request"
            };
            return format!("c{c} connects and sends {what}");
        }
        if let Op::Connect { dialect, crlf } = *op {
            let c = self.clients;
            self.clients += 1;
            self.seqs.push(0);
            let how = match (dialect, crlf) {
                (Dialect::Seed, _) => "seed dialect",
                (Dialect::Framed, true) => "framed, CRLF",
                (Dialect::Framed, false) => "framed",
            };
            return format!("c{c} connects ({how})");
        }
        let Some(c) = op.client().and_then(|n| resolve(n, self.clients)) else {
            return match *op {
                Op::Wait { ms } => format!("{ms} ms pass"),
                Op::Shutdown => "the server shuts down".to_string(),
                _ => "no client yet: nothing happens".to_string(),
            };
        };
        let seq = self.seqs[c as usize];
        self.seqs[c as usize] += tokens_used(op);
        let t = words::Token { client: c, seq };
        format!("c{c} {}", what(op, t))
    }
}

fn nick_text(nick: NickKind) -> String {
    match nick {
        NickKind::Valid(i) => format!("{:?}", words::nick(i)),
        NickKind::Upper(i) => format!("(c{i}'s nick in upper case)"),
        NickKind::Invalid(i) => format!("{:?}", words::bad_nick(i)),
        NickKind::TooLong(i) => format!("{:?}", words::too_long_nick(i)),
    }
}

fn with_pad(t: words::Token, pad: u8) -> String {
    match words::pad(pad) {
        "" => t.to_string(),
        p => format!("{t} {p}"),
    }
}

fn what(op: &Op, t: words::Token) -> String {
    match *op {
        Op::Nick { nick, .. } => format!("sends nick {}", nick_text(nick)),
        Op::Say { pad, .. } => format!("says {:?}", with_pad(t, pad)),
        Op::Command { cmd, .. } => match cmd {
            Cmd::Rename(n) => format!("sends /nick {}", nick_text(n)),
            Cmd::Me(pad) => format!("sends \"/me {}\"", with_pad(t, pad)),
            Cmd::Msg(to) => format!("sends \"/msg (c{to}'s nick) {t}\""),
            Cmd::MsgNobody => format!("sends \"/msg nobody {t}\""),
            Cmd::MsgUsage => "sends \"/msg\"".to_string(),
            Cmd::Who => "sends \"/who\"".to_string(),
            Cmd::Help => "sends \"/help\"".to_string(),
            Cmd::Quit(true) => format!("sends \"/quit {}\"", crate::act::quit_reason(t)),
            Cmd::Quit(false) => "sends \"/quit\"".to_string(),
            Cmd::Literal => format!("sends \"//{t}\""),
            Cmd::Unknown => format!("sends \"/frob {t}\""),
            Cmd::Ping => format!("sends \"/ping {t}\""),
        },
        Op::LongLine { extra, .. } => {
            format!("sends {t} in a line of max_line + {} bytes", 1 + extra)
        }
        Op::AtLimit { .. } => format!("sends {t} in a line of exactly max_line bytes"),
        Op::Garbage { kind, .. } => format!(
            "sends {t} then garbage {:?}",
            String::from_utf8_lossy(words::garbage(kind))
        ),
        Op::Stall { .. } => "stops reading".to_string(),
        Op::Resume { .. } => "reads again".to_string(),
        Op::Reset { partial, .. } => match partial {
            Partial::Clean => "resets its connection".to_string(),
            Partial::MidLine => format!("sends \"{t} hal\" (no end) and resets"),
            Partial::MidChar => format!("sends {t} and half a character, and resets"),
        },
        Op::Flood { lines, .. } => format!("floods {lines} lines from {t}"),
        Op::Connect { .. } | Op::Probe { .. } | Op::Wait { .. } | Op::Shutdown => String::new(),
    }
}
