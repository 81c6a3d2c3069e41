//! Delivery accounting for one receiving connection, and the sums over all.
//!
//! A receiver expects every message of every sender exactly once: `senders`
//! × `messages` deliveries. It remembers which it has seen (one bit each)
//! and the highest sequence number seen per sender, which gives:
//! - **duplicated**: a marker already seen;
//! - **out of order**: a first delivery whose sequence number is below one
//!   already seen from the same sender;
//! - **unknown**: a well-formed marker naming a sender or sequence number
//!   outside the run;
//! - **lost**: expected minus unique deliveries, at the end.

/// What one received marker was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Seen for the first time.
    New,
    /// Seen before.
    Duplicate,
    /// Names a sender or sequence number outside the run.
    Unknown,
}

/// One receiver's account.
///
/// # Invariants
/// `unique` is the number of set bits in `seen`, at most `expected()`.
#[derive(Debug)]
pub(crate) struct Tally {
    senders: u32,
    messages: u32,
    /// Bit `sender * messages + seq`.
    seen: Vec<u64>,
    /// Per sender, the highest sequence number seen plus one (0: none yet).
    high: Vec<u32>,
    counts: Counts,
}

/// The counters of one or many receivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Deliveries expected.
    pub(crate) expected: u64,
    /// Distinct deliveries received.
    pub(crate) unique: u64,
    /// Deliveries of a marker already received.
    pub(crate) duplicated: u64,
    /// First deliveries that came after a later message of the same sender.
    pub(crate) out_of_order: u64,
    /// Well-formed markers from outside the run.
    pub(crate) unknown: u64,
    /// `#`s that did not start a well-formed marker.
    pub(crate) malformed: u64,
}

impl Counts {
    /// Expected deliveries that never arrived.
    pub(crate) fn lost(&self) -> u64 {
        self.expected - self.unique
    }

    /// Adds `other`'s counters to these.
    pub(crate) fn add(&mut self, other: &Counts) {
        self.expected += other.expected;
        self.unique += other.unique;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.unknown += other.unknown;
        self.malformed += other.malformed;
    }
}

impl Tally {
    /// An empty account for a run of `senders` × `messages`.
    pub(crate) fn new(senders: u32, messages: u32) -> Self {
        let bits = u64::from(senders) * u64::from(messages);
        let words = usize::try_from(bits.div_ceil(64)).expect("bench::memory_needed bounds this");
        Tally {
            senders,
            messages,
            seen: vec![0; words],
            high: vec![0; senders as usize],
            counts: Counts {
                expected: bits,
                ..Counts::default()
            },
        }
    }

    /// Bytes one `Tally::new(senders, messages)` takes, roughly.
    pub(crate) fn memory(senders: u32, messages: u32) -> u64 {
        let bits = u64::from(senders) * u64::from(messages);
        bits.div_ceil(64) * 8 + u64::from(senders) * 4 + 128
    }

    /// Records one received marker.
    pub(crate) fn record(&mut self, sender: u32, seq: u32) -> Delivery {
        if sender >= self.senders || seq >= self.messages {
            self.counts.unknown += 1;
            return Delivery::Unknown;
        }
        let bit = u64::from(sender) * u64::from(self.messages) + u64::from(seq);
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        if self.seen[word] & mask != 0 {
            self.counts.duplicated += 1;
            return Delivery::Duplicate;
        }
        self.seen[word] |= mask;
        self.counts.unique += 1;
        let high = &mut self.high[sender as usize];
        if seq < *high {
            self.counts.out_of_order += 1;
        } else {
            *high = seq + 1;
        }
        Delivery::New
    }

    /// Counts a `#` that started no well-formed marker.
    pub(crate) fn malformed_counter(&mut self) -> &mut u64 {
        &mut self.counts.malformed
    }

    /// Whether every expected delivery arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.counts.unique == self.counts.expected
    }

    /// The counters so far.
    pub(crate) fn counts(&self) -> &Counts {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_deliveries_complete_the_account() {
        let mut tally = Tally::new(3, 4);
        for seq in 0..4 {
            for sender in 0..3 {
                assert!(!tally.is_complete());
                assert_eq!(tally.record(sender, seq), Delivery::New);
            }
        }
        assert!(tally.is_complete());
        let counts = *tally.counts();
        assert_eq!((counts.expected, counts.unique, counts.lost()), (12, 12, 0));
        assert_eq!(counts.duplicated + counts.out_of_order + counts.unknown, 0);
    }

    #[test]
    fn missing_deliveries_are_lost() {
        let mut tally = Tally::new(2, 3);
        tally.record(0, 0);
        tally.record(1, 2);
        assert!(!tally.is_complete());
        assert_eq!(tally.counts().lost(), 4);
    }

    #[test]
    fn a_repeat_is_a_duplicate_not_a_delivery() {
        let mut tally = Tally::new(2, 2);
        assert_eq!(tally.record(1, 1), Delivery::New);
        assert_eq!(tally.record(1, 1), Delivery::Duplicate);
        assert_eq!(tally.record(1, 1), Delivery::Duplicate);
        let counts = tally.counts();
        assert_eq!((counts.unique, counts.duplicated), (1, 2));
        assert_eq!(counts.lost(), 3);
    }

    #[test]
    fn an_earlier_message_after_a_later_one_is_out_of_order() {
        let mut tally = Tally::new(2, 5);
        tally.record(0, 0);
        tally.record(0, 3);
        tally.record(1, 1); // another sender: its own order
        tally.record(0, 1); // late
        tally.record(0, 2); // late
        tally.record(0, 4);
        assert_eq!(tally.counts().out_of_order, 2);
        assert_eq!(tally.counts().unique, 6);
    }

    #[test]
    fn gaps_alone_are_not_out_of_order() {
        let mut tally = Tally::new(1, 10);
        for seq in [0, 2, 5, 9] {
            tally.record(0, seq);
        }
        assert_eq!(tally.counts().out_of_order, 0);
        assert_eq!(tally.counts().lost(), 6);
    }

    #[test]
    fn markers_from_outside_the_run_are_unknown() {
        let mut tally = Tally::new(2, 2);
        assert_eq!(tally.record(2, 0), Delivery::Unknown);
        assert_eq!(tally.record(0, 2), Delivery::Unknown);
        assert_eq!(tally.counts().unknown, 2);
        assert_eq!(tally.counts().unique, 0);
    }

    #[test]
    fn counts_add_up() {
        let mut a = Tally::new(1, 2);
        a.record(0, 0);
        a.record(0, 0);
        *a.malformed_counter() += 1;
        let mut b = Tally::new(1, 2);
        b.record(0, 1);
        b.record(0, 0);
        let mut sum = Counts::default();
        sum.add(a.counts());
        sum.add(b.counts());
        assert_eq!(
            sum,
            Counts {
                expected: 4,
                unique: 3,
                duplicated: 1,
                out_of_order: 1,
                unknown: 0,
                malformed: 1,
            }
        );
        assert_eq!(sum.lost(), 1);
    }

    #[test]
    fn the_last_bit_of_a_word_is_its_own() {
        let mut tally = Tally::new(1, 130);
        for seq in [63, 64, 127, 128, 129] {
            assert_eq!(tally.record(0, seq), Delivery::New, "{seq}");
        }
        assert_eq!(tally.counts().unique, 5);
    }
}
