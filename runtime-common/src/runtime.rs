//! What a runtime is, to whoever starts a server with it: the CLI and the
//! tests hold a `&dyn` [`Runtime`] and a `Box<dyn` [`RunningServer`]`>`,
//! whichever runtime it is.

use crate::listener::Endpoint;
use crate::log::redis::ClusterOptions;
use chat_core::Config;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A way to run a chat server: its I/O model (threads, tasks) is its own.
pub trait Runtime: fmt::Debug + Send + Sync {
    /// Its name, as `--runtime` spells it.
    fn name(&self) -> &'static str;

    /// Binds every one of `endpoints` (port 0 picks a free port), starts
    /// serving one room on all of them in the background, and returns once
    /// listening. With `cluster`, the room is shared with the other servers
    /// of the cluster through its log.
    ///
    /// # Errors
    /// When `endpoints` is empty, one of them cannot be bound, or the
    /// server's threads cannot be started.
    fn start(
        &self,
        endpoints: &[Endpoint],
        config: Config,
        cluster: Option<&ClusterOptions>,
    ) -> io::Result<Box<dyn RunningServer>>;
}

/// A server a [`Runtime`] started.
///
/// Dropping it without calling [`wait`](RunningServer::wait) asks it to
/// shut down and does not wait.
pub trait RunningServer: fmt::Debug + Send {
    /// Every address it listens on, in the order of its endpoints (the
    /// real ports when 0 was asked for).
    fn local_addrs(&self) -> &[SocketAddr];

    /// A handle that stops it, from any thread.
    fn shutdown_handle(&self) -> ShutdownHandle;

    /// Blocks until it has stopped: shutdown handled, every connection
    /// flushed (each bounded by about 5 s) and closed, the listeners
    /// closed. It does not ask for the shutdown.
    ///
    /// # Errors
    /// When the server's own thread panicked.
    fn wait(self: Box<Self>) -> io::Result<()>;
}

/// Asks a server to shut down. Cheap to clone, and usable from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    request: Arc<dyn Fn() + Send + Sync>,
}

impl ShutdownHandle {
    /// A handle that asks for the shutdown with `request`, which returns
    /// promptly and does nothing once asked before or once the server is
    /// gone.
    pub fn new(request: impl Fn() + Send + Sync + 'static) -> Self {
        ShutdownHandle {
            request: Arc::new(request),
        }
    }

    /// Makes the room handle `Input::Shutdown`: every client gets the
    /// notice and is closed after a flush, then the server stops.
    ///
    /// Returns promptly (at most a brief wait for room in the server's
    /// inbox). Calling it again, or after the server stopped, does nothing.
    pub fn shutdown(&self) {
        (self.request)();
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}
