//! Running a cluster scenario, and the quickcheck property over them.
//!
//! A run plays every op with the checkers after every input, then heals
//! everything (every node reaches the log, every client reads, time passes
//! so dead nodes are declared lost, every node reads the whole log) and
//! runs the checkers that need a quiet cluster. Some scenarios run twice:
//! the same scenario must give the same log and the same bytes.

use super::check;
use super::scenario::ClusterScenario;
use super::world::World;
use crate::run::{run_checked, CheckedScenario};
use crate::seed::Seed;

/// What a run produced, for comparing runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The last epoch's log, as bytes.
    pub log: Vec<Vec<u8>>,
    /// What each client was sent.
    pub streams: Vec<Vec<u8>>,
}

/// Plays one scenario to its quiet end (or its first violation, in
/// `World::violation`).
pub fn play(s: &ClusterScenario) -> World {
    let mut w = World::new(s);
    for &op in &s.ops {
        w.op(op);
        if w.violation.is_some() {
            return w;
        }
    }
    w.heal_all();
    check::at_quiet(&mut w);
    w
}

/// Runs one scenario; `Err` says what broke, with the last steps.
pub fn run(s: &ClusterScenario) -> Result<Outcome, String> {
    let w = play(s);
    if let Some(v) = &w.violation {
        return Err(format!("{v}\nlast steps:\n  {}", w.recent.join("\n  ")));
    }
    Ok(Outcome {
        log: w.log.iter().map(chat_core::Entry::encode).collect(),
        streams: w.clients.iter().map(|c| c.reader.bytes.clone()).collect(),
    })
}

/// Runs `s` with every check (twice, for one scenario in three).
pub fn check_scenario(s: &ClusterScenario) -> Result<(), String> {
    let first = run(s)?;
    if s.ops.len().is_multiple_of(3) && run(s)? != first {
        return Err("the same scenario run twice gave different logs or bytes".into());
    }
    Ok(())
}

/// Panics with the failure if `s` breaks a rule (for named regression tests).
pub fn assert_cluster_passes(s: &ClusterScenario) {
    if let Err(failure) = check_scenario(s) {
        panic!("scenario failed:\n{s:?}\n{failure}");
    }
}

impl CheckedScenario for ClusterScenario {
    fn check(&self) -> Result<(), String> {
        check_scenario(self)
    }

    fn describe(&self) -> String {
        format!("{self:#?}")
    }
}

/// Runs the property on `seed.tests` scenarios; `Err` holds the shrunk
/// scenario, what broke and the replay command.
pub fn run_property(seed: Seed, test: &str) -> Result<u64, String> {
    run_checked::<ClusterScenario>(seed, test, "cluster simulation")
}
