//! The room driver: the [`Stepper`], the connection table and the
//! shutdown, driven by a runtime's messages. The runtime keeps only its
//! way of waiting (a channel with a timeout, a future over several
//! sources) and its [`Link`].

use super::{Link, Links, Msg, Stepper};
use crate::clock::Clock;
use crate::log::{Flush, LogEvent};
use crate::written::Reports;
use chat_core::{Input, Time};
use std::time::{Duration, Instant};

/// How long a clustered room waits, once stopped, for its last appends
/// (the `Down` of the shutdown) to reach the log.
pub const LOG_FLUSH: Duration = Duration::from_secs(2);

/// The room thread's or task's state, whatever the runtime.
///
/// # Invariants
/// `links` holds the connections the room holds, as [`Links`] says;
/// `shutting_down` is set once the room was told `Input::Shutdown`, and
/// never reset.
#[derive(Debug)]
pub struct RoomDriver<L> {
    stepper: Stepper,
    links: Links<L>,
    shutting_down: bool,
}

impl<L: Link> RoomDriver<L> {
    /// A driver of `stepper`'s room, with no connection yet.
    pub fn new(stepper: Stepper) -> Self {
        RoomDriver {
            stepper,
            links: Links::default(),
            shutting_down: false,
        }
    }

    /// Handles one message from the runtime's other threads or tasks.
    pub fn handle(&mut self, msg: Msg<L>) {
        match msg {
            Msg::Connected { conn, peer, link } => {
                // Registered first: the room's first action for it follows.
                self.links.insert(conn, link);
                self.step(Input::Connected { conn, peer });
            }
            Msg::Received { conn, bytes } => {
                self.step(Input::Received {
                    conn,
                    bytes: &bytes,
                });
                self.links.after_read(conn, bytes);
            }
            Msg::Closed { conn } => self.step(Input::Closed { conn }),
            Msg::Reserve { conn, peer, reply } => {
                reply(self.stepper.reserve_address(conn, peer));
            }
            Msg::Cancel { conn } => self.stepper.cancel_reservation(conn),
            Msg::Shutdown => self.shutdown(),
            Msg::Log(event) => self.log_event(event),
        }
    }

    /// The room's deadline passed.
    pub fn tick(&mut self) {
        self.step(Input::Tick);
    }

    /// Stops the server: the room closes its connections. Once only; a
    /// second request changes nothing.
    pub fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        tracing::info!("shutting down");
        self.shutting_down = true;
        self.step(Input::Shutdown);
    }

    /// Whether the server is stopping.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Hands the room what its log says (from the log's own threads).
    pub fn log_event(&mut self, event: LogEvent) {
        self.stepper.log_event(&mut self.links, event);
    }

    /// Feeds every write the sockets took since the last call (see
    /// [`Stepper::report_written`]): before each message and each tick.
    pub fn report_written(&mut self, reports: &Reports) {
        self.stepper.report_written(&mut self.links, reports);
    }

    /// The room's next deadline, if any.
    pub fn deadline(&self) -> Option<Time> {
        self.stepper.deadline()
    }

    /// Whether `deadline` has passed (a [`tick`](RoomDriver::tick) is due).
    pub fn is_due(&self, deadline: Option<Time>) -> bool {
        self.stepper.is_due(deadline)
    }

    /// The clock the room's times are read on.
    pub fn clock(&self) -> &Clock {
        self.stepper.clock()
    }

    /// Whether the run is over: the server is stopping and the room holds
    /// no connection any more.
    pub fn done(&self) -> bool {
        self.shutting_down && self.stepper.connections() == 0
    }

    /// Hands over what the links queued in the burst that ended (see
    /// [`Links::hand_over`]), and yields them.
    pub fn hand_over(&mut self) -> impl Iterator<Item = &L> + '_ {
        self.links.hand_over()
    }

    /// Ends the run: registers the connections in `late` (`Connected`
    /// messages still queued when the room stopped; other messages are
    /// dropped), aborts every connection still open, so that nothing
    /// outlives the room, and returns the log's flush to wait for, if the
    /// room is clustered.
    pub fn finish(mut self, late: impl IntoIterator<Item = Msg<L>>) -> Option<FlushWait> {
        for msg in late {
            if let Msg::Connected { conn, link, .. } = msg {
                self.links.insert(conn, link);
            }
        }
        self.links.abort_all();
        let flush = self.stepper.flush_log()?;
        Some(FlushWait {
            flush,
            deadline: Instant::now() + LOG_FLUSH,
        })
    }

    /// Feeds one input, then carries out every action and logs every event.
    fn step(&mut self, input: Input<'_>) {
        self.stepper.step(&mut self.links, input);
    }
}

/// The wait for a clustered room's last appends, at most [`LOG_FLUSH`]:
/// the runtime sleeps [`FlushWait::POLL`] (its own way) while
/// [`FlushWait::waiting`].
#[derive(Debug)]
pub struct FlushWait {
    flush: Box<dyn Flush>,
    deadline: Instant,
}

impl FlushWait {
    /// How often the runtime looks at the flush.
    pub const POLL: Duration = Duration::from_millis(10);

    /// Whether to wait on: `false` once the flush is done, or (with a
    /// warning) once [`LOG_FLUSH`] has passed.
    pub fn waiting(&mut self) -> bool {
        if self.flush.is_done() {
            return false;
        }
        if Instant::now() >= self.deadline {
            tracing::warn!("the last appends did not reach the log in time");
            return false;
        }
        true
    }
}
