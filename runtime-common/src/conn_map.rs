//! The driver's tables keyed by [`ConnId`]: a `HashMap` with a hash of one
//! multiplication instead of SipHash.
//!
//! A room line goes to every joined user, so a driver looks up one entry
//! per recipient per line: at a thousand users, SipHash was the largest
//! single cost of carrying out the room's sends. SipHash's keys defend a
//! table against keys an attacker picks; a `ConnId` is never picked by a
//! peer (the acceptor counts them up), so the table needs only a hash that
//! spreads consecutive ids over its buckets.

use chat_core::ConnId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A table keyed by connection id.
pub type ConnMap<V> = HashMap<ConnId, V, BuildHasherDefault<ConnIdHasher>>;

/// 2^64 divided by the golden ratio, odd: multiplying by it is a bijection
/// of `u64` that carries every bit of the id into the high bits.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hashes a [`ConnId`] (its one `u64`) by a multiplication.
///
/// # Invariants
/// Ids that differ in their low `k` bits get hashes that differ in their
/// low `k` bits (the multiplier is odd), and consecutive ids get high bits
/// spread over the whole range: `hashbrown` picks the bucket from the low
/// bits and the tag it compares first from the top seven.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnIdHasher {
    hash: u64,
}

impl Hasher for ConnIdHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write_u64(&mut self, id: u64) {
        self.hash = (self.hash ^ id).wrapping_mul(GOLDEN);
    }

    /// Any other key (not a `ConnId`): its bytes, eight at a time.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn hash(conn: ConnId) -> u64 {
        BuildHasherDefault::<ConnIdHasher>::default().hash_one(conn)
    }

    #[test]
    fn consecutive_ids_fill_the_buckets_and_the_tags() {
        let hashes: Vec<u64> = (0..1024).map(|id| hash(ConnId(id))).collect();
        // A table of 1 024 buckets: one id per bucket.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        assert_eq!(buckets.len(), 1024);
        // The top seven bits (the tag): nearly all 128 values occur.
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(tags.len() >= 120, "{} tags of 128", tags.len());
    }

    #[test]
    fn a_conn_id_hashes_as_its_number() {
        // `ConnId` hashes through `write_u64`, not `write`: one multiplication.
        let mut hasher = ConnIdHasher::default();
        ConnId(7).hash(&mut hasher);
        assert_eq!(hasher.finish(), 7u64.wrapping_mul(GOLDEN));
    }

    #[test]
    fn a_map_keeps_its_entries() {
        let mut map: ConnMap<u64> = ConnMap::default();
        for id in 0..10_000 {
            map.insert(ConnId(id * 3), id);
        }
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000).all(|id| map.get(&ConnId(id * 3)) == Some(&id)));
        assert_eq!(map.get(&ConnId(1)), None);
    }
}
