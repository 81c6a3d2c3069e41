//! [`Server`]: starts the server thread and its executor, stops them.

use crate::accept::{accept_loop, Shared};
use crate::conn::{DESCRIPTORS_PER_CLIENT, FLUSH_TIMEOUT};
use crate::live::Live;
use crate::room::{Driver, LogToRoom};
use async_channel::Receiver;
use async_io::{Async, Timer};
use chat_core::Config;
use chat_runtime_common::driver::Stepper;
use chat_runtime_common::listener;
use chat_runtime_common::listener::Endpoint;
use chat_runtime_common::log::redis::{ClusterOptions, RedisLog};
use chat_runtime_common::log::LogEvent;
use chat_runtime_common::refuse::SpareDescriptor;
use chat_runtime_common::runtime::{RunningServer, Runtime, ShutdownHandle};
use chat_runtime_common::tls::ServerTls;
use chat_runtime_common::written;
use futures_lite::future;
use smol::LocalExecutor;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Messages the room task may have waiting before the other tasks wait.
/// Each reader has at most one read waiting (see `ReadCredit`), so this only
/// matters with thousands of connections.
const INBOX_CAPACITY: usize = 4096;

/// Log events (batches of up to 512 entries) waiting for the room task
/// before the log's reader waits.
const LOG_EVENTS: usize = 64;

/// How long the server waits for connection tasks after the room stopped:
/// the writers' own flush bound plus a margin.
const LINGER: Duration = Duration::from_secs(FLUSH_TIMEOUT.as_secs() + 1);

/// A running chat server.
///
/// Dropping it without calling [`wait`](Server::wait) asks it to shut down
/// and does not wait.
///
/// ```
/// use chat_runtime_smol::Server;
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
    thread: Option<JoinHandle<()>>,
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
        let config = listener::prepare(endpoints, config, DESCRIPTORS_PER_CLIENT)?;
        let mut listeners = Vec::with_capacity(endpoints.len());
        let mut local_addrs = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let listener = listener::bind(endpoint.addr(), config.max_clients)?;
            local_addrs.push(listener.local_addr()?);
            let listener = Async::new(listener)?;
            let spare = SpareDescriptor::open()?;
            listeners.push((listener, spare, endpoint.tls().cloned()));
        }
        let (stepper, log) = match cluster {
            None => (Stepper::new(config), None),
            Some(cluster) => {
                let node = cluster.cluster_config(local_addrs[0]);
                tracing::info!(node = %node.node, room = cluster.log.room(), "clustered");
                let (events, log) = async_channel::bounded(LOG_EVENTS);
                let redis = RedisLog::start(&cluster.log, LogToRoom(events))?;
                (Stepper::clustered(config, node, redis), Some(log))
            }
        };
        // One slot: a request already waiting makes another one redundant.
        let (tx, requests) = async_channel::bounded(1);
        let thread = thread::Builder::new()
            .name("chat-smol".into())
            .spawn(move || serve_on_this_thread(listeners, stepper, log, requests))?;
        for local_addr in &local_addrs {
            tracing::info!(%local_addr, "listening");
        }
        Ok(Server {
            local_addrs,
            // Full: a request is already pending. Closed: the server is gone.
            shutdown: ShutdownHandle::new(move || {
                let _ = tx.try_send(());
            }),
            thread: Some(thread),
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
    /// When the server thread panicked.
    pub fn wait(mut self) -> io::Result<()> {
        let thread = self.thread.take().expect("only wait() takes the thread");
        thread
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?;
        tracing::info!("stopped");
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown.shutdown();
        }
    }
}

/// The runtime of smol tasks on one thread, for whoever holds a
/// `&dyn Runtime`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn start(
        &self,
        endpoints: &[Endpoint],
        config: Config,
        cluster: Option<&ClusterOptions>,
    ) -> io::Result<Box<dyn RunningServer>> {
        Ok(Box::new(Server::start_inner(endpoints, config, cluster)?))
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

/// A bound listener, its spare descriptor, and its TLS configuration on a TLS port.
type Listening = (
    Async<std::net::TcpListener>,
    SpareDescriptor,
    Option<Arc<ServerTls>>,
);

/// The server thread: one single-threaded executor runs every task.
fn serve_on_this_thread(
    listeners: Vec<Listening>,
    stepper: Stepper,
    log: Option<Receiver<LogEvent>>,
    requests: Receiver<()>,
) {
    let executor = Rc::new(LocalExecutor::new());
    let serve = serve(Rc::clone(&executor), listeners, stepper, log, requests);
    smol::block_on(executor.run(serve));
    // Dropping the executor cancels any straggler task, closing its socket.
}

async fn serve(
    executor: Rc<LocalExecutor<'static>>,
    listeners: Vec<Listening>,
    stepper: Stepper,
    log: Option<Receiver<LogEvent>>,
    requests: Receiver<()>,
) {
    let (tx, inbox) = async_channel::bounded(INBOX_CAPACITY);
    let live = Rc::new(Live::default());
    let (counters, reports) = written::dirty_list();
    let shared = Shared {
        executor: Rc::clone(&executor),
        room: tx,
        counters,
        live: Rc::clone(&live),
        next_id: Rc::new(Cell::new(1)),
        admission: stepper.admission(),
    };
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|(listener, spare, tls)| {
            executor.spawn(accept_loop(shared.clone(), listener, spare, tls))
        })
        .collect();
    drop(shared);
    Driver::new(stepper, reports, log)
        .run(inbox, requests)
        .await;
    // Stops accepting and closes the listeners.
    for acceptor in acceptors {
        let _ = acceptor.cancel().await;
    }
    let all_closed = future::or(
        async {
            live.zero().await;
            true
        },
        async {
            Timer::after(LINGER).await;
            false
        },
    )
    .await;
    if !all_closed {
        tracing::warn!("some connections did not stop in time");
    }
}
