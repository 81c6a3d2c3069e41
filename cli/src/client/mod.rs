//! `chat client`: moves bytes between the server and the user. Every
//! protocol decision (answering `alias?`, framing, splitting lines, the seed
//! dialect) is `chat_core::client::Session`'s; this module only reads,
//! writes, waits and shows.

mod display;
mod ui;

use crate::args::ClientArgs;
use crate::runtime::{self, ConnReader, ConnWriter};
use chat_core::client::{classify, ClientEvent, LineKind, Session};
use display::Style;
use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};
use ui::{InputEvent, Ui};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to confirm a join once our nick is sent.
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

/// Runs the client. Failures print one line on stderr and give exit code 1.
pub(crate) fn run(args: &ClientArgs) -> ExitCode {
    match chat(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if message.starts_with("error: ") => {
            crate::out::stderr_line(&message);
            ExitCode::FAILURE
        }
        Err(message) => {
            crate::out::stderr_line(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// The whole session; the `Ui` (and so the terminal mode) is dropped before
/// `run` prints an error.
fn chat(args: &ClientArgs) -> Result<(), String> {
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let (tx, rx) = mpsc::channel();
    let mut ui = if interactive {
        let style = Style {
            colour: !no_color(),
            timestamps: args.timestamps,
        };
        Ui::terminal(tx.clone(), style)?
    } else {
        Ui::plain(tx.clone())?
    };
    let addr = runtime::resolve(&args.host, args.port)?;
    let nick = match &args.nick {
        Some(nick) => nick.clone(),
        None => match ask_nick(&mut ui, &rx) {
            Some(nick) => nick,
            None if interactive => return Ok(()),
            None => return Err("no nick: pass --nick or write it on the first line".into()),
        },
    };
    let (reader, writer) = runtime::connect(args.runtime, addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {}", runtime::describe(&e)))?;
    tracing::info!(%addr, runtime = %args.runtime, "connected");
    spawn_reader(reader, tx)?;
    Client::new(Session::new(args.compat(), Some(nick)), writer, ui).run(&rx)
}

/// Asks for a nick before connecting, as the seed's client does. `None`
/// when input ends first.
fn ask_nick(ui: &mut Ui, rx: &Receiver<Msg>) -> Option<String> {
    loop {
        ui.request_line(NICK_PROMPT);
        match rx.recv().ok()? {
            Msg::Input(InputEvent::Line(line)) if !line.trim().is_empty() => {
                return Some(line.trim().to_string())
            }
            Msg::Input(InputEvent::Line(_)) => continue,
            Msg::Input(InputEvent::End) => return None,
            Msg::Net(event) => unreachable!("not connected yet, got {event:?}"),
        }
    }
}

/// Reads the connection on its own thread until EOF or an error.
fn spawn_reader(mut reader: ConnReader, tx: Sender<Msg>) -> Result<(), String> {
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
        .map_err(|e| format!("cannot start the reader thread: {e}"))
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
    /// The last `error: ` line the server sent, for the exit message.
    last_error: Option<String>,
}

/// Whether the loop goes on.
enum Flow {
    Continue,
    Done,
}

impl Client {
    fn new(session: Session, writer: ConnWriter, ui: Ui) -> Client {
        Client {
            session,
            writer,
            ui,
            pending: VecDeque::new(),
            deadline: Some((Instant::now() + JOIN_TIMEOUT, Wait::Join)),
            awaiting_nick: false,
            input_requested: false,
            input_ended: false,
            quitting: false,
            last_error: None,
        }
    }

    /// Runs until the connection ends. `Ok` when we left on purpose.
    fn run(mut self, rx: &Receiver<Msg>) -> Result<(), String> {
        loop {
            let msg = match self.deadline {
                None => rx
                    .recv()
                    .map_err(|_| "every input source ended".to_string())?,
                Some((at, wait)) => {
                    match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(msg) => msg,
                        Err(RecvTimeoutError::Timeout) => return self.deadline_passed(wait),
                        Err(RecvTimeoutError::Disconnected) => {
                            return Err("every input source ended".into())
                        }
                    }
                }
            };
            if let Flow::Done = self.step(msg)? {
                return Ok(());
            }
        }
    }

    fn step(&mut self, msg: Msg) -> Result<Flow, String> {
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
                return self.ended("the server closed the connection".into());
            }
            Msg::Net(NetEvent::Failed(e)) => {
                self.session.handle_eof();
                self.drain_events()?;
                return self.ended(format!("connection lost: {}", runtime::describe(&e)));
            }
            Msg::Input(InputEvent::Line(line)) => {
                self.input_requested = false;
                self.user_line(line);
            }
            Msg::Input(InputEvent::End) => {
                self.input_requested = false;
                self.input_ended = true;
                if self.awaiting_nick {
                    // Asked for another nick, the user gave up.
                    return Ok(Flow::Done);
                }
            }
        }
        self.drain_events()?;
        self.progress();
        self.flush()?;
        Ok(Flow::Continue)
    }

    /// The connection ended: fine after our goodbye, a failure otherwise.
    /// Turned away before joining (`error: server full`, ...), the server's
    /// own error line says it best.
    fn ended(&self, failure: String) -> Result<Flow, String> {
        match &self.last_error {
            _ if self.quitting => Ok(Flow::Done),
            Some(error) if !self.session.is_joined() => Err(error.clone()),
            _ => Err(failure),
        }
    }

    fn deadline_passed(&self, wait: Wait) -> Result<(), String> {
        match wait {
            Wait::Join => Err("the server did not let us join in time".into()),
            Wait::Close => {
                tracing::warn!("the server did not close the connection; leaving anyway");
                Ok(())
            }
        }
    }

    /// Shows received lines and reacts to the session's requests.
    fn drain_events(&mut self) -> Result<(), String> {
        while let Some(event) = self.session.poll_event() {
            match event {
                ClientEvent::Line(line) => {
                    if classify(&line) == LineKind::Error {
                        self.last_error = Some(line.clone());
                    }
                    self.ui.show(&line);
                }
                ClientEvent::NickSent(nick) => tracing::debug!(%nick, "nick sent"),
                ClientEvent::NickWanted if self.ui.is_interactive() => {
                    // The user is typing now; the server's handshake timeout bounds it.
                    self.awaiting_nick = true;
                    self.deadline = None;
                }
                ClientEvent::NickWanted => {
                    return Err(self
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the server asked for another nick".into()));
                }
            }
        }
        Ok(())
    }

    /// A line from the user: a nick when one is wanted, else a chat line
    /// (kept back until the join is confirmed).
    fn user_line(&mut self, line: String) {
        if self.awaiting_nick {
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
                self.ui.request_line(NICK_PROMPT);
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
            self.ui.request_line(CHAT_PROMPT);
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
    fn flush(&mut self) -> Result<(), String> {
        while let Some(bytes) = self.session.poll_transmit() {
            if let Err(e) = self.writer.write_all(&bytes) {
                if self.quitting {
                    // The server may close first; we were leaving anyway.
                    tracing::debug!("write after goodbye failed: {e}");
                    return Ok(());
                }
                return Err(format!("connection lost: {}", runtime::describe(&e)));
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
