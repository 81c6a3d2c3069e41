//! Refusing clients when the process has no descriptor left to accept them.
//!
//! When `accept` fails with `EMFILE` or `ENFILE`, the client stays in the
//! kernel's queue: retrying fails the same way, and the client waits with no
//! answer. Linux even fails `accept` this way before looking at the queue, so
//! a loop that retries spins. The classic way out: keep one descriptor open
//! for the purpose (on `/dev/null`), and once a client is known to wait,
//! close it, accept the client with the descriptor it frees, write it
//! `error: server full`, close it, and open the spare again
//! ([`SpareDescriptor::refuse_one`]). Every refusal is counted, and the
//! log says so once per [`LOG_INTERVAL`], not per client.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The file the spare descriptor is open on.
const SPARE_PATH: &str = "/dev/null";

/// How often, at most, running out of descriptors is logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Most reads [`turn_away`] makes to take in what the client already sent.
const MAX_DRAIN_READS: usize = 8;

/// Whether `error` means that the process or the system has no descriptor
/// left (`EMFILE`, `ENFILE`).
pub fn is_out_of_descriptors(error: &io::Error) -> bool {
    error.raw_os_error().is_some_and(|code| {
        matches!(
            nix::errno::Errno::from_raw(code),
            nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE
        )
    })
}

/// Tells `stream`'s client `error: server full` and closes our side of it
/// cleanly; never blocks. The line fits any fresh socket's send buffer, so
/// one non-blocking write sends it whole. The bytes the client already sent
/// are read and dropped first: closing a socket with unread bytes would
/// reset the connection, and a reset can destroy the line before the client
/// reads it.
pub fn turn_away(stream: &TcpStream) {
    turn_away_with(stream, chat_core::SERVER_FULL_LINE);
}

/// As [`turn_away`], with another line (one of the core's, e.g.
/// [`chat_core::TLS_ONLY_LINE`]; short enough for one write).
pub fn turn_away_with(stream: &TcpStream, line: &str) {
    let _ = stream.set_nonblocking(true);
    let mut socket = stream;
    let _ = socket.write(line.as_bytes());
    close_cleanly(stream);
}

/// Closes our side of `stream` without a word, never blocking: what a TLS
/// port does with a connection it has no room for, since before the
/// handshake nothing can be said that a TLS client would read. What the
/// client already sent (its ClientHello, say) is read and dropped first, so
/// that it sees the end of the stream rather than a reset where it can.
pub fn close_silently(stream: &TcpStream) {
    let _ = stream.set_nonblocking(true);
    close_cleanly(stream);
}

/// Shuts down our direction of the (non-blocking) `stream`, then takes in
/// what the client already sent, at most [`MAX_DRAIN_READS`] reads.
fn close_cleanly(stream: &TcpStream) {
    let mut socket = stream;
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    for _ in 0..MAX_DRAIN_READS {
        match socket.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// How [`SpareDescriptor::refuse_one`] went.
#[derive(Debug)]
pub enum Refusal {
    /// A client was accepted, told `error: server full`, and closed.
    Refused(SocketAddr),
    /// No client was waiting (nothing was accepted).
    NoneWaiting,
    /// The accept failed, say because another thread took the descriptor
    /// the spare freed. The caller backs off before trying again.
    Failed(io::Error),
}

/// One descriptor held in reserve for refusing clients, and the log of the
/// refusals.
///
/// # Invariant
/// Between calls the spare is open, unless reopening it failed (then the
/// next [`refuse_one`](SpareDescriptor::refuse_one) tries again).
#[derive(Debug)]
pub struct SpareDescriptor {
    spare: Option<File>,
    log: RefusalLog,
}

impl SpareDescriptor {
    /// Opens the spare. Call it at server start, while descriptors are
    /// plentiful.
    pub fn open() -> io::Result<SpareDescriptor> {
        Ok(SpareDescriptor {
            spare: Some(File::open(SPARE_PATH)?),
            log: RefusalLog::default(),
        })
    }

    /// Frees the spare, accepts one waiting client on `listener` with it,
    /// [turns it away](turn_away), and opens the spare again.
    ///
    /// `listener` must be non-blocking, so that this never waits: call it
    /// after `accept` failed with [`is_out_of_descriptors`] and the
    /// listener became readable.
    pub fn refuse_one(&mut self, listener: &TcpListener) -> Refusal {
        self.spare = None;
        let refusal = match listener.accept() {
            Ok((stream, peer)) => {
                turn_away(&stream);
                drop(stream);
                Refusal::Refused(peer)
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Refusal::NoneWaiting,
            Err(error) => Refusal::Failed(error),
        };
        self.spare = File::open(SPARE_PATH).ok();
        self.log
            .note(&refusal, self.spare.is_some(), Instant::now());
        refusal
    }
}

/// Counts refusals and logs them at most once per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
struct RefusalLog {
    /// When the log last spoke; `None` before the first time.
    last: Option<Instant>,
    /// Clients refused since then.
    refused: u64,
    /// Accepts that failed since then, even with the spare freed.
    failed: u64,
}

impl RefusalLog {
    fn note(&mut self, refusal: &Refusal, spare_open: bool, now: Instant) {
        match refusal {
            Refusal::Refused(_) => self.refused += 1,
            Refusal::Failed(_) => self.failed += 1,
            Refusal::NoneWaiting => {}
        }
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_INTERVAL)
        {
            return;
        }
        if self.refused == 0 && self.failed == 0 && spare_open {
            return;
        }
        tracing::warn!(
            refused = self.refused,
            failed_accepts = self.failed,
            spare_open,
            "out of file descriptors: new clients get `error: server full` \
             (counts since the last report, at most one per {LOG_INTERVAL:?})"
        );
        self.last = Some(now);
        self.refused = 0;
        self.failed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_and_enfile_are_running_out() {
        for (code, out) in [
            (nix::errno::Errno::EMFILE, true),
            (nix::errno::Errno::ENFILE, true),
            (nix::errno::Errno::ECONNABORTED, false),
        ] {
            let error = io::Error::from_raw_os_error(code as i32);
            assert_eq!(is_out_of_descriptors(&error), out, "{code}");
        }
        assert!(!is_out_of_descriptors(&io::Error::other("no code")));
    }

    #[test]
    fn the_log_speaks_once_per_interval() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        let refused = Refusal::Refused(SocketAddr::from(([127, 0, 0, 1], 1)));
        log.note(&refused, true, start);
        assert_eq!((log.last, log.refused), (Some(start), 0));
        log.note(&refused, true, start + Duration::from_secs(1));
        log.note(&refused, true, start + Duration::from_secs(2));
        assert_eq!((log.last, log.refused), (Some(start), 2));
        let later = start + LOG_INTERVAL;
        log.note(&refused, true, later);
        assert_eq!((log.last, log.refused), (Some(later), 0));
    }

    #[test]
    fn a_refused_client_reads_the_line_then_the_end() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let mut spare = SpareDescriptor::open()?;
        assert!(matches!(spare.refuse_one(&listener), Refusal::NoneWaiting));
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        client.set_read_timeout(Some(Duration::from_secs(15)))?;
        client.write_all(b"alice\n")?;
        let mut refusal = Refusal::NoneWaiting;
        for _ in 0..1000 {
            refusal = spare.refuse_one(&listener);
            if !matches!(refusal, Refusal::NoneWaiting) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(refusal, Refusal::Refused(_)), "{refusal:?}");
        let mut received = String::new();
        client.read_to_string(&mut received)?;
        assert_eq!(received, chat_core::SERVER_FULL_LINE);
        assert!(spare.spare.is_some());
        Ok(())
    }
}
