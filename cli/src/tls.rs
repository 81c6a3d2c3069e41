//! The client side of TLS on the command line, shared by `chat client` and
//! `chat bench`: the same flags, meaning the same thing, and one way of
//! turning them into what the connection trusts.

use chat_runtime_common::tls::{ClientTls, Trust};
use clap::Args;
use std::path::PathBuf;

/// `--tls`, `--ca`, `--tls-insecure`.
#[derive(Debug, Args)]
pub(crate) struct TlsFlags {
    /// Speak TLS, checking the server's certificate against the system's roots (or --ca)
    #[arg(long)]
    pub(crate) tls: bool,

    /// Trust only the CA certificates in this PEM file (with --tls)
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub(crate) ca: Option<PathBuf>,

    /// Speak TLS without checking the server's certificate at all (unsafe: for tests)
    #[arg(long, conflicts_with = "ca")]
    pub(crate) tls_insecure: bool,
}

impl TlsFlags {
    /// Whether the connection speaks TLS.
    pub(crate) fn speaks_tls(&self) -> bool {
        self.tls || self.tls_insecure
    }

    /// What the connection trusts, for a server that must prove `host` (as
    /// typed, without IPv6 brackets); `None` without TLS. Warns loudly on
    /// stderr with `--tls-insecure`.
    ///
    /// # Errors
    /// The CA file cannot be used, or `host` is no valid server name: a
    /// one-line description.
    pub(crate) fn client_tls(&self, host: &str) -> Result<Option<ClientTls>, String> {
        if !self.speaks_tls() {
            return Ok(None);
        }
        let trust = if self.tls_insecure {
            crate::out::stderr_line(
                "WARNING: --tls-insecure: the server's certificate is NOT checked; \
                 anyone on the path can read and change this chat",
            );
            Trust::Insecure
        } else {
            match &self.ca {
                Some(path) => Trust::CaFile(path),
                None => Trust::SystemRoots,
            }
        };
        ClientTls::new(trust, host)
            .map(Some)
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
}
