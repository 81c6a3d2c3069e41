//! The room task: waits for the other tasks' messages, the log's events, a
//! shutdown request and the room's deadline, and hands them to the shared
//! [`RoomDriver`] (which steps the room and fills the outboxes: it never
//! writes to a socket itself, so no client can stall it).
//!
//! Before each message (and each `Tick`) it reports what the writers' sockets
//! took since the last one ([`Reports`]): those reports never queue behind
//! received bytes, so a burst from one client cannot make the core believe
//! that the readers fell behind.
//!
//! Messages that are already waiting are handled without giving up the
//! thread, so it yields every [`YIELD_AFTER`] inputs: the writers then write
//! (and report) what it sent, and the readers read again.

use crate::link::Link;
use async_channel::Receiver;
use async_io::Timer;
use chat_core::{CloseMode, Payload, Time};
use chat_runtime_common::driver::{self, FlushWait, RoomDriver, Stepper};
use chat_runtime_common::log::{LogEvent, LogSink};
use chat_runtime_common::written::{Released, Reports};
use futures_lite::future;
use std::rc::Rc;

/// What the other tasks tell the room task.
pub(crate) type Msg = driver::Msg<RoomEnd>;

/// Hands a clustered room's log events to the room task (from the log's
/// own threads).
#[derive(Debug)]
pub(crate) struct LogToRoom(pub(crate) async_channel::Sender<LogEvent>);

impl LogSink for LogToRoom {
    fn deliver(&self, event: LogEvent) -> bool {
        self.0.send_blocking(event).is_ok()
    }
}

/// The most inputs the room task handles in a row before it lets the other
/// tasks run. With hundreds of clients sending at once, a room that never
/// yielded would queue hundreds of reads' worth of lines for every writer
/// before any of them could write, and close fast readers as too slow.
const YIELD_AFTER: usize = 64;

/// The room's end of a connection's [`Link`]: a send is a push into its
/// outbox and a wake of its writer, at once (nothing waits for a hand-over).
#[derive(Debug)]
pub(crate) struct RoomEnd(pub(crate) Rc<Link>);

impl driver::Link for RoomEnd {
    fn send(&mut self, bytes: Payload) -> bool {
        if !bytes.is_empty() {
            self.0.outbox.push(bytes);
        }
        false
    }

    fn close(self, mode: CloseMode) {
        self.0.close(mode);
    }

    fn give_back(&self, buffer: Vec<u8>) {
        self.0.credit.give_back(buffer);
    }

    fn take_written(&self) -> Released {
        self.0.written.take()
    }
}

/// What the room task waits for.
enum Wake {
    Msg(Msg),
    Tick,
    /// Every sender is gone.
    Done,
}

/// The room task's state.
///
/// # Invariants
/// `timer` is set to `armed` (or never fires when `armed` is `None`).
#[derive(Debug)]
pub(crate) struct Driver {
    room: RoomDriver<RoomEnd>,
    timer: Timer,
    armed: Option<Time>,
    /// Where the writers list the connections with unreported writes.
    reports: Reports,
    /// Inputs handled since the room task last yielded.
    burst: usize,
    /// A clustered room's log events.
    log: Option<Receiver<LogEvent>>,
}

impl Driver {
    pub(crate) fn new(stepper: Stepper, reports: Reports, log: Option<Receiver<LogEvent>>) -> Self {
        Driver {
            room: RoomDriver::new(stepper),
            timer: Timer::never(),
            armed: None,
            reports,
            burst: 0,
            log,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    ///
    /// A closed `shutdown` channel (every handle dropped) counts as a request.
    pub(crate) async fn run(mut self, inbox: Receiver<Msg>, shutdown: Receiver<()>) {
        while !self.room.done() {
            self.burst += 1;
            if self.burst > YIELD_AFTER {
                self.burst = 0;
                future::yield_now().await;
            }
            let wake = self.next(&inbox, &shutdown).await;
            self.room.report_written(&self.reports);
            match wake {
                Wake::Msg(msg) => self.room.handle(msg),
                Wake::Tick => self.room.tick(),
                Wake::Done => break,
            }
        }
        // A connection accepted after the last input is still in the inbox:
        // its task would wait for a close that never comes.
        inbox.close();
        let late = std::iter::from_fn(|| inbox.try_recv().ok());
        if let Some(mut flush) = self.room.finish(late) {
            while flush.waiting() {
                Timer::after(FlushWait::POLL).await;
            }
        }
    }

    /// Waits for a shutdown request, a message or the room's deadline, in
    /// that order of preference (`future::or` polls its first future first).
    async fn next(&mut self, inbox: &Receiver<Msg>, shutdown: &Receiver<()>) -> Wake {
        let deadline = self.room.deadline();
        // Checked before waiting, so a steady stream of messages cannot
        // starve the timers.
        if self.room.is_due(deadline) {
            self.armed = None;
            return Wake::Tick;
        }
        self.arm(deadline);
        let listen = !self.room.is_shutting_down();
        let stop = async {
            if listen {
                let _ = shutdown.recv().await;
                Wake::Msg(Msg::Shutdown)
            } else {
                future::pending().await
            }
        };
        let msg = async {
            match inbox.recv().await {
                Ok(msg) => Wake::Msg(msg),
                Err(_) => Wake::Done,
            }
        };
        // Before the clients' messages: the log's events are bounded by
        // its reader, and a room waiting for its log refuses every line.
        let log = async {
            match &self.log {
                Some(log) => match log.recv().await {
                    Ok(event) => Wake::Msg(Msg::Log(event)),
                    Err(_) => future::pending().await,
                },
                None => future::pending().await,
            }
        };
        let timer = &mut self.timer;
        let tick = async {
            timer.await;
            Wake::Tick
        };
        let wake = future::or(stop, future::or(log, future::or(msg, tick))).await;
        if matches!(wake, Wake::Tick) {
            self.armed = None; // a fired timer never fires again
        }
        wake
    }

    /// Points the timer at `deadline`, re-registering only when it changed.
    fn arm(&mut self, deadline: Option<Time>) {
        if deadline == self.armed {
            return;
        }
        match deadline.and_then(|due| self.room.clock().instant(due)) {
            Some(at) => self.timer.set_at(at),
            None => self.timer = Timer::never(),
        }
        self.armed = deadline;
    }
}
