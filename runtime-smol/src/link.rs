//! What the room task and one connection's task share. Both run on the
//! server's one thread: cells and wakers, no locks, no channel hop per line.

use crate::credit::ReadCredit;
use crate::outbox::Outbox;
use chat_core::{CloseMode, ConnId};
use chat_runtime_common::written::{Counters, Unreported};

/// One connection's shared state.
#[derive(Debug)]
pub(crate) struct Link {
    /// Room → writer: the bytes to send, and the close.
    pub(crate) outbox: Outbox,
    /// Room → reader: the read buffer, back once the room handled the read.
    pub(crate) credit: ReadCredit,
    /// Writer → room: the bytes the socket took, not reported yet.
    pub(crate) written: Unreported,
}

impl Link {
    /// A fresh connection: nothing to send, one read allowed.
    pub(crate) fn new(conn: ConnId, counters: &Counters) -> Self {
        Link {
            outbox: Outbox::default(),
            credit: ReadCredit::default(),
            written: counters.counter(conn),
        }
    }

    /// Room side: carries out the core's `Close` (see [`Outbox::close`]);
    /// the reader stops handing reads in.
    pub(crate) fn close(&self, mode: CloseMode) {
        self.outbox.close(mode);
        self.credit.close();
    }
}
