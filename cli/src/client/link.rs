//! The connection to the server, as the client loop holds it: made (first
//! or again), its reads on a thread of their own, numbered so that the late
//! events of a connection the loop dropped are told from the current one's.

use super::error::ClientError;
use super::{connect, Msg, NetEvent};
use crate::args::ClientArgs;
use crate::runtime::{ConnReader, ConnWriter};
use chat_runtime_common::tls::ClientTls;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which of the run's connections an event is from; each new one is the
/// previous one's [`ConnId::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnId(u64);

impl ConnId {
    /// The run's first connection.
    pub(crate) const FIRST: ConnId = ConnId(0);

    /// The number after this one.
    pub(crate) fn next(self) -> ConnId {
        ConnId(self.0.wrapping_add(1))
    }
}

/// Where to connect: what the command line said.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    host: String,
    port: u16,
}

impl Target {
    /// The server `args` name.
    pub(crate) fn of(args: &ClientArgs) -> Target {
        Target {
            host: args.host.clone(),
            port: args.port(),
        }
    }
}

/// A connection made, not read yet.
pub(crate) struct Connected {
    reader: ConnReader,
    writer: ConnWriter,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected").finish_non_exhaustive()
    }
}

/// Connects to the first address of the target that accepts.
pub(crate) fn connect(target: &Target, tls: Option<&ClientTls>) -> Result<Connected, ClientError> {
    let (reader, writer, addr): (ConnReader, ConnWriter, SocketAddr) =
        connect::connect(&target.host, target.port, tls)?;
    tracing::info!(%addr, "connected");
    Ok(Connected { reader, writer })
}

/// Connects on a thread of its own (connecting may take seconds, and the
/// user types meanwhile); the result comes as [`Msg::Connected`].
pub(crate) fn spawn_connect(
    id: ConnId,
    target: Target,
    tls: Option<ClientTls>,
    tx: Sender<Msg>,
) -> Result<(), ClientError> {
    thread::Builder::new()
        .name("connect".into())
        .spawn(move || {
            let result = connect(&target, tls.as_ref());
            let _ = tx.send(Msg::Connected(id, Box::new(result)));
        })
        .map(drop)
        .map_err(|e| ClientError::Setup(format!("cannot start the connecting thread: {e}")))
}

impl Connected {
    /// Starts reading (events tagged `id`) and hands back the sending half.
    pub(crate) fn start(self, id: ConnId, tx: Sender<Msg>) -> Result<ConnWriter, ClientError> {
        spawn_reader(self.reader, id, tx)?;
        Ok(self.writer)
    }
}

/// Reads the connection on its own thread until EOF or an error.
fn spawn_reader(mut reader: ConnReader, id: ConnId, tx: Sender<Msg>) -> Result<(), ClientError> {
    thread::Builder::new()
        .name("net-reader".into())
        .spawn(move || loop {
            let event = match reader.read() {
                Ok(Some(bytes)) if bytes.is_empty() => continue,
                Ok(Some(bytes)) => NetEvent::Data(bytes),
                Ok(None) => NetEvent::Eof,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => NetEvent::Failed(e),
            };
            let last = !matches!(event, NetEvent::Data(_));
            if tx.send(Msg::Net(id, event)).is_err() || last {
                return;
            }
        })
        .map(drop)
        .map_err(|e| ClientError::Setup(format!("cannot start the reader thread: {e}")))
}

/// A seed for the backoff's jitter that differs between clients started
/// together: the process id and the clock.
pub(crate) fn jitter_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Truncating the nanoseconds keeps their fast-changing low bits.
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// A delay for people: whole seconds, rounded up (`1 s`, `30 s`).
pub(crate) fn seconds(delay: Duration) -> String {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    format!("{secs} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_shown_in_whole_seconds_rounded_up() {
        assert_eq!(seconds(Duration::from_millis(750)), "1 s");
        assert_eq!(seconds(Duration::from_secs(4)), "4 s");
        assert_eq!(seconds(Duration::from_millis(29_001)), "30 s");
    }
}
