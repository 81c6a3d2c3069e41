//! `chat client`: moves bytes between the server and the user. Every
//! protocol decision (answering `alias?`, framing, splitting lines, the seed
//! dialect) is `chat_core::client::Session`'s; this module only reads,
//! writes, waits and shows.

mod connect;
mod display;
mod editor;
pub(crate) mod error;
mod ui;

use crate::args::ClientArgs;
use crate::runtime::{self, ConnReader, ConnWriter};
use chat_core::client::{Attention, ClientEvent, Ending, Session};
use chat_runtime_common::tls::ClientTls;
use display::Style;
use error::ClientError;
use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use ui::{InputEvent, Ui};

/// How long the server may take to confirm a join once our nick is sent
/// (and to ask for one once connected).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we wait for the server to close after we said goodbye.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The seed client's question, kept word for word.
const NICK_PROMPT: &str = "Choose a nick >>> ";
/// The prompt in front of the line being typed.
const CHAT_PROMPT: &str = "> ";

/// Whether the user asked for no colour (<https://no-color.org>).
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Everything the client loop waits for, on one channel.
#[derive(Debug)]
pub(crate) enum Msg {
    /// From the connection's reader thread.
    Net(NetEvent),
    /// From the user.
    Input(InputEvent),
}

/// What the reader thread saw.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// One read, at most 1024 bytes, never empty.
    Data(Vec<u8>),
    /// The server closed its side.
    Eof,
    /// The read failed (reset, ...).
    Failed(io::Error),
}

/// How a session that went well ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Farewell {
    /// The user left (end of input, `/quit`, Ctrl-D), or gave up choosing a nick.
    Left,
    /// The server said it is shutting down.
    ServerShutdown,
}

/// Runs the client: the server's last lines, then (on a terminal, or on
/// failure) one line on stderr saying why it ended; the exit code tells the
/// reasons apart (see [`error`]).
pub(crate) fn run(args: &ClientArgs) -> ExitCode {
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    match chat(args, interactive) {
        Ok(Farewell::ServerShutdown) if interactive => {
            crate::out::stderr_line("connection closed: the server shut down");
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            crate::out::stderr_line(&format!("error: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The whole session. Connects first, then sets up the terminal; the `Ui`
/// is finished (terminal restored, last lines drawn) before `run` prints.
fn chat(args: &ClientArgs, interactive: bool) -> Result<Farewell, ClientError> {
    let tls = client_tls(args)?;
    let (reader, writer, addr) =
        connect::connect(args.runtime, &args.host, args.port(), tls.as_ref())?;
    tracing::info!(%addr, runtime = %args.runtime, "connected");
    let (tx, rx) = mpsc::channel();
    let nicks = Arc::new(Mutex::new(Vec::new()));
    let ui = if interactive {
        let style = Style {
            colour: !no_color(),
            timestamps: args.timestamps.then(|| display::clock_zone(args.utc)),
        };
        let history = (!args.no_history).then(history_file).flatten();
        Ui::terminal(tx.clone(), style, Arc::clone(&nicks), history)
    } else {
        Ui::plain(tx.clone())
    }
    .map_err(ClientError::Setup)?;
    spawn_reader(reader, tx)?;
    let session = Session::new(args.compat(), args.nick.clone());
    let nick_from_input = args.nick.is_none() && !interactive;
    let mut client = Client::new(session, writer, ui, nicks, !args.no_bell);
    client.nick_from_input = nick_from_input;
    let result = client.run(&rx);
    client.ui.finish();
    result
}

/// Where typed lines are kept across runs: `chat/history` in the user's
/// data directory (`$XDG_DATA_HOME`, else `~/.local/share`), created if
/// missing. `None` when there is no such directory.
fn history_file() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|home| PathBuf::from(home).join(".local/share"))
        })?;
    let dir = data.join("chat");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("no input history: cannot create {}: {e}", dir.display());
        return None;
    }
    Some(dir.join("history"))
}

/// What the client trusts, with `--tls`; warns loudly with `--tls-insecure`.
fn client_tls(args: &ClientArgs) -> Result<Option<ClientTls>, ClientError> {
    args.tls
        .client_tls(connect::bare_host(&args.host))
        .map_err(ClientError::Setup)
}

/// Reads the connection on its own thread until EOF or an error.
fn spawn_reader(mut reader: ConnReader, tx: Sender<Msg>) -> Result<(), ClientError> {
    thread::Builder::new()
        .name("net-reader".into())
        .spawn(move || loop {
            let event = match reader.read() {
                Ok(Some(bytes)) if bytes.is_empty() => continue,
                Ok(Some(bytes)) => NetEvent::Data(bytes),
                Ok(None) => NetEvent::Eof,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => NetEvent::Failed(e),
            };
            let last = !matches!(event, NetEvent::Data(_));
            if tx.send(Msg::Net(event)).is_err() || last {
                return;
            }
        })
        .map(drop)
        .map_err(|e| ClientError::Setup(format!("cannot start the reader thread: {e}")))
}

/// Something the client loop is waiting for, with a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// The server's confirmation of our nick.
    Join,
    /// The server's close after our goodbye.
    Close,
}

/// The client loop's state.
#[derive(Debug)]
struct Client {
    session: Session,
    writer: ConnWriter,
    ui: Ui,
    /// The nicks the line editor completes, copied from the session.
    nicks: Arc<Mutex<Vec<String>>>,
    /// Ring the terminal bell on a private line or a mention.
    bell: bool,
    /// Piped with no `--nick`: the first non-empty input line is the nick.
    nick_from_input: bool,
    /// Lines typed before the join was confirmed, sent once it is.
    pending: VecDeque<String>,
    /// The bounded wait in progress, if any.
    deadline: Option<(Instant, Wait)>,
    /// The server wants a nick and the user is being asked for one.
    awaiting_nick: bool,
    /// A line was requested from the terminal and has not arrived yet.
    input_requested: bool,
    /// The user's input ended; we leave once everything typed was sent.
    input_ended: bool,
    /// We said goodbye; the server closing now is the normal end.
    quitting: bool,
}

/// Whether the loop goes on.
enum Flow {
    Continue,
    Done(Farewell),
}

impl Client {
    fn new(
        session: Session,
        writer: ConnWriter,
        ui: Ui,
        nicks: Arc<Mutex<Vec<String>>>,
        bell: bool,
    ) -> Client {
        Client {
            session,
            writer,
            ui,
            nicks,
            bell,
            nick_from_input: false,
            pending: VecDeque::new(),
            deadline: Some((Instant::now() + JOIN_TIMEOUT, Wait::Join)),
            awaiting_nick: false,
            input_requested: false,
            input_ended: false,
            quitting: false,
        }
    }

    /// Runs until the connection ends. `Ok` when it ended normally; piped,
    /// lines the server refused make a normal end an error too.
    fn run(&mut self, rx: &Receiver<Msg>) -> Result<Farewell, ClientError> {
        let farewell = self.run_loop(rx)?;
        let refused = self.session.refusals();
        if refused > 0 && !self.ui.is_interactive() {
            return Err(ClientError::LinesRefused(refused));
        }
        Ok(farewell)
    }

    fn run_loop(&mut self, rx: &Receiver<Msg>) -> Result<Farewell, ClientError> {
        loop {
            let msg = match self.deadline {
                None => rx.recv().map_err(|_| ClientError::Closed)?,
                Some((at, wait)) => {
                    match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(msg) => msg,
                        Err(RecvTimeoutError::Timeout) => return self.deadline_passed(wait),
                        Err(RecvTimeoutError::Disconnected) => return Err(ClientError::Closed),
                    }
                }
            };
            if let Flow::Done(farewell) = self.step(msg)? {
                return Ok(farewell);
            }
        }
    }

    fn step(&mut self, msg: Msg) -> Result<Flow, ClientError> {
        match msg {
            Msg::Net(NetEvent::Data(bytes)) => {
                if matches!(self.deadline, Some((_, Wait::Close))) {
                    // Still saying what we sent (flood control paces it):
                    // the wait for the close counts from the last progress.
                    self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
                }
                self.session.handle_received(&bytes);
            }
            Msg::Net(NetEvent::Eof) => {
                self.session.handle_eof();
                self.drain_events()?;
                return self.ended(None);
            }
            Msg::Net(NetEvent::Failed(e)) => {
                self.session.handle_eof();
                self.drain_events()?;
                return self.ended(Some(runtime::describe(&e)));
            }
            Msg::Input(InputEvent::Line(line)) => {
                self.input_requested = false;
                self.user_line(line);
            }
            Msg::Input(InputEvent::End) => {
                self.input_requested = false;
                self.input_ended = true;
                if self.nick_from_input {
                    return Err(ClientError::NoNick);
                }
                if self.awaiting_nick {
                    // Asked for another nick, the user gave up.
                    return Ok(Flow::Done(Farewell::Left));
                }
            }
        }
        self.drain_events()?;
        self.progress();
        self.flush()?;
        Ok(Flow::Continue)
    }

    /// The connection ended (`failure`: how the read failed, if it did).
    /// The session tells why; a reset after a normal end is still one.
    fn ended(&self, failure: Option<String>) -> Result<Flow, ClientError> {
        match self.session.ending() {
            Ending::ServerShutdown => Ok(Flow::Done(Farewell::ServerShutdown)),
            Ending::Left => Ok(Flow::Done(Farewell::Left)),
            Ending::Refused(line) => Err(ClientError::Refused(line)),
            Ending::HandshakeTimeLimit => Err(ClientError::HandshakeTimeLimit),
            Ending::Closed => Err(failure.map_or(ClientError::Closed, ClientError::Lost)),
        }
    }

    fn deadline_passed(&self, wait: Wait) -> Result<Farewell, ClientError> {
        match wait {
            Wait::Join => Err(ClientError::JoinTimeout),
            Wait::Close => {
                tracing::warn!("the server did not close the connection; leaving anyway");
                Ok(Farewell::Left)
            }
        }
    }

    /// Shows received lines and reacts to the session's requests.
    fn drain_events(&mut self) -> Result<(), ClientError> {
        let mut saw_lines = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                ClientEvent::Line(line) => {
                    saw_lines = true;
                    let attention = self.session.attention(&line);
                    let alert = self.bell && attention != Attention::Normal;
                    self.ui.show(&line, attention, alert);
                }
                ClientEvent::Refusal(line) => {
                    self.ui.show(&line, Attention::Normal, false);
                    if !self.ui.is_interactive() {
                        crate::out::stderr_line(&line);
                    }
                }
                ClientEvent::Local(note) => {
                    if self.ui.is_interactive() {
                        self.ui.show_local(&note);
                    } else {
                        crate::out::stderr_line(&format!("error: {note}"));
                    }
                }
                ClientEvent::NickSent(nick) => {
                    tracing::debug!(%nick, "nick sent");
                    self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
                }
                ClientEvent::NickWanted if self.ui.is_interactive() => {
                    // The user is typing now; the server's handshake timeout bounds it.
                    self.awaiting_nick = true;
                    self.deadline = None;
                }
                ClientEvent::NickWanted if self.nick_from_input => {
                    // The first input line, when it comes, answers.
                    self.deadline = None;
                }
                ClientEvent::NickWanted => {
                    let line = self
                        .session
                        .refusal_before_join()
                        .unwrap_or("error: the server asked for another nick");
                    return Err(ClientError::Refused(line.to_string()));
                }
            }
        }
        if saw_lines {
            self.share_nicks();
        }
        Ok(())
    }

    /// Hands the session's nicks to the line editor's completion.
    fn share_nicks(&self) {
        if !self.ui.is_interactive() {
            return;
        }
        let known = self.session.known_nicks();
        let mut shared = match self.nicks.lock() {
            Ok(shared) => shared,
            Err(poisoned) => poisoned.into_inner(),
        };
        if shared.as_slice() != known {
            *shared = known.to_vec();
        }
    }

    /// A line from the user: a nick when one is wanted, else a chat line
    /// (kept back until the join is confirmed).
    fn user_line(&mut self, line: String) {
        if self.nick_from_input {
            let nick = line.trim();
            if !nick.is_empty() {
                self.nick_from_input = false;
                self.session.offer_nick(nick);
                self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
            }
        } else if self.awaiting_nick {
            let nick = line.trim();
            if !nick.is_empty() {
                self.session.send_nick(nick);
                self.awaiting_nick = false;
                self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
            }
        } else if !self.session.is_joined() || !self.pending.is_empty() {
            self.pending.push_back(line);
        } else {
            self.send_user_line(&line);
        }
    }

    /// Sends pending lines once joined, leaves once input ended, and asks
    /// the terminal for the next line.
    fn progress(&mut self) {
        if self.awaiting_nick {
            if !self.input_requested {
                self.ui.request_line(NICK_PROMPT, false);
                self.input_requested = true;
            }
            return;
        }
        if !self.session.is_joined() {
            return;
        }
        if matches!(self.deadline, Some((_, Wait::Join))) {
            self.deadline = None;
        }
        while let Some(line) = self.pending.pop_front() {
            self.send_user_line(&line);
        }
        if self.input_ended && !self.quitting {
            self.begin_quit();
        }
        if self.ui.is_interactive() && !self.quitting && !self.input_requested {
            self.ui.request_line(CHAT_PROMPT, true);
            self.input_requested = true;
        }
    }

    fn send_user_line(&mut self, line: &str) {
        if self.quitting || line.trim().is_empty() {
            return;
        }
        self.session.send_line(line);
        if self.session.is_leaving() {
            self.quitting = true;
            self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
        }
    }

    /// Says goodbye: `/quit` to our server; to the seed's, which has no
    /// commands, we close our side.
    fn begin_quit(&mut self) {
        self.quitting = true;
        self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
        self.session.quit();
    }

    /// Writes what the session has to send.
    fn flush(&mut self) -> Result<(), ClientError> {
        while let Some(bytes) = self.session.poll_transmit() {
            if let Err(e) = self.writer.write_all(&bytes) {
                if self.quitting {
                    // The server may close first; we were leaving anyway.
                    tracing::debug!("write after goodbye failed: {e}");
                    return Ok(());
                }
                return Err(ClientError::Lost(runtime::describe(&e)));
            }
        }
        if self.session.poll_close_write() {
            if let Err(e) = self.writer.shutdown_write() {
                tracing::debug!("shutdown after goodbye failed: {e}");
            }
        }
        Ok(())
    }
}
