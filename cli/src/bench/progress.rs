//! The progress bar on stderr, shown only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar on stderr if it is a terminal.
    pub(crate) fn new() -> Bar {
        Bar(std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {human_pos}/{human_len} ({percent}%) {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        }))
    }

    /// Starts a phase counting to `len`.
    pub(crate) fn phase(&self, message: &'static str, len: u64) {
        if let Some(bar) = &self.0 {
            bar.reset();
            bar.set_length(len);
            bar.set_message(message);
        }
    }

    /// Moves the bar to `pos`.
    pub(crate) fn set(&self, pos: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(pos);
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
