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

    /// As [`spawn`](PtyChat::spawn), with `XDG_DATA_HOME` set to `data_home`.
    pub(crate) fn spawn_with_data_home(args: &[&str], no_color: bool, data_home: &Path) -> PtyChat {
        let mut command = Command::new(chat_bin());
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

    /// Resizes the terminal to `rows`×`columns`, as a window being resized
    /// does: the new size on the pty, then SIGWINCH to the process.
    pub(crate) fn resize(&mut self, rows: u16, columns: u16) {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        lock(&self.received)
            .parser
            .screen_mut()
            .set_size(rows, columns);
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
