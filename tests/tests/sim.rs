//! The simulation properties: quickcheck scenarios through the real core.
//!
//! Every run prints its seed, size and test count, and the command that
//! replays exactly those scenarios. More scenarios:
//! `CHAT_SIM_TESTS=1000000 cargo test -p chat-tests --release --test sim -- --nocapture`.

use chat_tests::prelude::*;
use chat_tests::run::run_property;
use chat_tests::seed::Seed;
use quickcheck::{Arbitrary, Gen};
use std::io::Write as _;
use std::time::Instant;

/// Scenarios per run by default: a few thousand in well under a minute (release).
const TESTS: u64 = 4_000;
/// The longest script, in ops.
const SIZE: usize = 80;

#[test]
fn simulated_room_keeps_every_invariant() {
    let seed = Seed::from_env(TESTS, SIZE);
    let banner = format!(
        "sim: seed {} size {} tests {}\nsim: replay with: {}",
        seed.seed,
        seed.size,
        seed.tests,
        seed.replay("sim")
    );
    // Straight to the stderr handle: libtest captures `eprintln!`, and the
    // seed must show in every log, passing or not.
    let _ = writeln!(std::io::stderr(), "{banner}");
    let started = Instant::now();
    match run_property(seed, "sim") {
        Ok(passed) => {
            let took = started.elapsed();
            let _ = writeln!(
                std::io::stderr(),
                "sim: {passed} scenarios passed in {took:.1?}"
            );
        }
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn a_seed_generates_the_same_scenarios() {
    let generate = |seed| {
        let mut g = Gen::from_size_and_seed(SIZE, seed);
        (0..20)
            .map(|_| Scenario::arbitrary(&mut g))
            .collect::<Vec<_>>()
    };
    assert_eq!(generate(7), generate(7));
    assert_ne!(generate(7), generate(8));
}

#[test]
fn shrinking_only_simplifies() {
    let mut g = Gen::from_size_and_seed(SIZE, 1);
    for _ in 0..20 {
        let s = Scenario::arbitrary(&mut g);
        for t in s.shrink() {
            assert!(t.ops.len() <= s.ops.len());
            assert_ne!(t, s, "a shrink changes something");
        }
    }
}

#[test]
fn a_scenario_prints_as_a_script() {
    let s = Scenario::plain(vec![
        Connect {
            dialect: Framed,
            crlf: false,
        },
        Nick {
            client: 0,
            nick: Valid(1),
        },
        Say { client: 0, pad: 2 },
    ]);
    let text = format!("{s:?}");
    assert!(text.contains("ops: vec!["), "{text}");
    assert!(text.contains("// c0 sends nick \"bob\""), "{text}");
    assert!(text.contains("// c0 says \"#0.0 héllo wörld\""), "{text}");
}
