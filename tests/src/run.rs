//! Running a scenario through every phase, and the quickcheck property.
//!
//! A scenario runs as TigerBeetle's VOPR runs a seed:
//! 1. **Faults**: every op of the script, with the scenario's faults on;
//!    safety invariants after every step.
//! 2. **Heal**: no more stalls or resets, every client reads; within a
//!    bounded number of steps the room must go quiet, every connected user
//!    must have read every byte sent to it, every send account must be 0.
//! 3. **Empty**: every client hangs up; the room must hold no state.
//!
//! Then the oracles that need the whole run. Every scenario also runs a
//! second time with each framed read cut again (the same byte streams cut
//! differently must give the same transcripts), and some run a third time
//! unchanged (the same run must give the same trace, byte for byte).

use crate::check::Violation;
use crate::scenario::Scenario;
use crate::seed::Seed;
use crate::sim::Sim;
use chat_core::{CloseMode, ConnId};
use quickcheck::{Gen, QuickCheck, TestResult};
use std::cell::RefCell;
use std::fmt;

/// Why a scenario failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A checker fired.
    Violation {
        /// The phase it fired in.
        phase: &'static str,
        /// What fired.
        violation: Violation,
        /// The last steps before it.
        recent: String,
    },
    /// A phase did not finish within its step budget.
    OutOfSteps {
        /// The phase.
        phase: &'static str,
        /// The budget.
        steps: u64,
        /// What was still pending.
        pending: String,
        /// The last steps.
        recent: String,
    },
    /// The healed room did not deliver everything.
    Liveness(String),
    /// Two runs that must agree did not.
    Mismatch(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Violation {
                phase,
                violation,
                recent,
            } => write!(f, "[{phase}] {violation}\nlast steps:\n{recent}"),
            Failure::OutOfSteps {
                phase,
                steps,
                pending,
                recent,
            } => write!(
                f,
                "[{phase}] not done after {steps} steps; {pending}\nlast steps:\n{recent}"
            ),
            Failure::Liveness(s) => write!(f, "[liveness] {s}"),
            Failure::Mismatch(s) => write!(f, "[mismatch] {s}"),
        }
    }
}

/// What a run produced, for comparing runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the core sent to each connection, in id order.
    pub streams: Vec<(ConnId, Vec<u8>)>,
    /// A hash of every input and action.
    pub trace: u64,
    /// Steps taken.
    pub steps: u64,
}

/// Runs one scenario through every phase (see the module doc).
pub fn run(scenario: &Scenario, recut: bool) -> Result<Outcome, Failure> {
    let mut sim = Sim::new(scenario, recut);
    let budget = 50_000 + 5_000 * scenario.ops.len() as u64;
    phase(&mut sim, "faults", budget, |s| !s.ops_left())?;
    sim.heal();
    phase(&mut sim, "heal", budget, |_| false)?;
    healed(&sim)?;
    sim.hang_up_all();
    phase(&mut sim, "empty", budget, |_| false)?;
    empty(&sim)?;
    sim.checker()
        .finish()
        .map_err(|violation| Failure::Violation {
            phase: "end",
            violation,
            recent: String::new(),
        })?;
    let checker = sim.checker();
    Ok(Outcome {
        streams: checker
            .conn_ids()
            .into_iter()
            .map(|c| (c, checker.stream(c).to_vec()))
            .collect(),
        trace: sim.trace_hash(),
        steps: sim.step,
    })
}

fn phase(
    sim: &mut Sim,
    name: &'static str,
    budget: u64,
    done: fn(&Sim) -> bool,
) -> Result<(), Failure> {
    sim.drive(budget, done).map_err(|e| match e {
        Some(violation) => Failure::Violation {
            phase: name,
            violation,
            recent: sim.recent_steps(),
        },
        None => Failure::OutOfSteps {
            phase: name,
            steps: budget,
            pending: sim.pending(),
            recent: sim.recent_steps(),
        },
    })
}

/// One connection after the healed phase, as the liveness check sees it.
#[derive(Clone, Debug)]
pub struct LinkReport<'a> {
    /// The connection.
    pub conn: ConnId,
    /// What the core sent to it.
    pub sent: &'a [u8],
    /// What its client read.
    pub received: &'a [u8],
    /// Bytes the socket has not taken.
    pub unwritten: usize,
    /// Bytes in the socket the client has not read.
    pub in_socket: usize,
    /// How the core closed it, if it did.
    pub closed: Option<CloseMode>,
    /// Whether its client reset it.
    pub dead: bool,
    /// Whether its client saw the end of the stream.
    pub eof: bool,
    /// `unflushed(conn)` now.
    pub unflushed: Option<usize>,
    /// Whether it joined.
    pub joined: bool,
}

/// After healing: every open user joined, read every byte, owes nothing;
/// every flushed close delivered everything.
pub fn check_healed(links: &[LinkReport<'_>]) -> Result<(), Failure> {
    for l in links {
        if l.dead || l.closed == Some(CloseMode::Abort) {
            continue;
        }
        if l.received != l.sent || l.unwritten != 0 || l.in_socket != 0 {
            return Err(Failure::Liveness(format!(
                "{} read {} of {} bytes sent to it ({} unwritten, {} in its socket)",
                l.conn,
                l.received.len(),
                l.sent.len(),
                l.unwritten,
                l.in_socket
            )));
        }
        if l.closed.is_none() && (l.unflushed != Some(0) || !l.joined) {
            return Err(Failure::Liveness(format!(
                "{} is open with unflushed() = {:?}, joined: {}",
                l.conn, l.unflushed, l.joined
            )));
        }
        if l.closed.is_some() && !l.eof {
            return Err(Failure::Liveness(format!(
                "{} was closed but never saw the end",
                l.conn
            )));
        }
    }
    Ok(())
}

fn healed(sim: &Sim) -> Result<(), Failure> {
    let checker = sim.checker();
    let links: Vec<LinkReport<'_>> = sim
        .net()
        .links
        .iter()
        .map(|l| LinkReport {
            conn: l.conn,
            sent: checker.stream(l.conn),
            received: &l.received,
            unwritten: l.unwritten(),
            in_socket: l.in_socket(),
            closed: l.closed,
            dead: l.dead,
            eof: l.eof,
            unflushed: sim.room().unflushed(l.conn),
            joined: checker.has_joined(l.conn),
        })
        .collect();
    check_healed(&links)
}

/// The room's getters once everyone has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmptyReport {
    /// `connections()`.
    pub connections: usize,
    /// `is_idle()`.
    pub idle: bool,
    /// `joined().count()`.
    pub joined: usize,
    /// `poll_timeout()`.
    pub deadline: Option<chat_core::Time>,
}

/// After everyone hung up: the room holds no state.
pub fn check_empty(r: EmptyReport) -> Result<(), Failure> {
    if r.connections != 0 || !r.idle || r.joined != 0 || r.deadline.is_some() {
        return Err(Failure::Liveness(format!(
            "everyone left but the room still holds {r:?}"
        )));
    }
    Ok(())
}

fn empty(sim: &Sim) -> Result<(), Failure> {
    let room = sim.room();
    check_empty(EmptyReport {
        connections: room.connections(),
        idle: room.is_idle(),
        joined: room.joined().count(),
        deadline: room.poll_timeout(),
    })
}

/// Two runs that must give the same transcripts: `what` names the pair.
pub fn compare_runs(a: &Outcome, b: &Outcome, what: &str, with_trace: bool) -> Result<(), Failure> {
    if a.streams.len() != b.streams.len() {
        return Err(Failure::Mismatch(format!(
            "{what}: {} connections against {}",
            a.streams.len(),
            b.streams.len()
        )));
    }
    for ((conn, x), (_, y)) in a.streams.iter().zip(&b.streams) {
        if x != y {
            return Err(Failure::Mismatch(format!(
                "{what}: {conn} got different bytes:\n  first:  {:?}\n  second: {:?}",
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y)
            )));
        }
    }
    if with_trace && a.trace != b.trace {
        return Err(Failure::Mismatch(format!("{what}: the traces differ")));
    }
    Ok(())
}

/// Runs `scenario` (and its recut and, for some, repeated runs) with every check.
pub fn check_scenario(scenario: &Scenario) -> Result<(), Failure> {
    let plain = run(scenario, false)?;
    let recut = run(scenario, true)?;
    // With a per-send overhead, where a reader passes its send queue
    // depends on how many sends carried its lines, so on the cuts; the
    // invariants are checked in both runs all the same.
    if scenario.config.send_overhead == 0 {
        compare_runs(&plain, &recut, "the same bytes cut differently", false)?;
    }
    if scenario.ops.len().is_multiple_of(4) {
        let again = run(scenario, false)?;
        compare_runs(&plain, &again, "the same scenario run twice", true)?;
    }
    Ok(())
}

/// Panics with the failure if `scenario` breaks an invariant (for named
/// regression tests).
pub fn assert_scenario_passes(scenario: &Scenario) {
    if let Err(failure) = check_scenario(scenario) {
        panic!("scenario failed:\n{scenario:?}\n{failure}");
    }
}

/// A generated scenario that runs and checks itself: what [`run_checked`]
/// generates, shrinks and reports.
pub trait CheckedScenario: quickcheck::Arbitrary + fmt::Debug {
    /// Runs the scenario with every check; `Err` says what broke.
    fn check(&self) -> Result<(), String>;

    /// The scenario as a failure report shows it.
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl CheckedScenario for Scenario {
    fn check(&self) -> Result<(), String> {
        check_scenario(self).map_err(|failure| failure.to_string())
    }
}

thread_local! {
    /// The last failing scenario of a property on this thread, as
    /// described, and what broke (the shrunk one, since quickcheck tries
    /// shrinks in order).
    static LAST_FAILURE: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

fn property<S: CheckedScenario>(scenario: S) -> TestResult {
    match scenario.check() {
        Ok(()) => TestResult::passed(),
        Err(text) => {
            let described = scenario.describe();
            LAST_FAILURE.with(|l| *l.borrow_mut() = Some((described, text.clone())));
            TestResult::error(text)
        }
    }
}

/// A scenario that quickcheck does not shrink (`CHAT_SIM_SHRINK=0`).
#[derive(Clone, Debug)]
struct Unshrunk<S>(S);

impl<S: CheckedScenario> quickcheck::Arbitrary for Unshrunk<S> {
    fn arbitrary(g: &mut Gen) -> Self {
        Unshrunk(S::arbitrary(g))
    }
}

fn unshrunk_property<S: CheckedScenario>(scenario: Unshrunk<S>) -> TestResult {
    property(scenario.0)
}

/// Runs the property of `S` on `seed.tests` scenarios from `seed`; `Err`
/// holds the report: `what` failed, the shrunk scenario, what broke, and
/// the replay command of `test`.
pub fn run_checked<S: CheckedScenario>(seed: Seed, test: &str, what: &str) -> Result<u64, String> {
    LAST_FAILURE.with(|l| *l.borrow_mut() = None);
    let mut checker = QuickCheck::new()
        .rng(Gen::from_size_and_seed(seed.size, seed.seed))
        .tests(seed.tests)
        .max_tests(seed.tests);
    let result = if seed.shrink {
        checker.quicktest(property::<S> as fn(S) -> TestResult)
    } else {
        checker.quicktest(unshrunk_property::<S> as fn(Unshrunk<S>) -> TestResult)
    };
    match result {
        Ok(passed) => Ok(passed),
        Err(result) => {
            let detail = LAST_FAILURE.with(|l| l.borrow_mut().take()).map_or_else(
                || format!("{result:?}"),
                |(s, text)| {
                    let kind = if seed.shrink {
                        "shrunk"
                    } else {
                        "failing (not shrunk)"
                    };
                    format!("{kind} scenario:\n{s}\n\nwhat broke:\n{text}")
                },
            );
            Err(format!(
                "{what} failed\n\n{detail}\n\nreplay: {}",
                seed.replay(test)
            ))
        }
    }
}

/// Runs the property on `seed.tests` scenarios from `seed`; `Err` holds the
/// report: the shrunk scenario, what broke, and the replay command.
pub fn run_property(seed: Seed, test: &str) -> Result<u64, String> {
    run_checked::<Scenario>(seed, test, "simulation")
}
