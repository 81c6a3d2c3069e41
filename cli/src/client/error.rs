//! Why a client run ended badly, and the exit code each reason gives.

use std::fmt;

/// Exit code: the connection could not be made or was lost.
pub(crate) const EXIT_CONNECTION: u8 = 1;
/// Exit code: bad command line (clap's own code, or a `--ca` file that
/// cannot be used), or no nick when piped.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the server turned us away before we joined.
pub(crate) const EXIT_JOIN_REFUSED: u8 = 3;
/// Exit code: joined and left normally, but the server refused lines we
/// sent, or (piped, `--reconnect`) lines were not sent while offline.
pub(crate) const EXIT_LINES_REFUSED: u8 = 4;

/// A client failure. `Display` is the one line shown on stderr, without
/// the `error: ` in front.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// The host name did not resolve.
    Resolve { host: String, reason: String },
    /// No address of the server accepted the connection.
    Connect { target: String, reason: String },
    /// A read or write failed after connecting.
    Lost(String),
    /// The server closed without giving a reason.
    Closed,
    /// Over plain TCP, the server closed before it sent a byte: what a
    /// TLS port does to a client that never starts a TLS handshake.
    ClosedUnheard,
    /// Our nick was sent and the join was not confirmed in time.
    JoinTimeout,
    /// Connected, and the server sent nothing for `after`; `plain`: over
    /// plain TCP (a TLS port waits for a TLS handshake in silence).
    Silent {
        after: std::time::Duration,
        plain: bool,
    },
    /// The server's own refusal, an `error: …` line, before the join.
    Refused(String),
    /// The server closed while waiting for a nick: its handshake time limit.
    HandshakeTimeLimit,
    /// Piped input ended before it gave a nick.
    NoNick,
    /// The command line names something that cannot be used (a `--ca`
    /// file that is missing or holds no certificate).
    Usage(String),
    /// The run ended normally, but lines were not delivered: `refused` by
    /// the server, `unsent` because the connection was down.
    LinesNotDelivered { refused: usize, unsent: usize },
    /// A thread or the line editor could not start.
    Setup(String),
}

impl ClientError {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            ClientError::Resolve { .. }
            | ClientError::Connect { .. }
            | ClientError::Lost(_)
            | ClientError::Closed
            | ClientError::ClosedUnheard
            | ClientError::JoinTimeout
            | ClientError::Silent { .. }
            | ClientError::Setup(_) => EXIT_CONNECTION,
            ClientError::NoNick | ClientError::Usage(_) => EXIT_USAGE,
            ClientError::Refused(_) | ClientError::HandshakeTimeLimit => EXIT_JOIN_REFUSED,
            ClientError::LinesNotDelivered { .. } => EXIT_LINES_REFUSED,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Resolve { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
            ClientError::Connect { target, reason } => {
                write!(f, "cannot connect to {target}: {reason}")
            }
            ClientError::Lost(reason) => write!(f, "connection lost: {reason}"),
            ClientError::Closed => f.write_str("the server closed the connection"),
            ClientError::ClosedUnheard => f.write_str(
                "the server closed the connection without a word (a TLS port? try --tls)",
            ),
            ClientError::JoinTimeout => f.write_str("the server did not let us join in time"),
            ClientError::Silent { after, plain } => {
                write!(
                    f,
                    "connected, but the server said nothing for {}",
                    super::link::seconds(*after)
                )?;
                if *plain {
                    f.write_str(" (a TLS port? try --tls)")?;
                }
                Ok(())
            }
            ClientError::Refused(line) => f.write_str(line.strip_prefix("error: ").unwrap_or(line)),
            ClientError::HandshakeTimeLimit => {
                f.write_str("the server's time limit for choosing a nick passed")
            }
            ClientError::NoNick => {
                f.write_str("no nick: pass --nick or write it on the first line")
            }
            ClientError::LinesNotDelivered { refused, unsent } => {
                let lines = |n: usize| {
                    if n == 1 {
                        "1 line".to_string()
                    } else {
                        format!("{n} lines")
                    }
                };
                match (refused, unsent) {
                    (r, 0) => write!(f, "the server refused {}", lines(*r)),
                    (0, u) => write!(f, "{} not sent while offline", lines(*u)),
                    (r, u) => write!(
                        f,
                        "the server refused {}; {} not sent while offline",
                        lines(*r),
                        lines(*u)
                    ),
                }
            }
            ClientError::Setup(reason) | ClientError::Usage(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for ClientError {}
