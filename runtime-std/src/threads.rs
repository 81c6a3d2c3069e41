//! How many clients the threads this runtime can start hold.
//!
//! Every client costs [`THREADS_PER_CLIENT`] threads (its reader and its
//! writer), and Linux bounds threads three ways:
//! - `kernel.threads-max`, threads of the whole system;
//! - `RLIMIT_NPROC` (`ulimit -u`), threads of the user;
//! - `vm.max_map_count`, memory maps of the process: each thread takes
//!   [`MAPS_PER_THREAD`] (its stack and the guard page below it, and std's
//!   signal stack and its own guard page).
//!
//! Past the first two, a thread cannot be spawned; past the map count, std
//! may fail to set up a new thread's signal stack, and then aborts the whole
//! process. So the server sizes itself to fit at start
//! ([`fit_max_clients`]), and its acceptors refuse a connection whose threads
//! would pass the budget ([`Budget::has_room`]) while refused clients still
//! hold theirs.

use chat_runtime_common::proc_number;
use nix::sys::resource::{getrlimit, Resource};

/// Threads of one client: a reader and a writer.
pub(crate) const THREADS_PER_CLIENT: u64 = 2;

/// Memory maps of one thread: stack, stack guard, signal stack, its guard.
pub(crate) const MAPS_PER_THREAD: u64 = 4;

/// Maps kept for the rest of the process: the binary and its libraries,
/// malloc's arenas, and the stacks glibc caches after threads end (up to
/// 40 MiB of them, two maps each).
const RESERVED_MAPS: u64 = 4096;

/// Threads kept for the rest of the server (room, acceptors, TLS
/// handshakes, the Redis log) and for the user's other processes.
const RESERVED_THREADS: u64 = 256;

/// Where Linux publishes the cap on one process's memory maps.
const MAX_MAP_COUNT_PATH: &str = "/proc/sys/vm/max_map_count";

/// Where Linux publishes the cap on the system's threads.
const THREADS_MAX_PATH: &str = "/proc/sys/kernel/threads-max";

/// The limits on this process's threads, each `None` where it cannot be
/// read or is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `vm.max_map_count`.
    pub(crate) max_map_count: Option<u64>,
    /// `kernel.threads-max`.
    pub(crate) threads_max: Option<u64>,
    /// The soft `RLIMIT_NPROC`.
    pub(crate) nproc: Option<u64>,
}

impl Limits {
    /// Reads the limits of this system and process.
    pub(crate) fn of_this_process() -> Limits {
        let nproc = getrlimit(Resource::RLIMIT_NPROC)
            .ok()
            .map(|(soft, _hard)| soft)
            .filter(|&soft| soft != nix::sys::resource::RLIM_INFINITY);
        Limits {
            max_map_count: proc_number::read(MAX_MAP_COUNT_PATH),
            threads_max: proc_number::read(THREADS_MAX_PATH),
            nproc,
        }
    }

    /// Connection threads the process can hold: the smallest of the three
    /// bounds, minus what the rest of the process keeps. `None` when no
    /// bound is known.
    pub(crate) fn connection_threads(&self) -> Option<u64> {
        let by_maps = self
            .max_map_count
            .map(|maps| maps.saturating_sub(RESERVED_MAPS) / MAPS_PER_THREAD);
        let by_threads = [self.threads_max, self.nproc]
            .into_iter()
            .flatten()
            .map(|threads| threads.saturating_sub(RESERVED_THREADS));
        by_maps.into_iter().chain(by_threads).min()
    }

    /// Clients whose threads the process can hold (`usize::MAX` when no
    /// bound is known).
    pub(crate) fn clients(&self) -> usize {
        self.connection_threads().map_or(usize::MAX, |threads| {
            usize::try_from(threads / THREADS_PER_CLIENT).unwrap_or(usize::MAX)
        })
    }
}

/// What the acceptors check before they start a connection's threads.
///
/// # Invariant
/// `threads` is at most `Limits::connection_threads`, so that a connection
/// it lets in can always start its threads. The live count it is given also
/// holds `others` threads that are not a connection's (the acceptors, which
/// [`RESERVED_THREADS`] already covers): they do not take a client's place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    threads: usize,
    others: usize,
}

impl Budget {
    /// The budget of a process with `limits`, whose live count also holds
    /// `others` threads that are not a connection's.
    pub(crate) fn new(limits: &Limits, others: usize) -> Budget {
        let threads = limits.connection_threads().map_or(usize::MAX, |threads| {
            usize::try_from(threads).unwrap_or(usize::MAX)
        });
        Budget { threads, others }
    }

    /// Whether one more client's threads fit beside `live` running ones
    /// (the `others` included).
    pub(crate) fn has_room(&self, live: usize) -> bool {
        let per_client = THREADS_PER_CLIENT as usize;
        live.saturating_sub(self.others).saturating_add(per_client) <= self.threads
    }
}

/// Returns `max_clients`, lowered to what `limits` hold if it does not fit,
/// with one log line (at warn) giving both numbers and the limits.
pub(crate) fn fit_max_clients(max_clients: usize, limits: &Limits) -> usize {
    let fits = limits.clients();
    if max_clients > fits {
        tracing::warn!(
            threads_per_client = THREADS_PER_CLIENT,
            maps_per_thread = MAPS_PER_THREAD,
            max_map_count = ?limits.max_map_count,
            threads_max = ?limits.threads_max,
            nproc = ?limits.nproc,
            "max_clients lowered from {max_clients} to {fits} to fit the threads of the std \
             runtime (raise vm.max_map_count, or use --runtime smol, for more clients)"
        );
        return fits;
    }
    max_clients
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_bound_decides() {
        let limits = Limits {
            max_map_count: Some(65_530),
            threads_max: Some(192_735),
            nproc: Some(96_367),
        };
        // (65 530 - 4 096) / 4 threads, two a client.
        assert_eq!(limits.connection_threads(), Some(15_358));
        assert_eq!(limits.clients(), 7_679);
        let few_threads = Limits {
            nproc: Some(1_256),
            ..limits
        };
        assert_eq!(few_threads.clients(), 500);
    }

    #[test]
    fn unknown_bounds_bound_nothing() {
        let limits = Limits::default();
        assert_eq!(limits.connection_threads(), None);
        assert_eq!(fit_max_clients(10_000, &limits), 10_000);
        assert!(Budget::new(&limits, 0).has_room(usize::MAX - 2));
    }

    #[test]
    fn max_clients_is_lowered_only_when_it_does_not_fit() {
        let limits = Limits {
            max_map_count: Some(4_096 + 4 * 2 * 100),
            ..Limits::default()
        };
        assert_eq!(fit_max_clients(10_000, &limits), 100);
        assert_eq!(fit_max_clients(50, &limits), 50);
    }

    #[test]
    fn the_budget_lets_in_a_client_only_if_both_its_threads_fit() {
        let budget = Budget::new(
            &Limits {
                threads_max: Some(256 + 10),
                ..Limits::default()
            },
            0,
        );
        assert!(budget.has_room(8));
        assert!(!budget.has_room(9));
        assert!(!budget.has_room(10));
    }

    #[test]
    fn threads_that_are_no_connections_do_not_take_a_clients_place() {
        // Room for five clients; one acceptor is counted live too.
        let budget = Budget::new(
            &Limits {
                threads_max: Some(256 + 10),
                ..Limits::default()
            },
            1,
        );
        assert!(budget.has_room(1 + 8));
        assert!(!budget.has_room(1 + 9));
    }

    #[test]
    fn this_process_has_readable_limits_on_linux() {
        let limits = Limits::of_this_process();
        if cfg!(target_os = "linux") {
            assert!(limits.max_map_count.is_some());
            assert!(limits.threads_max.is_some());
        }
    }
}
