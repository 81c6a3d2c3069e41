//! The line editor's configuration: Ctrl-C clears a typed line, Tab
//! completes commands and nicks (the candidates are the session's, see
//! `chat_core::client::complete`), and a repaint counter that tells the
//! client loop when the editor has drawn what it was given.

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
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// The editor's helper: completion and the repaint counter.
pub(crate) struct ChatHelper {
    repaints: Repaints,
    /// The nicks the session knows, kept current by the client loop.
    nicks: Arc<Mutex<Vec<String>>>,
}

impl ChatHelper {
    pub(crate) fn new(repaints: Repaints, nicks: Arc<Mutex<Vec<String>>>) -> ChatHelper {
        ChatHelper { repaints, nicks }
    }
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
        Ok(chat_core::client::complete(line, pos, &nicks))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        self.repaints.repainted();
        Cow::Borrowed(prompt)
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
    Ok(editor)
}

/// Erases a line just submitted after `prompt` (the cursor is on the row
/// below it), so the server's copy of it takes its place.
pub(crate) fn erase_submitted(
    editor: &mut Editor<ChatHelper, DefaultHistory>,
    prompt: &str,
    line: &str,
) {
    let columns = editor
        .dimensions()
        .map_or(80, |(columns, _)| usize::from(columns).max(1));
    let width = prompt.chars().count() + line.chars().count();
    let rows = width / columns + 1;
    crate::out::stdout_text(&format!("\x1b[{rows}A\r\x1b[J"));
}
