//! The line editor's configuration: Ctrl-C clears a typed line, Tab
//! completes commands and nicks (the candidates are the session's, see
//! `chat_core::client::complete`), a repaint counter that tells the
//! client loop when the editor has drawn what it was given, and the
//! cursor put back where the editor expects it after a terminal resize
//! reflowed a multi-row input line (see [`Drawn`]), and the withdrawal
//! of a line being edited (see [`Withdrawals`]).

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ColorMode, CompletionType, ConditionalEventHandler, Config, Context, Editor, Event,
    EventContext, EventHandler, Helper, KeyEvent, Movement, RepeatCount,
};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use unicode_width::UnicodeWidthChar;

/// Counts the editor's repaints. After an external print the editor
/// repaints the prompt, so a repaint later than a print means that print is
/// on screen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Repaints {
    count: Arc<AtomicU64>,
    awaited: Arc<AtomicU64>,
}

impl Repaints {
    /// Repaints so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// A print was handed over when the count was `before`.
    pub(crate) fn set_awaited(&self, before: u64) {
        self.awaited.store(before + 1, Ordering::SeqCst);
    }

    /// Whether the editor repainted since the last print was handed over.
    pub(crate) fn caught_up(&self) -> bool {
        self.count() >= self.awaited.load(Ordering::SeqCst)
    }

    fn repainted(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

/// When received lines may be drawn, as the line editor's state allows.
///
/// Why: the editor's printer writes straight to the terminal once the
/// editor left raw mode, and a line the user entered is erased afterwards
/// by going up the rows it took (see [`erase_submitted`]): a line printed
/// in between would be erased instead. And a line handed to the editor
/// while it works through keys read ahead waits in the editor until its
/// next read: a line printed straight meanwhile would come first.
///
/// # Invariants
/// - [`Phase::Closing`] from Enter (or a withdrawal) while the editor still
///   reads, to the end of the erase: nothing is printed then.
/// - Right after a read, lines wait up to [`SETTLE`] for the next read, so
///   a line still waiting in the editor is drawn before later ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrintGate {
    state: Arc<(Mutex<GateState>, std::sync::Condvar)>,
}

/// How long, after a read ended, lines wait for the next read before they
/// are printed straight to the terminal.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Debug, Default)]
struct GateState {
    phase: Phase,
    /// When the last read ended (`Phase::Idle`).
    idle_since: Option<std::time::Instant>,
}

/// Where the editor is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Not reading: lines are printed straight.
    #[default]
    Idle,
    /// Reading, in raw mode: lines go through the editor's printer.
    Reading,
    /// A read is ending: lines wait.
    Closing,
}

impl PrintGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        match self.state.0.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn set(&self, from: &[Phase], to: Phase) {
        let mut state = self.lock();
        if from.contains(&state.phase) {
            state.phase = to;
            if to == Phase::Idle {
                state.idle_since = Some(std::time::Instant::now());
            }
            self.state.1.notify_all();
        }
    }

    /// The editor draws in raw mode: a read is under way.
    fn reading(&self) {
        self.set(&[Phase::Idle], Phase::Reading);
    }

    /// The read is ending: lines wait from now on.
    fn close(&self) {
        self.set(&[Phase::Idle, Phase::Reading], Phase::Closing);
    }

    /// The read ended: runs `tidy` (the erase), then lets lines through.
    pub(crate) fn open(&self, tidy: impl FnOnce()) {
        let guard = self.lock();
        tidy();
        drop(guard);
        self.set(&[Phase::Idle, Phase::Reading, Phase::Closing], Phase::Idle);
    }

    /// Waits until a line may be printed (see the invariants).
    pub(crate) fn wait_to_print(&self) {
        let mut state = self.lock();
        loop {
            let wait = match (state.phase, state.idle_since) {
                (Phase::Reading, _) => return,
                (Phase::Idle, None) => return,
                (Phase::Idle, Some(since)) => {
                    match (since + SETTLE).checked_duration_since(std::time::Instant::now()) {
                        Some(left) if !left.is_zero() => left,
                        _ => return,
                    }
                }
                (Phase::Closing, _) => SETTLE,
            };
            state = match self.state.1.wait_timeout(state, wait) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Enter: the line is entered; received lines wait until it is off the
/// screen (see [`PrintGate`]).
struct Enter(PrintGate);

impl ConditionalEventHandler for Enter {
    fn handle(
        &self,
        _evt: &Event,
        _n: RepeatCount,
        _positive: bool,
        _ctx: &EventContext<'_>,
    ) -> Option<Cmd> {
        self.0.close();
        Some(Cmd::AcceptLine)
    }
}

/// Which lines the client loop withdrew: every request numbered up to
/// [`Withdrawals::up_to`]. Requests are numbered from 1, in order.
///
/// Why: the editor cannot be told to stop reading, and a prompt cannot
/// change while it reads (the server may want a nick while the chat
/// prompt is up). While it reads, the editor catches SIGINT itself and
/// ends the read as interrupted; so a helper that sees, at a repaint, that
/// its line was withdrawn raises SIGINT on the editor's own thread, and the
/// read ends. The client prints a line right after withdrawing, so a
/// repaint comes even when no key is pressed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Withdrawals {
    up_to: Arc<AtomicU64>,
}

impl Withdrawals {
    /// Withdraws every request up to `request`.
    pub(crate) fn withdraw(&self, request: u64) {
        self.up_to.fetch_max(request, Ordering::SeqCst);
    }

    fn covers(&self, request: u64) -> bool {
        request > 0 && self.up_to.load(Ordering::SeqCst) >= request
    }
}

/// The editor's helper: completion, the repaint counter, the resize
/// correction and the withdrawal of a line.
pub(crate) struct ChatHelper {
    repaints: Repaints,
    withdrawals: Withdrawals,
    gate: PrintGate,
    /// The request being read.
    request: u64,
    /// SIGINT was raised to end the read of `request`.
    interrupted: Cell<bool>,
    /// The nicks the session knows, kept current by the client loop.
    nicks: Arc<Mutex<Vec<String>>>,
    /// What the editor last drew; `None` until the first draw of a line.
    drawn: RefCell<Option<Drawn>>,
    /// The last prompt the editor drew.
    prompt: RefCell<String>,
    /// Whether the terminal wraps soft-wrapped rows again when its width
    /// changes (see [`terminal_reflows`]).
    reflows: bool,
}

impl ChatHelper {
    pub(crate) fn new(
        repaints: Repaints,
        withdrawals: Withdrawals,
        gate: PrintGate,
        nicks: Arc<Mutex<Vec<String>>>,
    ) -> ChatHelper {
        ChatHelper {
            repaints,
            withdrawals,
            gate,
            request: 0,
            interrupted: Cell::new(false),
            nicks,
            drawn: RefCell::new(None),
            prompt: RefCell::new(String::new()),
            reflows: terminal_reflows(),
        }
    }

    /// Request `request` is about to be read: nothing of it is drawn yet.
    pub(crate) fn new_line(&mut self, request: u64) {
        *self.drawn.get_mut() = None;
        self.request = request;
        self.interrupted.set(false);
    }

    /// Whether the read ended because the line was withdrawn.
    pub(crate) fn withdrawn(&self) -> bool {
        self.interrupted.get()
    }

    /// The text of the line as last drawn (empty before the first draw).
    pub(crate) fn draft(&self) -> String {
        self.drawn
            .borrow()
            .as_ref()
            .map(|drawn| drawn.line.clone())
            .unwrap_or_default()
    }

    /// Ends the read if its line was withdrawn (see [`Withdrawals`]); the
    /// editor's SIGINT handler is in place while it draws.
    fn end_if_withdrawn(&self) {
        if self.interrupted.get() || !self.withdrawals.covers(self.request) {
            return;
        }
        self.interrupted.set(true);
        self.gate.close();
        if let Err(e) = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT) {
            tracing::warn!("cannot withdraw the line being edited: {e}");
        }
    }
}

/// The input line as the editor (rustyline) last laid it out: its text, the
/// cursor's byte offset in it, and the terminal width it was laid out for.
///
/// Why: on SIGWINCH rustyline reads the new width, then clears the input
/// line by moving up the rows it computed for the *old* width and draws it
/// again from there. A terminal that reflows (VTE, kitty, alacritty, tmux,
/// iTerm2, Windows Terminal, Konsole) has already joined the input's
/// soft-wrapped rows and wrapped them again at the new width, so the cursor
/// is on another row of the input than rustyline thinks: going up the old
/// count lands above the input when the line now takes fewer rows (the
/// clear erases received lines there) or inside it when it takes more (a
/// piece of it is left behind). The editor asks for a hint right before
/// that redraw, and the hint is where this is corrected ([`correction`]).
///
/// # Invariants
/// - A multi-row input line is drawn whole on every change (see
///   `highlight_char`), so its rows are soft-wrapped ones the terminal
///   joins, except after a last full row (handled in [`correction`]).
/// - Updated at every hint (each edit and each redraw) and at every cursor
///   move (`highlight_char`), so it is what the editor's own layout holds.
/// - `None` at the start of each line (see [`ChatHelper::new_line`]): a
///   layout of an earlier line is never corrected for.
#[derive(Debug)]
struct Drawn {
    line: String,
    pos: usize,
    columns: usize,
}

/// Whether the terminal is taken to reflow on a width change: yes, except
/// xterm itself (it sets `XTERM_VERSION`) and the Linux console
/// (`TERM=linux`), which keep rows as they were (cut or padded); rustyline's
/// own redraw is right for those.
fn terminal_reflows() -> bool {
    let xterm = std::env::var_os("XTERM_VERSION").is_some();
    let console = std::env::var("TERM").is_ok_and(|term| term == "linux");
    !xterm && !console
}

/// The terminal's width now (stdout's, as rustyline reads it).
pub(crate) fn terminal_columns() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    Some(usize::from(size.ws_col)).filter(|&columns| columns > 0)
}

/// Where `text` ends when drawn from `(row, col)` on a terminal `columns`
/// wide, as rustyline computes it: a character that does not fit goes to
/// the next row, and an end on the last column is the start of the next row.
fn position(text: &str, columns: usize, start: (usize, usize)) -> (usize, usize) {
    let (mut row, mut col) = start;
    for c in text.chars() {
        if c == '\n' {
            row += 1;
            col = 0;
            continue;
        }
        let width = c.width().unwrap_or(0);
        col += width;
        if col > columns {
            row += 1;
            col = width;
        }
    }
    if col == columns {
        row += 1;
        col = 0;
    }
    (row, col)
}

/// What to write before rustyline redraws `prompt` and `line` (cursor at
/// byte `pos`, a char boundary) laid out for `old` columns, now that a
/// reflowing terminal is `new` columns wide; empty when nothing is needed.
///
/// It goes to the input's first row (up the cursor's row at the new width),
/// clears from there to the end of the screen (below the input's first row
/// there is only the input), makes sure the rows rustyline walks exist
/// (newlines scroll at the bottom), and stops on the row rustyline believes
/// the cursor is on, so that its walk up the old row count ends on the
/// input's first row and the received lines above are never touched.
fn correction(prompt: &str, line: &str, pos: usize, old: usize, new: usize) -> String {
    let (before, after) = line.split_at(pos.min(line.len()));
    let prompt_end = position(prompt, old, (0, 0));
    let old_cursor = position(before, old, prompt_end);
    let old_end = position(after, old, old_cursor);
    let width: usize = prompt
        .chars()
        .chain(before.chars())
        .map(|c| c.width().unwrap_or(0))
        .sum();
    let mut row = position(before, new, position(prompt, new, (0, 0))).0;
    if after.is_empty() && old_end.1 == 0 {
        // rustyline ended the last full row with a newline of its own: the
        // cursor is on a row after the reflowed text, not inside it.
        row = width.div_ceil(new);
    }
    let mut out = String::new();
    if row > 0 {
        let _ = write!(out, "\x1b[{row}A");
    }
    out.push_str("\r\x1b[J");
    out.push_str(&"\n".repeat(old_end.0));
    let back = old_end.0 - old_cursor.0;
    if back > 0 {
        let _ = write!(out, "\x1b[{back}A");
    }
    out
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let nicks = match self.nicks.lock() {
            Ok(nicks) => nicks.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Ok(chat_core::client::complete(
            line,
            pos,
            nicks.iter().map(String::as_str),
        ))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;

    /// Never a hint; called right before every redraw, it records the line
    /// and, after a width change, corrects the cursor (see [`Drawn`]).
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        let columns = terminal_columns()?;
        let mut drawn = self.drawn.borrow_mut();
        if let Some(last) = drawn.as_ref() {
            // A resize changes neither the text nor the cursor: a changed
            // line is an edit, laid out at the width the editor already had.
            if self.reflows && last.columns != columns && last.line == line && last.pos == pos {
                let fix = correction(&self.prompt.borrow(), line, pos, last.columns, columns);
                if !fix.is_empty() {
                    crate::out::stdout_text(&fix);
                }
            }
        }
        *drawn = Some(Drawn {
            line: line.to_string(),
            pos,
            columns,
        });
        None
    }
}

impl Highlighter for ChatHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        self.repaints.repainted();
        self.gate.reading();
        self.end_if_withdrawn();
        let mut last = self.prompt.borrow_mut();
        if *last != prompt {
            prompt.clone_into(&mut last);
        }
        Cow::Borrowed(prompt)
    }

    /// Records a cursor move (the editor moves the cursor without a hint).
    /// Asks for a full redraw once the input takes more than one row: the
    /// editor's shortcut for a key typed at the end writes just that key,
    /// and after a redraw that ended on a row's last column (the editor
    /// then starts the next row with a newline of its own) those keys
    /// would sit on a row a reflowing terminal does not join to the one
    /// above. A full redraw wraps every row on its own (see [`Drawn`]).
    fn highlight_char(&self, line: &str, pos: usize, _kind: rustyline::highlight::CmdKind) -> bool {
        let mut drawn = self.drawn.borrow_mut();
        let Some(drawn) = drawn.as_mut() else {
            return false;
        };
        if drawn.line == line {
            drawn.pos = pos;
        }
        let width: usize = self
            .prompt
            .borrow()
            .chars()
            .chain(line.chars())
            .map(|c| c.width().unwrap_or(0))
            .sum();
        self.reflows && width >= drawn.columns
    }
}

impl Validator for ChatHelper {}
impl Helper for ChatHelper {}

/// Ctrl-C clears a typed line, and ends the client on an empty one.
struct ClearOrInterrupt;

impl ConditionalEventHandler for ClearOrInterrupt {
    fn handle(
        &self,
        _evt: &Event,
        _n: RepeatCount,
        _positive: bool,
        ctx: &EventContext<'_>,
    ) -> Option<Cmd> {
        if ctx.line().is_empty() {
            Some(Cmd::Interrupt)
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

/// The configured editor, with the lines of `history` if it exists.
pub(crate) fn new_editor(
    helper: ChatHelper,
    history: Option<&Path>,
) -> rustyline::Result<Editor<ChatHelper, DefaultHistory>> {
    let gate = helper.gate.clone();
    let config = Config::builder()
        // The highlighter must run on every repaint (it counts them); it
        // adds no colour itself.
        .color_mode(ColorMode::Forced)
        .completion_type(CompletionType::List)
        .build();
    let mut editor = Editor::with_config(config)?;
    if let Some(path) = history.filter(|path| path.exists()) {
        if let Err(e) = editor.load_history(path) {
            tracing::warn!("cannot read the history {}: {e}", path.display());
        }
    }
    editor.set_helper(Some(helper));
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(ClearOrInterrupt)),
    );
    // Enter arrives as CR, or as LF (a paste without bracketed paste).
    for key in [KeyEvent::from('\r'), KeyEvent::ctrl('J')] {
        editor.bind_sequence(
            key,
            EventHandler::Conditional(Box::new(Enter(gate.clone()))),
        );
    }
    Ok(editor)
}

/// Erases a line just submitted after `prompt` (the cursor is on the row
/// below it), so the server's copy of it takes its place. The line may
/// hold line breaks (a bracketed paste): each starts a row of its own.
pub(crate) fn erase_submitted(
    editor: &mut Editor<ChatHelper, DefaultHistory>,
    prompt: &str,
    line: &str,
) {
    let columns = editor
        .dimensions()
        .map_or(80, |(columns, _)| usize::from(columns).max(1));
    crate::out::stdout_text(&format!(
        "\x1b[{}A\r\x1b[J",
        submitted_rows(prompt, line, columns)
    ));
}

/// How many rows up the first row of `prompt` and `line` is, once the
/// editor ended the submitted line with a newline of its own.
fn submitted_rows(prompt: &str, line: &str, columns: usize) -> usize {
    let prompt_end = position(prompt, columns, (0, 0));
    position(line, columns, prompt_end).0 + 1
}
