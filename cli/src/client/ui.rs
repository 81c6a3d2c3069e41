//! Where lines come from and go to: a line editor on a terminal, or plain
//! stdin/stdout for scripts. Both hand typed lines to the client loop as
//! [`Msg::Input`] on one channel, so the loop waits on a single queue.
//!
//! On a terminal no key is lost between two lines: the keys the editor read
//! ahead go to the next line, and keys typed while no line is being read
//! wait in the terminal, not echoed (see [`Terminal`]).

use super::display::Style;
use super::editor::{ChatHelper, PrintGate, Repaints, Withdrawals};
use super::Msg;
use chat_core::client::Attention;
use nix::sys::termios::{self, FlushArg, LocalFlags, SetArg, Termios};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the end waits for the line editor to draw the last lines.
const DRAW_WAIT: Duration = Duration::from_millis(500);

/// What the user did.
#[derive(Debug)]
pub(crate) enum InputEvent {
    /// One line, without its terminator.
    Line(String),
    /// End of input: Ctrl-D, Ctrl-C on an empty line, or the end of piped stdin.
    End,
    /// Ctrl-C while no line was being read (SIGINT): the user wants out.
    Interrupt,
    /// The line requested was withdrawn ([`Ui::withdraw_line`]) before it
    /// was entered; `draft` is what had been typed of it.
    Withdrawn { draft: String },
}

/// The user's side of the client.
#[derive(Debug)]
pub(crate) enum Ui {
    /// stdin is not a terminal: no prompt, no colour, lines as they are.
    Plain,
    /// A line editor; received lines are printed above the input line.
    Terminal(Box<Terminal>),
}

/// A request to the editor thread: read one line after `prompt`.
#[derive(Debug)]
struct LineRequest {
    /// Numbered from 1, in order (see [`Withdrawals`]).
    id: u64,
    prompt: String,
    /// Text already in the line when it is shown.
    initial: String,
    /// Erase the submitted line from the screen: the server echoes it back.
    erase_after: bool,
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
    pub(crate) fn terminal(
        tx: Sender<Msg>,
        style: Style,
        words: Arc<Mutex<Vec<String>>>,
        history: Option<PathBuf>,
    ) -> Result<Ui, String> {
        Terminal::start(tx, style, words, history).map(|t| Ui::Terminal(Box::new(t)))
    }

    /// Whether the user is at a terminal.
    pub(crate) fn is_interactive(&self) -> bool {
        matches!(self, Ui::Terminal(_))
    }

    /// Shows one received line; `alert` rings the bell with it.
    pub(crate) fn show(&mut self, line: &str, attention: Attention, alert: bool) {
        match self {
            Ui::Plain => {
                // A closed stdout is the reader's choice; keep chatting.
                crate::out::stdout_line(line);
            }
            Ui::Terminal(t) => {
                let text = match super::editor::terminal_columns() {
                    Some(columns) => t.style.render_in(line, attention, columns),
                    None => t.style.render(line, attention),
                };
                t.print(&text, alert);
            }
        }
    }

    /// Shows a note from the client itself (not the server), on a terminal.
    pub(crate) fn show_local(&mut self, note: &str) {
        if let Ui::Terminal(t) = self {
            let text = t.style.render_local(note);
            t.print(&text, false);
        }
    }

    /// Shows `copy`, one of our lines as the room will send it back, marked
    /// as still waiting for the server, on a terminal.
    pub(crate) fn show_waiting(&mut self, copy: &str) {
        if let Ui::Terminal(t) = self {
            let text = t.style.render_waiting(copy);
            t.print(&text, false);
        }
    }

    /// Asks for one line with `prompt`, `initial` already typed in it.
    /// Piped input streams on its own, so this only matters on a terminal,
    /// where at most one request is open. `echoed`: the server sends the
    /// line back, so the typed copy is erased.
    pub(crate) fn request_line(&mut self, prompt: &str, echoed: bool, initial: String) {
        if let Ui::Terminal(t) = self {
            t.request_line(prompt, echoed, initial);
        }
    }

    /// Withdraws the open request: it ends with [`InputEvent::Withdrawn`]
    /// (or the line, if it was entered first) once something is shown
    /// after this call, which the caller does at once.
    pub(crate) fn withdraw_line(&mut self) {
        if let Ui::Terminal(t) = self {
            t.withdrawals.withdraw(t.last_request);
        }
    }

    /// Leaves the terminal as it was found, every received line drawn, the
    /// prompt erased and unread type-ahead discarded. Idempotent.
    pub(crate) fn finish(&mut self) {
        if let Ui::Terminal(t) = self {
            t.finish();
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
/// - The terminal mode found at start is put back by [`Terminal::finish`]
///   (also on drop), because the editor thread may still be inside
///   `readline` (raw mode) when the client exits.
/// - Between two reads the terminal does not echo: keys typed then wait,
///   unseen, for the next read (the editor puts back the mode it found,
///   this quiet one). Ctrl-C then is SIGINT, handed over as
///   [`InputEvent::Interrupt`]; while a line is read the editor takes it.
/// - Each request ends with exactly one event: a line, the end, or
///   [`InputEvent::Withdrawn`].
/// - Once finished, nothing more is printed through the editor: the last
///   lines were drawn (or the wait for them gave up) before the reason.
pub(crate) struct Terminal {
    /// To the printer thread (see [`print_lines`]); `None` once finished.
    printer: Option<Sender<String>>,
    /// Says the printer thread drew everything it was given.
    printer_done: mpsc::Receiver<()>,
    requests: Sender<LineRequest>,
    /// The id of the last request sent.
    last_request: u64,
    withdrawals: Withdrawals,
    style: Style,
    reading: Arc<AtomicBool>,
    repaints: Repaints,
    saved_mode: Option<Termios>,
    finished: bool,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("style", &self.style)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

type ChatEditor = Editor<ChatHelper, DefaultHistory>;

impl Terminal {
    fn start(
        tx: Sender<Msg>,
        style: Style,
        words: Arc<Mutex<Vec<String>>>,
        history: Option<PathBuf>,
    ) -> Result<Terminal, String> {
        let saved_mode = termios::tcgetattr(io::stdin()).ok();
        if let Some(mode) = &saved_mode {
            quiet_between_reads(mode);
        }
        forward_interrupts(tx.clone())?;
        let reading = Arc::new(AtomicBool::new(false));
        let repaints = Repaints::default();
        let withdrawals = Withdrawals::default();
        let gate = PrintGate::default();
        let thread_gate = gate.clone();
        let (requests, request_rx) = mpsc::channel::<LineRequest>();
        let (printer_tx, printer_rx) = mpsc::sync_channel(1);
        let thread_reading = Arc::clone(&reading);
        let helper = ChatHelper::new(repaints.clone(), withdrawals.clone(), gate.clone(), words);
        thread::Builder::new()
            .name("editor".into())
            .spawn(move || {
                let mut editor = match super::editor::new_editor(helper, history.as_deref()) {
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
                for request in request_rx {
                    thread_reading.store(true, Ordering::SeqCst);
                    let event = read_one(&mut editor, &request, history.as_deref(), &thread_gate);
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
        let (lines, lines_rx) = mpsc::channel();
        let (done_tx, printer_done) = mpsc::channel();
        let (printer_gate, printer_repaints) = (gate.clone(), repaints.clone());
        thread::Builder::new()
            .name("printer".into())
            .spawn(move || {
                print_lines(&lines_rx, printer, &printer_gate, &printer_repaints);
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("cannot start the printer thread: {e}"))?;
        Ok(Terminal {
            printer: Some(lines),
            printer_done,
            requests,
            last_request: 0,
            withdrawals,
            style,
            reading,
            repaints,
            saved_mode,
            finished: false,
        })
    }

    fn print(&mut self, rendered: &str, alert: bool) {
        let bell = if alert { "\x07" } else { "" };
        let text = format!("{rendered}{bell}\n");
        match &self.printer {
            Some(printer) if !self.finished => {
                if let Err(unsent) = printer.send(text) {
                    crate::out::stdout_text(&unsent.0);
                }
            }
            _ => crate::out::stdout_text(&text),
        }
    }

    fn request_line(&mut self, prompt: &str, echoed: bool, initial: String) {
        self.last_request += 1;
        // The editor thread only ends when this sender is dropped.
        let _ = self.requests.send(LineRequest {
            id: self.last_request,
            prompt: prompt.to_string(),
            initial,
            erase_after: echoed,
        });
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let deadline = Instant::now() + DRAW_WAIT;
        // The printer thread hands over what it was given, then ends.
        self.printer = None;
        let _ = self
            .printer_done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        // The editor draws printed lines on its own thread; the last one is
        // on screen once the editor repainted after it.
        while self.reading.load(Ordering::SeqCst)
            && !self.repaints.caught_up()
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(2));
        }
        let stdin = io::stdin();
        if let Err(e) = termios::tcflush(&stdin, FlushArg::TCIFLUSH) {
            tracing::debug!("cannot discard type-ahead: {e}");
        }
        if let Some(mode) = &self.saved_mode {
            let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, mode);
        }
        if self.reading.load(Ordering::SeqCst) {
            // Erase the abandoned prompt line: the shell's prompt goes there.
            crate::out::stdout_text("\r\x1b[K");
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The printer thread: draws each line when the editor allows (see
/// [`PrintGate`]), in order, through the editor's printer (above the input
/// line while one is read, straight to the terminal otherwise). The client
/// loop never waits for it: the editor's printer blocks while the editor
/// works through keys, and the editor may wait for the client loop.
fn print_lines(
    lines: &mpsc::Receiver<String>,
    mut printer: Box<dyn ExternalPrinter + Send>,
    gate: &PrintGate,
    repaints: &Repaints,
) {
    for text in lines {
        gate.wait_to_print();
        let before = repaints.count();
        if let Err(e) = printer.print(text.clone()) {
            tracing::debug!("external printer failed ({e}); printing directly");
            crate::out::stdout_text(&text);
        }
        repaints.set_awaited(before);
    }
}

/// Keys typed while no line is read are not echoed by the terminal (the
/// editor draws them once it reads them); the rest of `mode` is kept.
fn quiet_between_reads(mode: &Termios) {
    let mut quiet = mode.clone();
    quiet
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ECHONL);
    if let Err(e) = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, &quiet) {
        tracing::debug!("keys typed between lines will be echoed: {e}");
    }
}

/// Hands each SIGINT received while no line is read (Ctrl-C then) to the
/// client loop, instead of ending the process with the terminal quiet.
fn forward_interrupts(tx: Sender<Msg>) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            for _ in signals.forever() {
                if tx.send(Msg::Input(InputEvent::Interrupt)).is_err() {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the Ctrl-C thread: {e}"))
}

/// Reads one line. Chat lines (not nicks) go into the history, and into
/// its file at once: the client may end while the editor waits for keys.
fn read_one(
    editor: &mut ChatEditor,
    request: &LineRequest,
    history: Option<&Path>,
    gate: &PrintGate,
) -> InputEvent {
    if let Some(helper) = editor.helper_mut() {
        helper.new_line(request.id);
    }
    let read = editor.readline_with_initial(&request.prompt, (&request.initial, ""));
    let withdrawn = editor.helper().is_some_and(ChatHelper::withdrawn);
    let (event, erase) = match read {
        Ok(line) => {
            let entered = request.erase_after && !line.trim().is_empty();
            if entered {
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = history {
                    if let Err(e) = editor.append_history(path) {
                        tracing::debug!("cannot save the history: {e}");
                    }
                }
            }
            // The room's copy takes the typed line's place.
            let erase = entered.then(|| line.clone());
            (InputEvent::Line(line), erase)
        }
        Err(ReadlineError::Interrupted) if withdrawn => {
            let draft = editor.helper().map(ChatHelper::draft).unwrap_or_default();
            (
                InputEvent::Withdrawn {
                    draft: draft.clone(),
                },
                Some(draft),
            )
        }
        Err(ReadlineError::Eof | ReadlineError::Interrupted) => (InputEvent::End, None),
        Err(e) => {
            tracing::warn!("line editor failed: {e}");
            (InputEvent::End, None)
        }
    };
    // The editor left the cursor on the row below the line.
    gate.open(|| {
        if let Some(line) = &erase {
            super::editor::erase_submitted(editor, &request.prompt, line);
        }
    });
    event
}
