//! `chat client`: moves bytes between the server and the user. Every
//! protocol decision (answering `alias?`, framing, splitting lines, the seed
//! dialect) is `chat_core::client::Session`'s; this module only reads,
//! writes, waits and shows.

mod connect;
mod display;
mod editor;
pub(crate) mod error;
mod link;
mod liveness;
mod notices;
mod ui;
mod wrap;

use crate::args::ClientArgs;
use crate::runtime::{self, ConnWriter};
use chat_core::client::reconnect::{Next, Rejoin};
use chat_core::client::{self as protocol, Attention, ClientEvent, Ending, Session};
use chat_core::Dialect;
use chat_runtime_common::tls::ClientTls;
use display::Style;
use error::ClientError;
use link::{ConnId, Connected};
use liveness::{Due, Liveness};
use notices::{NoticeFilter, Show};
use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ui::{InputEvent, Ui};

/// How long the server may take to confirm a join once our nick is sent
/// (and to ask for one once connected).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connected server may stay silent before the user is told we
/// are waiting for it.
const SILENCE_NOTICE_AFTER: Duration = Duration::from_secs(1);
/// How long we wait for the server to close after we said goodbye.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The seed client's question, kept word for word.
const NICK_PROMPT: &str = "Choose a nick >>> ";
/// The prompt in front of the line being typed.
const CHAT_PROMPT: &str = "> ";
/// Said once at the join, on a terminal, to the seed dialect's server.
const SEED_HAS_NO_COMMANDS: &str =
    "seed-dialect server: it has no commands (/who, /msg…); /quit and Ctrl-D leave";
/// What this client adds to the server's `/help`, on a terminal.
const CLIENT_HELP: [&str; 6] = [
    "this client: /r TEXT   answer the last private line",
    "this client: Tab       complete a command or a nick",
    "this client: Up, Down  the lines typed before (kept across runs)",
    "this client: Ctrl-R    search those lines",
    "this client: Ctrl-C    clear the line; on an empty one, leave",
    "this client: Ctrl-D    leave",
];

/// Whether the user asked for no colour (<https://no-color.org>).
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Everything the client loop waits for, on one channel.
#[derive(Debug)]
pub(crate) enum Msg {
    /// From the reader thread of connection `ConnId` (an earlier
    /// connection's late events are ignored).
    Net(ConnId, NetEvent),
    /// From the user.
    Input(InputEvent),
    /// A reconnection attempt's result (`--reconnect`).
    Connected(ConnId, Box<Result<Connected, ClientError>>),
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

/// Whether the client runs at a terminal (line editor, colours) rather
/// than piped.
pub(crate) fn at_terminal() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Runs the client: the server's last lines, then (on a terminal, or on
/// failure) one line on stderr saying why it ended; the exit code tells the
/// reasons apart (see [`error`]).
pub(crate) fn run(args: &ClientArgs) -> ExitCode {
    let interactive = at_terminal();
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
    let first = link::connect(&link::Target::of(args), tls.as_ref())?;
    let (tx, rx) = mpsc::channel();
    let nicks = Arc::new(Mutex::new(Vec::new()));
    let ui = if interactive {
        let style = Style {
            colour: !no_color(),
            palette: display::Palette::of_terminal(),
            timestamps: args.timestamps.then(|| display::clock_zone(args.utc)),
        };
        let history = (!args.no_history).then(history_file).flatten();
        Ui::terminal(tx.clone(), style, Arc::clone(&nicks), history)
    } else {
        Ui::plain(tx.clone())
    }
    .map_err(ClientError::Setup)?;
    let session = Session::new(args.dialect(), args.nick.clone());
    let nick_from_input = args.nick.is_none() && !interactive;
    let writer = first.start(ConnId::FIRST, tx.clone())?;
    let mut client = Client::new(session, writer, ui, nicks, !args.no_bell);
    client.nick_from_input = nick_from_input;
    client.plain = tls.is_none();
    client.wait_for_server(args.wait_for_server.0);
    client.ping_after = args.ping_after.0;
    if interactive {
        let window = (!args.show_joins).then_some(args.smart_filter.0);
        client.notices = Some(NoticeFilter::new(window));
    }
    if args.reconnect {
        client.reconnect = Some(Reconnect {
            rejoin: Rejoin::new(link::jitter_seed()),
            target: link::Target::of(args),
            tls,
            tx,
        });
    }
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
        .map_err(ClientError::Usage)
}

/// Something the client loop is waiting for, with a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// The server's first word after connecting: at this deadline the
    /// user is told we wait; the run gives up at `give_up`.
    FirstWord { give_up: Instant, bound: Duration },
    /// The server's first word, the user told: the run gives up.
    Silence { bound: Duration },
    /// The server's confirmation of our nick.
    Join,
    /// The server's close after our goodbye.
    Close,
    /// The next reconnection attempt (`--reconnect`).
    Reconnect,
}

/// What `--reconnect` needs to connect again.
struct Reconnect {
    rejoin: Rejoin,
    target: link::Target,
    tls: Option<ClientTls>,
    tx: Sender<Msg>,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect")
            .field("rejoin", &self.rejoin)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Which prompt an open request for a line shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// [`NICK_PROMPT`]: the line is a nick.
    Nick,
    /// [`CHAT_PROMPT`]: the line is for the room, never taken as a nick.
    Chat,
}

/// Where the connection stands, as `--reconnect` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Connected (joined, or joining).
    Up,
    /// Lost; waiting to connect again, or connecting.
    Down,
    /// Connected again after a loss, not joined yet.
    Rejoining,
}

/// The client loop's state.
#[derive(Debug)]
struct Client {
    session: Session,
    /// The connection's sending half; `None` while offline.
    writer: Option<ConnWriter>,
    /// The connection whose events count.
    conn: ConnId,
    /// `Some` with `--reconnect`.
    reconnect: Option<Reconnect>,
    link: Link,
    /// Piped lines not sent because the connection was down.
    unsent: usize,
    /// `error: …` lines refused by earlier connections' sessions.
    refused_before: usize,
    ui: Ui,
    /// The nicks the line editor completes, copied from the session.
    nicks: Arc<Mutex<Vec<String>>>,
    /// The session's [`protocol::KnownNicks::version`] that `nicks` is a copy of;
    /// `None` before the first copy from the current session.
    nicks_version: Option<u64>,
    /// Ring the terminal bell on a private line or a mention.
    bell: bool,
    /// Piped with no `--nick`: the first non-empty input line is the nick.
    nick_from_input: bool,
    /// Plain TCP (no `--tls`): a server that closes without a word may
    /// be a TLS port, and the user is told so.
    plain: bool,
    /// The server has sent something on some connection.
    heard: bool,
    /// Lines typed before the join was confirmed, sent once it is.
    pending: VecDeque<String>,
    /// The bounded wait in progress, if any.
    deadline: Option<(Instant, Wait)>,
    /// The server wants a nick and the user is being asked for one.
    awaiting_nick: bool,
    /// A line was requested from the terminal, with this prompt, and has
    /// not arrived yet.
    input_requested: Option<Asked>,
    /// The open chat request was withdrawn (a nick is wanted instead).
    withdrawing: bool,
    /// What was typed of a withdrawn chat line: the next chat prompt
    /// starts with it.
    draft: String,
    /// The user's input ended; we leave once everything typed was sent.
    input_ended: bool,
    /// We said goodbye; the server closing now is the normal end.
    quitting: bool,
    /// The user was told, at the join, that the seed's server has no commands.
    told_seed: bool,
    /// The user was told that a `/command` is text to the seed's server.
    warned_seed_command: bool,
    /// Silence after which the server is pinged, at a terminal (`ZERO`: never).
    ping_after: Duration,
    /// Whether the server still answers; while joined at a terminal to a
    /// framed server.
    liveness: Option<Liveness>,
    /// The number of the last of our lines shown as waiting for the room's
    /// copy (see [`Session::awaiting_copies`]).
    marked: u64,
    /// Which join and leave notices are shown, and bursts of them
    /// collapsed; at a terminal.
    notices: Option<NoticeFilter>,
}

/// What the client loop wakes up for when nothing arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// A bounded wait's deadline.
    Deadline(Wait),
    /// The liveness check has something to do.
    Liveness,
    /// A burst of notices is due to be shown.
    Notices,
}

/// What [`Client::flush`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    /// Lines (or nothing): the connection goes on.
    Lines,
    /// The sending side was closed: the goodbye of a dialect whose server
    /// says none back.
    Goodbye,
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
            writer: Some(writer),
            conn: ConnId::FIRST,
            reconnect: None,
            link: Link::Up,
            unsent: 0,
            refused_before: 0,
            ui,
            nicks,
            nicks_version: None,
            bell,
            nick_from_input: false,
            plain: true,
            heard: false,
            pending: VecDeque::new(),
            deadline: Some((Instant::now() + JOIN_TIMEOUT, Wait::Join)),
            awaiting_nick: false,
            input_requested: None,
            withdrawing: false,
            draft: String::new(),
            input_ended: false,
            quitting: false,
            told_seed: false,
            warned_seed_command: false,
            ping_after: Duration::ZERO,
            liveness: None,
            marked: 0,
            notices: None,
        }
    }

    /// Bounds the wait for the server's first word to `bound` from now,
    /// with a notice after [`SILENCE_NOTICE_AFTER`].
    fn wait_for_server(&mut self, bound: Duration) {
        let now = Instant::now();
        self.deadline = Some(if bound > SILENCE_NOTICE_AFTER {
            let give_up = now + bound;
            (
                now + SILENCE_NOTICE_AFTER,
                Wait::FirstWord { give_up, bound },
            )
        } else {
            (now + bound, Wait::Silence { bound })
        });
    }

    /// Runs until the connection ends. `Ok` when it ended normally; piped,
    /// lines the server refused make a normal end an error too.
    fn run(&mut self, rx: &Receiver<Msg>) -> Result<Farewell, ClientError> {
        let result = self.run_loop(rx);
        self.flush_notices();
        let farewell = result?;
        let refused = self.session.refusals() + self.refused_before;
        if (refused > 0 || self.unsent > 0) && !self.ui.is_interactive() {
            return Err(ClientError::LinesNotDelivered {
                refused,
                unsent: self.unsent,
            });
        }
        Ok(farewell)
    }

    fn run_loop(&mut self, rx: &Receiver<Msg>) -> Result<Farewell, ClientError> {
        loop {
            let msg = match self.next_wake() {
                None => rx.recv().map_err(|_| ClientError::Closed)?,
                Some((at, wake)) => {
                    match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(msg) => msg,
                        Err(RecvTimeoutError::Timeout) => {
                            let flow = match wake {
                                Wake::Deadline(wait) => self.deadline_passed(wait)?,
                                Wake::Liveness => self.check_liveness()?,
                                Wake::Notices => {
                                    self.flush_notices();
                                    Flow::Continue
                                }
                            };
                            match flow {
                                Flow::Continue => continue,
                                Flow::Done(farewell) => return Ok(farewell),
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => return Err(ClientError::Closed),
                    }
                }
            };
            if let Flow::Done(farewell) = self.step(msg)? {
                return Ok(farewell);
            }
        }
    }

    /// The earliest of the bounded wait's deadline, the liveness check's
    /// and the held notices'.
    fn next_wake(&self) -> Option<(Instant, Wake)> {
        let deadline = self.deadline.map(|(at, wait)| (at, Wake::Deadline(wait)));
        let check = self.liveness.as_ref().and_then(Liveness::next_check);
        let notices = self.notices.as_ref().and_then(NoticeFilter::due);
        [
            deadline,
            check.map(|at| (at, Wake::Liveness)),
            notices.map(|at| (at, Wake::Notices)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(at, _)| *at)
    }

    /// Shows a received line, unless the notice filter hides or holds it
    /// (and what it held before, if it is time).
    fn show_line(&mut self, line: String) {
        let Some(filter) = self.notices.as_mut() else {
            self.display(Show::Line(line));
            return;
        };
        for shown in filter.offer(line, self.session.nick(), Instant::now()) {
            self.display(shown);
        }
    }

    /// Shows the burst of notices held, if any: before anything else is shown.
    fn flush_notices(&mut self) {
        if let Some(shown) = self.notices.as_mut().and_then(NoticeFilter::flush) {
            self.display(shown);
        }
    }

    fn display(&mut self, shown: Show) {
        match shown {
            Show::Line(line) => {
                let attention = self.session.attention(&line);
                let alert = self.bell && attention != Attention::Normal;
                self.ui.show(&line, attention, alert);
            }
            Show::Burst(summary) => self.ui.show_local(&summary),
        }
    }

    /// Pings a server that has been silent, or tells the user it does not
    /// answer (and which of their lines still wait for the room's copy).
    fn check_liveness(&mut self) -> Result<Flow, ClientError> {
        let now = Instant::now();
        let Some(liveness) = self.liveness.as_mut() else {
            return Ok(Flow::Continue);
        };
        match liveness.check(now) {
            None => {}
            Some(Due::Ping) if !self.session.can_ping() => liveness.stop_pinging(),
            Some(Due::Ping) => {
                self.session.send_ping();
                liveness.expect_answer(now);
                self.flush()?;
            }
            Some(Due::NoAnswer(waited)) => {
                let seconds = liveness::whole_seconds(waited);
                self.notice(&format!("no answer from the server for {seconds} s"));
                self.mark_waiting_lines();
            }
        }
        Ok(Flow::Continue)
    }

    /// Shows each of our lines still waiting for the room's copy, once, while
    /// the server does not answer: the copy shows it normally when it comes.
    fn mark_waiting_lines(&mut self) {
        self.flush_notices();
        let fresh: Vec<(u64, String)> = self
            .session
            .awaiting_copies()
            .filter(|(seq, _)| *seq > self.marked)
            .map(|(seq, copy)| (seq, copy.to_string()))
            .collect();
        for (seq, copy) in fresh {
            self.ui.show_waiting(&copy);
            self.marked = seq;
        }
    }

    fn step(&mut self, msg: Msg) -> Result<Flow, ClientError> {
        match self.handle(msg) {
            Err(ClientError::Lost(reason)) if self.retries() => self.went_down(Some(reason)),
            other => other,
        }
    }

    /// Whether a loss now is retried: `--reconnect`, joined once, not leaving.
    fn retries(&self) -> bool {
        !self.quitting
            && self
                .reconnect
                .as_ref()
                .is_some_and(|r| r.rejoin.has_joined())
    }

    fn handle(&mut self, msg: Msg) -> Result<Flow, ClientError> {
        match msg {
            Msg::Net(conn, _) | Msg::Connected(conn, _) if conn != self.conn => {
                // An abandoned connection's last words.
                return Ok(Flow::Continue);
            }
            Msg::Connected(_, result) => return self.reconnected(*result),
            Msg::Net(_, NetEvent::Data(bytes)) => {
                if matches!(self.deadline, Some((_, Wait::Close))) {
                    // Still saying what we sent (flood control paces it):
                    // the wait for the close counts from the last progress.
                    self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
                }
                if matches!(
                    self.deadline,
                    Some((_, Wait::FirstWord { .. } | Wait::Silence { .. }))
                ) {
                    // The server speaks: now it has to let us join.
                    self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
                }
                self.heard = true;
                let now = Instant::now();
                if let Some(silent) = self.liveness.as_mut().and_then(|l| l.heard(now)) {
                    let seconds = liveness::whole_seconds(silent);
                    self.notice(&format!("the server answers again, after {seconds} s"));
                }
                self.session.handle_received(&bytes);
            }
            Msg::Net(_, NetEvent::Eof) => {
                self.session.handle_eof();
                self.drain_events()?;
                self.flush_notices();
                return self.ended(None);
            }
            Msg::Net(_, NetEvent::Failed(e)) => {
                self.session.handle_eof();
                self.drain_events()?;
                self.flush_notices();
                return self.ended(Some(runtime::describe(&e)));
            }
            Msg::Input(InputEvent::Line(line)) => {
                let asked = self.input_requested.take();
                self.withdrawing = false;
                self.user_line(line, asked);
                if self.quitting && self.link != Link::Up {
                    return Ok(Flow::Done(Farewell::Left));
                }
            }
            Msg::Input(InputEvent::Withdrawn { draft }) => {
                self.input_requested = None;
                self.withdrawing = false;
                self.draft = draft;
            }
            Msg::Input(InputEvent::Interrupt) => {
                if self.awaiting_nick || self.link != Link::Up || !self.session.is_joined() {
                    // Nothing to say goodbye to yet: leave at once.
                    return Ok(Flow::Done(Farewell::Left));
                }
                self.input_ended = true;
            }
            Msg::Input(InputEvent::End) => {
                self.input_requested = None;
                self.withdrawing = false;
                self.input_ended = true;
                if self.nick_from_input {
                    return Err(ClientError::NoNick);
                }
                if self.awaiting_nick || self.link != Link::Up {
                    // Asked for another nick, the user gave up; or offline,
                    // the user left.
                    return Ok(Flow::Done(Farewell::Left));
                }
            }
        }
        self.drain_events()?;
        self.progress();
        if self.flush()? == Sent::Goodbye {
            // Our side is closed and the server has no goodbye to say (the
            // seed dialect): nothing more is read or shown.
            return Ok(Flow::Done(Farewell::Left));
        }
        Ok(Flow::Continue)
    }

    /// The connection ended (`failure`: how the read failed, if it did).
    /// The session tells why; a reset after a normal end is still one.
    /// With `--reconnect`, [`Rejoin::after`] decides whether it is final.
    fn ended(&mut self, failure: Option<String>) -> Result<Flow, ClientError> {
        if self.retries() {
            return self.went_down(failure);
        }
        let ending = self.session.ending();
        if ending == Ending::Closed && failure.is_none() && !self.heard && self.plain {
            return Err(ClientError::ClosedUnheard);
        }
        Self::final_end(ending, failure)
    }

    fn final_end(ending: Ending, failure: Option<String>) -> Result<Flow, ClientError> {
        match ending {
            Ending::ServerShutdown => Ok(Flow::Done(Farewell::ServerShutdown)),
            Ending::Left => Ok(Flow::Done(Farewell::Left)),
            Ending::Refused(line) => Err(ClientError::Refused(line)),
            Ending::HandshakeTimeLimit => Err(ClientError::HandshakeTimeLimit),
            Ending::Closed => Err(failure.map_or(ClientError::Closed, ClientError::Lost)),
        }
    }

    fn deadline_passed(&mut self, wait: Wait) -> Result<Flow, ClientError> {
        match wait {
            Wait::FirstWord { give_up, bound } => {
                self.notice("waiting for the server…");
                self.deadline = Some((give_up, Wait::Silence { bound }));
                Ok(Flow::Continue)
            }
            Wait::Silence { bound } => Err(ClientError::Silent {
                after: bound,
                plain: self.plain,
            }),
            Wait::Join if self.link == Link::Rejoining => {
                self.abandon();
                let reason = ClientError::JoinTimeout.to_string();
                self.retry_later(&reason, |rejoin| rejoin.failed());
                Ok(Flow::Continue)
            }
            Wait::Join => Err(ClientError::JoinTimeout),
            Wait::Close => {
                tracing::warn!("the server did not close the connection; leaving anyway");
                Ok(Flow::Done(Farewell::Left))
            }
            Wait::Reconnect => {
                self.deadline = None;
                self.conn = self.conn.next();
                if let Some(r) = &self.reconnect {
                    link::spawn_connect(self.conn, r.target.clone(), r.tls.clone(), r.tx.clone())?;
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// The connection is gone and will be tried again: says so, and waits.
    fn went_down(&mut self, failure: Option<String>) -> Result<Flow, ClientError> {
        let ending = self.session.ending();
        let reason = match &ending {
            Ending::ServerShutdown => "the server shut down".to_string(),
            Ending::Left => "left".to_string(),
            Ending::Refused(line) => line.strip_prefix("error: ").unwrap_or(line).to_string(),
            Ending::HandshakeTimeLimit => ClientError::HandshakeTimeLimit.to_string(),
            Ending::Closed => failure.map_or_else(
                || ClientError::Closed.to_string(),
                |f| ClientError::Lost(f).to_string(),
            ),
        };
        self.abandon();
        let Some(r) = self.reconnect.as_mut() else {
            return Self::final_end(ending, None);
        };
        match r.rejoin.after(&ending) {
            Next::Stop => Self::final_end(ending, None),
            Next::RetryIn(delay) => {
                self.notice(&format!(
                    "disconnected: {reason}; reconnecting in {}…",
                    link::seconds(delay)
                ));
                self.deadline = Some((Instant::now() + delay, Wait::Reconnect));
                Ok(Flow::Continue)
            }
        }
    }

    /// Drops the connection (its late events are ignored from now on).
    fn abandon(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            let _ = writer.shutdown_write();
        }
        self.conn = self.conn.next();
        self.link = Link::Down;
        self.awaiting_nick = false;
        self.pending.clear();
        self.liveness = None;
    }

    /// Says why the attempt failed and sets the next one, `delay` after now.
    fn retry_later(&mut self, reason: &str, delay: impl FnOnce(&mut Rejoin) -> Duration) {
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        let delay = delay(&mut r.rejoin);
        self.notice(&format!(
            "still offline: {reason}; trying again in {}…",
            link::seconds(delay)
        ));
        self.deadline = Some((Instant::now() + delay, Wait::Reconnect));
    }

    /// A reconnection attempt's result: a fresh session, the same nick.
    fn reconnected(&mut self, result: Result<Connected, ClientError>) -> Result<Flow, ClientError> {
        let connected = match result {
            Ok(connected) => connected,
            Err(e) => {
                self.retry_later(&e.to_string(), |rejoin| rejoin.failed());
                return Ok(Flow::Continue);
            }
        };
        let Some(r) = self.reconnect.as_ref() else {
            return Ok(Flow::Continue);
        };
        let tx = r.tx.clone();
        self.writer = Some(connected.start(self.conn, tx)?);
        let nick = self.session.nick().map(str::to_string);
        let dialect: Dialect = self.session.dialect();
        self.refused_before += self.session.refusals();
        self.session = Session::new(dialect, nick);
        self.marked = 0;
        self.nicks_version = None;
        self.link = Link::Rejoining;
        self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
        Ok(Flow::Continue)
    }

    /// A note of the client's own: dim on a terminal, on stderr when piped.
    fn notice(&mut self, note: &str) {
        self.flush_notices();
        if self.ui.is_interactive() {
            self.ui.show_local(note);
        } else {
            crate::out::stderr_line(note);
        }
    }

    /// Shows received lines and reacts to the session's requests.
    fn drain_events(&mut self) -> Result<(), ClientError> {
        let mut saw_lines = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                ClientEvent::Line(line) => {
                    saw_lines = true;
                    self.show_line(line);
                }
                ClientEvent::Refusal(line) => {
                    self.flush_notices();
                    self.ui.show(&line, Attention::Normal, false);
                    if !self.ui.is_interactive() {
                        crate::out::stderr_line(&line);
                    }
                }
                ClientEvent::Local(note) => {
                    self.flush_notices();
                    if self.ui.is_interactive() {
                        self.ui.show_local(&note);
                    } else {
                        crate::out::stderr_line(&format!("error: {note}"));
                    }
                }
                ClientEvent::HelpEnded => {
                    self.flush_notices();
                    for line in CLIENT_HELP {
                        self.ui.show_local(line);
                    }
                }
                ClientEvent::NickSent(nick) => {
                    tracing::debug!(%nick, "nick sent");
                    self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
                }
                ClientEvent::NickWanted if self.link == Link::Rejoining => {
                    let reason = self
                        .session
                        .refusal_before_join()
                        .unwrap_or("error: the server asked for another nick")
                        .trim_start_matches("error: ")
                        .to_string();
                    let retry = self.reconnect.as_mut().and_then(|r| r.rejoin.nick_taken());
                    match retry {
                        Some(delay) => {
                            self.abandon();
                            self.notice(&format!(
                                "cannot rejoin: {reason}; trying again in {}…",
                                link::seconds(delay)
                            ));
                            self.deadline = Some((Instant::now() + delay, Wait::Reconnect));
                            return Ok(());
                        }
                        None => {
                            // Tried enough: as without --reconnect, and
                            // the user is told why a nick is asked.
                            self.link = Link::Up;
                            self.session_asks_nick()?;
                            let nick = self.session.nick().unwrap_or_default().to_string();
                            self.withdraw_chat_line();
                            self.notice(&format!(
                                "cannot rejoin as {nick}: {reason}; choose another nick"
                            ));
                        }
                    }
                }
                ClientEvent::NickWanted => self.session_asks_nick()?,
            }
        }
        if saw_lines {
            self.share_nicks();
        }
        Ok(())
    }

    /// The server wants a nick: the user types one, or (piped) the first
    /// input line is one, or the refusal ends the run.
    fn session_asks_nick(&mut self) -> Result<(), ClientError> {
        if self.ui.is_interactive() {
            // The user is typing now; the server's handshake timeout bounds it.
            self.awaiting_nick = true;
            self.deadline = None;
            Ok(())
        } else if self.nick_from_input {
            // The first input line, when it comes, answers.
            self.deadline = None;
            Ok(())
        } else {
            let line = self
                .session
                .refusal_before_join()
                .unwrap_or("error: the server asked for another nick");
            Err(ClientError::Refused(line.to_string()))
        }
    }

    /// Hands the session's nicks to the line editor's completion.
    fn share_nicks(&mut self) {
        let known = self.session.known_nicks();
        if !self.ui.is_interactive() || self.nicks_version == Some(known.version()) {
            return;
        }
        let mut shared = match self.nicks.lock() {
            Ok(shared) => shared,
            Err(poisoned) => poisoned.into_inner(),
        };
        *shared = known.iter().map(str::to_string).collect();
        self.nicks_version = Some(known.version());
    }

    /// The server wants a nick while the chat prompt is open: that request
    /// is withdrawn (what was typed is kept for the next chat prompt), and
    /// the nick prompt takes its place once it is gone. A notice must be
    /// shown right after (see [`Ui::withdraw_line`]).
    fn withdraw_chat_line(&mut self) {
        if self.input_requested == Some(Asked::Chat) && !self.withdrawing {
            self.withdrawing = true;
            self.ui.withdraw_line();
        }
    }

    /// A line from the user, typed at the prompt `asked` (`None`: piped):
    /// a nick when typed at the nick prompt (or, piped with no `--nick`,
    /// the first one), else a chat line (kept back until the join is
    /// confirmed).
    fn user_line(&mut self, line: String, asked: Option<Asked>) {
        if self.nick_from_input {
            let nick = line.trim();
            if !nick.is_empty() {
                self.nick_from_input = false;
                self.session.offer_nick(nick);
                self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
            }
        } else if asked == Some(Asked::Nick) {
            // Typed at the nick prompt: a nick, if one is still wanted (the
            // connection may have gone since).
            let nick = line.trim();
            if self.awaiting_nick && !nick.is_empty() {
                self.session.send_nick(nick);
                self.awaiting_nick = false;
                self.deadline = Some((Instant::now() + JOIN_TIMEOUT, Wait::Join));
            }
        } else if self.link != Link::Up {
            self.refuse_offline(&line);
        } else if !self.session.is_joined() || !self.pending.is_empty() {
            self.pending.push_back(line);
        } else {
            self.send_user_line(&line);
        }
    }

    /// A line typed while the connection is down is not sent, then or later:
    /// the user is told, and it stays in the history (Up) to send again.
    /// `/quit` still leaves.
    fn refuse_offline(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        if protocol::is_quit(line) {
            // Offline there is no one to say goodbye to: the loop ends.
            self.input_ended = true;
            self.quitting = true;
            return;
        }
        if self.ui.is_interactive() {
            self.notice(&format!("offline, not sent (Up brings it back): {line}"));
        } else {
            self.unsent += 1;
            crate::out::stderr_line(&format!("not sent, offline: {line}"));
        }
    }

    /// Sends pending lines once joined, leaves once input ended, and asks
    /// the terminal for the next line.
    fn progress(&mut self) {
        if self.awaiting_nick {
            match self.input_requested {
                None => {
                    self.ui.request_line(NICK_PROMPT, false, String::new());
                    self.input_requested = Some(Asked::Nick);
                }
                Some(Asked::Chat) if !self.withdrawing => {
                    self.withdraw_chat_line();
                    self.notice("the server asks for a nick");
                }
                Some(_) => {}
            }
            return;
        }
        if self.link == Link::Down || !self.session.is_joined() {
            return;
        }
        if matches!(self.deadline, Some((_, Wait::Join))) {
            self.deadline = None;
        }
        if self.link == Link::Rejoining {
            self.link = Link::Up;
            let nick = self.session.nick().unwrap_or_default().to_string();
            self.notice(&format!("reconnected as {nick}"));
        }
        if !self.told_seed && self.session.dialect() == Dialect::Seed {
            self.told_seed = true;
            if self.ui.is_interactive() {
                self.notice(SEED_HAS_NO_COMMANDS);
            }
        }
        if let Some(r) = self.reconnect.as_mut() {
            r.rejoin.joined();
        }
        let checks = self.ui.is_interactive()
            && self.session.dialect() == Dialect::Framed
            && !self.ping_after.is_zero();
        if checks && self.liveness.is_none() {
            self.liveness = Some(Liveness::new(self.ping_after, Instant::now()));
        }
        while let Some(line) = self.pending.pop_front() {
            self.send_user_line(&line);
        }
        if self.input_ended && !self.quitting {
            self.begin_quit();
        }
        if self.ui.is_interactive() && !self.quitting && self.input_requested.is_none() {
            let draft = std::mem::take(&mut self.draft);
            self.ui.request_line(CHAT_PROMPT, true, draft);
            self.input_requested = Some(Asked::Chat);
        }
    }

    fn send_user_line(&mut self, line: &str) {
        if self.quitting || line.trim().is_empty() {
            return;
        }
        if self.command_to_seed(line) {
            return;
        }
        let sent_before = self.session.answered_lines_sent();
        self.session.send_line(line);
        let answered = self.session.answered_lines_sent() > sent_before;
        if self.session.is_leaving() {
            self.quitting = true;
            self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
        } else if let Some(liveness) = self.liveness.as_mut().filter(|_| answered) {
            // Every line sent gets an answer: its copy, or a command's reply.
            liveness.expect_answer(Instant::now());
            if liveness.is_stalled() {
                self.mark_waiting_lines();
            }
        }
    }

    /// Whether `line` is held back: on a terminal, the first `/command`
    /// typed for the seed's server (which has none: it would reach the
    /// room as text) is not sent, and the user is told; later ones are.
    fn command_to_seed(&mut self, line: &str) -> bool {
        let command = line.trim_start().starts_with('/') && !protocol::is_quit(line);
        if !command
            || self.warned_seed_command
            || !self.ui.is_interactive()
            || self.session.dialect() != Dialect::Seed
        {
            return false;
        }
        self.warned_seed_command = true;
        self.notice(&format!(
            "not sent: this server has no commands, so {} would reach the room as text \
             (Up, then Enter, sends it anyway)",
            line.trim()
        ));
        true
    }

    /// Says goodbye: `/quit` to our server; to the seed's, which has no
    /// commands, we close our side.
    fn begin_quit(&mut self) {
        self.quitting = true;
        self.deadline = Some((Instant::now() + QUIT_TIMEOUT, Wait::Close));
        self.session.quit();
    }

    /// Writes what the session has to send; closes our sending side when
    /// the session says so (its goodbye).
    fn flush(&mut self) -> Result<Sent, ClientError> {
        let Some(writer) = self.writer.as_mut() else {
            // Offline: nothing reaches the session to send.
            return Ok(Sent::Lines);
        };
        while let Some(bytes) = self.session.poll_transmit() {
            if let Err(e) = writer.write_all(&bytes) {
                if self.quitting {
                    // The server may close first; we were leaving anyway.
                    tracing::debug!("write after goodbye failed: {e}");
                    return Ok(Sent::Lines);
                }
                return Err(ClientError::Lost(runtime::describe(&e)));
            }
        }
        if self.session.poll_close_write() {
            if let Err(e) = writer.shutdown_write() {
                tracing::debug!("shutdown after goodbye failed: {e}");
            }
            return Ok(Sent::Goodbye);
        }
        Ok(Sent::Lines)
    }
}
