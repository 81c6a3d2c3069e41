//! The room thread: waits for the other threads' messages (with the room's
//! deadline as timeout) and hands them to the shared [`RoomDriver`], which
//! steps the room and queues its sends in the outboxes.
//!
//! This module keeps only the waiting and the [`Outbox`] as the room's
//! [`Link`](driver::Link).
//!
//! Before each message (and each `Tick`) it reports what the writers' sockets
//! took since the last one ([`Reports`]): those reports never queue behind
//! received bytes, so a burst from one client cannot make the core believe
//! that the readers fell behind.
//!
//! It hands what it sends to the writers once per burst of messages: when
//! the inbox is empty, or after [`HAND_OVER_AFTER`] messages. So under load
//! a writer wakes once and writes many lines with one vectored write, rather
//! than waking and writing once per line.

use crate::conn::Outbox;
use crate::pace::{self, Pace};
use chat_core::{CloseMode, Payload};
use chat_runtime_common::driver::{self, FlushWait, RoomDriver, Stepper};
use chat_runtime_common::log::{LogEvent, LogSink};
use chat_runtime_common::written::{Released, Reports};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

/// The most messages the room thread handles, while more keep coming,
/// before it hands what it sent to the writers: this bounds how long a line
/// waits in the room thread.
const HAND_OVER_AFTER: usize = 64;

/// What the other threads tell the room thread.
pub(crate) type Msg = driver::Msg<Outbox>;

/// A send queues the payload until the burst ends; then the room thread
/// writes it itself or hands it to the writer thread
/// ([`Outbox::hand_over`]).
impl driver::Link for Outbox {
    fn send(&mut self, bytes: Payload) -> bool {
        Outbox::send(self, bytes)
    }

    fn hand_over(&mut self) {
        Outbox::hand_over(self);
    }

    fn close(self, mode: CloseMode) {
        match mode {
            CloseMode::Flush => self.flush_and_close(),
            CloseMode::Abort => self.abort(),
        }
    }

    fn give_back(&self, buffer: Vec<u8>) {
        Outbox::give_back(self, buffer);
    }

    fn take_written(&self) -> Released {
        self.written.take()
    }
}

/// Hands a clustered room's log events to the room thread, through its inbox.
#[derive(Debug)]
pub(crate) struct LogToRoom(pub(crate) SyncSender<Msg>);

impl LogSink for LogToRoom {
    fn deliver(&self, event: LogEvent) -> bool {
        self.0.send(Msg::Log(event)).is_ok()
    }
}

/// The room thread's state.
#[derive(Debug)]
pub(crate) struct Driver {
    room: RoomDriver<Outbox>,
    /// Where the writers list the connections with unreported writes.
    reports: Reports,
    /// How the room waits for writers that fall behind (see [`pace`]).
    pace: Arc<Pace>,
    /// Messages handled since the last hand-over.
    burst: usize,
}

impl Driver {
    pub(crate) fn new(stepper: Stepper, reports: Reports, pace: Arc<Pace>) -> Self {
        Driver {
            room: RoomDriver::new(stepper),
            reports,
            pace,
            burst: 0,
        }
    }

    /// Runs until shutdown was handled and the room has no connection left
    /// (or every sender is gone). Connections the room did not close by then
    /// are aborted, so that nothing outlives the room.
    pub(crate) fn run(mut self, inbox: &Receiver<Msg>) {
        while !self.room.done() {
            let input = self.next_input(inbox);
            self.room.report_written(&self.reports);
            match input {
                Some(Some(msg)) => self.room.handle(msg),
                Some(None) => self.room.tick(),
                None => break,
            }
        }
        if let Some(mut flush) = self.room.finish(std::iter::empty()) {
            while flush.waiting() {
                std::thread::sleep(FlushWait::POLL);
            }
        }
    }

    /// Takes the next message, waiting for it until the room's deadline;
    /// hands the sends over to the writers before waiting.
    /// `Some(None)` means the deadline passed; `None` that every sender is gone.
    fn next_input(&mut self, inbox: &Receiver<Msg>) -> Option<Option<Msg>> {
        // Checked first, so a steady stream of messages cannot starve the timers.
        let deadline = self.room.deadline();
        if self.room.is_due(deadline) {
            return Some(None);
        }
        if self.burst < HAND_OVER_AFTER {
            match inbox.try_recv() {
                Ok(msg) => {
                    self.burst += 1;
                    return Some(Some(msg));
                }
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
        }
        self.hand_over();
        let msg = match deadline {
            None => inbox.recv().ok()?,
            Some(due) => {
                let now = self.room.clock().now();
                if due <= now {
                    return Some(None);
                }
                match inbox.recv_timeout(due - now) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => return Some(None),
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
        };
        self.burst = 1;
        Some(Some(msg))
    }

    /// Hands every payload sent since the last call to its writer, then
    /// waits (bounded) for those writers that fell far behind without being
    /// blocked on their clients (see [`pace`]).
    fn hand_over(&mut self) {
        let handed = self.room.hand_over();
        let deadline = Instant::now() + pace::MAX_WAIT;
        for outbox in handed {
            if !self.pace.wait_while(deadline, || outbox.writer_is_behind()) {
                tracing::debug!("writers got no CPU for {:?}; moving on", pace::MAX_WAIT);
                break;
            }
        }
        self.burst = 0;
    }
}
