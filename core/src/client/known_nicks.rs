//! The nicks a client has seen in the room, for completion: in the order
//! first seen, no two equal ignoring case.
//!
//! Adding and removing cost O(log n) whatever the room's size, so a client
//! that joins a room of thousands (whose online list names them all) does
//! not spend time quadratic in the room learning it.

use crate::nick::fold;
use std::collections::BTreeMap;

/// Nicks in the order first seen, indexed by their case-folded key.
///
/// # Invariants
/// - `by_key` and `by_order` hold the same nicks: `by_key[fold(n)] = i`
///   exactly when `by_order[i] = n`.
/// - Every order number is below `next`; `version` grows at every change.
#[derive(Debug, Default)]
pub struct KnownNicks {
    by_key: BTreeMap<String, u64>,
    by_order: BTreeMap<u64, String>,
    next: u64,
    version: u64,
}

impl KnownNicks {
    /// Adds `nick` unless a nick equal to it ignoring case is known.
    pub fn add(&mut self, nick: &str) {
        let key = fold(nick);
        if self.by_key.contains_key(&key) {
            return;
        }
        self.by_key.insert(key, self.next);
        self.by_order.insert(self.next, nick.to_string());
        self.next += 1;
        self.version += 1;
    }

    /// Forgets the nick equal to `nick` ignoring case, if known.
    pub fn remove(&mut self, nick: &str) {
        if let Some(order) = self.by_key.remove(&fold(nick)) {
            self.by_order.remove(&order);
            self.version += 1;
        }
    }

    /// The nicks, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.by_order.values().map(String::as_str)
    }

    /// How many nicks are known.
    pub fn len(&self) -> usize {
        self.by_order.len()
    }

    /// Whether no nick is known.
    pub fn is_empty(&self) -> bool {
        self.by_order.is_empty()
    }

    /// A number that changes whenever the nicks do: a copy taken at the
    /// same version is current.
    pub fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(nicks: &KnownNicks) -> Vec<&str> {
        nicks.iter().collect()
    }

    #[test]
    fn keeps_the_first_spelling_in_the_order_first_seen() {
        let mut nicks = KnownNicks::default();
        nicks.add("bob");
        nicks.add("Alice");
        nicks.add("ALICE");
        nicks.add("BOB");
        assert_eq!(listed(&nicks), ["bob", "Alice"]);
        assert_eq!(nicks.len(), 2);
    }

    #[test]
    fn removes_ignoring_case_and_a_comeback_goes_last() {
        let mut nicks = KnownNicks::default();
        for nick in ["alice", "bob", "carol"] {
            nicks.add(nick);
        }
        nicks.remove("BOB");
        nicks.remove("dave");
        assert_eq!(listed(&nicks), ["alice", "carol"]);
        nicks.add("Bob");
        assert_eq!(listed(&nicks), ["alice", "carol", "Bob"]);
    }

    #[test]
    fn the_version_changes_exactly_when_the_nicks_do() {
        let mut nicks = KnownNicks::default();
        let v0 = nicks.version();
        nicks.add("alice");
        let v1 = nicks.version();
        assert_ne!(v0, v1);
        assert!(!nicks.is_empty());
        nicks.add("ALICE");
        nicks.remove("bob");
        assert_eq!(nicks.version(), v1);
        nicks.remove("alice");
        assert_ne!(nicks.version(), v1);
        assert!(nicks.is_empty());
    }

    #[test]
    fn a_version_never_comes_back_for_other_nicks() {
        // A copy taken at some version must never look current for a
        // different set of nicks: alice, then nobody, then bob.
        let mut nicks = KnownNicks::default();
        let mut seen = vec![nicks.version()];
        nicks.add("alice");
        seen.push(nicks.version());
        nicks.remove("alice");
        seen.push(nicks.version());
        nicks.add("bob");
        seen.push(nicks.version());
        let mut distinct = seen.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), seen.len(), "versions {seen:?}");
    }
}
