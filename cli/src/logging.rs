//! tracing to stderr, filtered by `--log-level`, else `RUST_LOG`, else a default.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `flag` was checked by clap already.
pub(crate) fn init(flag: Option<&str>, default: &str) {
    let filter = match flag {
        Some(filter) => EnvFilter::try_new(filter).ok(),
        None => EnvFilter::try_from_default_env().ok(),
    }
    .map_or_else(|| EnvFilter::try_new(default), Ok)
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal() && !crate::client::no_color();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        // Its fallback for a failed write is `eprintln!`, which panics when
        // stderr is closed: a log line must never take a thread down.
        .log_internal_errors(false)
        .init();
}
