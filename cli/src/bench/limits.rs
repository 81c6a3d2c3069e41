//! The open-file limit: a bench of C clients needs C sockets and a few more.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft `RLIMIT_NOFILE` to at least `needed` (up to the hard
/// limit), or says why it cannot.
pub(crate) fn ensure_open_files(needed: u64) -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "{needed} open files needed but the hard limit is {hard} (raise it with `ulimit -Hn` as root)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("cannot raise the open-file limit to {hard}: {e}"))
}
