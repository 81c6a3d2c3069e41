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
//! One address group (the room's grouping: [`Config::address_group`]) may
//! have at most `max_per_address` handshakes in progress, so that one
//! address cannot take every handshake slot.

use chat_core::{AddressGroup, Config};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Handshakes in progress, and the room's connections as the room last
/// reported them, against `max_clients`.
///
/// # Invariants
/// `handshakes <= max_clients` at all times, and a slot is only handed out
/// while `handshakes + room < max_clients` (with `room` as last reported:
/// a connection whose handshake just ended may be counted by neither for
/// as long as its `Connected` waits in the room's inbox; the room then
/// refuses it itself if it is full). Every [`HandshakeSlot`] handed out is
/// one unit of `handshakes` until it is dropped, and one unit of its
/// group's count in `by_group` (which holds no zero count) if it has one;
/// no group's count passes `max_per_address` (unless that is 0: no limit).
#[derive(Debug)]
pub struct Admission {
    config: Config,
    room: AtomicUsize,
    handshakes: AtomicUsize,
    by_group: Mutex<HashMap<AddressGroup, usize>>,
}

impl Admission {
    /// No handshake in progress and an empty room, for the limits of `config`.
    pub fn new(config: &Config) -> Arc<Admission> {
        Arc::new(Admission {
            config: config.clone(),
            room: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
            by_group: Mutex::new(HashMap::new()),
        })
    }

    /// The room holds `connections` now (the driver calls it after every step).
    pub fn set_room_connections(&self, connections: usize) {
        self.room.store(connections, Ordering::Relaxed);
    }

    /// A slot for one more handshake from `peer`, or `None` when the
    /// handshakes in progress and the room's connections already reach
    /// `max_clients`, or `peer`'s group has `max_per_address` handshakes
    /// in progress.
    pub fn begin_handshake(self: &Arc<Self>, peer: IpAddr) -> Option<HandshakeSlot> {
        let group = self.config.address_group(peer);
        let per_address = self.config.max_per_address;
        if let Some(group) = group.filter(|_| per_address > 0) {
            let mut by_group = self.by_group.lock().unwrap_or_else(PoisonError::into_inner);
            let count = by_group.entry(group).or_insert(0);
            if *count >= per_address || !self.take_slot() {
                if *count == 0 {
                    by_group.remove(&group);
                }
                return None;
            }
            *count += 1;
            return Some(HandshakeSlot {
                admission: Arc::clone(self),
                group: Some(group),
            });
        }
        self.take_slot().then(|| HandshakeSlot {
            admission: Arc::clone(self),
            group: None,
        })
    }

    /// Counts one more handshake if the total allows it.
    fn take_slot(&self) -> bool {
        let room = self.room.load(Ordering::Relaxed);
        self.handshakes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |handshakes| {
                (handshakes.saturating_add(room) < self.config.max_clients)
                    .then_some(handshakes + 1)
            })
            .is_ok()
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
    /// The group it is counted in, if it is.
    group: Option<AddressGroup>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let admission = &self.admission;
        if let Some(group) = self.group {
            let mut by_group = admission
                .by_group
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = by_group.get_mut(&group) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    by_group.remove(&group);
                }
            }
        }
        admission.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> IpAddr {
        "127.0.0.1".parse().expect("an address")
    }

    fn admission(max_clients: usize, max_per_address: usize) -> Arc<Admission> {
        Admission::new(&Config {
            max_clients,
            max_per_address,
            ..Config::default()
        })
    }

    #[test]
    fn handshakes_and_the_room_share_max_clients() {
        let admission = admission(3, 16);
        let first = admission.begin_handshake(loopback());
        let second = admission.begin_handshake(loopback());
        assert!(first.is_some() && second.is_some());
        admission.set_room_connections(1);
        assert!(
            admission.begin_handshake(loopback()).is_none(),
            "2 + 1 of 3"
        );
        drop(first);
        assert_eq!(admission.handshakes(), 1);
        let third = admission.begin_handshake(loopback());
        assert!(third.is_some(), "1 + 1 of 3");
        assert!(admission.begin_handshake(loopback()).is_none());
        drop((second, third));
        assert_eq!(admission.handshakes(), 0);
    }

    #[test]
    fn a_full_room_admits_no_handshake() {
        let admission = admission(2, 16);
        admission.set_room_connections(2);
        assert!(admission.begin_handshake(loopback()).is_none());
        admission.set_room_connections(5);
        assert!(admission.begin_handshake(loopback()).is_none());
        admission.set_room_connections(0);
        let slots: Vec<_> = (0..5)
            .filter_map(|_| admission.begin_handshake(loopback()))
            .collect();
        assert_eq!(slots.len(), 2, "never more handshakes than max_clients");
    }

    #[test]
    fn one_address_cannot_take_every_handshake_slot() {
        let admission = admission(100, 3);
        let one: IpAddr = "192.0.2.1".parse().expect("an address");
        let same_64: IpAddr = "2001:db8::1".parse().expect("an address");
        let same_64_too: IpAddr = "2001:db8::ffff".parse().expect("an address");
        let mine: Vec<_> = (0..5)
            .filter_map(|_| admission.begin_handshake(one))
            .collect();
        assert_eq!(mine.len(), 3, "three from one address");
        let v6: Vec<_> = [same_64, same_64_too, same_64, same_64_too]
            .into_iter()
            .filter_map(|peer| admission.begin_handshake(peer))
            .collect();
        assert_eq!(v6.len(), 3, "an IPv6 /64 is one address");
        let other = admission.begin_handshake("192.0.2.2".parse().expect("an address"));
        assert!(other.is_some(), "another address still gets a slot");
        let exempt: Vec<_> = (0..10)
            .filter_map(|_| admission.begin_handshake(loopback()))
            .collect();
        assert_eq!(exempt.len(), 10, "loopback is exempt by default");
        drop(mine);
        assert!(admission.begin_handshake(one).is_some(), "freed on drop");
        assert_eq!(
            admission.by_group.lock().map(|g| g.len()).unwrap_or(0),
            2,
            "only groups with handshakes are kept"
        );
    }
}
