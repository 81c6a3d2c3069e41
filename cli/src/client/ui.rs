//! Where lines come from and go to: a line editor on a terminal, or plain
//! stdin/stdout for scripts. Both hand typed lines to the client loop as
//! [`Msg::Input`] on one channel, so the loop waits on a single queue.

use super::display::Style;
use super::Msg;
use nix::sys::termios::{self, SetArg, Termios};
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

/// What the user did.
#[derive(Debug)]
pub(crate) enum InputEvent {
    /// One line, without its terminator.
    Line(String),
    /// End of input: Ctrl-D, Ctrl-C, or the end of piped stdin.
    End,
}

/// The user's side of the client.
#[derive(Debug)]
pub(crate) enum Ui {
    /// stdin is not a terminal: no prompt, no colour, lines as they are.
    Plain,
    /// A line editor; received lines are printed above the input line.
    Terminal(Terminal),
}

impl Ui {
    /// Reads stdin line by line on a thread of its own, sending every line.
    pub(crate) fn plain(tx: Sender<Msg>) -> Result<Ui, String> {
        thread::Builder::new()
            .name("stdin".into())
            .spawn(move || read_stdin(&tx))
            .map_err(|e| format!("cannot start the input thread: {e}"))?;
        Ok(Ui::Plain)
    }

    /// Starts the line editor; it reads a line each time one is requested.
    pub(crate) fn terminal(tx: Sender<Msg>, style: Style) -> Result<Ui, String> {
        Terminal::start(tx, style).map(Ui::Terminal)
    }

    /// Whether the user is at a terminal.
    pub(crate) fn is_interactive(&self) -> bool {
        matches!(self, Ui::Terminal(_))
    }

    /// Shows one received line.
    pub(crate) fn show(&mut self, line: &str) {
        match self {
            Ui::Plain => {
                // A closed stdout is the reader's choice; keep chatting.
                crate::out::stdout_line(line);
            }
            Ui::Terminal(t) => t.show(line),
        }
    }

    /// Asks for one line with `prompt`. Piped input streams on its own, so
    /// this only matters on a terminal, where at most one request is open.
    pub(crate) fn request_line(&mut self, prompt: &str) {
        if let Ui::Terminal(t) = self {
            t.request_line(prompt);
        }
    }
}

/// Sends each stdin line (lossy UTF-8, `\n` and `\r\n` removed), then `End`.
fn read_stdin(tx: &Sender<Msg>) {
    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let event = match stdin.read_until(b'\n', &mut buf) {
            Ok(0) => InputEvent::End,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                InputEvent::Line(String::from_utf8_lossy(&buf).into_owned())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("reading stdin failed: {e}");
                InputEvent::End
            }
        };
        let end = matches!(event, InputEvent::End);
        if tx.send(Msg::Input(event)).is_err() || end {
            return;
        }
    }
}

/// The rustyline side: an editor thread that reads a line per request, and
/// an external printer that puts received lines above the input line.
///
/// # Invariants
/// The terminal mode found at start is put back on drop, because the editor
/// thread may still be inside `readline` (raw mode) when the client exits.
pub(crate) struct Terminal {
    printer: Box<dyn ExternalPrinter + Send>,
    requests: Sender<String>,
    style: Style,
    reading: Arc<AtomicBool>,
    saved_mode: Option<Termios>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("style", &self.style)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

impl Terminal {
    fn start(tx: Sender<Msg>, style: Style) -> Result<Terminal, String> {
        let saved_mode = termios::tcgetattr(io::stdin()).ok();
        let reading = Arc::new(AtomicBool::new(false));
        let (requests, request_rx) = mpsc::channel::<String>();
        let (printer_tx, printer_rx) = mpsc::sync_channel(1);
        let thread_reading = Arc::clone(&reading);
        thread::Builder::new()
            .name("editor".into())
            .spawn(move || {
                let mut editor = match DefaultEditor::new() {
                    Ok(editor) => editor,
                    Err(e) => {
                        let _ = printer_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let printer = editor
                    .create_external_printer()
                    .map(|p| Box::new(p) as Box<dyn ExternalPrinter + Send>)
                    .map_err(|e| e.to_string());
                if printer_tx.send(printer).is_err() {
                    return;
                }
                for prompt in request_rx {
                    thread_reading.store(true, Ordering::SeqCst);
                    let event = read_one(&mut editor, &prompt);
                    thread_reading.store(false, Ordering::SeqCst);
                    if tx.send(Msg::Input(event)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("cannot start the line editor: {e}"))?;
        let printer = printer_rx
            .recv()
            .map_err(|_| "the line editor did not start".to_string())?
            .map_err(|e| format!("cannot start the line editor: {e}"))?;
        Ok(Terminal {
            printer,
            requests,
            style,
            reading,
            saved_mode,
        })
    }

    fn show(&mut self, line: &str) {
        let text = format!("{}\n", self.style.render(line));
        if let Err(e) = self.printer.print(text.clone()) {
            tracing::debug!("external printer failed ({e}); printing directly");
            crate::out::stdout_text(&text);
        }
    }

    fn request_line(&mut self, prompt: &str) {
        // The editor thread only ends when this sender is dropped.
        let _ = self.requests.send(prompt.to_string());
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(mode) = &self.saved_mode {
            let _ = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, mode);
        }
        if self.reading.load(Ordering::SeqCst) {
            // Leave the abandoned prompt line behind.
            crate::out::stdout_text("\n");
        }
    }
}

fn read_one(editor: &mut DefaultEditor, prompt: &str) -> InputEvent {
    match editor.readline(prompt) {
        Ok(line) => {
            if !line.trim().is_empty() {
                let _ = editor.add_history_entry(line.as_str());
            }
            InputEvent::Line(line)
        }
        Err(ReadlineError::Eof | ReadlineError::Interrupted) => InputEvent::End,
        Err(e) => {
            tracing::warn!("line editor failed: {e}");
            InputEvent::End
        }
    }
}
