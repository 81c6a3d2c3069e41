//! A connection's outgoing queue, shared by the room task (which fills it)
//! and the connection's writer task (which empties it). Both run on the same
//! thread, so this is a `RefCell` plus one waker: filling it costs a push and,
//! at most once per batch, a wake-up; no channel hop per line.

use chat_core::{CloseMode, Payload};
use chat_runtime_common::transport::OutQueue;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::task::{Poll, Waker};

/// The payloads the room sent to one connection and the writer has not
/// taken yet, and whether the room closed it.
///
/// # Invariants
/// Nothing is pushed after `close` is set (the core's `Close` is the last
/// action for its connection; the room task also forgets the outbox then).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Payload>,
    close: Option<CloseMode>,
    /// The writer task, when it waits for something to do.
    waker: Option<Waker>,
}

impl State {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl Outbox {
    /// Room side: appends shared bytes to the outgoing stream.
    pub(crate) fn push(&self, bytes: Payload) {
        let mut state = self.state.borrow_mut();
        debug_assert!(state.close.is_none(), "a send after the close");
        state.queue.push_back(bytes);
        state.wake();
    }

    /// Room side: closes the connection, after a flush or at once.
    pub(crate) fn close(&self, mode: CloseMode) {
        let mut state = self.state.borrow_mut();
        state.close = Some(mode);
        state.wake();
    }

    /// Writer side: completes when there is something to write or the
    /// connection is closed.
    pub(crate) fn ready(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut state = self.state.borrow_mut();
            if !state.queue.is_empty() || state.close.is_some() {
                Poll::Ready(())
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Writer side: completes when the room closes the connection.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut state = self.state.borrow_mut();
            if state.close.is_some() {
                Poll::Ready(())
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Writer side: moves every queued payload to the back of `into`, and
    /// says whether the connection is closed.
    pub(crate) fn take(&self, into: &mut OutQueue) -> Option<CloseMode> {
        let mut state = self.state.borrow_mut();
        into.append(&mut state.queue);
        state.close
    }
}
