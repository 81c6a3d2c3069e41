//! The writer thread: appends the room's entries in order, pipelined on
//! one connection, and stores snapshots (trimming the stream with them).
//!
//! # Invariants
//! - Entries are appended in the order the room made them: one thread,
//!   one connection, one pipeline at a time.
//! - An append tagged before the current generation is dropped, never
//!   written (see the `link` module); [`Link::settle`] is called after each
//!   batch and while idle.
//! - On any error the log is declared down, and every message waiting is
//!   dropped (flushes are answered) until the connection is back.

use super::keys::{Backoff, Keys, StreamPos, ENTRY_FIELD};
use super::link::Link;
use super::{connect, IO_TIMEOUT, TRIM_LAG};
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
    /// Append one entry's bytes, made in generation `gen`.
    Append { gen: u64, bytes: Vec<u8> },
    /// Store a snapshot covering the stream up to `id`, in `epoch`.
    Snapshot {
        epoch: Arc<str>,
        id: StreamPos,
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
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return 0 end
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
                        if let Err(error) = redis::cmd("PING").query::<()>(con) {
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
            let mut pipe = redis::pipe();
            let mut flushes = Vec::new();
            for msg in batch {
                match msg {
                    WriterMsg::Append { gen: tag, bytes } if tag >= gen => {
                        pipe.cmd("XADD")
                            .arg(&self.keys.log)
                            .arg("*")
                            .arg(ENTRY_FIELD)
                            .arg(bytes)
                            .ignore();
                    }
                    WriterMsg::Append { .. } => {} // made before a LogDown
                    WriterMsg::Snapshot { epoch, id, state } => {
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
            let result = if pipe.is_empty() {
                Ok(())
            } else {
                pipe.query::<()>(con)
            };
            self.link.settle(gen);
            for done in flushes {
                done.store(true, Ordering::Release);
            }
            if let Err(error) = result {
                return Ended::Failed(error);
            }
        }
    }
}
