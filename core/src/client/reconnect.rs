//! When and how soon a client that lost its connection tries again, sans-IO:
//! the driver asks [`Rejoin::after`] what to do about an ending and sleeps
//! the delay it is given; the protocol decisions are all here.
//!
//! # Invariants
//! - Every delay is at most [`MAX_DELAY`] and at least 3/4 of the step it
//!   jitters: the n-th try after a loss waits about `FIRST_DELAY · 2ⁿ`,
//!   capped, minus up to a quarter, so a room whose server restarted is not
//!   hit by all its clients at the same instant.
//! - The jitter comes from a seeded generator: the same seed gives the same
//!   delays, so tests can name them.
//! - A nick refused as taken on a rejoin (the old connection may not be
//!   gone yet on the server's side) is tried again at most
//!   [`NICK_TAKEN_TRIES`] times in a row; then the driver asks the user, as
//!   without reconnecting.

use super::Ending;
use std::time::Duration;

/// The first wait after a loss.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between two tries.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// How many rejoins in a row may find our nick taken before the user is asked.
pub const NICK_TAKEN_TRIES: u32 = 3;

/// Exponential backoff with jitter: [`FIRST_DELAY`], doubling to [`MAX_DELAY`].
#[derive(Clone, Debug)]
pub struct Backoff {
    /// The step the next delay jitters: doubles on each delay, up to the cap.
    step: Duration,
    /// splitmix64 state.
    state: u64,
}

impl Backoff {
    /// A backoff whose jitter is drawn from `seed`.
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            step: FIRST_DELAY,
            state: seed,
        }
    }

    /// The next wait: the current step less up to a quarter of it.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(MAX_DELAY);
        let quarter = u64::try_from(step.as_millis() / 4).unwrap_or(u64::MAX);
        let jitter = match quarter {
            0 => 0,
            q => self.next_random() % (q + 1),
        };
        step.saturating_sub(Duration::from_millis(jitter))
    }

    /// Back to [`FIRST_DELAY`]: the connection came back.
    pub fn reset(&mut self) {
        self.step = FIRST_DELAY;
    }

    /// splitmix64.
    fn next_random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What to do after a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The end is final: report it as a client without reconnecting would.
    Stop,
    /// Wait this long, then connect again and rejoin with the same nick.
    RetryIn(Duration),
}

/// The reconnecting side of one client run: the backoff and the count of
/// rejoins that found the nick taken.
#[derive(Clone, Debug)]
pub struct Rejoin {
    backoff: Backoff,
    nick_taken: u32,
    /// The room was joined once at least: only then is a loss retried (a
    /// first connection that never joined is a wrong address or a refusal).
    joined_once: bool,
}

impl Rejoin {
    /// A client that has not joined yet; jitter drawn from `seed`.
    pub fn new(seed: u64) -> Rejoin {
        Rejoin {
            backoff: Backoff::new(seed),
            nick_taken: 0,
            joined_once: false,
        }
    }

    /// The server confirmed a join: the next loss starts the backoff over.
    pub fn joined(&mut self) {
        self.joined_once = true;
        self.nick_taken = 0;
        self.backoff.reset();
    }

    /// Whether the room was joined at least once.
    pub fn has_joined(&self) -> bool {
        self.joined_once
    }

    /// What to do after the connection ended as `ending`. The user leaving
    /// is final; a server shutting down is retried (servers restart), and
    /// so is any other end once the room was joined: a loss, a refusal
    /// such as `server full`, the handshake's time limit.
    pub fn after(&mut self, ending: &Ending) -> Next {
        match ending {
            Ending::Left => Next::Stop,
            _ if !self.joined_once => Next::Stop,
            _ => Next::RetryIn(self.backoff.next_delay()),
        }
    }

    /// A connection could not be made (or was dropped before the join,
    /// e.g. the join was not confirmed in time): wait, then try again.
    pub fn failed(&mut self) -> Duration {
        self.backoff.next_delay()
    }

    /// The server refused the nick as taken on a rejoin: `Some(delay)` to
    /// drop this connection and try again after it, `None` once that
    /// happened [`NICK_TAKEN_TRIES`] times in a row (then ask the user).
    pub fn nick_taken(&mut self) -> Option<Duration> {
        if self.nick_taken >= NICK_TAKEN_TRIES {
            return None;
        }
        self.nick_taken += 1;
        Some(self.backoff.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_with_bounded_jitter() {
        let mut backoff = Backoff::new(7);
        let steps = [1, 2, 4, 8, 16, 30, 30, 30];
        for step in steps {
            let step = Duration::from_secs(step);
            let delay = backoff.next_delay();
            assert!(delay <= step, "{delay:?} > {step:?}");
            assert!(delay >= step * 3 / 4, "{delay:?} < 3/4 of {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_DELAY);
    }

    #[test]
    fn the_jitter_is_splitmix64() {
        // The generator's published first outputs for seed 0.
        let mut backoff = Backoff::new(0);
        assert_eq!(backoff.next_random(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(backoff.next_random(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn first_delays_cover_the_whole_quarter_of_jitter() {
        let (mut shortest, mut longest) = (FIRST_DELAY, Duration::ZERO);
        for seed in 0..20_000 {
            let delay = Backoff::new(seed).next_delay();
            shortest = shortest.min(delay);
            longest = longest.max(delay);
        }
        assert_eq!(shortest, FIRST_DELAY * 3 / 4);
        assert_eq!(longest, FIRST_DELAY);
    }

    #[test]
    fn a_failed_connection_waits_as_a_loss_does() {
        let mut rejoin = Rejoin::new(3);
        assert!(!rejoin.has_joined());
        let first = rejoin.failed();
        assert!(
            first >= FIRST_DELAY * 3 / 4 && first <= FIRST_DELAY,
            "{first:?}"
        );
        assert!(
            rejoin.failed() >= FIRST_DELAY * 2 * 3 / 4,
            "the step doubles"
        );
        rejoin.joined();
        assert!(rejoin.has_joined());
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_others_differ() {
        let delays = |seed| {
            let mut b = Backoff::new(seed);
            (0..6).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }

    #[test]
    fn leaving_is_final_and_a_loss_is_retried_once_joined() {
        let mut rejoin = Rejoin::new(0);
        // Never joined: a first connection's end is reported, not retried.
        assert_eq!(rejoin.after(&Ending::Closed), Next::Stop);
        rejoin.joined();
        assert_eq!(rejoin.after(&Ending::Left), Next::Stop);
        for ending in [
            Ending::Closed,
            Ending::ServerShutdown,
            Ending::HandshakeTimeLimit,
            Ending::Refused("error: server full".into()),
        ] {
            assert!(
                matches!(rejoin.after(&ending), Next::RetryIn(d) if d <= MAX_DELAY),
                "{ending:?} not retried"
            );
        }
    }

    #[test]
    fn a_taken_nick_is_retried_a_bounded_number_of_times() {
        let mut rejoin = Rejoin::new(0);
        rejoin.joined();
        for _ in 0..NICK_TAKEN_TRIES {
            assert!(rejoin.nick_taken().is_some());
        }
        assert_eq!(rejoin.nick_taken(), None);
        // A join in between starts the count over.
        rejoin.joined();
        assert!(rejoin.nick_taken().is_some());
    }
}
