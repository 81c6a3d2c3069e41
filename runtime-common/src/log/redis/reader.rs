//! The reader thread: hands the room every entry of the stream, in order,
//! once; checks the epoch at every connect and after every read; declares
//! the log up once it has read to the end.
//!
//! # Invariants
//! - `last` is the id of the last entry handed in (or of the snapshot the
//!   room was restored from, or `0-0`): the next read is strictly after it.
//! - `epoch` is the epoch `last` belongs to. A read is handed in only if,
//!   after it, the epoch key still holds `epoch` and the stream exists: a
//!   stream of another epoch is only ever made after its epoch key is set
//!   (see [`ENSURE_EPOCH`]), so entries read before that check are of
//!   `epoch`. Otherwise (and at a connect that finds another epoch) the
//!   stream was lost: the log is declared down and the room gets a reset
//!   ([`Reset::LogLost`]).
//! - After every read, the stream's `trimmed` mark is checked: if it is
//!   past `last` (entries after `last` may have been trimmed unread) the
//!   room starts again from the snapshot ([`Reset::FellBehind`]).
//! - `LogUp` is declared only after a read found nothing more, with the
//!   writer settled in the current generation (see the `link` module).
//! - A failure while up is tried again on new connections for
//!   [`RETRY_FOR`] from the first failure before the log is declared down;
//!   `failing_since` is cleared by a read that succeeds.

use super::keys::{random_u64, Backoff, Keys, ENTRY_FIELD};
use super::link::Link;
use super::{connect, IO_TIMEOUT, RETRY_FOR, RETRY_STEP};
use crate::log::{LogEvent, LogPos, Reset};
use chat_core::{Entry, Snapshot};
use redis::streams::StreamReadReply;
use redis::{RedisError, Value};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Finds the room's epoch, or starts a new one: when the epoch key or the
/// stream is missing, deletes what is left of the old log and sets a new
/// epoch together with a new, empty stream. Returns the epoch.
/// KEYS: epoch, stream, snapshot hash, appended hash. ARGV: a fresh epoch.
const ENSURE_EPOCH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if epoch and redis.call('EXISTS', KEYS[2]) == 1 then return epoch end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '0', '*', 'epoch', ARGV[1])
return ARGV[1]
";

/// The most entries one read asks for.
const COUNT: usize = 512;

/// How long one blocking read waits for new entries.
const BLOCK: Duration = Duration::from_millis(500);

pub(crate) struct Reader {
    pub(crate) link: Arc<Link>,
    pub(crate) client: redis::Client,
    pub(crate) keys: Keys,
    pub(crate) url: String,
    pub(crate) epoch: Option<Arc<str>>,
    pub(crate) last: LogPos,
    /// The generation this reader last declared up in.
    pub(crate) up_gen: Option<u64>,
    /// When the calls started failing, while up.
    pub(crate) failing_since: Option<Instant>,
}

/// Why a session with Redis ended.
#[derive(Debug)]
enum Failure {
    Redis(RedisError),
    /// Redis answered something this adapter cannot read.
    Reply(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Redis(error) => write!(f, "{error}"),
            Failure::Reply(what) => write!(f, "unexpected reply from Redis: {what}"),
        }
    }
}

impl From<RedisError> for Failure {
    fn from(error: RedisError) -> Self {
        Failure::Redis(error)
    }
}

impl Reader {
    pub(crate) fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut failures = 0u32;
        while !self.link.stopped() {
            match self.session(&mut backoff, &mut failures) {
                Ok(()) => return,
                Err(failure) if self.may_retry() => {
                    tracing::info!(error = %failure, "a read of the room's log failed; trying again");
                    std::thread::sleep(RETRY_STEP);
                    continue;
                }
                Err(failure) => {
                    self.failing_since = None;
                    failures += 1;
                    // The room is told first: once the log says so, lines
                    // are refused.
                    self.link.declare_down(&failure);
                    if self.up_gen.take().is_some() || failures == 1 {
                        // Said once per outage (the first failure at start too).
                        tracing::warn!(url = %self.url, error = %failure, "cannot reach the room's log; retrying");
                    } else {
                        tracing::debug!(error = %failure, failures, "cannot reach the room's log");
                    }
                }
            }
            let wait = backoff.next_wait();
            let until = std::time::Instant::now() + wait;
            while !self.link.stopped() && std::time::Instant::now() < until {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
            }
        }
    }

    /// Whether a failure may be tried again without declaring the log
    /// down: it is up, and failing for less than [`RETRY_FOR`].
    fn may_retry(&mut self) -> bool {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        self.up_gen.is_some() && since.elapsed() < RETRY_FOR && !self.link.stopped()
    }

    /// One connection: epoch check, catch-up, then reads until an error.
    /// `Ok` when asked to stop.
    fn session(&mut self, backoff: &mut Backoff, failures: &mut u32) -> Result<(), Failure> {
        let mut con = connect(&self.client, BLOCK + IO_TIMEOUT)?;
        self.check_epoch(&mut con)?;
        if *failures > 0 {
            tracing::info!(url = %self.url, "reached the room's log again");
        } else {
            tracing::info!(url = %self.url, "reached the room's log");
        }
        backoff.reset();
        *failures = 0;
        loop {
            if self.link.stopped() {
                return Ok(());
            }
            let gen = self.link.gen();
            if self.up_gen != Some(gen) && self.link.writer_ready(gen) {
                // Read to the end, then declare up (unless it went down meanwhile).
                while self.read(&mut con, None)? > 0 {}
                let epoch = self
                    .epoch
                    .clone()
                    .ok_or_else(|| Failure::Reply("no epoch".into()))?;
                if self.link.declare_up(gen, epoch) {
                    self.up_gen = Some(gen);
                    tracing::info!(epoch = ?self.epoch, "serving the room from its log");
                }
            }
            self.read(&mut con, Some(BLOCK))?;
        }
    }

    /// Finds the epoch (starting a new one if the log has none), and
    /// compares it with ours: a different one (or, at the first connect,
    /// any) starts the room again from the stored snapshot.
    fn check_epoch(&mut self, con: &mut redis::Connection) -> Result<(), Failure> {
        let fresh = format!("{:016x}", random_u64());
        let epoch: String = redis::cmd("EVAL")
            .arg(ENSURE_EPOCH)
            .arg(4)
            .arg(&self.keys.epoch)
            .arg(&self.keys.log)
            .arg(&self.keys.snapshot)
            .arg(&self.keys.appended)
            .arg(&fresh)
            .query(con)?;
        let epoch: Arc<str> = epoch.into();
        match self.epoch.replace(Arc::clone(&epoch)) {
            None => self.restart(con, None),
            Some(known) if known == epoch => Ok(()),
            Some(known) => {
                tracing::warn!(old = %known, new = %epoch, "the room's log was lost (a new epoch); its users are closed");
                self.restart(con, Some(Reset::LogLost))
            }
        }
    }

    /// Starts the room again from the snapshot of this epoch (or the
    /// stream's start), after a reset if `reset`.
    fn restart(
        &mut self,
        con: &mut redis::Connection,
        reset: Option<Reset>,
    ) -> Result<(), Failure> {
        let (id, state, epoch): (Option<String>, Option<Vec<u8>>, Option<String>) =
            redis::cmd("HMGET")
                .arg(&self.keys.snapshot)
                .arg("id")
                .arg("state")
                .arg("epoch")
                .query(con)?;
        let ours = epoch.is_some() && epoch.as_deref() == self.epoch.as_deref();
        let snapshot = match (id, state) {
            (Some(id), Some(state)) if ours => {
                match (id.parse::<LogPos>(), Snapshot::decode(&state)) {
                    (Ok(id), Ok(snapshot)) => Some((id, snapshot)),
                    (Err(error), _) => {
                        tracing::error!(%error, "the stored snapshot has a bad id; reading the stream from its start");
                        None
                    }
                    (_, Err(error)) => {
                        tracing::error!(%error, "the stored snapshot does not decode; reading the stream from its start");
                        None
                    }
                }
            }
            _ => None,
        };
        let (from, snapshot) = match snapshot {
            Some((id, snapshot)) => (id, Some(snapshot)),
            None => (LogPos::START, None),
        };
        tracing::info!(%from, snapshot = snapshot.is_some(), ?reset, "reading the room's log");
        self.last = from;
        if reset.is_some() || snapshot.is_some() {
            self.link.deliver(LogEvent::Restart {
                reset,
                snapshot,
                from,
            });
        }
        Ok(())
    }

    /// Reads the entries after `last` (waiting up to `block` for some),
    /// checks the epoch and the trim mark, and hands them in. Returns how
    /// many were read.
    fn read(
        &mut self,
        con: &mut redis::Connection,
        block: Option<Duration>,
    ) -> Result<usize, Failure> {
        let mut xread = redis::cmd("XREAD");
        if let Some(block) = block {
            xread.arg("BLOCK").arg(block.as_millis().to_string());
        }
        xread
            .arg("COUNT")
            .arg(COUNT)
            .arg("STREAMS")
            .arg(&self.keys.log)
            .arg(self.last.to_string());
        type Read = (
            Option<StreamReadReply>,
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
        );
        let (reply, trimmed, epoch, current, exists): Read = redis::pipe()
            .add_command(xread)
            .cmd("HGET")
            .arg(&self.keys.snapshot)
            .arg("trimmed")
            .cmd("HGET")
            .arg(&self.keys.snapshot)
            .arg("epoch")
            .cmd("GET")
            .arg(&self.keys.epoch)
            .cmd("EXISTS")
            .arg(&self.keys.log)
            .query(con)?;
        self.failing_since = None;
        if !exists || current.as_deref() != self.epoch.as_deref() {
            // What was read may be of another stream: it is not handed in.
            tracing::warn!(
                stream = exists,
                epoch = ?current,
                "the room's log is gone or replaced"
            );
            self.link.declare_down(&"the room's log was lost");
            self.up_gen = None;
            self.check_epoch(con)?;
            return Ok(0);
        }
        let before = self.last;
        let mut entries = Vec::new();
        let mut read = 0;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for item in stream.ids {
                let id: LogPos = item
                    .id
                    .parse()
                    .map_err(|e| Failure::Reply(format!("{e}")))?;
                if id <= self.last {
                    return Err(Failure::Reply(format!(
                        "entry {id} is not after {}",
                        self.last
                    )));
                }
                self.last = id;
                read += 1;
                match item.map.get(ENTRY_FIELD) {
                    Some(Value::BulkString(bytes)) => match Entry::decode(bytes) {
                        Ok(entry) => entries.push(entry),
                        Err(error) => {
                            tracing::warn!(%id, %error, "skipping a log entry that does not decode")
                        }
                    },
                    _ => tracing::warn!(%id, "skipping a log entry without an `e` field"),
                }
            }
        }
        let ours = epoch.is_some() && epoch.as_deref() == self.epoch.as_deref();
        if let Some(trimmed) = trimmed.filter(|_| ours) {
            let trimmed: LogPos = trimmed
                .parse()
                .map_err(|e| Failure::Reply(format!("{e}")))?;
            if trimmed > before {
                // What was read may follow a gap: it is not handed in.
                tracing::warn!(%before, %trimmed, "the log was trimmed past what this server read; its users are closed");
                self.link.declare_down(&"entries were trimmed unread");
                self.up_gen = None;
                self.restart(con, Some(Reset::FellBehind))?;
                return Ok(0);
            }
        }
        if read > 0
            && !self.link.deliver(LogEvent::Logged {
                entries,
                last: self.last,
            })
        {
            return Ok(0);
        }
        Ok(read)
    }
}
