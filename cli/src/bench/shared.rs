//! What every bench thread shares: the plan of the run, the two signals
//! from the coordinator, and the counters it watches.

use super::args::Scenario;
use chat_core::Dialect;
use chat_runtime_common::tls::ClientTls;
use smol::channel::Receiver;
use smol::lock::Semaphore;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The run, fixed before any thread starts.
///
/// # Invariants
/// `addrs` is not empty and has at most `u32::MAX` entries; client `id`
/// connects to `addrs[server_of(id, addrs.len())]`.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The servers (loopback addresses), one room across all of them.
    pub(crate) addrs: Vec<SocketAddr>,
    /// The server's dialect.
    pub(crate) dialect: Dialect,
    /// What the run measures.
    pub(crate) scenario: Scenario,
    /// With `--tls`: what every connection trusts.
    pub(crate) tls: Option<ClientTls>,
    /// Connections, each a user with its own nick.
    pub(crate) clients: u32,
    /// Clients `0..senders` send; every client receives.
    pub(crate) senders: u32,
    /// Messages per sender.
    pub(crate) messages: u32,
    /// Payload bytes per message.
    pub(crate) size: usize,
    /// Messages per second per sender; `None`: as fast as the socket takes them.
    pub(crate) rate: Option<f64>,
    /// Time zero of every timestamp in the run.
    pub(crate) epoch: Instant,
}

impl Plan {
    /// Nanoseconds since the epoch.
    pub(crate) fn now_ns(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    /// How many servers the clients are split over (at least 1).
    pub(crate) fn servers(&self) -> u32 {
        u32::try_from(self.addrs.len()).unwrap_or(u32::MAX)
    }

    /// The server client `id` connects to.
    pub(crate) fn addr_of(&self, id: u32) -> SocketAddr {
        self.addrs[server_of(id, self.servers()) as usize]
    }

    /// The nick of client `id`.
    pub(crate) fn nick(id: u32) -> String {
        format!("bench{id}")
    }
}

/// The index of the server client `id` connects to, of `servers` (at
/// least 1): clients go round the servers in order, so the split is even
/// (the counts differ by at most one) and the same on every run.
pub(crate) fn server_of(id: u32, servers: u32) -> u32 {
    id % servers.max(1)
}

/// Whether a delivery from client `sender` to a client on server
/// `recipient_server` crossed servers: the sender's server relayed it to
/// another, which delivered it. Never true with one server.
pub(crate) fn is_cross_server(sender: u32, recipient_server: u32, servers: u32) -> bool {
    server_of(sender, servers) != recipient_server
}

/// A duration in nanoseconds, saturating (584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Counters the coordinator polls; each only grows.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Clients whose join the server confirmed.
    pub(crate) joined: AtomicU32,
    /// Joined clients with an index below `senders`.
    pub(crate) joined_senders: AtomicU32,
    /// Clients that never joined.
    pub(crate) join_failed: AtomicU32,
    /// Joined clients whose connection ended before the coordinator's stop.
    pub(crate) closed_early: AtomicU32,
    /// Joined clients that received every expected delivery.
    pub(crate) complete: AtomicU32,
    /// Sends that failed.
    pub(crate) send_errors: AtomicU32,
    /// Distinct deliveries received, over all clients.
    pub(crate) delivered: AtomicU64,
    /// When the last join was confirmed (ns since the epoch).
    pub(crate) last_join_ns: AtomicU64,
    /// When the last new delivery was read (ns since the epoch).
    pub(crate) last_delivery_ns: AtomicU64,
}

/// Why joins failed: how many, and the first reason.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    /// The first failure's description.
    pub(crate) first: Option<String>,
}

/// Shared by the coordinator and every worker thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) plan: Plan,
    /// Bounds the connections in the handshake at once, so the server's
    /// accept backlog never overflows (a dropped SYN costs a 1 s retry).
    pub(crate) join_slots: Semaphore,
    /// Closed by the coordinator when the join phase is over: clients still
    /// joining give up, senders start.
    pub(crate) go: Receiver<()>,
    /// Closed by the coordinator at the end: every client stops and closes.
    pub(crate) stop: Receiver<()>,
    /// When `go` was closed (ns since the epoch).
    pub(crate) go_ns: AtomicU64,
    pub(crate) progress: Progress,
    pub(crate) failures: Mutex<Failures>,
}

impl Shared {
    /// Records a failed join.
    pub(crate) fn join_failed(&self, why: impl std::fmt::Display) {
        self.progress.join_failed.fetch_add(1, Relaxed);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.first.get_or_insert_with(|| why.to_string());
    }

    /// Records a confirmed join of client `id`.
    pub(crate) fn joined(&self, id: u32) {
        let p = &self.progress;
        p.last_join_ns.fetch_max(self.plan.now_ns(), Relaxed);
        if id < self.plan.senders {
            p.joined_senders.fetch_add(1, Relaxed);
        }
        p.joined.fetch_add(1, Relaxed);
    }

    /// Records `new` distinct deliveries read at `now_ns`; `complete`: the
    /// reader has them all now.
    pub(crate) fn delivered(&self, new: u64, now_ns: u64, complete: bool) {
        let p = &self.progress;
        p.last_delivery_ns.fetch_max(now_ns, Relaxed);
        p.delivered.fetch_add(new, Relaxed);
        if complete {
            p.complete.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_go_round_the_servers() {
        let split: Vec<u32> = (0..7).map(|id| server_of(id, 3)).collect();
        assert_eq!(split, [0, 1, 2, 0, 1, 2, 0]);
        assert!((0..100).all(|id| server_of(id, 1) == 0));
        let mut per_server = [0u32; 3];
        for id in 0..100 {
            per_server[server_of(id, 3) as usize] += 1;
        }
        assert_eq!(per_server, [34, 33, 33]);
    }

    #[test]
    fn only_deliveries_between_servers_are_cross_server() {
        // Clients 0 and 2 are on server 0, 1 and 3 on server 1.
        assert!(!is_cross_server(2, 0, 2));
        assert!(is_cross_server(1, 0, 2));
        assert!(is_cross_server(2, 1, 2));
        assert!(!is_cross_server(3, 1, 2));
        assert!((0..50).all(|sender| !is_cross_server(sender, 0, 1)));
    }
}
