//! Counts the threads of a server that are still running, so that
//! [`Server::wait`](crate::Server::wait) can wait for them with a bound.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The number of live threads, and a condition signalled when it reaches zero.
#[derive(Debug, Default)]
pub(crate) struct Live {
    count: Mutex<usize>,
    zero: Condvar,
}

/// Held by one thread for as long as it runs; dropping it counts the thread out.
///
/// Create it *before* spawning the thread and move it in: if the spawn fails,
/// the closure (and the guard) is dropped and the count stays right.
#[derive(Debug)]
pub(crate) struct LiveGuard(Arc<Live>);

impl Live {
    /// Counts one more thread in.
    pub(crate) fn enter(self: &Arc<Self>) -> LiveGuard {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        LiveGuard(Arc::clone(self))
    }

    /// Threads counted now.
    pub(crate) fn count(&self) -> usize {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no thread is counted, at most `timeout`. Returns whether
    /// the count reached zero.
    pub(crate) fn wait_zero(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = self
                .zero
                .wait_timeout(count, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        if *count == 0 {
            self.0.zero.notify_all();
        }
    }
}
