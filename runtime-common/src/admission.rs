//! Bounding the connections the room has not heard of yet: TLS handshakes
//! in progress.
//!
//! The room counts its connections against `max_clients` and turns away
//! the one beyond it with `error: server full`. A TLS connection's
//! handshake runs in the runtime before the room hears of the connection,
//! so without a bound any number of half-open handshakes could each hold a
//! socket (and on the std runtime a thread) for up to the handshake
//! timeout. [`Admission`] counts the handshakes in progress together with
//! the room's connections, and a TLS port starts a handshake only while the
//! sum is below `max_clients`; beyond it the connection is closed before
//! the handshake, since nothing can be said to a TLS client in clear.
//!
//! The per-address limits are the room's: a TLS port asks the room
//! (`Room::reserve_address`) before the handshake, so that a connection
//! over its address's limits is closed the same way, and a connection in
//! its handshake counts as one of its address's.

use chat_core::Config;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Handshakes in progress, and the room's connections as the room last
/// reported them, against `max_clients`.
///
/// # Invariants
/// `handshakes <= max_clients` at all times, and a slot is only handed out
/// while `handshakes + room < max_clients` (with `room` as last reported:
/// a connection whose handshake just ended may be counted by neither for
/// as long as its `Connected` waits in the room's inbox; the room then
/// refuses it itself if it is full). Every [`HandshakeSlot`] handed out is
/// one unit of `handshakes` until it is dropped.
#[derive(Debug)]
pub struct Admission {
    max_clients: usize,
    room: AtomicUsize,
    handshakes: AtomicUsize,
}

impl Admission {
    /// No handshake in progress and an empty room, for the limits of `config`.
    pub fn new(config: &Config) -> Arc<Admission> {
        Arc::new(Admission {
            max_clients: config.max_clients,
            room: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
        })
    }

    /// The room holds `connections` now (the driver calls it after every step).
    pub fn set_room_connections(&self, connections: usize) {
        self.room.store(connections, Ordering::Relaxed);
    }

    /// A slot for one more handshake, or `None` when the handshakes in
    /// progress and the room's connections already reach `max_clients`.
    pub fn begin_handshake(self: &Arc<Self>) -> Option<HandshakeSlot> {
        let room = self.room.load(Ordering::Relaxed);
        self.handshakes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |handshakes| {
                (handshakes.saturating_add(room) < self.max_clients).then_some(handshakes + 1)
            })
            .ok()
            .map(|_| HandshakeSlot {
                admission: Arc::clone(self),
            })
    }

    /// Handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Acquire)
    }
}

/// One handshake in progress, counted by its [`Admission`] until dropped:
/// hold it until the room has been told of the connection, or the
/// handshake failed.
#[derive(Debug)]
pub struct HandshakeSlot {
    admission: Arc<Admission>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.admission.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_clients: usize) -> Arc<Admission> {
        Admission::new(&Config {
            max_clients,
            ..Config::default()
        })
    }

    #[test]
    fn handshakes_and_the_room_share_max_clients() {
        let admission = admission(3);
        let first = admission.begin_handshake();
        let second = admission.begin_handshake();
        assert!(first.is_some() && second.is_some());
        admission.set_room_connections(1);
        assert!(admission.begin_handshake().is_none(), "2 + 1 of 3");
        drop(first);
        assert_eq!(admission.handshakes(), 1);
        let third = admission.begin_handshake();
        assert!(third.is_some(), "1 + 1 of 3");
        assert!(admission.begin_handshake().is_none());
        drop((second, third));
        assert_eq!(admission.handshakes(), 0);
    }

    #[test]
    fn a_full_room_admits_no_handshake() {
        let admission = admission(2);
        admission.set_room_connections(2);
        assert!(admission.begin_handshake().is_none());
        admission.set_room_connections(5);
        assert!(admission.begin_handshake().is_none());
        admission.set_room_connections(0);
        let slots: Vec<_> = (0..5).filter_map(|_| admission.begin_handshake()).collect();
        assert_eq!(slots.len(), 2, "never more handshakes than max_clients");
    }
}
