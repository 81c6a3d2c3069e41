//! Limits per address: how many connections one address may hold at once,
//! and how fast it may open them.
//!
//! Addresses are grouped the way one user's machine usually appears: an IPv4
//! address alone, an IPv6 address by its /64 (one subscriber's network), and
//! an IPv4-mapped IPv6 address as the IPv4 address it carries. Loopback is
//! exempt unless the room is told otherwise (a local bench or proxy is one
//! address for everyone).
//!
//! The limits are decided in one place, [`AddressTable::admit`], as soon
//! as a connection is accepted, on every port: the room decides for the
//! connections it hears of at once, and a port with a transport handshake
//! (TLS) asks the room first (`Room::reserve_address`), so that a
//! connection over its address's limits costs no handshake. The room then
//! takes such a connection's reservation over instead of counting it again.

use crate::flood::FloodBucket;
use crate::io::ConnId;
use crate::time::Time;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// The group an address is counted in by the per-address limits: public so
/// that a driver bounding what happens before the room hears of a
/// connection (a TLS handshake) groups addresses the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressGroup {
    /// One IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl AddressGroup {
    /// The group of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => AddressGroup::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressGroup::V4(v4.octets()),
                None => {
                    let mut prefix = [0; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    AddressGroup::V6(prefix)
                }
            },
        }
    }
}

/// The group `peer` is counted in, or `None` if it is exempt (loopback,
/// unless `limit_loopback`).
pub(crate) fn group_of(peer: IpAddr, limit_loopback: bool) -> Option<AddressGroup> {
    let exempt = !limit_loopback && is_loopback(peer);
    (!exempt).then(|| AddressGroup::of(peer))
}

/// Whether `addr` is a loopback address (IPv4-mapped ones too).
pub(crate) fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The limits, from the room's [`Config`](crate::Config).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddressLimits {
    /// Most connections open at once per group; 0 = no limit.
    pub(crate) max_open: usize,
    /// Time between two connects per group, past the burst; `None` = no limit.
    pub(crate) connect_interval: Option<Duration>,
    /// Connects a group may make at once.
    pub(crate) connect_burst: u32,
}

/// What one group holds.
#[derive(Debug, Default)]
struct GroupUse {
    open: usize,
    connects: FloodBucket,
}

/// How long a reservation waits for the room to take it over before it is
/// dropped (and its count released): longer than any transport handshake,
/// so only a connection lost between its handshake and the room (which
/// neither took nor cancelled its reservation) is ever dropped this way.
const RESERVATION_LIFETIME: Duration = Duration::from_secs(60);

/// Every group with an open connection, or whose connect bucket is not
/// yet full again, and the connections admitted before the room heard of
/// them (reserved).
///
/// # Invariants
/// A group's `open` is the number of open connections admitted for it,
/// reserved ones included; groups with none are dropped once their bucket
/// has refilled, and at the latest when the table passes `prune_above`
/// entries, so the table holds at most `prune_above` plus the open
/// connections' groups. Each reservation is one unit of its group's
/// `open`; reservations are dropped [`RESERVATION_LIFETIME`] after they
/// were made at the latest. `latest` is the latest time the table was
/// given: the table never goes back in time, whoever asks.
#[derive(Debug)]
pub(crate) struct AddressTable {
    limits: AddressLimits,
    groups: BTreeMap<AddressGroup, GroupUse>,
    prune_above: usize,
    reserved: BTreeMap<ConnId, (AddressGroup, Time)>,
    latest: Time,
}

impl AddressTable {
    pub(crate) fn new(limits: AddressLimits, prune_above: usize) -> Self {
        AddressTable {
            limits,
            groups: BTreeMap::new(),
            prune_above,
            reserved: BTreeMap::new(),
            latest: Time::ZERO,
        }
    }

    /// `now`, but never before a time the table was given already.
    fn clamp(&mut self, now: Time) -> Time {
        self.latest = self.latest.max(now);
        self.latest
    }

    /// The table of a room with `config`: it forgets idle groups once it
    /// holds twice as many as the room has connections at most.
    pub(crate) fn for_config(config: &crate::config::Config) -> Self {
        AddressTable::new(config.address_limits(), 2 * config.max_clients)
    }

    /// A connection from `group` at `now`: `true` admits it (and counts
    /// it), `false` means the group is over a limit.
    pub(crate) fn admit(&mut self, group: AddressGroup, now: Time) -> bool {
        let now = self.clamp(now);
        self.expire_reservations(now);
        self.prune_when_over(now);
        let limits = self.limits;
        let entry = self.groups.entry(group).or_default();
        if limits.max_open > 0 && entry.open >= limits.max_open {
            return false;
        }
        if let Some(interval) = limits.connect_interval {
            if entry
                .connects
                .charge_every(now, interval, limits.connect_burst)
                .is_err()
            {
                return false;
            }
        }
        entry.open += 1;
        true
    }

    /// Past `prune_above` entries, drops the groups with no open
    /// connection whose bucket has refilled: a group made again later
    /// starts the same (nothing open, a full bucket), so when this runs
    /// changes memory, never a decision.
    fn prune_when_over(&mut self, now: Time) {
        if self.groups.len() > self.prune_above {
            self.groups
                .retain(|_, g| g.open > 0 || g.connects.is_busy(now));
        }
    }

    /// [`admit`](AddressTable::admit), and if admitted remembers the count
    /// as `conn`'s reservation, for the room to take over.
    pub(crate) fn reserve(&mut self, conn: ConnId, group: AddressGroup, now: Time) -> bool {
        if !self.admit(group, now) {
            return false;
        }
        let now = self.latest;
        if let Some((old, _)) = self.reserved.insert(conn, (group, now)) {
            // An id reserved twice: keep the counts in step all the same.
            self.release(old, now);
        }
        true
    }

    /// Takes `conn`'s reservation out, leaving its count to the caller.
    pub(crate) fn take_reservation(&mut self, conn: ConnId) -> Option<AddressGroup> {
        self.reserved.remove(&conn).map(|(group, _)| group)
    }

    /// Releases the reservations made [`RESERVATION_LIFETIME`] ago or
    /// earlier. Ids grow with time, so the oldest come first.
    fn expire_reservations(&mut self, now: Time) {
        while let Some(entry) = self.reserved.first_entry() {
            let (group, made) = *entry.get();
            if now.saturating_since(made) < RESERVATION_LIFETIME {
                return;
            }
            entry.remove();
            self.release(group, now);
        }
    }

    /// Forgets every connection and reservation (the room shut down).
    pub(crate) fn clear(&mut self) {
        self.groups.clear();
        self.reserved.clear();
    }

    /// An admitted connection of `group` closed at `now`.
    pub(crate) fn release(&mut self, group: AddressGroup, now: Time) {
        let now = self.clamp(now);
        if let Some(entry) = self.groups.get_mut(&group) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 && !entry.connects.is_busy(now) {
                self.groups.remove(&group);
            }
        }
    }

    /// Open connections counted, over all groups, reservations aside (for
    /// invariant checks: the room's own connections).
    pub(crate) fn open(&self) -> usize {
        let all: usize = self.groups.values().map(|g| g.open).sum();
        all.saturating_sub(self.reserved.len())
    }

    /// Open connections counted for `group`, reservations aside.
    pub(crate) fn open_in(&self, group: AddressGroup) -> usize {
        let all = self.groups.get(&group).map_or(0, |g| g.open);
        let reserved = self.reserved.values().filter(|(g, _)| *g == group).count();
        all.saturating_sub(reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn ipv6_is_grouped_by_its_64_bit_prefix_and_mapped_ipv4_as_ipv4() {
        let group = |s| AddressGroup::of(ip(s));
        assert_eq!(group("2001:db8:1:2::1"), group("2001:db8:1:2:ffff::9"));
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_eq!(group("::ffff:198.51.100.7"), group("198.51.100.7"));
        assert_ne!(group("198.51.100.7"), group("198.51.100.8"));
        assert!(is_loopback(ip("127.0.0.2")) && is_loopback(ip("::1")));
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(!is_loopback(ip("198.51.100.7")));
    }

    #[test]
    fn open_connections_are_capped_per_group() {
        let limits = AddressLimits {
            max_open: 2,
            connect_interval: None,
            connect_burst: 1,
        };
        let mut table = AddressTable::new(limits, 100);
        let (a, b) = (
            AddressGroup::of(ip("192.0.2.1")),
            AddressGroup::of(ip("192.0.2.2")),
        );
        let now = Time::ZERO;
        assert!(table.admit(a, now) && table.admit(a, now));
        assert!(!table.admit(a, now), "a third from one address");
        assert!(table.admit(b, now), "another address is not affected");
        table.release(a, now);
        assert!(table.admit(a, now), "room again after a close");
        assert_eq!(table.open(), 3);
    }

    #[test]
    fn connects_are_rate_limited_per_group() {
        let limits = AddressLimits {
            max_open: 0,
            connect_interval: Some(Duration::from_secs(1)),
            connect_burst: 3,
        };
        let mut table = AddressTable::new(limits, 100);
        let a = AddressGroup::of(ip("192.0.2.1"));
        let at = |s| Time::from_duration(Duration::from_secs(s));
        for _ in 0..3 {
            assert!(table.admit(a, at(0)));
            table.release(a, at(0));
        }
        assert!(!table.admit(a, at(0)), "past the burst");
        assert!(table.admit(a, at(1)), "one a second after it");
    }

    #[test]
    fn pruning_keeps_the_groups_with_open_connections() {
        let limits = AddressLimits {
            max_open: 1,
            connect_interval: Some(Duration::from_secs(1)),
            connect_burst: 1,
        };
        let mut table = AddressTable::new(limits, 2);
        let at = |s| Time::from_duration(Duration::from_secs(s));
        let held = AddressGroup::of(ip("198.51.100.7"));
        assert!(table.admit(held, at(0)));
        // Idle groups push the table past its bound; by t = 10 s every
        // bucket, the held group's too, has refilled.
        for i in 0..5u8 {
            let g = AddressGroup::of(IpAddr::from([192, 0, 2, i]));
            assert!(table.admit(g, at(0)));
            table.release(g, at(0));
        }
        let late = AddressGroup::of(ip("203.0.113.1"));
        assert!(table.admit(late, at(10)), "the prune runs here");
        assert_eq!(
            table.open_in(held),
            1,
            "the open connection is still counted"
        );
        assert!(!table.admit(held, at(10)), "so its group is still full");
        assert_eq!(table.open(), 2);
    }

    #[test]
    fn a_reservation_counts_until_taken_over_cancelled_or_expired() {
        let limits = AddressLimits {
            max_open: 2,
            connect_interval: Some(Duration::from_secs(60)),
            connect_burst: 3,
        };
        let mut table = AddressTable::new(limits, 100);
        let a = AddressGroup::of(ip("192.0.2.1"));
        let at = |s| Time::from_duration(Duration::from_secs(s));
        assert!(table.reserve(ConnId(1), a, at(0)));
        assert_eq!(table.open_in(a), 0, "a reservation is not the room's yet");
        assert!(table.admit(a, at(0)), "the room admits a second");
        assert!(!table.admit(a, at(0)), "the reservation counts as open");
        assert_eq!(table.take_reservation(ConnId(1)), Some(a));
        assert_eq!(table.open_in(a), 2, "taken over: the room's now");
        table.release(a, at(0));
        table.release(a, at(0));
        assert!(table.reserve(ConnId(2), a, at(0)), "the burst's third");
        assert!(!table.reserve(ConnId(3), a, at(0)), "past the burst");
        assert!(table.take_reservation(ConnId(3)).is_none());
        // Never taken over: released once its lifetime has passed, to the
        // instant.
        table.expire_reservations(Time::from_duration(Duration::from_millis(59_999)));
        assert_eq!(table.reserved.len(), 1, "kept until its lifetime is over");
        assert!(table.admit(a, at(60)));
        assert!(table.reserved.is_empty());
        assert_eq!(table.open_in(a), 1);
    }

    #[test]
    fn idle_groups_are_forgotten() {
        let limits = AddressLimits {
            max_open: 0,
            connect_interval: Some(Duration::from_secs(1)),
            connect_burst: 1,
        };
        let mut table = AddressTable::new(limits, 4);
        let at = |s| Time::from_duration(Duration::from_secs(s));
        for i in 0..10u8 {
            let g = AddressGroup::of(IpAddr::from([192, 0, 2, i]));
            assert!(table.admit(g, at(0)));
            table.release(g, at(0));
        }
        let g = AddressGroup::of(IpAddr::from([198, 51, 100, 1]));
        assert!(table.admit(g, at(10)));
        assert!(
            table.groups.len() <= 5,
            "{} groups kept",
            table.groups.len()
        );
    }
}
