//! Holding a connection's read credit while the room told the driver to stop
//! reading it (flood control): the socket is then not read, its kernel
//! buffer fills, and TCP slows the sender down.
//!
//! Both runtimes pass one buffer per connection between its reader and the
//! room: the reader reads again only once the room hands the buffer back.
//! So stopping is keeping that buffer; resuming is handing it back.

use crate::conn_map::ConnMap;
use chat_core::ConnId;

/// The connections not to read from, and the buffers kept from their readers.
///
/// # Invariants
/// A connection is in `stopped` from its `StopReading` to its
/// `ResumeReading` or its close; its buffer, if the room handled a read of
/// it meanwhile, is the value.
#[derive(Debug)]
pub struct ReadPause<B> {
    stopped: ConnMap<Option<B>>,
}

impl<B> Default for ReadPause<B> {
    fn default() -> Self {
        ReadPause {
            stopped: ConnMap::default(),
        }
    }
}

impl<B> ReadPause<B> {
    /// `Action::StopReading { conn }`.
    pub fn stop(&mut self, conn: ConnId) {
        self.stopped.entry(conn).or_insert(None);
    }

    /// The room handled a read of `conn` that came in `buffer`: the buffer
    /// to give back to the reader now, or `None` if it is kept.
    pub fn after_read(&mut self, conn: ConnId, buffer: B) -> Option<B> {
        match self.stopped.get_mut(&conn) {
            Some(kept) => {
                *kept = Some(buffer);
                None
            }
            None => Some(buffer),
        }
    }

    /// `Action::ResumeReading { conn }`: the kept buffer to give back, if any.
    pub fn resume(&mut self, conn: ConnId) -> Option<B> {
        self.stopped.remove(&conn).flatten()
    }

    /// `conn` was closed: whatever was kept for it goes.
    pub fn forget(&mut self, conn: ConnId) {
        self.stopped.remove(&conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_connection_keeps_its_buffer_until_resumed() {
        let mut pause = ReadPause::default();
        let (a, b) = (ConnId(1), ConnId(2));
        assert_eq!(pause.after_read(a, "a1"), Some("a1"));
        pause.stop(a);
        assert_eq!(pause.after_read(a, "a2"), None);
        assert_eq!(pause.after_read(b, "b1"), Some("b1"), "others are read");
        assert_eq!(pause.resume(a), Some("a2"));
        assert_eq!(pause.after_read(a, "a3"), Some("a3"));
    }

    #[test]
    fn resuming_before_any_read_gives_nothing_back() {
        let mut pause: ReadPause<&str> = ReadPause::default();
        pause.stop(ConnId(1));
        assert_eq!(pause.resume(ConnId(1)), None);
        pause.stop(ConnId(1));
        assert_eq!(pause.after_read(ConnId(1), "x"), None);
        pause.forget(ConnId(1));
        assert_eq!(pause.resume(ConnId(1)), None);
    }
}
