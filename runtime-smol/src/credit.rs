//! One connection's read credit: its read buffer, passed between the reader
//! (which reads into it and sends it to the room) and the room task (which
//! hands it back once it handled the read). A client sending faster than the
//! room relays is thus slowed down by TCP itself, the inbox holds at most one
//! read per connection, and no connection's reads crowd out the others'.

use std::cell::RefCell;
use std::future::Future;
use std::task::{Poll, Waker};

/// The buffer, when the reader may read into it, and whether the room forgot
/// the connection.
///
/// # Invariants
/// There is one buffer per connection: it is here, with the reader, or in a
/// `Received` message on its way to the room.
#[derive(Debug)]
pub(crate) struct ReadCredit {
    state: RefCell<State>,
}

#[derive(Debug)]
struct State {
    buffer: Option<Vec<u8>>,
    closed: bool,
    /// The reader, when it waits for the buffer.
    reader: Option<Waker>,
}

impl State {
    fn wake(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
    }
}

impl Default for ReadCredit {
    /// A credit for one read; the reader allocates the buffer when bytes arrive.
    fn default() -> Self {
        ReadCredit {
            state: RefCell::new(State {
                buffer: Some(Vec::new()),
                closed: false,
                reader: None,
            }),
        }
    }
}

impl ReadCredit {
    /// Reader side: completes with the buffer once the room handed it back,
    /// or with `None` once the room closed the connection.
    pub(crate) fn acquire(&self) -> impl Future<Output = Option<Vec<u8>>> + '_ {
        std::future::poll_fn(move |cx| {
            let mut state = self.state.borrow_mut();
            if state.closed {
                Poll::Ready(None)
            } else if let Some(buffer) = state.buffer.take() {
                Poll::Ready(Some(buffer))
            } else {
                state.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Room side: the room handled the read in `buffer`; the reader may read
    /// into it again.
    pub(crate) fn give_back(&self, buffer: Vec<u8>) {
        let mut state = self.state.borrow_mut();
        debug_assert!(state.buffer.is_none(), "a second read buffer");
        state.buffer = Some(buffer);
        state.wake();
    }

    /// Room side: the room forgot the connection; no read is needed any more.
    pub(crate) fn close(&self) {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        state.wake();
    }
}
