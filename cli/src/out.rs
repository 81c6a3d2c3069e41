//! Printing that never panics: `println!` panics when stdout is closed (a
//! pager or `tee` that quit), and a server must still shut down cleanly then.

use std::io::{self, Write};

/// Writes `line` and a newline to stdout, ignoring a closed stdout.
pub(crate) fn stdout_line(line: &str) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

/// Writes `text` to stdout as it is and flushes, ignoring a closed stdout.
pub(crate) fn stdout_text(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `line` and a newline to stderr, ignoring a closed stderr.
pub(crate) fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
