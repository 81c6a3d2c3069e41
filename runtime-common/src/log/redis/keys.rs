//! Names in Redis (the room's keys) and the reconnect backoff.

use std::time::Duration;

/// The Redis keys of one room. The room's name is a hash tag (`{room}`),
/// so the three keys live in one slot and one script may touch them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The stream: one entry per log entry, its bytes in field `e`.
    pub(crate) log: String,
    /// The epoch: a random value set once per life of the stream.
    pub(crate) epoch: String,
    /// A hash: `id` (the last stream id the snapshot covers), `state` (its
    /// bytes), `epoch` (the epoch it belongs to), `trimmed` (the stream
    /// holds no entry before this id).
    pub(crate) snapshot: String,
    /// A hash: for each node name, `INCARNATION SEQ` of the last entry of
    /// its that was appended, so that an append sent again after a failure
    /// is not appended twice.
    pub(crate) appended: String,
}

impl Keys {
    pub(crate) fn new(room: &str) -> Self {
        Keys {
            log: format!("chat:{{{room}}}:log"),
            epoch: format!("chat:{{{room}}}:epoch"),
            snapshot: format!("chat:{{{room}}}:snapshot"),
            appended: format!("chat:{{{room}}}:appended"),
        }
    }
}

/// The field of a stream entry that holds the entry's bytes.
pub(crate) const ENTRY_FIELD: &str = "e";

/// Waits between reconnect attempts: from [`Backoff::FIRST`], doubling up
/// to [`Backoff::MAX`]; back to the first after a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) const FIRST: Duration = Duration::from_millis(100);
    pub(crate) const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The wait before the next attempt; doubles the one after.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// A random value for an epoch: a hash of the time, the process and a
/// counter, keyed by std's per-process random keys. Not cryptographic;
/// only distinct.
pub(crate) fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_bound_and_resets() {
        let mut backoff = Backoff::new();
        let waits: Vec<_> = (0..8).map(|_| backoff.next_wait()).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(waits[7], Backoff::MAX);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Backoff::FIRST);
    }

    #[test]
    fn keys_share_the_room_as_a_hash_tag() {
        let keys = Keys::new("lobby");
        assert_eq!(keys.log, "chat:{lobby}:log");
        assert_eq!(keys.epoch, "chat:{lobby}:epoch");
        assert_eq!(keys.snapshot, "chat:{lobby}:snapshot");
        assert_eq!(keys.appended, "chat:{lobby}:appended");
    }
}
