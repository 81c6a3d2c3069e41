//! What one client read, sorted: room lines, the lines addressed to it,
//! and its view of who is in the room.
//!
//! # Invariants
//! - `room_lines` holds, in order, every complete line the core sent that
//!   is a room line (not a prompt, error, history, online list, private
//!   line or the shutdown notice).
//! - `view` is who the client was told is in the room: the online list it
//!   got on joining, then every join, leave and rename it read after it.

use std::collections::BTreeSet;

/// The handshake prompt, sent bare.
pub const PROMPT: &str = "alias?";
/// The line a joiner gets after its own join notice.
pub const CONNECTED: &str = "You are connected to the server!";
/// Users of a node the others declared lost get it, then are closed.
pub const LOST_THE_ROOM: &str = "error: this server lost contact with the room; please reconnect";
/// Users of a node whose log was lost get it, then are closed.
pub const LOG_LOST: &str = "error: the room's log was lost, lines may be missing; please reconnect";
/// Before the token of the answer to `/ping`.
pub const PONG: &str = "pong ";
/// Before a line the log never got.
pub const NOT_SENT: &str = "error: room unavailable, not sent: ";

/// The sorted reading of what the core sent to one connection.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// Every byte the core sent.
    pub bytes: Vec<u8>,
    parsed: usize,
    /// Prompts read (each asks for a nick).
    pub prompts: u32,
    /// Whether it read [`CONNECTED`].
    pub joined: bool,
    /// Waiting for the online list that ends the join sequence.
    expect_online: bool,
    /// Room lines, in order.
    pub room_lines: Vec<String>,
    /// Who it was told is in the room.
    pub view: BTreeSet<String>,
    /// Whether it read [`LOST_THE_ROOM`].
    pub lost_error: bool,
    /// Whether it read [`LOG_LOST`].
    pub reset_error: bool,
    /// The lines it was told were not sent.
    pub not_sent: BTreeSet<String>,
    /// The tokens of the pongs it read, in order.
    pub pongs: Vec<String>,
    /// The first contradiction in its view (checker 2), if any.
    pub view_error: Option<String>,
}

/// What a room line says about who is in the room.
enum Change<'a> {
    Join(&'a str),
    Leave(&'a str),
    Rename(&'a str, &'a str),
    Other,
}

/// A nick as it starts a notice: one word, no `:`.
fn word(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.contains([' ', ':'])).then_some(s)
}

fn change(line: &str) -> Change<'_> {
    if let Some(nick) = line.strip_suffix(" joined the chat").and_then(word) {
        return Change::Join(nick);
    }
    if let Some((nick, _)) = line.split_once(" left the chat!") {
        if let Some(nick) = word(nick) {
            return Change::Leave(nick);
        }
    }
    if let Some((old, new)) = line.split_once(" is now known as ") {
        if let (Some(old), Some(new)) = (word(old), word(new)) {
            return Change::Rename(old, new);
        }
    }
    Change::Other
}

impl Reader {
    /// Takes in what the core sent.
    pub fn absorb(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        // Bounded: each turn consumes a prompt or a line.
        loop {
            let rest = &self.bytes[self.parsed..];
            if rest.starts_with(PROMPT.as_bytes()) {
                self.parsed += PROMPT.len();
                self.prompts += 1;
                continue;
            }
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = String::from_utf8_lossy(&rest[..end]).into_owned();
            self.parsed += end + 1;
            self.line(line);
        }
    }

    fn line(&mut self, line: String) {
        if line == CONNECTED {
            self.joined = true;
            self.expect_online = true;
        } else if let Some(list) = line.strip_prefix("Online (") {
            if self.expect_online {
                self.expect_online = false;
                let names = list.split_once("): ").map_or("", |(_, names)| names);
                self.view = names.split(", ").map(str::to_string).collect();
            }
        } else if line.starts_with("error: ") {
            if line == LOST_THE_ROOM {
                self.lost_error = true;
            } else if line == LOG_LOST {
                self.reset_error = true;
            } else if let Some(text) = line.strip_prefix(NOT_SENT) {
                self.not_sent.insert(text.to_string());
            }
        } else if let Some(token) = line.strip_prefix(PONG) {
            self.pongs.push(token.to_string());
        } else if [
            "[history] ",
            "[pm from ",
            "[pm to ",
            "server is shutting down",
        ]
        .iter()
        .any(|p| line.starts_with(p))
        {
        } else {
            if self.joined && !self.expect_online {
                self.see(&line);
            }
            self.room_lines.push(line);
        }
    }

    /// Checker 2, as the client reads: a join of someone not here, a leave
    /// of someone here, a rename of someone here to a free nick.
    fn see(&mut self, line: &str) {
        let error = match change(line) {
            Change::Join(nick) if !self.view.insert(nick.to_string()) => {
                Some(format!("read {line:?} but {nick} was already here"))
            }
            Change::Leave(nick) if !self.view.remove(nick) => Some(format!(
                "read {line:?} but {nick} was not here (a second leave notice, or one for nobody)"
            )),
            Change::Rename(old, new) => {
                if !self.view.remove(old) {
                    Some(format!("read {line:?} but {old} was not here"))
                } else if !self.view.insert(new.to_string()) {
                    Some(format!("read {line:?} but {new} was already here"))
                } else {
                    None
                }
            }
            _ => None,
        };
        if self.view_error.is_none() {
            self.view_error = error;
        }
    }
}
