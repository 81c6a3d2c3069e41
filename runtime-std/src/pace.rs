//! Keeps the room thread from running far ahead of writer threads that are
//! ready to run but get no CPU.
//!
//! On a busy machine a woken thread can wait milliseconds for a CPU, while
//! the room thread and one sender's reader relay hundreds of lines: the
//! send accounts of the starved writers' clients pass the limit, and the
//! core closes readers that read as fast as they can. So after handing lines
//! over, the room waits (briefly, bounded) for every writer it just fed that
//! has more than [`MAX_LAG`] bytes handed over and not written, unless that
//! writer is away: in a write, where only a client that does not read fast
//! enough can block it (the core's business), or gone. The wait is for a
//! local CPU, never for a client.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How far (in bytes handed over and not written) a writer that is ready to
/// run may fall behind before the room waits for it: about 64 lines of 1 KB,
/// what one burst of the room's inbox hands over.
pub(crate) const MAX_LAG: usize = 64 * 1024;

/// The longest the room thread waits for writers after one hand-over: on a
/// machine so busy that they get no CPU for this long, it moves on.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(50);

/// The room thread's wait, shared with every writer.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// Set while the room thread waits; writers signal only then.
    room_waits: AtomicBool,
    lock: Mutex<()>,
    progress: Condvar,
}

impl Pace {
    /// Room side: waits while `behind()` holds, until `deadline` at most.
    /// Returns `false` if the deadline passed.
    pub(crate) fn wait_while(&self, deadline: Instant, behind: impl Fn() -> bool) -> bool {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        // Set before checking: a writer that moves after the check sees it
        // and signals (both sides use SeqCst).
        self.room_waits.store(true, Ordering::SeqCst);
        let mut in_time = true;
        while behind() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                in_time = false;
                break;
            }
            guard = self
                .progress
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.room_waits.store(false, Ordering::SeqCst);
        in_time
    }

    /// Writer side: wakes the room thread if it waits.
    fn signal(&self) {
        if self.room_waits.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.progress.notify_one();
        }
    }
}

/// One writer's progress as the room sees it.
#[derive(Debug)]
pub(crate) struct WriterPace {
    /// Bytes the writer's socket took, in total (wrapping).
    written: AtomicUsize,
    /// In a write (which only the client can block), or gone: not to be
    /// waited for.
    away: AtomicBool,
    pace: Arc<Pace>,
}

impl WriterPace {
    /// A writer that wrote nothing yet.
    pub(crate) fn new(pace: &Arc<Pace>) -> Self {
        WriterPace {
            written: AtomicUsize::new(0),
            away: AtomicBool::new(false),
            pace: Arc::clone(pace),
        }
    }

    /// Writer side: it is about to write or to end (`true`), or it wrote and
    /// its socket took `written` bytes in total so far (`false`).
    pub(crate) fn set_away(&self, away: bool, written: usize) {
        self.written.store(written, Ordering::SeqCst);
        self.away.store(away, Ordering::SeqCst);
        self.pace.signal();
    }

    /// Room side: whether the writer's socket took all of the `handed`
    /// bytes it was handed in total: it has nothing left to write.
    pub(crate) fn wrote_all(&self, handed: usize) -> bool {
        self.written.load(Ordering::SeqCst) == handed
    }

    /// Room side: whether a writer handed `handed` bytes in total has more
    /// than [`MAX_LAG`] of them unwritten and is not away.
    pub(crate) fn is_behind(&self, handed: usize) -> bool {
        let written = self.written.load(Ordering::SeqCst);
        handed.wrapping_sub(written) > MAX_LAG && !self.away.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_writer_is_behind_only_past_the_lag_and_when_not_away() {
        let writer = WriterPace::new(&Arc::new(Pace::default()));
        assert!(!writer.is_behind(MAX_LAG));
        assert!(writer.is_behind(MAX_LAG + 1));
        writer.set_away(true, 0);
        assert!(!writer.is_behind(MAX_LAG + 1));
        writer.set_away(false, 1);
        assert!(!writer.is_behind(MAX_LAG + 1));
        assert!(writer.is_behind(MAX_LAG + 2));
    }

    #[test]
    fn the_room_waits_until_the_writer_picks_up_or_the_deadline() {
        let pace = Arc::new(Pace::default());
        let writer = Arc::new(WriterPace::new(&pace));
        let handed = 2 * MAX_LAG;
        let far = Instant::now() + Duration::from_secs(20);
        let catching_up = {
            let writer = Arc::clone(&writer);
            thread::spawn(move || writer.set_away(false, handed))
        };
        assert!(pace.wait_while(far, || writer.is_behind(handed)));
        catching_up.join().expect("the writer thread");

        let past = Instant::now();
        assert!(!pace.wait_while(past, || writer.is_behind(handed + MAX_LAG + 1)));
    }
}
