//! The open-file limit: a bench of C clients needs C sockets and a few more.

use chat_runtime_common::open_files::{self, OpenFilesError};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as the servers do),
/// and says why it cannot hold `needed` descriptors if it cannot.
pub(crate) fn ensure_open_files(needed: u64) -> Result<(), String> {
    let limit = match open_files::raise_limit() {
        Ok(limit) => limit,
        Err(OpenFilesError::Raise { soft, .. }) if soft >= needed => soft,
        Err(error) => return Err(error.to_string()),
    };
    if limit < needed {
        return Err(format!(
            "{needed} open files needed but the hard limit is {limit} (raise it with `ulimit -Hn` as root)"
        ));
    }
    Ok(())
}
