//! [`Server`]: starts the room and acceptor threads, stops them.

use crate::accept;
use crate::conn::{DESCRIPTORS_PER_CLIENT, FLUSH_TIMEOUT};
use crate::live::Live;
use crate::pace::Pace;
use crate::room::{Driver, LogToRoom, Msg};
use crate::threads;
use chat_core::Config;
use chat_runtime_common::driver::Stepper;
use chat_runtime_common::listener;
use chat_runtime_common::listener::Endpoint;
use chat_runtime_common::log::redis::{ClusterOptions, RedisLog};
use chat_runtime_common::refuse::SpareDescriptor;
use chat_runtime_common::runtime::{RunningServer, Runtime, ShutdownHandle};
use chat_runtime_common::written;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Messages the room thread may have waiting before the other threads block.
/// Each reader has at most one read waiting (see `conn::READS_IN_FLIGHT`),
/// so this only matters with thousands of connections.
const INBOX_CAPACITY: usize = 4096;

/// Stack size of the acceptor thread.
const ACCEPT_STACK: usize = 128 * 1024;

/// How long [`Server::wait`] waits for connection threads after the room
/// stopped: the writers' own flush bound plus a margin.
const LINGER: Duration = Duration::from_secs(FLUSH_TIMEOUT.as_secs() + 1);

/// A running chat server.
///
/// Dropping it without calling [`wait`](Server::wait) asks it to shut down
/// and does not wait.
///
/// ```
/// use chat_runtime_std::Server;
/// # fn main() -> std::io::Result<()> {
/// let server = Server::start("127.0.0.1:0".parse().unwrap(), chat_core::Config::default())?;
/// assert_ne!(server.local_addr().port(), 0);
/// server.shutdown_handle().shutdown();
/// server.wait()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    local_addrs: Vec<SocketAddr>,
    shutdown: ShutdownHandle,
    room: Option<JoinHandle<()>>,
    live: Arc<Live>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port), starts serving in the
    /// background, and returns once listening.
    ///
    /// First it raises the process's soft open-file limit to the hard one
    /// and lowers `config.max_clients` to what that limit holds (one
    /// descriptor per client, plus a reserve), saying so in the log. The
    /// listen backlog is `max_clients`, as far as the kernel allows.
    pub fn start(addr: SocketAddr, config: Config) -> io::Result<Server> {
        Server::start_endpoints(&[Endpoint::Plain(addr)], config)
    }

    /// As [`start`](Server::start), on every one of `endpoints` at once (a
    /// plain port and a TLS port, say), all into one room. Connection ids
    /// come from one counter, so they are unique across the ports.
    ///
    /// # Errors
    /// When `endpoints` is empty, or one of them cannot be bound.
    pub fn start_endpoints(endpoints: &[Endpoint], config: Config) -> io::Result<Server> {
        Server::start_inner(endpoints, config, None)
    }

    /// As [`start_endpoints`](Server::start_endpoints), serving one room
    /// with the other servers of `cluster` through its Redis log. Redis
    /// need not be reachable: until it is, joiners are told the room is
    /// unavailable, and the server keeps trying.
    ///
    /// # Errors
    /// As `start_endpoints`; or the log's threads cannot be started.
    pub fn start_clustered(
        endpoints: &[Endpoint],
        config: Config,
        cluster: &ClusterOptions,
    ) -> io::Result<Server> {
        Server::start_inner(endpoints, config, Some(cluster))
    }

    fn start_inner(
        endpoints: &[Endpoint],
        config: Config,
        cluster: Option<&ClusterOptions>,
    ) -> io::Result<Server> {
        let mut config = listener::prepare(endpoints, config, DESCRIPTORS_PER_CLIENT)?;
        let mut bound = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let listener = listener::bind(endpoint.addr(), config.max_clients)?;
            let spare = SpareDescriptor::open()?;
            bound.push((
                listener.local_addr()?,
                listener,
                spare,
                endpoint.tls().cloned(),
            ));
        }
        // Only once every port is ours: a server that cannot listen says
        // that alone.
        let limits = threads::Limits::of_this_process();
        config.max_clients = threads::fit_max_clients(config.max_clients, &limits);
        // The live count holds one acceptor for each port besides the
        // connections' threads.
        let budget = threads::Budget::new(&limits, bound.len());
        let local_addrs: Vec<SocketAddr> = bound.iter().map(|b| b.0).collect();
        let (tx, inbox) = mpsc::sync_channel(INBOX_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let (counters, reports) = written::dirty_list();
        let pace = Arc::new(Pace::default());
        let room_pace = Arc::clone(&pace);
        let next_id = Arc::new(AtomicU64::new(1));

        let stepper = match cluster {
            None => Stepper::new(config),
            Some(cluster) => {
                let node = cluster.cluster_config(local_addrs[0]);
                tracing::info!(node = %node.node, room = cluster.log.room(), "clustered");
                let log = RedisLog::start(&cluster.log, LogToRoom(tx.clone()))?;
                Stepper::clustered(config, node, log)
            }
        };
        let admission = stepper.admission();
        let room_stop = Arc::clone(&stop);
        let wake_addrs = local_addrs.clone();
        let room = thread::Builder::new()
            .name("chat-room".into())
            .spawn(move || {
                Driver::new(stepper, reports, room_pace).run(&inbox);
                drop(inbox); // senders fail from now on
                room_stop.store(true, Ordering::Release);
                for addr in wake_addrs {
                    accept::wake(addr);
                }
            })?;

        let request = tx.clone();
        let shutdown = ShutdownHandle::new(move || {
            let _ = request.send(Msg::Shutdown);
        });
        for (local_addr, listener, spare, tls) in bound {
            let acceptor = accept::Acceptor {
                room: tx.clone(),
                counters: counters.clone(),
                pace: Arc::clone(&pace),
                stop: Arc::clone(&stop),
                live: Arc::clone(&live),
                next_id: Arc::clone(&next_id),
                admission: Arc::clone(&admission),
                budget,
                tls,
            };
            let guard = live.enter();
            let spawned = thread::Builder::new()
                .name("chat-accept".into())
                .stack_size(ACCEPT_STACK)
                .spawn(move || acceptor.run(listener, spare, guard));
            if let Err(error) = spawned {
                shutdown.shutdown();
                let _ = room.join();
                return Err(error);
            }
            tracing::info!(%local_addr, "listening");
        }
        Ok(Server {
            local_addrs,
            shutdown,
            room: Some(room),
            live,
        })
    }

    /// The address the server listens on (the first endpoint's).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Every address the server listens on, in the order of its endpoints.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that stops the server; see [`ShutdownHandle::shutdown`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Blocks until the server has stopped: shutdown handled, every
    /// connection flushed (each bounded by about 5 s) and closed, the
    /// listener closed.
    ///
    /// It does not ask for the shutdown: call
    /// [`ShutdownHandle::shutdown`] from somewhere (a signal thread).
    ///
    /// # Errors
    /// When the room thread panicked.
    pub fn wait(mut self) -> io::Result<()> {
        let room = self.room.take().expect("only wait() takes the room thread");
        room.join()
            .map_err(|_| io::Error::other("the room thread panicked"))?;
        if !self.live.wait_zero(LINGER) {
            tracing::warn!("some connection threads did not stop in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.room.is_some() {
            self.shutdown.shutdown();
        }
    }
}

/// The runtime of std threads and blocking sockets, for whoever holds a
/// `&dyn Runtime`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdRuntime;

impl Runtime for StdRuntime {
    fn name(&self) -> &'static str {
        "std"
    }

    fn start(
        &self,
        endpoints: &[Endpoint],
        config: Config,
        cluster: Option<&ClusterOptions>,
    ) -> io::Result<Box<dyn RunningServer>> {
        Ok(Box::new(match cluster {
            None => Server::start_endpoints(endpoints, config)?,
            Some(cluster) => Server::start_clustered(endpoints, config, cluster)?,
        }))
    }
}

impl RunningServer for Server {
    fn local_addrs(&self) -> &[SocketAddr] {
        Server::local_addrs(self)
    }

    fn shutdown_handle(&self) -> ShutdownHandle {
        Server::shutdown_handle(self)
    }

    fn wait(self: Box<Self>) -> io::Result<()> {
        Server::wait(*self)
    }
}
