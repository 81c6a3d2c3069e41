//! The room driver's connection table, over any runtime's [`Link`].

use super::{Connections, Link};
use crate::conn_map::ConnMap;
use crate::read_pause::ReadPause;
use crate::written::Released;
use chat_core::{Action, ConnId, Event};

/// The driver's view of the room's connections.
///
/// # Invariants
/// `map` holds exactly the ids that were registered ([`Links::insert`],
/// on `Connected`) and have had no `Action::Close` yet: after a `Close` the
/// core forgot the id, and so does the table. `unsent` lists, once each,
/// the links whose [`Link::send`] asked for a hand-over since the last
/// [`Links::hand_over`] (and maybe ids closed since); it stays empty for
/// links that hand over at once.
#[derive(Debug)]
pub struct Links<L> {
    map: ConnMap<L>,
    unsent: Vec<ConnId>,
    /// The read buffers of connections flood control stopped reading.
    paused: ReadPause<Vec<u8>>,
}

impl<L> Default for Links<L> {
    fn default() -> Self {
        Links {
            map: ConnMap::default(),
            unsent: Vec::new(),
            paused: ReadPause::default(),
        }
    }
}

impl<L: Link> Links<L> {
    /// Registers `conn`, before the room hears of it: the room's first
    /// action for it follows.
    pub fn insert(&mut self, conn: ConnId, link: L) {
        self.map.insert(conn, link);
    }

    /// The room handled a read of `conn` that came in `buffer`: gives the
    /// buffer back to its reader, unless flood control stopped reading it
    /// (then it is kept until `ResumeReading`) or the room just closed it
    /// (then the reader has stopped).
    pub fn after_read(&mut self, conn: ConnId, buffer: Vec<u8>) {
        if let Some(link) = self.map.get(&conn) {
            if let Some(buffer) = self.paused.after_read(conn, buffer) {
                link.give_back(buffer);
            }
        }
    }

    /// Hands over every link with payloads waiting ([`Link::hand_over`]),
    /// then yields those links still open, in the order they were listed,
    /// for the runtime to wait on them if it paces its writers. The list is
    /// empty afterwards, however much of the iterator is used.
    pub fn hand_over(&mut self) -> impl Iterator<Item = &L> + '_ {
        for conn in &self.unsent {
            // Closed since: its close handed it over, or it was aborted.
            if let Some(link) = self.map.get_mut(conn) {
                link.hand_over();
            }
        }
        let map = &self.map;
        self.unsent.drain(..).filter_map(move |conn| map.get(&conn))
    }

    /// Aborts every connection still open, with a warning: the room
    /// stopped, and nothing may outlive it.
    pub fn abort_all(&mut self) {
        self.unsent.clear();
        for (conn, link) in self.map.drain() {
            tracing::warn!(%conn, "the room stopped with the connection open; aborting it");
            link.close(chat_core::CloseMode::Abort);
        }
    }
}

impl<L: Link> Connections for Links<L> {
    fn act(&mut self, action: Action) {
        match action {
            Action::Send { conn, bytes } => match self.map.get_mut(&conn) {
                Some(link) => {
                    if link.send(bytes) {
                        self.unsent.push(conn);
                    }
                }
                None => tracing::debug!(%conn, "send to an unknown connection"),
            },
            Action::Close { conn, mode } => {
                self.paused.forget(conn);
                match self.map.remove(&conn) {
                    Some(link) => link.close(mode),
                    None => tracing::debug!(%conn, "close of an unknown connection"),
                }
            }
            Action::StopReading { conn } => self.paused.stop(conn),
            Action::ResumeReading { conn } => {
                if let (Some(buffer), Some(link)) = (self.paused.resume(conn), self.map.get(&conn))
                {
                    link.give_back(buffer);
                }
            }
            Action::Append { .. } => {} // the stepper's, never passed on
        }
    }

    fn event(&mut self, event: Event) {
        tracing::info!("{event}");
    }

    fn take_written(&mut self, conn: ConnId) -> Released {
        // A closed connection's counter is gone with its link.
        self.map
            .get(&conn)
            .map_or(Released::default(), Link::take_written)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::{CloseMode, Payload};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What the table did to the links, in order.
    type Journal = Rc<RefCell<Vec<String>>>;

    /// A link that batches (like a runtime handing over per burst) or not.
    #[derive(Debug)]
    struct Fake {
        name: &'static str,
        batches: bool,
        queued: usize,
        journal: Journal,
    }

    impl Fake {
        fn new(name: &'static str, batches: bool, journal: &Journal) -> Self {
            Fake {
                name,
                batches,
                queued: 0,
                journal: Rc::clone(journal),
            }
        }

        fn note(&self, what: &str) {
            self.journal
                .borrow_mut()
                .push(format!("{} {what}", self.name));
        }
    }

    impl Link for Fake {
        fn send(&mut self, bytes: Payload) -> bool {
            self.note(&format!("send {}", String::from_utf8_lossy(&bytes)));
            if !self.batches {
                return false;
            }
            self.queued += 1;
            self.queued == 1
        }

        fn hand_over(&mut self) {
            self.note(&format!("hand over {}", self.queued));
            self.queued = 0;
        }

        fn close(self, mode: CloseMode) {
            self.note(&format!("close {mode:?}"));
        }

        fn give_back(&self, buffer: Vec<u8>) {
            self.note(&format!("give back {}", String::from_utf8_lossy(&buffer)));
        }

        fn take_written(&self) -> Released {
            Released::default()
        }
    }

    fn send(links: &mut Links<Fake>, conn: ConnId, text: &str) {
        links.act(Action::Send {
            conn,
            bytes: Payload::new(text.as_bytes()),
        });
    }

    #[test]
    fn a_read_buffer_goes_back_unless_paused_or_closed() {
        let journal = Journal::default();
        let mut links = Links::default();
        let (a, b) = (ConnId(1), ConnId(2));
        links.insert(a, Fake::new("a", false, &journal));
        links.insert(b, Fake::new("b", false, &journal));
        links.after_read(a, b"a1".to_vec());
        links.act(Action::StopReading { conn: a });
        links.after_read(a, b"a2".to_vec());
        links.act(Action::Close {
            conn: b,
            mode: CloseMode::Flush,
        });
        links.after_read(b, b"b1".to_vec());
        links.act(Action::ResumeReading { conn: a });
        assert_eq!(
            *journal.borrow(),
            ["a give back a1", "b close Flush", "a give back a2"]
        );
        assert_eq!(links.len(), 1);
    }

    #[test]
    fn a_batching_link_is_handed_over_once_per_burst() {
        let journal = Journal::default();
        let mut links = Links::default();
        let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
        links.insert(a, Fake::new("a", true, &journal));
        links.insert(b, Fake::new("b", true, &journal));
        links.insert(c, Fake::new("c", false, &journal));
        send(&mut links, a, "1");
        send(&mut links, b, "2");
        send(&mut links, a, "3");
        send(&mut links, c, "4");
        links.act(Action::Close {
            conn: b,
            mode: CloseMode::Abort,
        });
        let handed: Vec<_> = links.hand_over().map(|link| link.name).collect();
        assert_eq!(handed, ["a"], "listed once, closed ones skipped");
        assert_eq!(links.hand_over().count(), 0, "the list is empty after");
        assert_eq!(
            *journal.borrow(),
            [
                "a send 1",
                "b send 2",
                "a send 3",
                "c send 4",
                "b close Abort",
                "a hand over 2"
            ]
        );
    }

    #[test]
    fn a_link_that_hands_over_at_once_is_never_listed() {
        let journal = Journal::default();
        let mut links = Links::default();
        links.insert(ConnId(1), Fake::new("a", false, &journal));
        send(&mut links, ConnId(1), "1");
        assert!(links.unsent.is_empty());
        assert_eq!(links.hand_over().count(), 0);
    }

    #[test]
    fn what_is_left_is_aborted() {
        let journal = Journal::default();
        let mut links = Links::default();
        links.insert(ConnId(1), Fake::new("a", true, &journal));
        send(&mut links, ConnId(1), "1");
        links.abort_all();
        assert_eq!(*journal.borrow(), ["a send 1", "a close Abort"]);
        assert!(links.is_empty());
        assert_eq!(links.hand_over().count(), 0);
    }
}
