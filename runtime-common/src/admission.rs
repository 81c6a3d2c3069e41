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
//! The per-address limits (`max_per_address`, `connects_per_minute`) are
//! the room's, and are applied before the handshake too: a TLS port asks
//! the room's [`AddressGate`] at accept, so a connection over its
//! address's limits is closed the same way, without a handshake, and a
//! connection in its handshake counts as one of its address's.

use crate::clock::Clock;
use chat_core::{AddressGate, Config, ConnId};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Handshakes in progress, and the room's connections as the room last
/// reported them, against `max_clients`; and the room's per-address limits.
///
/// # Invariants
/// `handshakes <= max_clients` at all times, and a slot is only handed out
/// while `handshakes + room < max_clients` (with `room` as last reported:
/// a connection whose handshake just ended may be counted by neither for
/// as long as its `Connected` waits in the room's inbox; the room then
/// refuses it itself if it is full). Every [`HandshakeSlot`] handed out is
/// one unit of `handshakes` until it is dropped, and holds a reservation
/// in `addresses` until it is dropped or the room was told of its
/// connection.
#[derive(Debug)]
pub struct Admission {
    max_clients: usize,
    room: AtomicUsize,
    handshakes: AtomicUsize,
    addresses: AddressGate,
    clock: Clock,
}

/// Why no handshake may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The handshakes in progress and the room's connections reach `max_clients`.
    Full,
    /// The peer's address is over its limits.
    Address,
}

impl Admission {
    /// No handshake in progress and an empty room, for the limits of
    /// `config`; `addresses` is the room's gate, `clock` the room's clock.
    pub fn new(config: &Config, addresses: AddressGate, clock: Clock) -> Arc<Admission> {
        Arc::new(Admission {
            max_clients: config.max_clients,
            room: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
            addresses,
            clock,
        })
    }

    /// The room holds `connections` now (the driver calls it after every step).
    pub fn set_room_connections(&self, connections: usize) {
        self.room.store(connections, Ordering::Relaxed);
    }

    /// A slot for the handshake of connection `conn` from `peer`, or why
    /// not: the handshakes in progress and the room's connections already
    /// reach `max_clients`, or `peer`'s address is over its limits (which
    /// counts the connection and charges its address as the room would;
    /// the room takes that over when told of `conn`).
    pub fn begin_handshake(
        self: &Arc<Self>,
        conn: ConnId,
        peer: IpAddr,
    ) -> Result<HandshakeSlot, Refused> {
        if !self.take_slot() {
            return Err(Refused::Full);
        }
        // From here on, dropping the slot gives the handshake back.
        let mut slot = HandshakeSlot {
            admission: Arc::clone(self),
            conn,
            reserved: false,
        };
        if !self.addresses.reserve(conn, peer, self.clock.now()) {
            return Err(Refused::Address);
        }
        slot.reserved = true;
        Ok(slot)
    }

    /// Counts one more handshake if the total allows it.
    fn take_slot(&self) -> bool {
        let room = self.room.load(Ordering::Relaxed);
        self.handshakes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |handshakes| {
                (handshakes.saturating_add(room) < self.max_clients).then_some(handshakes + 1)
            })
            .is_ok()
    }

    /// Handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Acquire)
    }
}

/// One handshake in progress, counted by its [`Admission`] until dropped:
/// hold it until the room has been told of the connection (then call
/// [`told_the_room`](HandshakeSlot::told_the_room)), or the handshake failed.
#[derive(Debug)]
pub struct HandshakeSlot {
    admission: Arc<Admission>,
    conn: ConnId,
    /// Whether the connection's address reservation is still this slot's
    /// to cancel (not yet handed to the room).
    reserved: bool,
}

impl HandshakeSlot {
    /// The room was told of the connection: its address reservation is the
    /// room's now; the handshake is no longer counted here.
    pub fn told_the_room(mut self) {
        self.reserved = false;
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let admission = &self.admission;
        if self.reserved {
            admission.addresses.cancel(self.conn, admission.clock.now());
        }
        admission.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::{Input, Room};

    fn loopback() -> IpAddr {
        "127.0.0.1".parse().expect("an address")
    }

    fn admission_with(config: Config) -> (Arc<Admission>, Room) {
        let room = Room::new(config.clone());
        let admission = Admission::new(&config, room.address_gate(), Clock::start());
        (admission, room)
    }

    fn admission(max_clients: usize, max_per_address: usize) -> Arc<Admission> {
        admission_with(Config {
            max_clients,
            max_per_address,
            ..Config::default()
        })
        .0
    }

    /// Slots for `count` connections from `peer`, numbered from `first`.
    fn slots(
        admission: &Arc<Admission>,
        first: u64,
        count: u64,
        peer: IpAddr,
    ) -> Vec<HandshakeSlot> {
        (first..first + count)
            .filter_map(|id| admission.begin_handshake(ConnId(id), peer).ok())
            .collect()
    }

    #[test]
    fn handshakes_and_the_room_share_max_clients() {
        let admission = admission(3, 16);
        let first = admission.begin_handshake(ConnId(1), loopback());
        let second = admission.begin_handshake(ConnId(2), loopback());
        assert!(first.is_ok() && second.is_ok());
        admission.set_room_connections(1);
        assert_eq!(
            admission.begin_handshake(ConnId(3), loopback()).err(),
            Some(Refused::Full),
            "2 + 1 of 3"
        );
        drop(first);
        assert_eq!(admission.handshakes(), 1);
        let third = admission.begin_handshake(ConnId(4), loopback());
        assert!(third.is_ok(), "1 + 1 of 3");
        assert!(admission.begin_handshake(ConnId(5), loopback()).is_err());
        drop((second, third));
        assert_eq!(admission.handshakes(), 0);
    }

    #[test]
    fn a_full_room_admits_no_handshake() {
        let admission = admission(2, 16);
        admission.set_room_connections(2);
        assert!(admission.begin_handshake(ConnId(1), loopback()).is_err());
        admission.set_room_connections(5);
        assert!(admission.begin_handshake(ConnId(2), loopback()).is_err());
        admission.set_room_connections(0);
        assert_eq!(
            slots(&admission, 3, 5, loopback()).len(),
            2,
            "never more handshakes than max_clients"
        );
    }

    #[test]
    fn one_address_cannot_take_every_handshake_slot() {
        let admission = admission(100, 3);
        let one: IpAddr = "192.0.2.1".parse().expect("an address");
        let same_64: IpAddr = "2001:db8::1".parse().expect("an address");
        let same_64_too: IpAddr = "2001:db8::ffff".parse().expect("an address");
        let mine = slots(&admission, 1, 5, one);
        assert_eq!(mine.len(), 3, "three from one address");
        let v6: Vec<_> = [same_64, same_64_too, same_64, same_64_too]
            .into_iter()
            .zip(10..)
            .filter_map(|(peer, id)| admission.begin_handshake(ConnId(id), peer).ok())
            .collect();
        assert_eq!(v6.len(), 3, "an IPv6 /64 is one address");
        let other = admission.begin_handshake(ConnId(20), "192.0.2.2".parse().expect("an address"));
        assert!(other.is_ok(), "another address still gets a slot");
        assert_eq!(
            slots(&admission, 30, 10, loopback()).len(),
            10,
            "loopback is exempt by default"
        );
        drop(mine);
        assert!(
            admission.begin_handshake(ConnId(40), one).is_ok(),
            "freed on drop"
        );
    }

    #[test]
    fn the_connect_rate_is_charged_before_the_handshake_and_once() {
        let (admission, mut room) = admission_with(Config {
            max_per_address: 0,
            connects_per_minute: 60,
            limit_loopback: true,
            ..Config::default()
        });
        let burst = u64::from(chat_core::ADDRESS_CONNECT_BURST);
        let mine = slots(&admission, 1, burst + 5, loopback());
        assert_eq!(mine.len() as u64, burst, "the burst, then no handshake");
        assert_eq!(
            admission.begin_handshake(ConnId(100), loopback()).err(),
            Some(Refused::Address)
        );
        // The room, told of an admitted connection, does not charge it again.
        let now = admission.clock.now();
        for (slot, id) in mine.into_iter().zip(1..) {
            room.handle(
                now,
                Input::Connected {
                    conn: ConnId(id),
                    peer: loopback(),
                },
            );
            slot.told_the_room();
        }
        assert_eq!(room.connections() as u64, burst, "every one admitted");
        assert_eq!(room.check_invariants(), Ok(()));
    }
}
