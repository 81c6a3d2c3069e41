//! The real `chat` binary, run as a child process with piped stdio.
//!
//! `CARGO_BIN_EXE_chat` only exists for tests of the package that owns the
//! binary, and a binary is no library dependency, so [`chat_bin`] builds it
//! with the cargo running these tests (a no-op when it is fresh) into the
//! same target directory and profile as this test executable.

use super::WAIT;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The path of a fresh `chat` binary.
pub(crate) fn chat_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_chat)
}

fn build_chat() -> PathBuf {
    // This executable is <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("<target>/<profile>");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("cannot tell the profile from {}", exe.display()),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "chat-cli",
            "--bin",
            "chat",
            "--profile",
        ])
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for the chat binary");
    assert!(status.success(), "building the chat binary failed");
    let bin = profile_dir.join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A running `chat` process. Its stdout and stderr are read line by line on
/// threads; it is killed on drop if still running.
pub(crate) struct ChatProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stdout line consumed so far, for failure messages.
    seen: Vec<String>,
}

impl ChatProcess {
    /// Starts `chat ARGS...` with piped stdin, stdout and stderr.
    pub(crate) fn spawn(name: &str, args: &[&str]) -> ChatProcess {
        let mut command = Command::new(chat_bin());
        command.args(args);
        ChatProcess::spawn_command(name, command)
    }

    /// Starts `command` (which runs `chat`) with piped stdin, stdout and stderr.
    fn spawn_command(name: &str, mut command: Command) -> ChatProcess {
        let mut child = command
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start chat: {e}"));
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        ChatProcess {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            seen: Vec::new(),
        }
    }

    /// `chat server --port 0 --runtime RUNTIME EXTRA...`; returns it and the
    /// address from its `listening on ADDR (runtime R)` line.
    pub(crate) fn server(runtime: &str, extra: &[&str]) -> (ChatProcess, SocketAddr) {
        let mut args = vec!["server", "--port", "0", "--runtime", runtime];
        args.extend_from_slice(extra);
        ChatProcess::spawn("server", &args).listening(runtime)
    }

    /// `chat server --port PORT --runtime RUNTIME`, on a port used before
    /// (a restarted server). Binding is retried, bounded, while the port is
    /// still taken.
    pub(crate) fn server_on_port(runtime: &str, port: u16) -> ChatProcess {
        let port = port.to_string();
        let deadline = Instant::now() + WAIT;
        loop {
            let args = ["server", "--port", &port, "--runtime", runtime];
            let server = ChatProcess::spawn("server", &args);
            match server.stdout.recv_timeout(WAIT) {
                Ok(line) if line.starts_with("listening on ") => return server,
                _ => {
                    assert!(
                        Instant::now() < deadline,
                        "no server on port {port}: {:#?}",
                        server.stderr.try_iter().collect::<Vec<_>>()
                    );
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Kills it (SIGKILL: no shutdown notice, its connections just end) and
    /// waits for it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `chat server` as [`server`](ChatProcess::server) does, under
    /// `prlimit --nofile=LIMIT:LIMIT` (util-linux): soft and hard open-file
    /// limits of `open_files`.
    pub(crate) fn server_with_open_files(
        runtime: &str,
        open_files: u64,
        extra: &[&str],
    ) -> (ChatProcess, SocketAddr) {
        ChatProcess::server_under_prlimit(
            runtime,
            &format!("--nofile={open_files}:{open_files}"),
            extra,
        )
    }

    /// `chat server` as [`server`](ChatProcess::server) does, under
    /// `prlimit --nproc=LIMIT:LIMIT`: soft and hard limits of `threads` on
    /// the threads of the user (root is not held to it, but the server
    /// sizes itself by it all the same).
    pub(crate) fn server_with_threads(
        runtime: &str,
        threads: u64,
        extra: &[&str],
    ) -> (ChatProcess, SocketAddr) {
        ChatProcess::server_under_prlimit(runtime, &format!("--nproc={threads}:{threads}"), extra)
    }

    /// `chat server` as [`server`](ChatProcess::server) does, under
    /// `prlimit LIMIT` (util-linux).
    fn server_under_prlimit(
        runtime: &str,
        limit: &str,
        extra: &[&str],
    ) -> (ChatProcess, SocketAddr) {
        let mut command = Command::new("prlimit");
        command
            .arg(limit)
            .arg("--")
            .arg(chat_bin())
            .args(["server", "--port", "0", "--runtime", runtime])
            .args(extra);
        let server = ChatProcess::spawn_command("server", command);
        server.listening(runtime)
    }

    /// Reads the `listening on ADDR (runtime R)` line of a server.
    fn listening(mut self, runtime: &str) -> (ChatProcess, SocketAddr) {
        let line = self.next_line();
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.strip_suffix(&format!(" (runtime {runtime})")))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first server line {line:?}"));
        (self, addr)
    }

    /// Reads stderr lines (the log) until one contains `needle`, and returns it.
    pub(crate) fn stderr_line_containing(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(WAIT) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!(
                    "{}: no stderr line with {needle:?} ({e}); stderr so far: {seen:#?}",
                    self.name
                ),
            }
        }
    }

    /// `chat client --host HOST --port PORT EXTRA...` for `addr`.
    pub(crate) fn client(name: &str, addr: SocketAddr, extra: &[&str]) -> ChatProcess {
        let port = addr.port().to_string();
        let host = addr.ip().to_string();
        let mut args = vec!["client", "--host", &host, "--port", &port];
        args.extend_from_slice(extra);
        ChatProcess::spawn(name, &args)
    }

    /// The process id, e.g. for `kill`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `line` and a newline to its stdin.
    pub(crate) fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: writing stdin failed: {e}", self.name));
    }

    /// Closes its stdin: the client's end of input.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line.
    pub(crate) fn next_line(&mut self) -> String {
        match self.stdout.recv_timeout(WAIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!(
                "{}: no stdout line ({e}); so far: {:#?}; stderr: {:#?}",
                self.name,
                self.seen,
                self.stderr.try_iter().collect::<Vec<_>>()
            ),
        }
    }

    /// Reads stdout lines until one equals `expected`.
    pub(crate) fn skip_to_line(&mut self, expected: &str) {
        while self.next_line() != expected {}
    }

    /// The next stdout lines are exactly `expected`.
    pub(crate) fn expect_lines(&mut self, expected: &[&str]) {
        for line in expected {
            let got = self.next_line();
            assert_eq!(&got, line, "{}: unexpected stdout line", self.name);
        }
    }

    /// Sends SIGTERM (through `kill(1)`, as std has no signal API).
    pub(crate) fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Stops the process (SIGSTOP): a stalled server, its sockets open.
    /// Dropping it still ends it (SIGKILL ends a stopped process too).
    pub(crate) fn stop(&self) {
        self.signal("-STOP");
    }

    /// Lets a stopped process go on (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }

    /// Waits (bounded) for the process to exit.
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {WAIT:?}; stdout so far: {:#?}",
                self.name,
                self.seen
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every remaining stdout line, once the process has exited.
    pub(crate) fn rest_of_stdout(&mut self) -> Vec<String> {
        collect_to_end(&self.stdout)
    }

    /// Every stderr line, once the process has exited.
    pub(crate) fn stderr_lines(&self) -> Vec<String> {
        collect_to_end(&self.stderr)
    }
}

impl Drop for ChatProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lines from a pipe until it closes (bounded by [`WAIT`] per line).
fn collect_to_end(rx: &Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(WAIT) {
        lines.push(line);
    }
    lines
}

/// Reads `pipe` line by line (lossy UTF-8) on a thread, until EOF.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n') {
            let Ok(line) = line else { return };
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    rx
}
