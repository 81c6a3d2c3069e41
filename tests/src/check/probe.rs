//! Connections that are not chat clients: a web client's HTTP request, a
//! TLS client's hello, sent as the first bytes. Their streams are judged
//! whole instead of line by line: the prompt, then (for HTTP) an HTTP
//! answer, then the close, as soon as the first bytes are read; never a
//! join, never anything else.

use super::line::PROMPT;
use super::{Checker, Violation};
use chat_core::ConnId;

/// How many first bytes decide what a connection is.
const DECIDED_AFTER: u64 = 8;

/// What the checker knows of one such connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    tls: bool,
    /// The core has read enough of its first bytes to tell.
    read: bool,
}

impl Probe {
    pub(super) fn new(tls: bool) -> Self {
        Probe { tls, read: false }
    }

    pub(super) fn delivered(&mut self, upto: u64) {
        self.read |= upto >= DECIDED_AFTER;
    }
}

/// The start of the answer to an HTTP request.
const HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n";

impl Checker {
    /// At the end of each step: a probe that was read is closed, and an
    /// open one was sent nothing but the prompt.
    pub(super) fn check_probes(&self) -> Result<(), Violation> {
        for (&conn, probe) in &self.probes {
            let Some(log) = self.conns.get(&conn) else {
                continue;
            };
            if log.closed.is_some() {
                continue;
            }
            if probe.read {
                return self.fail(
                    "an HTTP request or a TLS hello is closed as soon as it is read",
                    format!("{conn} is open"),
                );
            }
            if log.stream != PROMPT {
                return self.fail(
                    "a connection that is not a chat client is sent only the prompt",
                    format!("{conn}: {:?}", String::from_utf8_lossy(&log.stream)),
                );
            }
        }
        Ok(())
    }

    /// At its close: what it was sent, all of it.
    pub(super) fn check_probe_closed(&self, conn: ConnId) -> Result<(), Violation> {
        let (probe, log) = (self.probes[&conn], &self.conns[&conn]);
        let after_prompt = log.stream.strip_prefix(PROMPT).unwrap_or(&log.stream);
        let turned_away = [
            &b""[..],
            b"server is shutting down\n",
            b"error: server full\n",
            b"error: too many connections from your address\n",
        ];
        let answered = if probe.tls {
            after_prompt.is_empty()
        } else {
            after_prompt.starts_with(HTTP_ANSWER) && after_prompt.ends_with(b"\r\n")
        };
        let fits = if probe.read && self.shutdown.is_none() {
            log.stream.starts_with(PROMPT) && answered
        } else {
            answered || turned_away.contains(&after_prompt)
        };
        if !fits {
            let what = if probe.tls {
                "a TLS hello"
            } else {
                "an HTTP request"
            };
            return self.fail(
                "an HTTP request gets an HTTP answer and a TLS hello nothing, then the close",
                format!(
                    "{conn} sent {what} and got {:?}",
                    String::from_utf8_lossy(&log.stream)
                ),
            );
        }
        Ok(())
    }
}
