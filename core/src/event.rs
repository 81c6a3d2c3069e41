//! What happened in the room, for the driver's log. Not part of the wire.

use crate::dialect::Dialect;
use crate::io::ConnId;
use std::fmt;

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The peer closed the connection, reset it, or its socket failed.
    PeerClosed,
    /// The user sent `/quit`.
    Quit,
    /// Its send account passed `send_queue`: more waited for its socket
    /// than the limit (see [`Config::send_cost`](crate::Config::send_cost)).
    TooSlow,
    /// It did not join within `handshake_timeout`.
    HandshakeTimeout,
    /// `max_clients` connections were already open.
    ServerFull,
    /// Its address had as many connections open as allowed, or opened
    /// them too fast.
    TooManyFromAddress,
    /// Its first bytes were an HTTP request: a web browser or client.
    Http,
    /// Its first bytes were a TLS handshake.
    Tls,
    /// It was refused a nick too many times.
    NickAttempts,
    /// It kept sending after flood control stopped reading it, past the
    /// bound of what the room holds for it.
    Flooding,
    /// The server shut down.
    Shutdown,
    /// A clustered room declared this server lost.
    NodeLost,
    /// A clustered room's log lost entries.
    LogLost,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DisconnectReason::PeerClosed => "closed by peer",
            DisconnectReason::Quit => "quit",
            DisconnectReason::TooSlow => "too slow",
            DisconnectReason::HandshakeTimeout => "handshake timeout",
            DisconnectReason::ServerFull => "server full",
            DisconnectReason::TooManyFromAddress => "too many connections from its address",
            DisconnectReason::Http => "sent an HTTP request",
            DisconnectReason::Tls => "sent a TLS handshake",
            DisconnectReason::NickAttempts => "too many failed nick attempts",
            DisconnectReason::Flooding => "flooding",
            DisconnectReason::Shutdown => "server shutdown",
            DisconnectReason::NodeLost => "this server was declared lost",
            DisconnectReason::LogLost => "the room's log was lost",
        })
    }
}

/// A fact for the driver's log, drained with [`Room::poll_event`](crate::Room::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection joined the room as `nick`.
    Joined {
        /// The connection.
        conn: ConnId,
        /// Its nick.
        nick: String,
        /// The dialect it joined in ([`Dialect::Seed`] for the seed's client).
        dialect: Dialect,
    },
    /// A joined user changed nick.
    Renamed {
        /// The connection.
        conn: ConnId,
        /// The nick it had.
        old: String,
        /// The nick it has now.
        new: String,
    },
    /// A connection ended; `nick` is set when it had joined.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its nick, if it had joined.
        nick: Option<String>,
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// A clustered room lost a server (or it shut down): its users left.
    NodeLost {
        /// The server, as `name/incarnation`.
        node: String,
        /// How many users it had.
        users: usize,
    },
    /// A clustered room's log lost entries: this server closed its users
    /// and started again in an empty room.
    LogReset,
    /// Entries this server had not read were trimmed from a clustered
    /// room's log: it closed its users as lost and started again in an
    /// empty room, to be restored from the room's snapshot.
    FellBehind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Joined {
                conn,
                nick,
                dialect: Dialect::Framed,
            } => write!(f, "{conn} joined as {nick}"),
            Event::Joined {
                conn,
                nick,
                dialect: Dialect::Seed,
            } => {
                write!(f, "{conn} joined as {nick} (seed dialect)")
            }
            Event::Renamed { conn, old, new } => write!(f, "{conn} renamed {old} to {new}"),
            Event::Disconnected {
                conn,
                nick: Some(nick),
                reason,
            } => {
                write!(f, "{conn} ({nick}) disconnected: {reason}")
            }
            Event::Disconnected {
                conn,
                nick: None,
                reason,
            } => write!(f, "{conn} disconnected: {reason}"),
            Event::NodeLost { node, users } => {
                let plural = if *users == 1 { "" } else { "s" };
                write!(f, "server {node} left the room with {users} user{plural}")
            }
            Event::LogReset => f.write_str("the room's log lost entries: starting again"),
            Event::FellBehind => f.write_str(
                "entries this server had not read were trimmed from the log: starting again",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_log_lines() {
        let conn = ConnId(7);
        let cases = [
            (
                Event::Joined {
                    conn,
                    nick: "alice".into(),
                    dialect: Dialect::Framed,
                },
                "#7 joined as alice",
            ),
            (
                Event::Joined {
                    conn,
                    nick: "kay".into(),
                    dialect: Dialect::Seed,
                },
                "#7 joined as kay (seed dialect)",
            ),
            (
                Event::Renamed {
                    conn,
                    old: "alice".into(),
                    new: "alicia".into(),
                },
                "#7 renamed alice to alicia",
            ),
            (
                Event::Disconnected {
                    conn,
                    nick: Some("bob".into()),
                    reason: DisconnectReason::TooSlow,
                },
                "#7 (bob) disconnected: too slow",
            ),
            (
                Event::Disconnected {
                    conn,
                    nick: None,
                    reason: DisconnectReason::Http,
                },
                "#7 disconnected: sent an HTTP request",
            ),
            (
                Event::NodeLost {
                    node: "n1/3".into(),
                    users: 2,
                },
                "server n1/3 left the room with 2 users",
            ),
            (
                Event::NodeLost {
                    node: "n2/1".into(),
                    users: 1,
                },
                "server n2/1 left the room with 1 user",
            ),
            (
                Event::LogReset,
                "the room's log lost entries: starting again",
            ),
            (
                Event::FellBehind,
                "entries this server had not read were trimmed from the log: starting again",
            ),
        ];
        for (event, text) in cases {
            assert_eq!(event.to_string(), text);
        }
    }
}
