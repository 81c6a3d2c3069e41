//! The open-file limit (`RLIMIT_NOFILE`) and how many clients it holds.
//!
//! Every client costs the server descriptors (its socket, and whatever else
//! its runtime opens per connection); past the soft limit `accept` fails
//! with `EMFILE`. So a server raises its soft limit to the hard one at
//! start ([`raise_limit`]), and then admits no more clients than the limit
//! holds ([`fit_max_clients`]): the room turns the rest away with
//! `error: server full` while there are still descriptors to do it with.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::fmt;

/// Descriptors a server keeps whatever its number of clients: the
/// listener, the poller and its wake-up, stdio, the spare descriptor, the
/// signal pipe, log files; and room for the sockets of clients the room is
/// turning away (each held until its refusal is written).
pub const RESERVED_DESCRIPTORS: u64 = 32;

/// Why the open-file limit could not be read or raised.
#[derive(Debug)]
pub enum OpenFilesError {
    /// `getrlimit` failed.
    Read(nix::Error),
    /// `setrlimit` failed: the soft limit stays `soft`.
    Raise {
        /// The soft limit still in force.
        soft: u64,
        /// The limit asked for.
        wanted: u64,
        /// What `setrlimit` said.
        error: nix::Error,
    },
}

impl fmt::Display for OpenFilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenFilesError::Read(error) => write!(f, "cannot read the open-file limit: {error}"),
            OpenFilesError::Raise {
                soft,
                wanted,
                error,
            } => write!(
                f,
                "cannot raise the open-file limit from {soft} to {wanted}: {error}"
            ),
        }
    }
}

impl std::error::Error for OpenFilesError {}

/// Raises the soft open-file limit of this process to its hard limit and
/// returns the soft limit now in force. It affects the whole process, and
/// lowers nothing: a soft limit already at the hard one stays as it is.
pub fn raise_limit() -> Result<u64, OpenFilesError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(OpenFilesError::Read)?;
    if soft >= hard {
        return Ok(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Ok(hard),
        Err(error) => Err(OpenFilesError::Raise {
            soft,
            wanted: hard,
            error,
        }),
    }
}

/// The soft open-file limit in force, or `None` if it cannot be read.
pub fn current_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The most clients an open-file limit of `limit` holds when each costs
/// `per_client` descriptors, after [`RESERVED_DESCRIPTORS`].
pub fn clients_within(limit: u64, per_client: u64) -> usize {
    let capacity = limit.saturating_sub(RESERVED_DESCRIPTORS) / per_client.max(1);
    usize::try_from(capacity).unwrap_or(usize::MAX)
}

/// Raises the open-file limit ([`raise_limit`]) and returns `max_clients`,
/// lowered to [`clients_within`] that limit if it does not fit, with one log
/// line giving both numbers. If the limit cannot be read, `max_clients` is
/// kept (and the failure logged): the accept loops' refusals still cover it.
pub fn fit_max_clients(max_clients: usize, per_client: u64) -> usize {
    let limit = match raise_limit() {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "open-file limit");
            match current_limit() {
                Some(limit) => limit,
                None => return max_clients,
            }
        }
    };
    let fits = clients_within(limit, per_client);
    if max_clients > fits {
        tracing::warn!(
            open_file_limit = limit,
            descriptors_per_client = per_client,
            "max_clients lowered from {max_clients} to {fits} to fit the open-file limit"
        );
        return fits;
    }
    max_clients
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_within_leaves_the_reserve() {
        assert_eq!(clients_within(20_000, 1), 19_968);
        assert_eq!(clients_within(20_000, 2), 9_984);
        assert_eq!(clients_within(64, 1), 32);
        assert_eq!(clients_within(16, 1), 0);
        assert_eq!(clients_within(100, 0), 68);
    }

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() -> Result<(), OpenFilesError> {
        let raised = raise_limit()?;
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(OpenFilesError::Read)?;
        assert_eq!((raised, soft), (hard, hard));
        Ok(())
    }
}
