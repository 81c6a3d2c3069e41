//! The real `chat` binary on a pseudo-terminal, as a person at a terminal
//! runs it. What it draws is fed to a terminal emulator, so tests look at
//! the screen (rows of text), not at the escape sequences that drew it; the
//! emulator also answers the cursor-position queries a line editor sends.

use super::bin::chat_bin;
use super::WAIT;
use nix::pty::{openpty, Winsize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ROWS: u16 = 24;
const COLUMNS: u16 = 80;

/// What the terminal received: the emulated screen and the raw bytes.
struct Received {
    parser: vt100::Parser,
    raw: Vec<u8>,
}

/// The `chat` run on the terminal: `CHAT_CLIENT_BIN` when set (another
/// build, e.g. an older client to compare with), else the fresh one the
/// servers run.
fn client_bin() -> PathBuf {
    std::env::var_os("CHAT_CLIENT_BIN").map_or_else(|| chat_bin().to_path_buf(), PathBuf::from)
}

/// A `chat` process whose stdin, stdout and stderr are one pseudo-terminal.
pub(crate) struct PtyChat {
    child: Child,
    keyboard: File,
    received: Arc<Mutex<Received>>,
    /// A data directory made for this process alone.
    owned_data_home: Option<PathBuf>,
}

impl PtyChat {
    /// Starts `chat ARGS...` on a fresh 80×24 terminal, `NO_COLOR` unset
    /// unless `no_color`, with a data directory of its own (removed on drop).
    pub(crate) fn spawn(args: &[&str], no_color: bool) -> PtyChat {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chat-pty-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let mut chat = PtyChat::spawn_with_data_home(args, no_color, &dir);
        chat.owned_data_home = Some(dir);
        chat
    }

    /// As [`spawn`](PtyChat::spawn), in a terminal that says it is xterm
    /// (`XTERM_VERSION` set, as xterm sets it), one that does not reflow.
    pub(crate) fn spawn_as_xterm(args: &[&str], no_color: bool) -> PtyChat {
        let dir = std::env::temp_dir().join(format!(
            "chat-pty-xterm-{}-{}",
            std::process::id(),
            args.join("-").len()
        ));
        let mut command = Command::new(client_bin());
        command.args(args).env("XTERM_VERSION", "XTerm(390)");
        let mut chat = PtyChat::spawn_command(command, no_color, &dir);
        chat.owned_data_home = Some(dir);
        chat
    }

    /// As [`spawn`](PtyChat::spawn), with `XDG_DATA_HOME` set to `data_home`.
    pub(crate) fn spawn_with_data_home(args: &[&str], no_color: bool, data_home: &Path) -> PtyChat {
        let mut command = Command::new(client_bin());
        command.args(args);
        PtyChat::spawn_command(command, no_color, data_home)
    }

    /// `sh -c SCRIPT` on a terminal, with `$0` the `chat` binary's path.
    pub(crate) fn spawn_shell(script: &str, data_home: &Path) -> PtyChat {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script).arg(chat_bin());
        PtyChat::spawn_command(command, true, data_home)
    }

    fn spawn_command(mut command: Command, no_color: bool, data_home: &Path) -> PtyChat {
        let size = Winsize {
            ws_row: ROWS,
            ws_col: COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        if !command.get_envs().any(|(key, _)| key == "XTERM_VERSION") {
            // Set by xterm itself; the client must not take this terminal,
            // which reflows on `resize`, for one that does not.
            command.env_remove("XTERM_VERSION");
        }
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty"));
        command
            .env_remove("RUST_LOG")
            .env("TERM", "xterm")
            .env("XDG_DATA_HOME", data_home)
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave));
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        let child = command.spawn().expect("start chat on a pty");
        drop(command);
        drop(pty.slave);
        let master = File::from(pty.master);
        let keyboard = master.try_clone().expect("dup the pty master");
        let received = Arc::new(Mutex::new(Received {
            parser: vt100::Parser::new(ROWS, COLUMNS, 0),
            raw: Vec::new(),
        }));
        let answers = keyboard.try_clone().expect("dup the pty master");
        spawn_screen_reader(master, answers, Arc::clone(&received));
        PtyChat {
            child,
            keyboard,
            received,
            owned_data_home: None,
        }
    }

    /// Types `keys` (bytes as a keyboard sends them: `\r` is Enter).
    pub(crate) fn type_keys(&mut self, keys: &str) {
        self.keyboard
            .write_all(keys.as_bytes())
            .and_then(|()| self.keyboard.flush())
            .expect("type on the pty");
    }

    /// Resizes the terminal to `rows`×`columns` as the terminals most people
    /// use do (VTE, kitty, alacritty, tmux, iTerm2, Windows Terminal):
    /// soft-wrapped rows are joined and wrapped again at the new width (see
    /// [`reflow`]), then the new size goes on the pty and SIGWINCH to the
    /// process.
    pub(crate) fn resize(&mut self, rows: u16, columns: u16) {
        {
            let mut received = lock(&self.received);
            received.parser = reflow(received.parser.screen(), rows, columns);
        }
        self.tell_size(rows, columns);
    }

    /// Resizes the terminal to `rows`×`columns` as xterm and the Linux
    /// console do: rows keep their cells (cut at the new width), nothing is
    /// wrapped again.
    pub(crate) fn resize_without_reflow(&mut self, rows: u16, columns: u16) {
        lock(&self.received)
            .parser
            .screen_mut()
            .set_size(rows, columns);
        self.tell_size(rows, columns);
    }

    /// The new size on the pty, then SIGWINCH to the process.
    fn tell_size(&mut self, rows: u16, columns: u16) {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.keyboard, size).expect("resize the pty");
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("a child's pid");
        rustix::process::kill_process(pid, rustix::process::Signal::WINCH).expect("send SIGWINCH");
    }

    /// The screen's rows, trailing blanks removed.
    pub(crate) fn rows(&self) -> Vec<String> {
        let received = lock(&self.received);
        let (_, columns) = received.parser.screen().size();
        received
            .parser
            .screen()
            .rows(0, columns)
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// The non-empty rows, top to bottom.
    pub(crate) fn text_rows(&self) -> Vec<String> {
        self.rows().into_iter().filter(|r| !r.is_empty()).collect()
    }

    /// Every byte received so far.
    pub(crate) fn raw(&self) -> Vec<u8> {
        lock(&self.received).raw.clone()
    }

    /// Waits (bounded) until the screen's non-empty rows satisfy `ready`.
    pub(crate) fn wait_for(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let rows = self.text_rows();
            if ready(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}; it shows {rows:#?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until some row equals `row`.
    pub(crate) fn wait_for_row(&self, row: &str) -> Vec<String> {
        self.wait_for(&format!("{row:?}"), |rows| rows.iter().any(|r| r == row))
    }

    /// Waits (bounded) for the process to exit, then lets the last output
    /// reach the emulator.
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {WAIT:?}; screen: {:#?}",
                self.text_rows()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PtyChat {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.owned_data_home {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn lock(received: &Mutex<Received>) -> std::sync::MutexGuard<'_, Received> {
    match received.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A new emulator of `rows`×`columns` showing `screen` reflowed as a
/// reflowing terminal shows it after a resize:
/// - rows that wrapped on their own (`Screen::row_wrapped`) form one logical
///   line with the row below; each logical line is wrapped again at the new
///   width (a wide character that does not fit moves to the next row);
/// - the cursor keeps its place in its logical line (a cursor past the end
///   of its line's text keeps the blank cells before it);
/// - the content stays anchored at the top, and when it needs more rows
///   than the screen has, the top rows go (into the scrollback, as tmux and
///   VTE do; this emulator keeps none); blank lines below the cursor are
///   dropped first.
///
/// Colours and attributes are not carried over (the tests read text).
fn reflow(screen: &vt100::Screen, rows: u16, columns: u16) -> vt100::Parser {
    let (old_rows, old_columns) = screen.size();
    let (cursor_row, cursor_col) = screen.cursor_position();
    // Logical lines: each a list of (text, width in cells) per character.
    let mut lines: Vec<Vec<(String, u16)>> = vec![Vec::new()];
    let mut cursor = (0, 0);
    for row in 0..old_rows {
        let mut cells = Vec::new();
        for col in 0..old_columns {
            let Some(cell) = screen.cell(row, col) else {
                break;
            };
            if cell.is_wide_continuation() {
                continue;
            }
            let text = if cell.has_contents() {
                cell.contents().to_string()
            } else {
                " ".to_string()
            };
            cells.push((text, if cell.is_wide() { 2 } else { 1 }));
        }
        let wrapped = screen.row_wrapped(row);
        if !wrapped {
            // Trailing blanks are not text, except up to the cursor.
            let keep = if row == cursor_row {
                usize::from(cursor_col)
            } else {
                0
            };
            while cells.len() > keep && cells.last().is_some_and(|(t, _)| t == " ") {
                cells.pop();
            }
        }
        let line = lines.len() - 1;
        if row == cursor_row {
            let before: u16 = lines[line].iter().map(|&(_, w)| w).sum();
            cursor = (line, before + cursor_col);
        }
        lines[line].extend(cells);
        if !wrapped {
            lines.push(Vec::new());
        }
    }
    while lines.len() > cursor.0 + 1 && lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    // Where each character lands at the new width, and the cursor. The
    // cursor's offset is never past its line's cells (blanks up to it are
    // kept above).
    let mut text = String::new();
    let mut total_rows: usize = 0;
    let mut new_cursor = (0, 0);
    for (index, line) in lines.iter().enumerate() {
        let (mut row, mut col) = (0usize, 0u16);
        let mut offset = 0u16;
        for (cell, width) in line {
            if col + width > columns {
                row += 1;
                col = 0;
            }
            if index == cursor.0 && offset == cursor.1 {
                new_cursor = (total_rows + row, col);
            }
            text.push_str(cell);
            col += width;
            offset += width;
            if col == columns {
                row += 1;
                col = 0;
            }
        }
        if index == cursor.0 && offset == cursor.1 {
            new_cursor = (total_rows + row, col);
        }
        total_rows += if col == 0 && row > 0 { row } else { row + 1 };
        if index + 1 < lines.len() {
            text.push_str("\r\n");
        }
    }
    // A cursor after a line that fills its last row is on the row below.
    for _ in total_rows..=new_cursor.0 {
        text.push_str("\r\n");
    }
    let needed = total_rows.max(new_cursor.0 + 1);
    let dropped = needed.saturating_sub(usize::from(rows));
    let mut parser = vt100::Parser::new(rows, columns, 0);
    parser.process(text.as_bytes());
    let row = new_cursor.0 - dropped;
    let col = new_cursor.1.min(columns - 1);
    parser.process(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes());
    parser
}

/// Feeds the terminal's output to the emulator until the pty closes, and
/// answers cursor-position queries (`ESC [ 6 n`) as a terminal would.
fn spawn_screen_reader(mut master: File, mut answers: File, received: Arc<Mutex<Received>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = match master.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let answer = {
                let mut received = lock(&received);
                received.raw.extend_from_slice(chunk);
                received.parser.process(chunk);
                let asked = chunk.windows(4).any(|w| w == b"\x1b[6n");
                asked.then(|| {
                    let (row, col) = received.parser.screen().cursor_position();
                    format!("\x1b[{};{}R", row + 1, col + 1)
                })
            };
            if let Some(answer) = answer {
                let _ = answers.write_all(answer.as_bytes());
            }
        }
    });
}
