//! The client side of the protocol, sans-IO: answers `alias?`, frames what
//! the user types, splits what the server sends into lines.
//!
//! ```
//! use chat_core::client::{ClientEvent, Compat, Session};
//!
//! let mut session = Session::new(Compat::Framed, Some("alice".to_string()));
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

use std::collections::VecDeque;

/// Which server dialect the session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// This project's protocol: lines end with `\n`.
    Framed,
    /// The seed's Python server: nick and messages sent with no terminator,
    /// own messages prefixed `NICK: `, every received chunk is one line.
    Seed,
}

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
}

/// One client connection's protocol state.
#[derive(Debug)]
pub struct Session {
    compat: Compat,
    nick: Option<String>,
    events: VecDeque<ClientEvent>,
    transmit: Vec<u8>,
    joined: bool,
}

impl Session {
    /// A session that will answer the first `alias?` with `nick`, if given.
    pub fn new(compat: Compat, nick: Option<String>) -> Self {
        Session {
            compat,
            nick,
            events: VecDeque::new(),
            transmit: Vec::new(),
            joined: false,
        }
    }

    /// Feeds bytes read from the server.
    pub fn handle_received(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }

    /// The server closed the connection: a partial last line becomes a line.
    pub fn handle_eof(&mut self) {}

    /// Answers a [`ClientEvent::NickWanted`].
    pub fn send_nick(&mut self, nick: &str) {
        let _ = nick;
    }

    /// Sends one line the user typed (a command if it starts with `/`).
    pub fn send_line(&mut self, line: &str) {
        let _ = line;
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

    /// Whether the server confirmed the join.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The dialect this session speaks.
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// The nick last sent to the server, if any.
    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }
}
