//! One bench client, as a task on its worker thread's executor: connect,
//! join through `chat_core::client::Session` (which answers `alias?` and
//! knows both dialects), then count every marker received while sending its
//! share of messages once the coordinator says go.
//!
//! After the join the receive side bypasses the session: it scans the byte
//! stream for markers (`scan`) with no allocation per line. Sending keeps
//! going through the session, which frames each line for the dialect.
//!
//! With `--tls` the connection's halves come from the TLS handshake: reads
//! are decrypted into the same buffer before the scan, writes are sealed
//! first. Without it the halves are `None` and the plain code runs as it
//! is: one branch per read batch or written batch.

use super::args::Scenario;
use super::payload::{self, Marker};
use super::shared::{server_of, Plan, Shared};
use super::tally::Tally;
use super::worker::{Local, READ_SIZE};
use chat_core::client::{classify, ClientEvent, LineKind, Session};
use chat_runtime_common::tls::session::RAW_READ;
use chat_runtime_common::tls::{Handshake, Plain, TlsReader, TlsWriter};
use smol::future::{self, FutureExt as _};
use smol::io::AsyncWriteExt as _;
use smol::{Async, Timer};
use std::fmt;
use std::io::{self, IoSlice, Read as _};
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
    /// The TLS handshake failed.
    Tls(io::Error),
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
            JoinError::Tls(e) => write!(f, "TLS handshake: {}", crate::runtime::describe(e)),
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

/// A joined client's connection: the socket, the session, and with
/// `--tls` the session's two halves.
struct Joined {
    stream: Async<TcpStream>,
    session: Session,
    reader: Option<TlsReader>,
    writer: Option<TlsWriter>,
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
    let Joined {
        stream,
        session,
        reader,
        mut writer,
    } = match joined {
        Ok(joined) => joined,
        Err(why) => return shared.join_failed(why),
    };
    shared.joined(id);
    let plan = &shared.plan;
    if plan.scenario == Scenario::Handshake {
        return; // the connection closes here, at the prompt
    }
    let mut tally = Tally::new(plan.senders, plan.messages);
    let server = server_of(id, plan.servers());
    let stop = shared.stop.clone();
    let receiving = async {
        match reader {
            None => receive(&local, &stream, server, &mut tally).await,
            Some(mut reader) => receive_tls(&local, &stream, &mut reader, server, &mut tally).await,
        }
    };
    let end = async {
        let _ = stop.recv().await;
        End::Stopped
    }
    .or(receiving)
    .or(async {
        if send(&shared, &stream, writer.as_mut(), session, id)
            .await
            .is_err()
        {
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

/// Connects (and with `--tls` runs the TLS handshake) and joins, holding
/// one of the join slots meanwhile. In `handshake`, the join ends at the
/// server's prompt, whose delay from the connect is recorded as a latency.
async fn join(local: &Local, id: u32) -> Result<Joined, JoinError> {
    let shared = &local.shared;
    let plan = &shared.plan;
    let _slot = shared.join_slots.acquire().await;
    let started_ns = plan.now_ns();
    let stream = Async::<TcpStream>::connect(plan.addr_of(id))
        .await
        .map_err(JoinError::Connect)?;
    stream
        .get_ref()
        .set_nodelay(true)
        .map_err(JoinError::Connect)?;
    let (mut reader, mut writer) = match &plan.tls {
        None => (None, None),
        Some(tls) => {
            let handshake = Handshake::client(tls).map_err(|e| JoinError::Tls(e.into()))?;
            let (reader, writer) = chat_runtime_smol::tls::run(&stream, handshake)
                .await
                .map_err(|e| JoinError::Tls(e.into()))?;
            (Some(reader), Some(writer))
        }
    };
    let until_prompt = plan.scenario == Scenario::Handshake;
    let mut session = Session::new(plan.dialect, Some(Plan::nick(id))).without_known_nicks();
    let mut last_error = None;
    for _ in 0..MAX_HANDSHAKE_READS {
        let read = match &mut reader {
            None => {
                stream
                    .read_with(|socket| {
                        local.read_into(socket, |bytes| session.handle_received(bytes))
                    })
                    .await
            }
            Some(tls) => read_tls(&stream, tls, |bytes| session.handle_received(bytes)).await,
        }
        .map_err(JoinError::Io)?;
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Line(line) if classify(&line) == LineKind::Error => {
                    last_error = Some(line)
                }
                ClientEvent::NickWanted => return Err(JoinError::Rejected(last_error)),
                ClientEvent::NickSent(_) if until_prompt => {
                    local.record_latency(plan.now_ns().saturating_sub(started_ns));
                    return Ok(Joined {
                        stream,
                        session,
                        reader,
                        writer,
                    });
                }
                ClientEvent::Line(_)
                | ClientEvent::NickSent(_)
                | ClientEvent::Refusal(_)
                | ClientEvent::Local(_)
                | ClientEvent::HelpEnded => {}
            }
        }
        if read == 0 {
            return Err(JoinError::Closed(last_error));
        }
        if let Some(bytes) = session.poll_transmit() {
            write_all(&stream, writer.as_mut(), &bytes)
                .await
                .map_err(JoinError::Io)?;
        }
        if session.is_joined() {
            return Ok(Joined {
                stream,
                session,
                reader,
                writer,
            });
        }
    }
    Err(JoinError::TooLong)
}

/// One read of plaintext over TLS, handed to `use_bytes`: what the session
/// already decrypted, else raw reads until some decrypts. Returns its byte
/// count, 0 once the session ended. For the join, not the hot path.
async fn read_tls(
    stream: &Async<TcpStream>,
    tls: &mut TlsReader,
    use_bytes: impl FnOnce(&[u8]),
) -> io::Result<usize> {
    let mut plain = Vec::new();
    let mut raw = vec![0u8; RAW_READ];
    loop {
        match tls.read_plain(&mut plain)? {
            Plain::Bytes(n) => {
                use_bytes(&plain);
                return Ok(n);
            }
            Plain::Closed => return Ok(0),
            Plain::NeedMore => {
                let n = stream.read_with(|mut socket| socket.read(&mut raw)).await?;
                tls.feed(&raw[..n])?;
            }
        }
    }
}

/// Reads and counts markers until the connection ends; `server` is the
/// index of the server the client is connected to. After a short read
/// it waits for readiness instead of trying again (a read that would block
/// costs a syscall for nothing); after a full one it yields, so one busy
/// connection cannot starve the others on its thread.
async fn receive(local: &Local, stream: &Async<TcpStream>, server: u32, tally: &mut Tally) -> End {
    let mut carry = super::scan::Carry::default();
    loop {
        match local.read_and_count(stream.get_ref(), server, &mut carry, tally) {
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

/// As [`receive`], over TLS: each raw read is decrypted into the thread's
/// buffer and counted ([`Local::read_and_count_tls`]).
async fn receive_tls(
    local: &Local,
    stream: &Async<TcpStream>,
    tls: &mut TlsReader,
    server: u32,
    tally: &mut Tally,
) -> End {
    let mut carry = super::scan::Carry::default();
    loop {
        match local.read_and_count_tls(stream.get_ref(), tls, server, &mut carry, tally) {
            Ok(None) => return End::Lost,
            Ok(Some(n)) if n == READ_SIZE => {
                future::yield_now().await;
                continue;
            }
            Ok(Some(_)) => {}
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
    mut tls: Option<&mut TlsWriter>,
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
                flush(stream, tls.as_deref_mut(), &mut session).await?;
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
                flush(stream, tls.as_deref_mut(), &mut session).await?;
            }
        }
    }
    Ok(())
}

/// Writes whatever the session has framed.
async fn flush(
    stream: &Async<TcpStream>,
    tls: Option<&mut TlsWriter>,
    session: &mut Session,
) -> io::Result<()> {
    match session.poll_transmit() {
        Some(bytes) => write_all(stream, tls, &bytes).await,
        None => Ok(()),
    }
}

/// Writes all of `bytes`: as they are, or sealed into TLS records.
async fn write_all(
    stream: &Async<TcpStream>,
    tls: Option<&mut TlsWriter>,
    bytes: &[u8],
) -> io::Result<()> {
    let Some(tls) = tls else {
        return (&*stream).write_all(bytes).await;
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        let taken = tls.seal(&[IoSlice::new(rest)]);
        if taken == 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        (&*stream).write_all(tls.unsent()).await?;
        let sent = tls.unsent().len();
        tls.wrote(sent);
        rest = &rest[taken..];
    }
    Ok(())
}
