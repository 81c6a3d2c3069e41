//! The client side of the protocol, sans-IO: answers `alias?`, frames what
//! the user types, splits what the server sends into lines.
//!
//! ```
//! use chat_core::client::{ClientEvent, Dialect, Session};
//!
//! let mut session = Session::new(Dialect::Framed, Some("alice".to_string()));
//! session.handle_received(b"alias?");
//! assert_eq!(session.poll_event(), Some(ClientEvent::NickSent("alice".into())));
//! assert_eq!(session.poll_transmit().as_deref(), Some(&b"alice\n"[..]));
//! session.handle_received(b"alice joined the chat\nYou are connected to the server!\n");
//! assert_eq!(session.poll_event(), Some(ClientEvent::Line("alice joined the chat".into())));
//! assert_eq!(session.poll_event(), Some(ClientEvent::Line("You are connected to the server!".into())));
//! assert!(session.is_joined());
//! session.send_line("hello");
//! assert_eq!(session.poll_transmit().as_deref(), Some(&b"hello\n"[..]));
//! ```
//!
//! # Invariants
//! - Every [`ClientEvent::Line`] is clean text (see the server's scrubbing):
//!   a hostile server cannot drive the user's terminal either.
//! - The receive buffer holds at most [`MAX_PENDING`] bytes: a longer line
//!   with no terminator is shown in pieces.

use crate::command::{self, Request};
use crate::{nick, text, wire};
use std::collections::VecDeque;

mod awaiting;
mod known_nicks;
mod notice;
pub mod reconnect;

pub use notice::{notice, speaker, Notice};

use awaiting::{Answer, Awaiting};

pub use known_nicks::KnownNicks;

/// The most bytes of an unfinished line kept before it is shown as it is.
pub const MAX_PENDING: usize = 64 * 1024;

pub use crate::dialect::Dialect;

/// What the session has to tell the user interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A line from the server, terminator removed, control characters scrubbed.
    Line(String),
    /// The server asked for a nick and the session answered with this one.
    NickSent(String),
    /// The server asked for a nick (again, after a rejection, or because none
    /// was given): answer with [`Session::send_nick`].
    NickWanted,
    /// An `error: …` line received after joining: the server refused
    /// something this session sent (a command, a line too long). Shown like
    /// a [`ClientEvent::Line`]; a script may want to know.
    Refusal(String),
    /// A line from the session itself, not the server (a `/r` with no one
    /// to reply to, or no text).
    Local(String),
    /// The server's answer to a `/help` this session sent ended: an
    /// interface may add its own commands and keys after it.
    HelpEnded,
}

/// How much a received line asks for the user's attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attention {
    /// An ordinary line.
    Normal,
    /// Someone else's room line that names our nick.
    Mention,
    /// A private line to us.
    Private,
}

/// The commands a user can type, for completion.
pub const COMMANDS: [&str; 7] = ["/help", "/who", "/nick", "/me", "/msg", "/quit", "/r"];

/// What `/r` says when no private line came yet.
pub const NO_ONE_TO_REPLY_TO: &str = "no private line to reply to yet";

/// How a server without `/ping` answers ours.
const PING_UNKNOWN: &str = "error: unknown command /ping ";

/// What `/r` with no text says.
pub const REPLY_USAGE: &str = "usage: /r TEXT (answers the last private line)";

/// Why a session's connection ended, as far as the protocol tells; read with
/// [`Session::ending`] once the server closed the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The user asked to leave and the server closed: the normal end.
    Left,
    /// The server said `server is shutting down` before closing.
    ServerShutdown,
    /// Turned away before joining; the server's last `error: …` line says
    /// why (`error: server full`, `error: too many failed nick attempts`,
    /// a refused nick).
    Refused(String),
    /// Asked for a nick and closed without a word: the server's time limit
    /// for the handshake passed (the protocol closes silently then).
    HandshakeTimeLimit,
    /// Closed with no reason given, before a prompt or after joining.
    Closed,
}

/// One client connection's protocol state.
#[derive(Debug)]
pub struct Session {
    dialect: Dialect,
    /// The nick to answer the next `alias?` with, taken when used.
    next_nick: Option<String>,
    /// The nick last sent.
    nick: Option<String>,
    received: Vec<u8>,
    events: VecDeque<ClientEvent>,
    transmit: Vec<u8>,
    joined: bool,
    /// The user asked to leave.
    leaving: bool,
    /// The transport should close its sending side once `transmit` is written.
    close_write: bool,
    /// The server sent `alias?` and no nick answered it yet.
    prompt_open: bool,
    /// A prompt was received at some point.
    prompted: bool,
    /// The last `error: …` line before joining.
    refusal_before_join: Option<String>,
    /// That line came after the last prompt.
    refused_since_prompt: bool,
    /// The server said it is shutting down.
    shutting_down: bool,
    /// `error: …` lines received after joining.
    refusals: usize,
    /// Who sent the last private line, for `/r` (under the nick they go by
    /// now: renames seen since are followed).
    reply_to: Option<String>,
    /// `/help` lines sent whose answer has not ended yet.
    help_asked: usize,
    /// Nicks seen in the room (online lists, joins, renames), for
    /// completion; no two equal ignoring case.
    nicks: KnownNicks,
    /// Whether `nicks` is kept (see [`Session::without_known_nicks`]).
    learns_nicks: bool,
    /// Copies of our lines and answers to our pings not received yet.
    awaiting: Awaiting,
    /// The server answered a `/ping` of ours `unknown command`: it has
    /// none, and no more are sent.
    pings_refused: bool,
    /// Lines of the user's sent that the server answers (see
    /// [`Session::answered_lines_sent`]).
    answered_lines_sent: u64,
}

impl Session {
    /// A session that will answer the first `alias?` with `nick`, if given.
    pub fn new(dialect: Dialect, nick: Option<String>) -> Self {
        Session {
            dialect,
            next_nick: nick,
            nick: None,
            received: Vec::new(),
            events: VecDeque::new(),
            transmit: Vec::new(),
            joined: false,
            leaving: false,
            close_write: false,
            prompt_open: false,
            prompted: false,
            refusal_before_join: None,
            refused_since_prompt: false,
            shutting_down: false,
            refusals: 0,
            reply_to: None,
            help_asked: 0,
            nicks: KnownNicks::default(),
            learns_nicks: true,
            awaiting: Awaiting::default(),
            pings_refused: false,
            answered_lines_sent: 0,
        }
    }

    /// This session keeps no [`Session::known_nicks`]: for a load
    /// generator, whose thousands of sessions would each hold the whole
    /// room. `/r` still works.
    pub fn without_known_nicks(mut self) -> Self {
        self.learns_nicks = false;
        self
    }

    /// Feeds bytes read from the server.
    pub fn handle_received(&mut self, bytes: &[u8]) {
        match self.dialect {
            Dialect::Framed => self.received_framed(bytes),
            Dialect::Seed => self.received_seed(bytes),
        }
    }

    fn received_framed(&mut self, bytes: &[u8]) {
        self.received.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(at) = self.received[start..].iter().position(|&b| b == b'\n') {
            let line = &self.received[start..start + at];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = text::clean(line).into_owned();
            start += at + 1;
            self.show(line);
        }
        self.received.drain(..start);
        if self.received == wire::PROMPT.as_bytes() {
            self.received.clear();
            self.on_prompt();
        } else if self.received.len() > MAX_PENDING {
            let line = text::clean(&self.received).into_owned();
            self.received.clear();
            self.show(line);
        }
    }

    /// The seed server sends no terminators: each read is shown as it is.
    fn received_seed(&mut self, bytes: &[u8]) {
        if bytes == wire::PROMPT.as_bytes() {
            self.on_prompt();
            return;
        }
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                self.show(text::clean(line).into_owned());
            }
        }
        if self.nick.is_some() {
            self.joined = true;
        }
    }

    fn show(&mut self, line: String) {
        if self.joined && self.answers_our_ping(&line) {
            return;
        }
        if line == wire::CONNECTED {
            self.joined = true;
        }
        if line == wire::SHUTTING_DOWN {
            self.shutting_down = true;
        }
        self.learn_nicks(&line);
        let help_ended = self.help_asked > 0 && Some(line.as_str()) == command::HELP.lines().last();
        if line.starts_with(wire::ERROR_PREFIX) {
            if self.joined {
                self.refusals += 1;
                self.events.push_back(ClientEvent::Refusal(line));
                return;
            }
            self.refusal_before_join = Some(line.clone());
            self.refused_since_prompt = true;
        }
        self.events.push_back(ClientEvent::Line(line));
        if help_ended {
            self.help_asked -= 1;
            self.events.push_back(ClientEvent::HelpEnded);
        }
    }

    /// Settles what `line` answers of ours (see [`Awaiting`]); whether it
    /// is the answer to one of our pings, which the user never sees: a
    /// pong, or the `unknown command` of a server without `/ping`.
    fn answers_our_ping(&mut self, line: &str) -> bool {
        if self.awaiting.pings() > 0 && line.starts_with(PING_UNKNOWN) {
            self.pings_refused = true;
            self.awaiting.ping_refused();
            return true;
        }
        let token = line.strip_prefix(wire::PONG);
        self.awaiting.on_line(line, token) == Answer::Pong
    }

    /// Keeps [`Session::known_nicks`] and the `/r` target current. A nick
    /// is taken from a line only when it is shaped like one (the cheap
    /// check: the server has vetted it, and an online list names the
    /// whole room).
    fn learn_nicks(&mut self, line: &str) {
        if let LineKind::PrivateFrom { nick } = classify(line) {
            self.reply_to = Some(nick.to_string());
            return;
        }
        if let Some((old, new)) = line.split_once(wire::RENAMED) {
            if self.reply_to.as_deref() == Some(old) && nick::validate_form(new).is_ok() {
                self.reply_to = Some(new.to_string());
            }
        }
        if !self.learns_nicks {
            return;
        }
        if let Some(rest) = line.strip_prefix(wire::ONLINE) {
            let Some((_, list)) = rest.split_once("): ") else {
                return;
            };
            for nick in list.split(", ") {
                if nick::validate_form(nick).is_ok() {
                    self.nicks.add(nick);
                }
            }
            return;
        }
        if let Some((nick, _)) = line.split_once(wire::JOINED) {
            if nick::validate_form(nick).is_ok() && line.ends_with(wire::JOINED) {
                self.nicks.add(nick);
            }
        } else if let Some((old, new)) = line.split_once(wire::RENAMED) {
            if nick::validate_form(old).is_ok() && nick::validate_form(new).is_ok() {
                self.nicks.remove(old);
                self.nicks.add(new);
                let mine = self.nick.as_deref().is_some_and(|me| me == old);
                if mine && self.joined {
                    // Our own `/nick`: a rejoin uses the new one.
                    self.nick = Some(new.to_string());
                }
            }
        } else if let Some((nick, _)) = line.split_once(wire::LEFT) {
            if nick::validate_form(nick).is_ok() {
                self.nicks.remove(nick);
            }
        }
    }

    /// Nicks seen in the room and not seen leaving, in the order first seen.
    pub fn known_nicks(&self) -> &KnownNicks {
        &self.nicks
    }

    /// How much `line` (as received) asks for the user's attention: a
    /// private line to us, or someone else's line that names our nick as a
    /// word (ignoring case).
    pub fn attention(&self, line: &str) -> Attention {
        let Some(me) = self.nick.as_deref().filter(|_| self.joined) else {
            return Attention::Normal;
        };
        match classify(line) {
            LineKind::PrivateFrom { .. } => Attention::Private,
            LineKind::Message { nick } | LineKind::Action { nick }
                if nick.to_lowercase() != me.to_lowercase() =>
            {
                let text = &line[line.find(nick).map_or(0, |at| at + nick.len())..];
                if names(text, me) {
                    Attention::Mention
                } else {
                    Attention::Normal
                }
            }
            _ => Attention::Normal,
        }
    }

    fn on_prompt(&mut self) {
        self.prompt_open = true;
        self.prompted = true;
        self.refused_since_prompt = false;
        match self.next_nick.take() {
            Some(nick) => {
                self.send_nick(&nick);
                self.events.push_back(ClientEvent::NickSent(nick));
            }
            None => self.events.push_back(ClientEvent::NickWanted),
        }
    }

    /// The server closed the connection: a partial last line becomes a line.
    pub fn handle_eof(&mut self) {
        if !self.received.is_empty() {
            let line = text::clean(&self.received).into_owned();
            self.received.clear();
            self.show(line);
        }
    }

    /// Offers a nick: answers the open prompt if there is one, else keeps
    /// it for the next `alias?` (a piped client's first line may come before
    /// the prompt does).
    pub fn offer_nick(&mut self, nick: &str) {
        if self.prompt_open {
            self.send_nick(nick);
        } else {
            self.next_nick = Some(nick.to_string());
        }
    }

    /// Answers a [`ClientEvent::NickWanted`].
    pub fn send_nick(&mut self, nick: &str) {
        self.prompt_open = false;
        self.transmit.extend_from_slice(nick.as_bytes());
        if self.dialect == Dialect::Framed {
            self.transmit.push(b'\n');
        }
        self.nick = Some(nick.to_string());
    }

    /// Sends one line the user typed (a command if it starts with `/`). Line
    /// breaks inside it send several lines; empty lines send nothing. After
    /// a `/quit` the session is [leaving](Session::is_leaving) and sends
    /// nothing more.
    pub fn send_line(&mut self, line: &str) {
        for line in line.lines().filter(|line| !line.trim().is_empty()) {
            if self.leaving {
                return;
            }
            match command::parse(line.trim()) {
                Request::Quit(_) => {
                    self.quit_with(line);
                    return;
                }
                Request::Help => self.help_asked += 1,
                _ => {}
            }
            if is_bare_reply(line) {
                self.events
                    .push_back(ClientEvent::Local(REPLY_USAGE.to_string()));
                continue;
            }
            let reply;
            let line = match reply_text(line) {
                Some(text) => match &self.reply_to {
                    Some(nick) => {
                        reply = format!("/msg {nick} {text}");
                        reply.as_str()
                    }
                    None => {
                        self.events
                            .push_back(ClientEvent::Local(NO_ONE_TO_REPLY_TO.to_string()));
                        continue;
                    }
                },
                None => line,
            };
            if !text::clean(line.as_bytes()).is_empty() {
                self.answered_lines_sent += 1;
            }
            match self.dialect {
                Dialect::Framed => {
                    if let Some(copy) = self.room_copy(line).filter(|_| self.joined) {
                        self.awaiting.said(copy);
                    }
                    self.transmit.extend_from_slice(line.as_bytes());
                    self.transmit.push(b'\n');
                }
                Dialect::Seed => {
                    let nick = self.nick.as_deref().unwrap_or_default();
                    let message = format!("{nick}{}{line}", wire::SAYS);
                    self.transmit.extend_from_slice(message.as_bytes());
                }
            }
        }
    }

    /// What the room will send back for `line` if it says it: the same
    /// cleaning and parsing as the server's, our nick in front. `None` for
    /// a command the room answers otherwise.
    fn room_copy(&self, line: &str) -> Option<String> {
        let nick = self.nick.as_deref()?;
        let text = text::clean(line.as_bytes());
        if text.is_empty() {
            return None;
        }
        match command::parse(&text) {
            Request::Say(said) => Some(format!("{nick}{}{said}", wire::SAYS)),
            Request::Me(did) => Some(format!("{}{nick} {did}", wire::ACTION)),
            _ => None,
        }
    }

    /// Whether [`Session::send_ping`] can ask the server now: joined to a
    /// framed server that knows `/ping`, not leaving.
    pub fn can_ping(&self) -> bool {
        self.dialect == Dialect::Framed && self.joined && !self.leaving && !self.pings_refused
    }

    /// Sends `/ping` with a fresh token, to learn whether the server is
    /// there; its answer is taken in silently (never an event). Returns
    /// whether it was sent: not when [`Session::can_ping`] is false, nor
    /// while a few pings are unanswered already.
    pub fn send_ping(&mut self) -> bool {
        if !self.can_ping() {
            return false;
        }
        let Some(token) = self.awaiting.ping() else {
            return false;
        };
        self.transmit
            .extend_from_slice(format!("/ping {token}\n").as_bytes());
        true
    }

    /// How many lines [`Session::send_line`] sent to the server so far
    /// that a framed server answers (with the room's copy, a reply or an
    /// error): not those the session answered itself (a `/r` with no one
    /// to reply to), nor the `/quit`, nor one the server ignores (nothing
    /// left once control characters are removed).
    pub fn answered_lines_sent(&self) -> u64 {
        self.answered_lines_sent
    }

    /// Pings sent and not answered yet.
    pub fn pings_unanswered(&self) -> usize {
        self.awaiting.pings()
    }

    /// The lines we said (framed dialect) whose copy the room has not sent
    /// back yet, oldest first, each as its copy will read (`NICK: TEXT`,
    /// `* NICK TEXT`) with its number: lines are numbered from 1 in the
    /// order said. A line stops waiting once its copy comes, or a later
    /// line's copy or the answer to a later ping does (it was refused).
    pub fn awaiting_copies(&self) -> impl Iterator<Item = (u64, &str)> {
        self.awaiting.copies()
    }

    /// Leaves the room: `/quit` to a framed server; the seed's server has no
    /// commands, so there the session asks the transport to close its
    /// sending side instead ([`Session::poll_close_write`]).
    pub fn quit(&mut self) {
        if !self.leaving {
            self.quit_with("/quit");
        }
    }

    fn quit_with(&mut self, quit_line: &str) {
        self.leaving = true;
        match self.dialect {
            Dialect::Framed => {
                self.transmit.extend_from_slice(quit_line.trim().as_bytes());
                self.transmit.push(b'\n');
            }
            Dialect::Seed => self.close_write = true,
        }
    }

    /// Whether the user asked to leave: the server closing the connection
    /// now is the normal end, not a failure.
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// Whether the transport should now close its sending side, once what
    /// [`Session::poll_transmit`] returned is written. `true` once.
    pub fn poll_close_write(&mut self) -> bool {
        std::mem::take(&mut self.close_write)
    }

    /// The next event for the user interface.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.transmit))
        }
    }

    /// Why the connection ended, once the server closed it
    /// ([`Session::handle_eof`]). A shutdown notice wins over our own
    /// goodbye: both are a normal end.
    pub fn ending(&self) -> Ending {
        if self.shutting_down {
            Ending::ServerShutdown
        } else if self.leaving {
            Ending::Left
        } else if self.joined {
            Ending::Closed
        } else if let Some(line) = self
            .refusal_before_join
            .as_ref()
            .filter(|_| self.refused_since_prompt)
        {
            Ending::Refused(line.clone())
        } else if self.prompted && self.dialect == Dialect::Framed {
            Ending::HandshakeTimeLimit
        } else {
            Ending::Closed
        }
    }

    /// The last `error: …` line received before the join, if any: why a
    /// nick was refused, when the server asks again.
    pub fn refusal_before_join(&self) -> Option<&str> {
        self.refusal_before_join.as_deref()
    }

    /// How many `error: …` lines the server sent after the join
    /// ([`ClientEvent::Refusal`]).
    pub fn refusals(&self) -> usize {
        self.refusals
    }

    /// Whether the server confirmed the join.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The dialect this session speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The nick last sent to the server, if any.
    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }
}

/// Whether `line` is `/r` with no text: a reply with nothing to say.
fn is_bare_reply(line: &str) -> bool {
    matches!(line.trim(), "/r" | "/R")
}

/// The text of a `/r TEXT` line (a reply to the last private line), if
/// `line` is one.
fn reply_text(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let rest = line
        .strip_prefix("/r ")
        .or_else(|| line.strip_prefix("/R "))?;
    let text = rest.trim();
    (!text.is_empty()).then_some(text)
}

/// Whether `text` holds `nick` as a word, ignoring case: not inside a
/// longer run of nick characters (`bob` is in `hi bob!`, not in `bobby`).
fn names(text: &str, nick: &str) -> bool {
    let text = text.to_lowercase();
    let nick = nick.to_lowercase();
    let is_nick_char = |c: char| c.is_alphanumeric() || "_-.[]{}|^".contains(c);
    let mut from = 0;
    while let Some(at) = text[from..].find(&nick) {
        let start = from + at;
        let end = start + nick.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !is_nick_char(c) || c == '.');
        if bounded(before) && bounded(after) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether `line`, typed by the user, is a `/quit` (with or without a reason).
pub fn is_quit(line: &str) -> bool {
    matches!(command::parse(line.trim()), Request::Quit(_))
}

/// Tab completion: where the word before `pos` starts in `line`, and what
/// it may become. The first word completes to a command when it starts with
/// `/`, or to `NICK: `; any other word to a nick. Matching ignores case;
/// candidates keep their own spelling.
pub fn complete<'a>(
    line: &str,
    pos: usize,
    nicks: impl IntoIterator<Item = &'a str>,
) -> (usize, Vec<String>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before.rfind(' ').map_or(0, |at| at + 1);
    let word = before[start..].to_lowercase();
    if start == 0 && word.starts_with('/') {
        let commands = COMMANDS
            .iter()
            .filter(|c| c.starts_with(&word))
            .map(|c| format!("{c} "))
            .collect();
        return (start, commands);
    }
    let suffix = if start == 0 { ": " } else { " " };
    let candidates = nicks
        .into_iter()
        .filter(|n| n.to_lowercase().starts_with(&word))
        .map(|n| format!("{n}{suffix}"))
        .collect();
    (start, candidates)
}

/// What a line from the server is, for showing it (colours, exit messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind<'a> {
    /// `error: …`: the server refused something.
    Error,
    /// `NICK: TEXT`.
    Message {
        /// Who said it.
        nick: &'a str,
    },
    /// `* NICK TEXT`.
    Action {
        /// Who did it.
        nick: &'a str,
    },
    /// `NICK joined the chat`, `NICK left the chat!…`, `OLD is now known as NEW`.
    Notice {
        /// Whom it is about (the old nick for a rename).
        nick: &'a str,
    },
    /// `[pm from NICK] TEXT`: a private line to us.
    PrivateFrom {
        /// Who sent it.
        nick: &'a str,
    },
    /// `[pm to NICK] TEXT`: our own private line, as sent.
    PrivateTo {
        /// To whom.
        nick: &'a str,
    },
    /// Anything else: server information, the online list.
    Other,
}

/// Tells what kind of line `line` (terminator removed) is.
///
/// ```
/// use chat_core::client::{classify, LineKind};
/// assert_eq!(classify("bob: hi"), LineKind::Message { nick: "bob" });
/// assert_eq!(classify("* bob waves"), LineKind::Action { nick: "bob" });
/// assert_eq!(classify("bob left the chat! (bye)"), LineKind::Notice { nick: "bob" });
/// assert_eq!(classify("error: nick is empty"), LineKind::Error);
/// assert_eq!(classify("Online (1): bob"), LineKind::Other);
/// ```
pub fn classify(line: &str) -> LineKind<'_> {
    let is_nick = |word: &str| nick::validate_form(word).is_ok();
    if line.starts_with(wire::ERROR_PREFIX) {
        return LineKind::Error;
    }
    for (prefix, private) in [(wire::PM_FROM, true), (wire::PM_TO, false)] {
        if let Some((nick, _)) = line
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once("] "))
            .filter(|(nick, _)| is_nick(nick))
        {
            return if private {
                LineKind::PrivateFrom { nick }
            } else {
                LineKind::PrivateTo { nick }
            };
        }
    }
    if let Some((nick, _)) = line
        .split_once(wire::SAYS)
        .filter(|(nick, _)| is_nick(nick))
    {
        return LineKind::Message { nick };
    }
    if let Some(rest) = line.strip_prefix(wire::ACTION) {
        let nick = rest.split_once(' ').map_or(rest, |(nick, _)| nick);
        if is_nick(nick) {
            return LineKind::Action { nick };
        }
    }
    let notice = [wire::JOINED, wire::LEFT, wire::RENAMED]
        .iter()
        .find_map(|marker| line.split_once(marker).map(|(nick, _)| nick))
        .filter(|nick| is_nick(nick));
    match notice {
        Some(nick) => LineKind::Notice { nick },
        None => LineKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(session: &mut Session) -> Vec<ClientEvent> {
        std::iter::from_fn(|| session.poll_event()).collect()
    }

    #[test]
    fn prompt_split_across_reads_is_answered_once() {
        let mut session = Session::new(Dialect::Framed, Some("bob".into()));
        session.handle_received(b"ali");
        assert_eq!(lines(&mut session), []);
        session.handle_received(b"as?");
        assert_eq!(lines(&mut session), [ClientEvent::NickSent("bob".into())]);
        assert_eq!(session.poll_transmit(), Some(b"bob\n".to_vec()));
    }

    #[test]
    fn rejected_nick_asks_the_user_again() {
        let mut session = Session::new(Dialect::Framed, Some("bob".into()));
        session.handle_received(b"alias?");
        session.handle_received(b"error: nick is already taken\nalias?");
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::NickSent("bob".into()),
                ClientEvent::Line("error: nick is already taken".into()),
                ClientEvent::NickWanted
            ]
        );
        session.poll_transmit();
        session.send_nick("bob2");
        assert_eq!(session.poll_transmit(), Some(b"bob2\n".to_vec()));
        assert_eq!(session.nick(), Some("bob2"));
    }

    #[test]
    fn received_lines_are_scrubbed_and_split() {
        let mut session = Session::new(Dialect::Framed, None);
        session.handle_received(b"a: \x1b[2Jhi\r\nb: y");
        session.handle_received(b"o\n");
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::Line("a: [2Jhi".into()),
                ClientEvent::Line("b: yo".into())
            ]
        );
    }

    #[test]
    fn unfinished_line_is_shown_at_eof_and_when_too_long() {
        let mut session = Session::new(Dialect::Framed, None);
        session.handle_received(b"server is shut");
        session.handle_eof();
        assert_eq!(
            lines(&mut session),
            [ClientEvent::Line("server is shut".into())]
        );
        // 64 KiB of a line is kept waiting for its end; one byte more and
        // it is shown as it is.
        session.handle_received(&vec![b'x'; 64 * 1024]);
        assert!(lines(&mut session).is_empty());
        session.handle_received(b"x");
        assert!(
            matches!(&lines(&mut session)[..], [ClientEvent::Line(l)] if l.len() == 64 * 1024 + 1)
        );
    }

    #[test]
    fn seed_dialect_sends_no_terminators_and_prefixes_the_nick() {
        let mut session = Session::new(Dialect::Seed, Some("kay".into()));
        session.handle_received(b"alias?");
        assert_eq!(session.poll_transmit(), Some(b"kay".to_vec()));
        session.handle_received(b"b'kay' esta conectado ao chat");
        assert!(session.is_joined());
        session.send_line("oi");
        assert_eq!(session.poll_transmit(), Some(b"kay: oi".to_vec()));
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::NickSent("kay".into()),
                ClientEvent::Line("b'kay' esta conectado ao chat".into())
            ]
        );
    }

    #[test]
    fn quit_is_sent_once_and_marks_the_session_leaving() {
        let mut session = Session::new(Dialect::Framed, None);
        session.send_line("bye\n/QUIT  see you\nafter");
        session.quit();
        assert!(session.is_leaving());
        assert_eq!(
            session.poll_transmit(),
            Some(b"bye\n/QUIT  see you\n".to_vec())
        );
        assert!(!session.poll_close_write());
    }

    #[test]
    fn our_own_rename_is_the_nick_a_rejoin_uses() {
        let mut session = Session::new(Dialect::Framed, Some("bob".into()));
        session.handle_received(b"alias?");
        session.handle_received(b"bob joined the chat\nYou are connected to the server!\n");
        session.handle_received(b"eve is now known as mallory\n");
        assert_eq!(session.nick(), Some("bob"));
        session.handle_received(b"bob is now known as rob\n");
        assert_eq!(session.nick(), Some("rob"));
        assert!(is_quit("/quit bye") && is_quit("  /quit") && !is_quit("quit"));
    }

    #[test]
    fn quit_to_the_seed_server_closes_the_sending_side() {
        let mut session = Session::new(Dialect::Seed, Some("kay".into()));
        session.handle_received(b"alias?");
        session.poll_transmit();
        session.send_line("/quit");
        assert!(session.is_leaving());
        assert_eq!(session.poll_transmit(), None);
        assert!(session.poll_close_write());
        assert!(!session.poll_close_write());
    }

    #[test]
    fn classify_knows_every_room_line_shape() {
        assert_eq!(classify("José: a: b"), LineKind::Message { nick: "José" });
        assert_eq!(
            classify("bob joined the chat"),
            LineKind::Notice { nick: "bob" }
        );
        assert_eq!(
            classify("bob is now known as rob"),
            LineKind::Notice { nick: "bob" }
        );
        assert_eq!(
            classify("You are connected to the server!"),
            LineKind::Other
        );
        assert_eq!(
            classify("[pm from bob] hi"),
            LineKind::PrivateFrom { nick: "bob" }
        );
        assert_eq!(
            classify("[pm to bob] hi"),
            LineKind::PrivateTo { nick: "bob" }
        );
        assert_eq!(classify("server is shutting down"), LineKind::Other);
        assert_eq!(classify("not a nick: x"), LineKind::Other);
    }

    #[test]
    fn typed_text_is_framed_line_by_line() {
        let mut session = Session::new(Dialect::Framed, None);
        session.send_line("one\ntwo\n\n");
        assert_eq!(session.poll_transmit(), Some(b"one\ntwo\n".to_vec()));
        assert_eq!(session.poll_transmit(), None);
    }

    fn joined(nick: &str) -> Session {
        let mut session = Session::new(Dialect::Framed, Some(nick.into()));
        session.handle_received(b"alias?");
        session.handle_received(
            format!("{nick} joined the chat\nYou are connected to the server!\nOnline (2): bob, {nick}\n")
                .as_bytes(),
        );
        lines(&mut session);
        session.poll_transmit();
        session
    }

    #[test]
    fn shutdown_notice_is_a_normal_end() {
        let mut session = joined("alice");
        session.handle_received(b"server is shutting down\n");
        session.handle_eof();
        assert_eq!(session.ending(), Ending::ServerShutdown);
        let mut quitter = joined("alice");
        quitter.quit();
        quitter.handle_eof();
        assert_eq!(quitter.ending(), Ending::Left);
        let mut dropped = joined("alice");
        dropped.handle_eof();
        assert_eq!(dropped.ending(), Ending::Closed);
    }

    #[test]
    fn silent_close_while_asked_for_a_nick_is_the_handshake_time_limit() {
        let mut session = Session::new(Dialect::Framed, Some("bob".into()));
        session.handle_received(b"alias?");
        session.handle_received(b"error: nick is already taken\nalias?");
        assert_eq!(
            session.refusal_before_join(),
            Some("error: nick is already taken")
        );
        session.handle_eof();
        assert_eq!(session.ending(), Ending::HandshakeTimeLimit);

        let mut never_asked = Session::new(Dialect::Framed, None);
        never_asked.handle_eof();
        assert_eq!(never_asked.ending(), Ending::Closed);
    }

    #[test]
    fn refusal_before_the_join_is_the_reason() {
        let mut session = Session::new(Dialect::Framed, Some("bob".into()));
        session.handle_received(b"error: server full\n");
        session.handle_eof();
        assert_eq!(
            session.ending(),
            Ending::Refused("error: server full".into())
        );
    }

    #[test]
    fn errors_after_the_join_are_refusals_and_counted() {
        let mut session = joined("alice");
        session.handle_received(b"error: line too long (max 1024 bytes)\nalice: ok\n");
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::Refusal("error: line too long (max 1024 bytes)".into()),
                ClientEvent::Line("alice: ok".into())
            ]
        );
        assert_eq!(session.refusals(), 1);
        session.handle_received(b"error: unknown command: /x\n");
        assert_eq!(session.refusals(), 2);
        assert_eq!(Session::new(Dialect::Framed, None).refusals(), 0);
    }

    #[test]
    fn a_session_is_neither_joined_nor_leaving_until_it_is() {
        let mut session = Session::new(Dialect::Seed, Some("kay".into()));
        assert_eq!(session.dialect(), Dialect::Seed);
        assert!(!session.is_joined() && !session.is_leaving());
        session.handle_received(b"alias?");
        assert!(!session.is_joined());
        session.handle_received(b"b'kay' esta conectado ao chat");
        assert!(session.is_joined() && !session.is_leaving());
        session.quit();
        assert!(session.is_leaving());
        assert_eq!(joined("alice").dialect(), Dialect::Framed);
    }

    #[test]
    fn nick_offered_before_the_prompt_answers_it() {
        let mut session = Session::new(Dialect::Framed, None);
        session.offer_nick("carol");
        assert_eq!(session.poll_transmit(), None);
        session.handle_received(b"alias?");
        assert_eq!(lines(&mut session), [ClientEvent::NickSent("carol".into())]);
        assert_eq!(session.poll_transmit(), Some(b"carol\n".to_vec()));

        let mut late = Session::new(Dialect::Framed, None);
        late.handle_received(b"alias?");
        assert_eq!(lines(&mut late), [ClientEvent::NickWanted]);
        late.offer_nick("dave");
        assert_eq!(late.poll_transmit(), Some(b"dave\n".to_vec()));
    }

    #[test]
    fn reply_goes_to_the_last_private_sender() {
        let mut session = joined("alice");
        session.send_line("/r anyone?");
        assert_eq!(session.poll_transmit(), None);
        assert_eq!(
            session.answered_lines_sent(),
            0,
            "answered by the session itself"
        );
        assert_eq!(
            lines(&mut session),
            [ClientEvent::Local(NO_ONE_TO_REPLY_TO.into())]
        );
        session.handle_received(b"[pm from bob] psst\n[pm from carol] hey\n");
        lines(&mut session);
        session.send_line("/r  hi there");
        assert_eq!(
            session.poll_transmit(),
            Some(b"/msg carol hi there\n".to_vec())
        );
        assert_eq!(session.answered_lines_sent(), 1);
        session.send_line("\x07\x1b");
        assert_eq!(session.answered_lines_sent(), 1, "ignored by the server");
        session.poll_transmit();
        session.send_line("/rest is a word");
        assert_eq!(session.poll_transmit(), Some(b"/rest is a word\n".to_vec()));
    }

    #[test]
    fn reply_follows_a_rename_and_needs_text() {
        let mut session = joined("alice");
        session.handle_received(b"[pm from bob] psst\nbob is now known as rob\n");
        lines(&mut session);
        session.send_line("/r hi rob");
        assert_eq!(session.poll_transmit(), Some(b"/msg rob hi rob\n".to_vec()));
        // Someone else's rename, and a line that only looks like one, change nothing.
        session.handle_received(b"eve is now known as mallory\nrob: rob is now known as x\n");
        lines(&mut session);
        session.send_line("/r again");
        assert_eq!(session.poll_transmit(), Some(b"/msg rob again\n".to_vec()));
        session.send_line(" /r  ");
        assert_eq!(session.poll_transmit(), None);
        assert_eq!(
            lines(&mut session),
            [ClientEvent::Local(REPLY_USAGE.into())]
        );
    }

    #[test]
    fn the_end_of_the_servers_help_is_told_when_help_was_asked() {
        let mut session = joined("alice");
        session.handle_received(command::HELP.as_bytes());
        assert!(!lines(&mut session).contains(&ClientEvent::HelpEnded));
        session.send_line("/help");
        assert_eq!(session.poll_transmit(), Some(b"/help\n".to_vec()));
        session.handle_received(command::HELP.as_bytes());
        let events = lines(&mut session);
        assert_eq!(events.last(), Some(&ClientEvent::HelpEnded));
        assert_eq!(
            events
                .iter()
                .filter(|e| **e == ClientEvent::HelpEnded)
                .count(),
            1
        );
    }

    #[test]
    fn attention_marks_private_lines_and_mentions_by_others() {
        let session = joined("alice");
        assert_eq!(session.attention("[pm from bob] hi"), Attention::Private);
        assert_eq!(session.attention("[pm to bob] hi"), Attention::Normal);
        assert_eq!(session.attention("bob: hi Alice!"), Attention::Mention);
        assert_eq!(session.attention("* bob pokes alice"), Attention::Mention);
        assert_eq!(session.attention("bob: alice."), Attention::Mention);
        assert_eq!(
            session.attention("bob: malice aforethought"),
            Attention::Normal
        );
        assert_eq!(
            session.attention("bob: alice_2 is not me"),
            Attention::Normal
        );
        assert_eq!(session.attention("alice: I am alice"), Attention::Normal);
        // Our nick inside the speaker's is not a mention: only the text
        // after the speaker's nick is read.
        assert_eq!(session.attention("alice.x: hi all"), Attention::Normal);
        assert_eq!(session.attention("* alice.x waves"), Attention::Normal);
        assert_eq!(
            session.attention("alice joined the chat"),
            Attention::Normal
        );
    }

    #[test]
    fn known_nicks_follow_lists_joins_renames_and_leaves() {
        let mut session = joined("alice");
        let known = |s: &Session| {
            s.known_nicks()
                .iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(known(&session), ["alice", "bob"]);
        session.handle_received(
            b"carol joined the chat\nbob is now known as rob\ncarol left the chat! (bye)\nrob: dave joined the chat\n",
        );
        assert_eq!(known(&session), ["alice", "rob"]);
        // Text that only looks like a rename teaches nothing either way.
        session
            .handle_received(b"rob: hi is now known as mallory\nrob is now known as two words\n");
        assert_eq!(known(&session), ["alice", "rob"]);
    }

    #[test]
    fn a_session_without_known_nicks_learns_none_but_still_replies() {
        let mut session = Session::new(Dialect::Framed, Some("alice".into())).without_known_nicks();
        session.handle_received(
            b"alias?alice joined the chat\nYou are connected to the server!\nOnline (2): alice, bob\nbob joined the chat\n",
        );
        assert!(session.is_joined());
        assert!(session.known_nicks().is_empty());
        lines(&mut session);
        session.handle_received(b"[pm from bob] hi\n");
        session.send_line("/r hello");
        assert_eq!(session.poll_transmit(), Some(b"/msg bob hello\n".to_vec()));
    }

    fn copies(session: &Session) -> Vec<String> {
        session
            .awaiting_copies()
            .map(|(_, copy)| copy.to_string())
            .collect()
    }

    #[test]
    fn own_pongs_are_taken_in_silently_and_settle_the_lines_before() {
        let mut session = joined("alice");
        assert!(session.can_ping());
        session.send_line("hi\n/me  waves\n/who\n\x1b[1mbold");
        assert!(session.send_ping());
        session.send_line("after");
        let sent = session.poll_transmit().expect("bytes to send");
        assert_eq!(
            String::from_utf8_lossy(&sent),
            "hi\n/me  waves\n/who\n\x1b[1mbold\n/ping client-1\nafter\n"
        );
        // As the room will send them back: cleaned, `/me` as an action,
        // nothing for `/who`.
        assert_eq!(
            copies(&session),
            [
                "alice: hi",
                "* alice waves",
                "alice: [1mbold",
                "alice: after"
            ]
        );
        session.handle_received(b"alice: hi\nbob: hi\n");
        assert_eq!(copies(&session).len(), 3);
        assert_eq!(session.pings_unanswered(), 1, "the ping is out");
        // The bold line was refused (too long, say): the pong settles it.
        session.handle_received(b"* alice waves\npong client-1\npong client-9\n");
        assert_eq!(copies(&session), ["alice: after"]);
        assert_eq!(session.pings_unanswered(), 0);
        assert_eq!(
            lines(&mut session),
            [
                ClientEvent::Line("alice: hi".into()),
                ClientEvent::Line("bob: hi".into()),
                ClientEvent::Line("* alice waves".into()),
                ClientEvent::Line("pong client-9".into()),
            ]
        );
        session.handle_received(b"alice: after\n");
        assert!(copies(&session).is_empty());
    }

    #[test]
    fn a_server_without_ping_is_not_pinged_again_and_its_refusal_not_shown() {
        let mut session = joined("alice");
        assert!(session.send_ping());
        session.handle_received(b"error: unknown command /ping (try /help)\n");
        assert!(lines(&mut session).is_empty());
        assert_eq!(session.refusals(), 0);
        assert!(!session.can_ping());
        assert!(!session.send_ping());
        // A /ping the user typed is answered like any command.
        session.send_line("/ping x");
        session.handle_received(b"error: unknown command /ping (try /help)\n");
        assert_eq!(lines(&mut session).len(), 1);
    }

    #[test]
    fn only_a_joined_framed_session_pings() {
        let mut before = Session::new(Dialect::Framed, Some("bob".into()));
        assert!(!before.send_ping());
        let mut seed = Session::new(Dialect::Seed, Some("kay".into()));
        seed.handle_received(b"alias?");
        seed.handle_received(b"b'kay' esta conectado ao chat");
        assert!(seed.is_joined() && !seed.can_ping());
        seed.send_line("oi");
        assert!(copies(&seed).is_empty());
        let mut leaving = joined("alice");
        leaving.quit();
        assert!(!leaving.send_ping());
    }

    #[test]
    fn completion_offers_commands_first_and_nicks_after() {
        let nicks = ["Bob", "bea", "carol"];
        assert_eq!(
            complete("/m", 2, nicks),
            (0, vec!["/me ".into(), "/msg ".into()])
        );
        assert_eq!(
            complete("b", 1, nicks),
            (0, vec!["Bob: ".into(), "bea: ".into()])
        );
        assert_eq!(complete("/msg ca", 7, nicks), (5, vec!["carol ".into()]));
        assert_eq!(complete("hi BO there", 5, nicks), (3, vec!["Bob ".into()]));
        assert_eq!(complete("hi x", 4, nicks), (3, vec![]));
    }
}
