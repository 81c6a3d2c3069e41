//! One bench client, as a task on its worker thread's executor: connect,
//! join through `chat_core::client::Session` (which answers `alias?` and
//! knows both dialects), then count every marker received while sending its
//! share of messages once the coordinator says go.
//!
//! After the join the receive side bypasses the session: it scans the byte
//! stream for markers (`scan`) with no allocation per line. Sending keeps
//! going through the session, which frames each line for the dialect.

use super::payload::{self, Marker};
use super::shared::{Plan, Shared};
use super::tally::Tally;
use super::worker::{Local, READ_SIZE};
use chat_core::client::{classify, ClientEvent, LineKind, Session};
use smol::future::{self, FutureExt as _};
use smol::io::AsyncWriteExt as _;
use smol::{Async, Timer};
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// The most reads a handshake may take before the client gives up.
const MAX_HANDSHAKE_READS: usize = 1_000;
/// At full speed, messages are written in batches of about this many bytes.
const BATCH_BYTES: usize = 16 * 1024;

/// Why a client did not join.
#[derive(Debug)]
enum JoinError {
    /// connect() failed.
    Connect(io::Error),
    /// A read or write failed during the handshake.
    Io(io::Error),
    /// The server closed the connection; its last line, if any.
    Closed(Option<String>),
    /// The server asked for another nick; its error line, if any.
    Rejected(Option<String>),
    /// The join phase ended first.
    Timeout,
    /// More than `MAX_HANDSHAKE_READS` reads without a confirmation.
    TooLong,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |line: &Option<String>| match line {
            Some(line) => format!(" after `{line}`"),
            None => String::new(),
        };
        match self {
            JoinError::Connect(e) => write!(f, "connect: {}", crate::runtime::describe(e)),
            JoinError::Io(e) => write!(f, "handshake: {}", crate::runtime::describe(e)),
            JoinError::Closed(line) => write!(f, "closed by the server{}", said(line)),
            JoinError::Rejected(line) => write!(f, "nick refused{}", said(line)),
            JoinError::Timeout => f.write_str("not joined when the join phase ended"),
            JoinError::TooLong => write!(f, "no join after {MAX_HANDSHAKE_READS} reads"),
        }
    }
}

/// How a joined client's receiving ended.
enum End {
    /// The coordinator said stop.
    Stopped,
    /// The server closed the connection, or it failed.
    Lost,
}

/// Runs client `id` until the coordinator's stop. Everything it learns goes
/// to `local` (counts, latencies) and `local.shared` (progress).
pub(crate) async fn client(local: Rc<Local>, id: u32) {
    let shared = Arc::clone(&local.shared);
    let go = shared.go.clone();
    let joined = async {
        let _ = go.recv().await;
        Err(JoinError::Timeout)
    }
    .or(join(&local, id))
    .await;
    let (stream, session) = match joined {
        Ok(pair) => pair,
        Err(why) => return shared.join_failed(why),
    };
    shared.joined(id);
    let plan = &shared.plan;
    let mut tally = Tally::new(plan.senders, plan.messages);
    let stop = shared.stop.clone();
    let end = async {
        let _ = stop.recv().await;
        End::Stopped
    }
    .or(receive(&local, &stream, &mut tally))
    .or(async {
        if send(&shared, &stream, session, id).await.is_err() {
            shared.progress.send_errors.fetch_add(1, Relaxed);
        }
        future::pending().await
    })
    .await;
    if let End::Lost = end {
        shared.progress.closed_early.fetch_add(1, Relaxed);
    }
    local.add_counts(tally.counts());
}

/// Connects and joins, holding one of the join slots meanwhile.
async fn join(local: &Local, id: u32) -> Result<(Async<TcpStream>, Session), JoinError> {
    let shared = &local.shared;
    let _slot = shared.join_slots.acquire().await;
    let stream = Async::<TcpStream>::connect(shared.plan.addr)
        .await
        .map_err(JoinError::Connect)?;
    stream
        .get_ref()
        .set_nodelay(true)
        .map_err(JoinError::Connect)?;
    let mut session = Session::new(shared.plan.dialect, Some(Plan::nick(id)));
    let mut last_error = None;
    for _ in 0..MAX_HANDSHAKE_READS {
        let read = stream
            .read_with(|socket| local.read_into(socket, |bytes| session.handle_received(bytes)))
            .await
            .map_err(JoinError::Io)?;
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Line(line) if classify(&line) == LineKind::Error => {
                    last_error = Some(line)
                }
                ClientEvent::NickWanted => return Err(JoinError::Rejected(last_error)),
                ClientEvent::Line(_)
                | ClientEvent::NickSent(_)
                | ClientEvent::Refusal(_)
                | ClientEvent::Local(_) => {}
            }
        }
        if read == 0 {
            return Err(JoinError::Closed(last_error));
        }
        if let Some(bytes) = session.poll_transmit() {
            (&stream).write_all(&bytes).await.map_err(JoinError::Io)?;
        }
        if session.is_joined() {
            return Ok((stream, session));
        }
    }
    Err(JoinError::TooLong)
}

/// Reads and counts markers until the connection ends. After a short read
/// it waits for readiness instead of trying again (a read that would block
/// costs a syscall for nothing); after a full one it yields, so one busy
/// connection cannot starve the others on its thread.
async fn receive(local: &Local, stream: &Async<TcpStream>, tally: &mut Tally) -> End {
    let mut carry = super::scan::Carry::default();
    loop {
        match local.read_and_count(stream.get_ref(), &mut carry, tally) {
            Ok(0) => return End::Lost,
            Ok(n) if n == READ_SIZE => {
                future::yield_now().await;
                continue;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return End::Lost,
        }
        if stream.readable().await.is_err() {
            return End::Lost;
        }
    }
}

/// Waits for go, then sends this client's share: all at once in batches,
/// or one message every `1/rate` seconds. Each payload's timestamp is taken
/// as it is framed, just before its batch is written.
async fn send(
    shared: &Shared,
    stream: &Async<TcpStream>,
    mut session: Session,
    id: u32,
) -> io::Result<()> {
    let _ = shared.go.recv().await;
    let plan = &shared.plan;
    if id >= plan.senders {
        return Ok(());
    }
    let mut payload = String::with_capacity(plan.size.max(payload::MAX_MARKER));
    let mut line = |session: &mut Session, seq: u32| {
        payload.clear();
        let marker = Marker {
            sender: id,
            seq,
            sent_ns: plan.now_ns(),
        };
        payload::encode(&mut payload, marker, plan.size);
        session.send_line(&payload);
    };
    match plan.rate {
        None => {
            let per_batch = u32::try_from((BATCH_BYTES / (plan.size + 1)).max(1)).unwrap_or(1);
            let mut seq = 0;
            while seq < plan.messages {
                let end = seq.saturating_add(per_batch).min(plan.messages);
                for seq in seq..end {
                    line(&mut session, seq);
                }
                seq = end;
                flush(stream, &mut session).await?;
            }
        }
        Some(rate) => {
            // Senders are spread evenly over one interval, not in lockstep.
            let interval = Duration::from_secs_f64(1.0 / rate);
            let offset = interval.mul_f64(f64::from(id) / f64::from(plan.senders));
            let go = plan.epoch + Duration::from_nanos(shared.go_ns.load(Relaxed)) + offset;
            for seq in 0..plan.messages {
                Timer::at(go + interval * seq).await;
                line(&mut session, seq);
                flush(stream, &mut session).await?;
            }
        }
    }
    Ok(())
}

/// Writes whatever the session has framed.
async fn flush(stream: &Async<TcpStream>, session: &mut Session) -> io::Result<()> {
    match session.poll_transmit() {
        Some(bytes) => (&*stream).write_all(&bytes).await,
        None => Ok(()),
    }
}
