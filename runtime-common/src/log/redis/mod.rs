//! The room's log in a Redis stream, for a clustered room: written once
//! for both runtimes, on two threads of its own with Redis's blocking
//! client.
//!
//! - The **reader** thread reads the stream with `XREAD BLOCK` and hands
//!   the room ([`LogSink`]) every entry in stream order, exactly once
//!   ([`LogEvent::Logged`]); it declares the log down when Redis cannot be
//!   reached and up once it has read to the end again.
//! - The **writer** thread appends the room's entries (`XADD`, pipelined on
//!   one connection, in order) and stores snapshots.
//! - The room side ([`RedisLog`]) queues appends and snapshots for the
//!   writer on a bounded channel; when it is full, the log counts as down
//!   ([`AppendOverflow`]).
//!
//! # Keys (room `R`)
//! - `chat:{R}:log`: the stream; each entry's bytes in field `e`.
//! - `chat:{R}:epoch`: a random value, set together with a new, empty
//!   stream by one script, and only when the epoch key or the stream is
//!   missing (the old stream, if any, is deleted then). So the epoch key
//!   exists exactly as long as the stream it was made with: a flushed
//!   Redis, a `DEL` or an expiry of either key shows as a missing key or a
//!   new value. A node compares it with its own at every connect and after
//!   every read, and the writer appends only while it matches (one script
//!   checks it and appends): a change means the stream was lost, and the
//!   room is reset.
//! - `chat:{R}:snapshot`: a hash: the latest snapshot (`state`), the last
//!   stream id it covers (`id`), its `epoch`, and `trimmed`: the stream
//!   holds no entry before it.
//! - `chat:{R}:appended`: a hash: for each node name, the incarnation and
//!   sequence number of its last appended entry, so an append sent again
//!   after a failure lands once.
//!
//! # Failures
//! A failed call (an interrupted system call after the process was
//! stopped, a dropped connection, a timeout) is tried again on a new
//! connection every `RETRY_STEP` (100 ms), for up to [`RETRY_FOR`], before the
//! log counts as down: a pause or a blip shorter
//! than that costs nobody a line. Reads are idempotent; appends are made
//! so by `chat:{R}:appended`.
//!
//! # Snapshots and trimming
//! Every [`SNAPSHOT_EVERY`](super::SNAPSHOT_EVERY) (or
//! [`SNAPSHOT_ENTRIES`](super::SNAPSHOT_ENTRIES) entries) a serving
//! node stores its snapshot with a script that keeps only the newest one
//! (by id, in the current epoch) and trims the stream (`XTRIM MINID ~`) to
//! [`TRIM_LAG`] before the snapshot's id. So every trimmed entry is covered
//! by the stored snapshot (a starting node reads the snapshot, then the
//! stream after its id), and a node that is less than `TRIM_LAG` behind
//! loses nothing. A node further behind sees the `trimmed` mark pass its
//! position after a read and starts again from the snapshot: it lost
//! contact with the room, and its users are closed as such.
//!
//! Liveness is the room's (heartbeats in the log); this module only moves
//! entries.

mod keys;
mod link;
mod reader;
mod writer;

use super::{AppendOverflow, Flush, LogEvent, LogPos, LogSink, RoomLog};
use chat_core::{ClusterConfig, Entry, NodeId, Snapshot};
use keys::Keys;
use link::Link;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use writer::WriterMsg;

/// The bound on connecting and on each command that does not block.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a failed call is tried again on new connections before the
/// log counts as down: well within the room's loss bound (5 heartbeats).
pub const RETRY_FOR: Duration = Duration::from_secs(3);

/// The wait between two tries of a failed call.
pub(crate) const RETRY_STEP: Duration = Duration::from_millis(100);

/// How far behind a stored snapshot the stream is trimmed.
pub const TRIM_LAG: Duration = Duration::from_secs(10);

/// Messages the writer may have waiting: the room's own bound on appends
/// not yet seen in the log, plus room for snapshots and flushes.
const OUTBOX: usize = 16_384 + 64;

/// Where the log is, and which room in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    url: String,
    room: String,
}

/// A `--cluster` URL or room name that cannot be used.
#[derive(Debug)]
pub enum LogConfigError {
    /// The URL does not parse as a Redis URL.
    Url(String),
    /// The room name is empty, too long, or has whitespace.
    Room,
}

impl fmt::Display for LogConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogConfigError::Url(why) => write!(f, "not a Redis URL (redis://HOST:PORT): {why}"),
            LogConfigError::Room => write!(
                f,
                "a room name is 1 to {} bytes with no whitespace",
                chat_core::cluster::MAX_NODE_NAME
            ),
        }
    }
}

impl std::error::Error for LogConfigError {}

impl LogConfig {
    /// The room `room` in the Redis at `url` (`redis://HOST:PORT[/DB]`).
    ///
    /// # Errors
    /// The URL does not parse, or the room name is not a valid name (the
    /// rules of a node name: 1 to 255 bytes, no whitespace).
    pub fn new(url: &str, room: &str) -> Result<Self, LogConfigError> {
        redis::Client::open(url).map_err(|e| LogConfigError::Url(e.to_string()))?;
        if !NodeId::is_valid_name(room) {
            return Err(LogConfigError::Room);
        }
        Ok(LogConfig {
            url: url.to_string(),
            room: room.to_string(),
        })
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The room's name.
    pub fn room(&self) -> &str {
        &self.room
    }
}

/// How a server takes part in a cluster: where the log is, and the name it
/// goes by (by default, the address it listens on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// The log.
    pub log: LogConfig,
    /// The node's name; `None` for the first listening address.
    pub node_name: Option<String>,
}

impl ClusterOptions {
    /// The node's configuration, once the server listens on `local`: a new
    /// incarnation (the time in ms) on every start.
    pub fn cluster_config(&self, local: SocketAddr) -> ClusterConfig {
        let name = self.node_name.clone().unwrap_or_else(|| local.to_string());
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or_else(|_| keys::random_u64(), |d| d.as_millis() as u64);
        ClusterConfig::new(NodeId::new(&name, incarnation))
    }
}

/// The room side of the Redis log. Dropping it stops its threads (within
/// about a second; they are not joined).
#[derive(Debug)]
pub struct RedisLog {
    link: Arc<Link>,
    outbox: SyncSender<WriterMsg>,
}

impl RedisLog {
    /// Starts the reader and writer threads for `config`, delivering to
    /// `sink`. It does not wait for Redis: until it is reached the room is
    /// down (joiners are told the room is unavailable) and the threads keep
    /// trying, with a backoff from 100 ms to 5 s.
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn start(config: &LogConfig, sink: impl LogSink) -> std::io::Result<RedisLog> {
        let client = redis::Client::open(config.url.as_str()).map_err(std::io::Error::other)?;
        let keys = Keys::new(&config.room);
        let link = Arc::new(Link::new(Box::new(sink)));
        let (outbox, inbox) = mpsc::sync_channel(OUTBOX);
        let writer = writer::Writer {
            link: Arc::clone(&link),
            client: client.clone(),
            keys: keys.clone(),
            inbox,
        };
        thread::Builder::new()
            .name("chat-log-write".into())
            .spawn(move || writer.run())?;
        let reader = reader::Reader {
            link: Arc::clone(&link),
            client,
            keys,
            url: config.url.clone(),
            epoch: None,
            last: LogPos::START,
            up_gen: None,
            failing_since: None,
        };
        let spawned = thread::Builder::new()
            .name("chat-log-read".into())
            .spawn(move || reader.run());
        if let Err(error) = spawned {
            link.stop();
            return Err(error);
        }
        Ok(RedisLog { link, outbox })
    }
}

impl RoomLog for RedisLog {
    /// Queues `entry` for the writer; when the outbox is full, the log is
    /// declared down (a new generation).
    fn append(&mut self, gen: u64, entry: &Entry) -> Result<(), AppendOverflow> {
        let msg = WriterMsg::Append {
            gen,
            node: entry.node.clone(),
            seq: entry.seq,
            bytes: entry.encode(),
        };
        match self.outbox.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(AppendOverflow {
                gen: self.link.overflowed(),
            }),
        }
    }

    /// Queues a snapshot covering the stream up to `at` in `epoch`; dropped
    /// when the outbox is full.
    fn store_snapshot(&mut self, epoch: Arc<str>, at: LogPos, snapshot: &Snapshot) {
        let msg = WriterMsg::Snapshot {
            epoch,
            id: at,
            state: snapshot.encode(),
        };
        if self.outbox.try_send(msg).is_err() {
            tracing::debug!("the log's outbox is full; snapshot skipped");
        }
    }

    /// Asks the writer to report once everything queued so far was written
    /// (or dropped).
    fn flush(&self) -> Box<dyn Flush> {
        Box::new(OutboxFlush {
            outbox: self.outbox.clone(),
            done: Arc::new(AtomicBool::new(false)),
            sent: false,
        })
    }

    /// Nothing: the reader and the writer hand their events to the sink.
    fn poll_event(&mut self) -> Option<LogEvent> {
        None
    }
}

impl Drop for RedisLog {
    fn drop(&mut self) {
        self.link.stop();
    }
}

/// A flush of the writer's outbox under way.
#[derive(Debug)]
struct OutboxFlush {
    outbox: SyncSender<WriterMsg>,
    done: Arc<AtomicBool>,
    sent: bool,
}

impl Flush for OutboxFlush {
    fn is_done(&mut self) -> bool {
        if !self.sent {
            match self
                .outbox
                .try_send(WriterMsg::Flush(Arc::clone(&self.done)))
            {
                Ok(()) => self.sent = true,
                Err(TrySendError::Full(_)) => return false,
                Err(TrySendError::Disconnected(_)) => return true,
            }
        }
        self.done.load(Ordering::Acquire)
    }
}

/// A connection with every command bounded by `read_timeout` (reads) and
/// [`IO_TIMEOUT`] (connecting, writing).
pub(crate) fn connect(
    client: &redis::Client,
    read_timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(read_timeout))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}
