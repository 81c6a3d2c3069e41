//! Finding the server: every address a host name resolves to, in order,
//! with a word to the user when it takes a while.

use super::error::ClientError;
use crate::runtime::{self, ConnReader, ConnWriter};
use chat_runtime_common::tls::ClientTls;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long one address may take to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting goes on before the user is told we are trying.
const QUIET_FOR: Duration = Duration::from_millis(300);

/// `host` as typed, without the brackets of an IPv6 literal (`[::1]`).
pub(crate) fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `HOST:PORT` for messages, IPv6 literals in brackets.
pub(crate) fn target(host: &str, port: u16) -> String {
    let host = bare_host(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to the first address of `host` that accepts. The error names
/// the host as typed and the last address's failure.
///
/// With `tls`, each connection speaks TLS and checks the server as it says.
pub(crate) fn connect(
    host: &str,
    port: u16,
    tls: Option<&ClientTls>,
) -> Result<(ConnReader, ConnWriter, SocketAddr), ClientError> {
    let target = target(host, port);
    let addrs: Vec<SocketAddr> = (bare_host(host), port)
        .to_socket_addrs()
        .map_err(|e| ClientError::Resolve {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    connect_any(&target, &addrs, tls).map_err(|e| match e {
        ClientError::Resolve { .. } => ClientError::Resolve {
            host: host.to_string(),
            reason: "no address".into(),
        },
        other => other,
    })
}

/// Connects to the first of `addrs` that accepts, in order; `target` names
/// them in messages.
fn connect_any(
    target: &str,
    addrs: &[SocketAddr],
    tls: Option<&ClientTls>,
) -> Result<(ConnReader, ConnWriter, SocketAddr), ClientError> {
    let notice = SlowNotice::start(format!("connecting to {target}…"));
    let mut last_error = None;
    for addr in addrs {
        match runtime::connect(*addr, CONNECT_TIMEOUT, tls) {
            Ok((reader, writer)) => {
                notice.cancel();
                return Ok((reader, writer, *addr));
            }
            Err(e) => {
                tracing::debug!(%addr, "connect failed: {e}");
                last_error = Some(e);
            }
        }
    }
    notice.cancel();
    Err(match last_error {
        Some(e) => ClientError::Connect {
            target: target.to_string(),
            reason: crate::tls::explain_handshake(&e).unwrap_or_else(|| runtime::describe(&e)),
        },
        None => ClientError::Resolve {
            host: target.to_string(),
            reason: "no address".into(),
        },
    })
}

/// Prints a line on stderr if it is not cancelled within [`QUIET_FOR`].
struct SlowNotice {
    done: Arc<AtomicBool>,
}

impl SlowNotice {
    fn start(text: String) -> SlowNotice {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let spawned = thread::Builder::new()
            .name("connect-notice".into())
            .spawn(move || {
                thread::sleep(QUIET_FOR);
                if !flag.load(Ordering::SeqCst) {
                    crate::out::stderr_line(&text);
                }
            });
        if let Err(e) = spawned {
            tracing::debug!("no connect notice: {e}");
        }
        SlowNotice { done }
    }

    fn cancel(self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_tried_in_order() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let open = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let open_addr = open.local_addr().expect("its address");
        let (_, _, used) =
            connect_any("here", &[closed, open_addr], None).expect("the second address accepts");
        assert_eq!(used, open_addr);
        let failure = connect_any("here:1", &[closed], None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            failure.as_deref(),
            Some("cannot connect to here:1: connection refused")
        );
    }

    #[test]
    fn brackets_are_taken_off_and_put_back() {
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("::1"), "::1");
        assert_eq!(bare_host("localhost"), "localhost");
        assert_eq!(target("[::1]", 7), "[::1]:7");
        assert_eq!(target("::1", 7), "[::1]:7");
        assert_eq!(target("127.0.0.1", 7), "127.0.0.1:7");
    }
}
