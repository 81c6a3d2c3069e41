//! What the reader and writer threads share, and the one place where the
//! log is declared up or down.
//!
//! # Generations
//! `gen` counts the times the log was declared down. The room side tags
//! each append with the generation it was made in (the last one it was told
//! of); the writer drops an append whose tag is older than `gen`: it was
//! made before a `LogDown` and must never reach the log after it.
//!
//! # Invariants
//! - `LogUp` and `LogDown` are delivered with `order` held, so the room
//!   gets them in generation order; an `Up { gen }` is delivered only while
//!   `gen` is still the current generation.
//! - `settled >= g` means the writer holds no append tagged before `g` and
//!   has none in flight: the reader waits for it before a `LogUp`, so no
//!   append from before a `LogDown` can land after the `LogUp` that follows.
//! - `serving` is the generation last declared up and the epoch it was
//!   declared up in: the room makes its appends of generation `g` only
//!   after `Up { g }`, so they belong to that epoch, and the writer appends
//!   them only while the stream is still of it.

use crate::log::{LogEvent, LogSink};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The state the reader, the writer and the room side share.
pub(crate) struct Link {
    pub(crate) sink: Box<dyn LogSink>,
    gen: AtomicU64,
    /// Whether the log was last declared up (for logging only).
    up: AtomicBool,
    order: Mutex<()>,
    /// The generation last declared up, and its epoch.
    serving: Mutex<Option<(u64, Arc<str>)>>,
    /// Whether the writer has a connection.
    writer_ok: AtomicBool,
    settled: AtomicU64,
    stop: AtomicBool,
    /// Whether the sink refused an event (the room is gone).
    gone: AtomicBool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("gen", &self.gen)
            .field("up", &self.up)
            .field("writer_ok", &self.writer_ok)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

impl Link {
    pub(crate) fn new(sink: Box<dyn LogSink>) -> Self {
        Link {
            sink,
            gen: AtomicU64::new(0),
            up: AtomicBool::new(false),
            order: Mutex::new(()),
            serving: Mutex::new(None),
            writer_ok: AtomicBool::new(false),
            settled: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        }
    }

    pub(crate) fn gen(&self) -> u64 {
        self.gen.load(Ordering::Acquire)
    }

    /// Hands `event` to the room, remembering a refusal.
    pub(crate) fn deliver(&self, event: LogEvent) -> bool {
        let delivered = self.sink.deliver(event);
        if !delivered {
            self.gone.store(true, Ordering::Release);
        }
        delivered
    }

    /// Declares the log down (a new generation) and tells the room.
    pub(crate) fn declare_down(&self, why: &dyn std::fmt::Display) {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        self.down(why);
    }

    /// Declares the log down as [`declare_down`](Self::declare_down) does,
    /// unless it went down since generation `gen` (someone else noticed).
    pub(crate) fn declare_down_in(&self, gen: u64, why: &dyn std::fmt::Display) {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if self.gen() == gen {
            self.down(why);
        }
    }

    /// A new generation, down; with `order` held.
    fn down(&self, why: &dyn std::fmt::Display) {
        let gen = self.gen.fetch_add(1, Ordering::AcqRel) + 1;
        let was_up = self.up.swap(false, Ordering::AcqRel);
        // The room is told before the log says so.
        self.deliver(LogEvent::Down { gen });
        if was_up {
            tracing::warn!(%why, "lost the room's log; lines are refused until it is back");
        } else {
            tracing::debug!(%why, gen, "the room's log is down");
        }
    }

    /// The room side's own `LogDown` (its outbox overflowed): a new
    /// generation, without delivering anything (the caller tells the room).
    pub(crate) fn overflowed(&self) -> u64 {
        let gen = self.gen.fetch_add(1, Ordering::AcqRel) + 1;
        self.up.store(false, Ordering::Release);
        tracing::warn!("the log's outbox overflowed; lines are refused until it catches up");
        gen
    }

    /// Declares the log up in generation `gen`, unless it went down since.
    pub(crate) fn declare_up(&self, gen: u64, epoch: Arc<str>) -> bool {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if self.gen() != gen {
            return false;
        }
        self.up.store(true, Ordering::Release);
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((gen, Arc::clone(&epoch)));
        self.deliver(LogEvent::Up { gen, epoch })
    }

    /// The epoch generation `gen` was declared up in, if it was.
    pub(crate) fn epoch_of(&self, gen: u64) -> Option<Arc<str>> {
        let serving = self.serving.lock().unwrap_or_else(PoisonError::into_inner);
        serving
            .as_ref()
            .filter(|(up, _)| *up == gen)
            .map(|(_, epoch)| Arc::clone(epoch))
    }

    pub(crate) fn set_writer_ok(&self, ok: bool) {
        self.writer_ok.store(ok, Ordering::Release);
    }

    /// Whether the writer is connected and past every append tagged before `gen`.
    pub(crate) fn writer_ready(&self, gen: u64) -> bool {
        self.writer_ok.load(Ordering::Acquire) && self.settled.load(Ordering::Acquire) >= gen
    }

    /// The writer holds nothing tagged before `gen` any more.
    pub(crate) fn settle(&self, gen: u64) {
        self.settled.fetch_max(gen, Ordering::AcqRel);
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the threads are to stop: asked to, or the room is gone.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.gone.load(Ordering::Acquire)
    }
}
