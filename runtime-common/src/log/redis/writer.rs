//! The writer thread: appends the room's entries in order, pipelined on
//! one connection, and stores snapshots (trimming the stream with them).
//!
//! # Invariants
//! - Entries are appended in the order the room made them: one thread,
//!   one connection, one pipeline at a time.
//! - An append tagged before the current generation is dropped, never
//!   written (see the `link` module); [`Link::settle`] is called after each
//!   batch and while idle.
//! - Appends land only in the stream of the epoch their generation was
//!   declared up in ([`APPEND`] checks it): after a flush or a deletion
//!   they are refused, and the log is declared down.
//! - A batch that fails is sent again on a new connection for up to
//!   [`RETRY_FOR`] (each entry lands once: [`APPEND`] skips what a node
//!   already appended), unless the log went down meanwhile; past that the
//!   log is declared down, and every message waiting is dropped (flushes
//!   are answered) until the connection is back.

use super::keys::{Backoff, Keys, ENTRY_FIELD};
use super::link::Link;
use super::{connect, IO_TIMEOUT, RETRY_FOR, RETRY_STEP, TRIM_LAG};
use crate::log::LogPos;
use chat_core::NodeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most messages written with one pipeline.
const BATCH: usize = 1024;

/// How long the writer waits for a message before it settles.
const IDLE: Duration = Duration::from_millis(50);

/// What the room side asks the writer to do.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// Append one entry's bytes, made in generation `gen` by `node` with
    /// sequence number `seq`.
    Append {
        gen: u64,
        node: NodeId,
        seq: u64,
        bytes: Vec<u8>,
    },
    /// Store a snapshot covering the stream up to `id`, in `epoch`.
    Snapshot {
        epoch: Arc<str>,
        id: LogPos,
        state: Vec<u8>,
    },
    /// Set `done` once everything before it was written or dropped.
    Flush(Arc<AtomicBool>),
}

/// Stores a snapshot unless a newer one (or another epoch) is there, then
/// trims the stream to `TRIM_LAG` before it.
/// KEYS: snapshot hash, stream, epoch. ARGV: id, state, epoch, lag (ms).
const STORE_SNAPSHOT: &str = r"
local function parse(id)
  local ms, seq = string.match(id or '', '^(%d+)-(%d+)$')
  if not ms then return nil end
  return tonumber(ms), tonumber(seq)
end
if redis.call('GET', KEYS[3]) ~= ARGV[3] or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local ms, seq = parse(ARGV[1])
if not ms then return 0 end
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[3] then
  local oms, oseq = parse(redis.call('HGET', KEYS[1], 'id'))
  if oms and (oms > ms or (oms == ms and oseq >= seq)) then return 0 end
end
local trim = string.format('%.0f-0', math.max(ms - tonumber(ARGV[4]), 0))
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', ARGV[2], 'epoch', ARGV[3], 'trimmed', trim)
redis.call('XTRIM', KEYS[2], 'MINID', '~', trim)
return 1
";

/// Appends one node's entries, in order, while the stream is of epoch
/// ARGV[1]; skips those at or before the last one this incarnation
/// appended. Returns how many it appended, or -1 when the stream is gone or
/// of another epoch (nothing is appended).
/// KEYS: stream, epoch, appended hash. ARGV: epoch, node name,
/// incarnation, the entry field, then a sequence number and the entry's
/// bytes per entry.
const APPEND: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local last = 0
local mark = redis.call('HGET', KEYS[3], ARGV[2])
if mark then
  local incarnation, seq = string.match(mark, '^(%d+) (%d+)$')
  if incarnation == ARGV[3] then last = tonumber(seq) end
end
local added = 0
for i = 5, #ARGV - 1, 2 do
  local seq = tonumber(ARGV[i])
  if seq and seq > last then
    redis.call('XADD', KEYS[1], '*', ARGV[4], ARGV[i + 1])
    last = seq
    added = added + 1
  end
end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. ' ' .. string.format('%.0f', last))
return added
";

pub(crate) struct Writer {
    pub(crate) link: Arc<Link>,
    pub(crate) client: redis::Client,
    pub(crate) keys: Keys,
    pub(crate) inbox: Receiver<WriterMsg>,
}

/// Why `serve` returned.
enum Ended {
    /// Stop: the room side is gone, or asked to.
    Stop,
    Failed(redis::RedisError),
}

impl Writer {
    pub(crate) fn run(self) {
        let mut backoff = Backoff::new();
        let mut failures = 0u32;
        while !self.link.stopped() {
            match connect(&self.client, IO_TIMEOUT) {
                Ok(mut con) => {
                    backoff.reset();
                    failures = 0;
                    tracing::debug!("the log's writer is connected");
                    self.link.set_writer_ok(true);
                    let ended = self.serve(&mut con);
                    self.link.set_writer_ok(false);
                    match ended {
                        Ended::Stop => return,
                        Ended::Failed(error) => self.link.declare_down(&error),
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::debug!(%error, failures, "the log's writer cannot connect");
                }
            }
            if !self.drop_until(Instant::now() + backoff.next_wait()) {
                return;
            }
        }
    }

    /// While disconnected: drops what arrives until `until`, answering
    /// flushes. `false` once the room side is gone.
    fn drop_until(&self, until: Instant) -> bool {
        loop {
            self.link.settle(self.link.gen());
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.link.stopped() {
                return !self.link.stopped();
            }
            match self.inbox.recv_timeout(left.min(IDLE)) {
                Ok(WriterMsg::Flush(done)) => done.store(true, Ordering::Release),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn serve(&self, con: &mut redis::Connection) -> Ended {
        let mut checked_gen = self.link.gen();
        loop {
            if self.link.stopped() {
                return Ended::Stop;
            }
            let first = match self.inbox.recv_timeout(IDLE) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    // Idle. When the log went down meanwhile (the reader lost
                    // it), check that this connection is still good.
                    let gen = self.link.gen();
                    if gen != checked_gen {
                        checked_gen = gen;
                        let mut ping = redis::pipe();
                        ping.cmd("PING").ignore();
                        if let Err(error) = self.query(con, &ping, gen) {
                            return Ended::Failed(error);
                        }
                    }
                    self.link.settle(gen);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return Ended::Stop,
            };
            let gen = self.link.gen();
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match self.inbox.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let (pipe, flushes) = self.pipeline(batch, gen);
            let result = if pipe.is_empty() {
                Ok(Vec::new())
            } else {
                self.query(con, &pipe, gen)
            };
            self.link.settle(gen);
            for done in flushes {
                done.store(true, Ordering::Release);
            }
            match result {
                Ok(appended) if appended.contains(&-1) => {
                    tracing::warn!("the room's log is gone or replaced; appends are refused");
                    self.link.declare_down_in(gen, &"the room's log was lost");
                }
                Ok(_) => {}
                Err(error) => return Ended::Failed(error),
            }
        }
    }

    /// The commands for `batch`, made in generation `gen`: one [`APPEND`]
    /// per run of one node's appends (in the epoch `gen` was declared up
    /// in), snapshots in between; and the flushes to answer.
    fn pipeline(&self, batch: Vec<WriterMsg>, gen: u64) -> (redis::Pipeline, Vec<Arc<AtomicBool>>) {
        let epoch = self.link.epoch_of(gen);
        let mut pipe = redis::pipe();
        let mut flushes = Vec::new();
        let mut run: Option<(NodeId, redis::Cmd)> = None;
        let end_run = |pipe: &mut redis::Pipeline, run: &mut Option<(NodeId, redis::Cmd)>| {
            if let Some((_, cmd)) = run.take() {
                pipe.add_command(cmd);
            }
        };
        for msg in batch {
            match msg {
                WriterMsg::Append {
                    gen: tag,
                    node,
                    seq,
                    bytes,
                } if tag >= gen => {
                    let Some(epoch) = epoch.as_deref() else {
                        continue; // never declared up: made before a LogDown
                    };
                    if run.as_ref().is_some_and(|(of, _)| *of != node) {
                        end_run(&mut pipe, &mut run);
                    }
                    let (_, cmd) = run.get_or_insert_with(|| {
                        let mut cmd = redis::cmd("EVAL");
                        cmd.arg(APPEND)
                            .arg(3)
                            .arg(&self.keys.log)
                            .arg(&self.keys.epoch)
                            .arg(&self.keys.appended)
                            .arg(epoch)
                            .arg(&*node.name)
                            .arg(node.incarnation.to_string())
                            .arg(ENTRY_FIELD);
                        (node.clone(), cmd)
                    });
                    cmd.arg(seq.to_string()).arg(bytes);
                }
                WriterMsg::Append { .. } => {} // made before a LogDown
                WriterMsg::Snapshot { epoch, id, state } => {
                    end_run(&mut pipe, &mut run);
                    pipe.cmd("EVAL")
                        .arg(STORE_SNAPSHOT)
                        .arg(3)
                        .arg(&self.keys.snapshot)
                        .arg(&self.keys.log)
                        .arg(&self.keys.epoch)
                        .arg(id.to_string())
                        .arg(state)
                        .arg(&*epoch)
                        .arg(TRIM_LAG.as_millis().to_string())
                        .ignore();
                }
                WriterMsg::Flush(done) => flushes.push(done),
            }
        }
        end_run(&mut pipe, &mut run);
        (pipe, flushes)
    }

    /// Sends `pipe`; after a failure, sends it again on new connections
    /// (to `con`) for up to [`RETRY_FOR`], unless the log goes down from
    /// generation `gen` meanwhile (then it is dropped: what it held is in
    /// doubt, as for any append when the log goes down). The replies of
    /// the commands not ignored: appends' counts.
    fn query(
        &self,
        con: &mut redis::Connection,
        pipe: &redis::Pipeline,
        gen: u64,
    ) -> redis::RedisResult<Vec<i64>> {
        let started = Instant::now();
        loop {
            let error = match pipe.query::<Vec<i64>>(con) {
                Ok(replies) => return Ok(replies),
                Err(error) => error,
            };
            if started.elapsed() >= RETRY_FOR || self.link.stopped() {
                return Err(error);
            }
            tracing::info!(%error, "a write to the room's log failed; trying again");
            std::thread::sleep(RETRY_STEP);
            if self.link.gen() != gen {
                return Ok(Vec::new());
            }
            if let Ok(fresh) = connect(&self.client, IO_TIMEOUT) {
                *con = fresh;
            }
        }
    }
}
