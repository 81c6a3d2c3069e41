//! `chat bench`: a load generator for any server speaking docs/protocol.md (or
//! the seed dialect), for capacity planning on this machine.
//!
//! # Phases
//! 1. **Join**: C clients connect and join with nicks `bench0`, `bench1`, ...
//!    (at most `--join-window` in the handshake at once), each through a
//!    `chat_core::client::Session`. Ends when every client joined or failed,
//!    or at `--timeout`. In `handshake`, each client's join ends at the
//!    server's `alias?` prompt, and it closes its connection there.
//! 2. **Go** (the barrier): every client the server confirmed is in the room,
//!    so every line sent from now on reaches all of them. Senders start:
//!    in `fanout` every client sends M payloads of S bytes (full speed, or
//!    `--rate` per second each); in `idle` client 0 sends one probe; in
//!    `handshake` nobody sends.
//! 3. **Drain**: until every expected delivery arrived, every client lost
//!    its connection, nothing new arrived for `--stall` (lost messages never
//!    come), or `--timeout` passed. Then every connection closes.
//!
//! Each payload carries its sender, sequence number and send time (see
//! `payload`); every client counts what it receives from every sender
//! (`tally`): lost, duplicated, out of order, and the latency of each
//! delivery into an hdrhistogram (in `handshake`: the time from connect
//! to the prompt).
//!
//! # Several servers
//! With `--port A,B,...` (n ports) client i connects to the (i mod n)-th
//! port. The run still expects one room across all of them, as servers
//! started with `--cluster` serve: every client must receive every
//! message, so servers that are separate rooms show lost deliveries.
//! Besides the overall latency, the deliveries whose sender is on another
//! server than the recipient have a histogram of their own.
//!
//! With `--tls` every connection speaks TLS: the handshake runs after the
//! connect (`chat_runtime_smol::tls::run`), reads are decrypted in place
//! into the same per-thread buffer, and writes are sealed before they go
//! out; the plain path is the same code as without TLS.
//!
//! # Threads
//! A few worker threads (`worker`), each a `smol::LocalExecutor` with one
//! task per client on non-blocking sockets: 64 KiB reads into a per-thread
//! buffer, a SIMD scan for markers, no allocation per received line. The
//! calling thread coordinates: it polls relaxed counters, draws the
//! progress bar, reads the server's memory and ends each phase. Every wait
//! is bounded by `--timeout`.

mod args;
mod conn;
mod limits;
mod payload;
mod progress;
mod report;
mod rss;
mod scan;
mod shared;
mod tally;
mod worker;

pub(crate) use args::BenchArgs;

use crate::out;
use args::Scenario;
use progress::Bar;
use report::{DrainEnd, Latency, Report, Rss};
use shared::{Plan, Shared};
use smol::channel::{self, Sender};
use smol::lock::Semaphore;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tally::{Counts, Tally};
use worker::ThreadReport;

/// How often the coordinator looks at the counters.
const POLL: Duration = Duration::from_millis(5);
/// Most memory the delivery accounts of one run may take.
const MAX_ACCOUNT_BYTES: u64 = 4 << 30;
/// File descriptors needed beyond one per client.
const SPARE_FDS: u64 = 64;
/// Largest payload accepted.
const MAX_SIZE: usize = 64 * 1024;

/// Runs `chat bench`. Prints the report on stdout; a failure before there is
/// one is an `error: ...` line on stderr and exit code 1.
pub(crate) fn run(args: &BenchArgs) -> ExitCode {
    match bench(args) {
        Ok(report) if args.json => {
            out::stdout_line(&report.to_json().to_string());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            out::stdout_text(&report.to_table());
            ExitCode::SUCCESS
        }
        Err(message) => {
            out::stderr_line(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Checks the flags and fixes the run.
fn plan(args: &BenchArgs) -> Result<Plan, String> {
    let ports = &args.port.0;
    if ports.contains(&0) {
        return Err("--port 0 names no server".into());
    }
    if u32::try_from(ports.len()).is_err() {
        return Err("--port lists too many servers".into());
    }
    if let Some(pids) = &args.server_pid {
        if pids.0.len() != ports.len() {
            return Err(format!(
                "--server-pid lists {} pids for {} ports: give one per port, in the same order",
                pids.0.len(),
                ports.len()
            ));
        }
    }
    let mut addrs = Vec::with_capacity(ports.len());
    for &port in ports {
        let addr = crate::runtime::resolve(&args.host, port)?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing {} ({}): chat bench only loads a server on this machine; use a loopback address such as 127.0.0.1",
                args.host,
                addr.ip()
            ));
        }
        addrs.push(addr);
    }
    let (senders, messages) = match args.scenario {
        Scenario::Fanout => (args.clients, args.messages),
        Scenario::Idle => (1, 1),
        Scenario::Handshake => (0, 0),
    };
    let min = payload::min_size(senders, messages);
    if args.size < min || args.size > MAX_SIZE {
        return Err(format!(
            "--size {} is out of range: this run's marker needs at least {min} bytes, and the most is {MAX_SIZE}",
            args.size
        ));
    }
    let memory = u64::from(args.clients) * Tally::memory(senders, messages);
    if memory > MAX_ACCOUNT_BYTES {
        return Err(format!(
            "{} clients × {senders} senders × {messages} messages need {} MiB of delivery accounts (at most {} MiB)",
            args.clients,
            memory >> 20,
            MAX_ACCOUNT_BYTES >> 20
        ));
    }
    let tls = args.tls.client_tls(&args.host)?;
    Ok(Plan {
        addrs,
        scenario: args.scenario,
        tls,
        dialect: args.dialect.dialect(),
        clients: args.clients,
        senders,
        messages,
        size: args.size,
        rate: args.rate,
        epoch: Instant::now(),
    })
}

/// What the coordinator saw of the phases.
#[derive(Debug)]
struct Phases {
    /// First connect to last join, if anyone joined.
    join_seconds: Option<f64>,
    /// Why the drain ended.
    drain_end: DrainEnd,
    /// Go to the last distinct delivery (0 when none arrived).
    elapsed_seconds: f64,
    /// Go to the end of the drain.
    waited_seconds: f64,
    rss: Option<Rss>,
}

fn bench(args: &BenchArgs) -> Result<Report, String> {
    let plan = plan(args)?;
    limits::ensure_open_files(u64::from(plan.clients) + SPARE_FDS)?;
    let rss_before = args.server_pid.as_ref().map(rss::read_sum).transpose()?;
    let threads = args
        .threads
        .unwrap_or_else(|| default_threads(args))
        .min(plan.clients);
    let (go, go_rx) = channel::bounded(1);
    let (stop, stop_rx) = channel::bounded(1);
    let shared = Arc::new(Shared {
        plan,
        join_slots: Semaphore::new(args.join_window as usize),
        go: go_rx,
        stop: stop_rx,
        go_ns: AtomicU64::new(0),
        progress: shared::Progress::default(),
        failures: Default::default(),
    });
    let start_ns = shared.plan.now_ns();
    let mut workers = Vec::new();
    let mut spawn_error = None;
    for index in 0..threads {
        match worker::spawn(Arc::clone(&shared), index, threads) {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                spawn_error = Some(format!("cannot start a worker thread: {e}"));
                break;
            }
        }
    }
    let phases = match spawn_error {
        None => Ok(drive(&shared, &go, args, start_ns, rss_before)),
        Some(e) => Err(e),
    };
    go.close();
    stop.close();
    let (latency, counts) = collect(workers)?;
    let phases = phases?;
    Ok(report(args, &shared, threads, phases, &latency, counts))
}

/// Worker threads when `--threads` is absent. At a fixed rate one thread
/// measures latency best: async-io has one reactor for the process, so with
/// two threads most readiness events cross threads (a futex wake each), which
/// doubled the p50 and p99 measured at C=100 × 10 msgs/s. At full speed the
/// second thread's parallelism wins (1.6× the deliveries/s at C=100 × 100).
fn default_threads(args: &BenchArgs) -> u32 {
    if args.rate.is_some() {
        1
    } else {
        thread::available_parallelism().map_or(1, |n| n.get() as u32)
    }
}

/// Runs the phases from the calling thread; every wait is bounded.
fn drive(
    shared: &Shared,
    go: &Sender<()>,
    args: &BenchArgs,
    start_ns: u64,
    rss_before: Option<u64>,
) -> Phases {
    let plan = &shared.plan;
    let p = &shared.progress;
    let rss_now = || {
        args.server_pid
            .as_ref()
            .and_then(|pids| rss::read_sum(pids).ok())
    };
    let bar = Bar::new();

    bar.phase("joining", u64::from(plan.clients));
    let deadline = Instant::now() + args.timeout.0;
    wait_until(deadline, || {
        let done = p.joined.load(Relaxed) + p.join_failed.load(Relaxed);
        bar.set(u64::from(done));
        done >= plan.clients
    });
    let joined = p.joined.load(Relaxed);
    let join_seconds =
        (joined > 0).then(|| seconds(p.last_join_ns.load(Relaxed).saturating_sub(start_ns)));
    let rss_joined = rss_now();

    let go_ns = plan.now_ns();
    shared.go_ns.store(go_ns, Relaxed);
    go.close();
    let target =
        u64::from(joined) * u64::from(p.joined_senders.load(Relaxed)) * u64::from(plan.messages);
    bar.phase("delivering", target);
    let deadline = Instant::now() + args.timeout.0;
    let stall_ns = shared::nanos(args.stall.0);
    let mut drain_end = DrainEnd::Timeout;
    wait_until(deadline, || {
        let delivered = p.delivered.load(Relaxed);
        bar.set(delivered);
        let last = p.last_delivery_ns.load(Relaxed).max(go_ns);
        drain_end = if delivered >= target {
            DrainEnd::Complete
        } else if p.closed_early.load(Relaxed) >= joined {
            DrainEnd::AllClosed
        } else if plan.now_ns().saturating_sub(last) >= stall_ns {
            DrainEnd::Stalled
        } else {
            return false;
        };
        true
    });
    let waited_seconds = seconds(plan.now_ns().saturating_sub(go_ns));
    let last_ns = p.last_delivery_ns.load(Relaxed);
    let rss_end = rss_now();
    bar.finish();
    let rss = match (rss_before, rss_joined, rss_end) {
        (Some(before), Some(joined), Some(end)) => Some(Rss {
            before,
            joined,
            end,
        }),
        _ => None,
    };
    Phases {
        join_seconds,
        drain_end,
        elapsed_seconds: seconds(last_ns.saturating_sub(go_ns)),
        waited_seconds,
        rss,
    }
}

/// Polls `done` every few milliseconds until it holds (true) or `deadline`
/// passes (false).
fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// The merged latencies of every worker.
#[derive(Debug)]
struct Latencies {
    /// Every distinct delivery (in `handshake`: every connect to the prompt).
    all: LatencyHistogram,
    /// The distinct deliveries that crossed servers.
    cross_server: LatencyHistogram,
}

/// Joins the workers and merges what they measured.
fn collect(workers: Vec<JoinHandle<ThreadReport>>) -> Result<(Latencies, Counts), String> {
    let mut latency = Latencies {
        all: worker::histogram(),
        cross_server: worker::histogram(),
    };
    let mut counts = Counts::default();
    let mut panicked = false;
    let merge = |into: &mut LatencyHistogram, from: &LatencyHistogram| {
        into.add(from)
            .map_err(|e| format!("cannot merge latencies: {e}"))
    };
    for handle in workers {
        match handle.join() {
            Ok(report) => {
                merge(&mut latency.all, &report.latency)?;
                merge(&mut latency.cross_server, &report.cross_latency)?;
                counts.add(&report.counts);
            }
            Err(_) => panicked = true,
        }
    }
    if panicked {
        return Err("a worker thread panicked".into());
    }
    Ok((latency, counts))
}

/// The histogram type the workers fill.
type LatencyHistogram = hdrhistogram::Histogram<u64>;

fn report(
    args: &BenchArgs,
    shared: &Shared,
    threads: u32,
    phases: Phases,
    latency: &Latencies,
    mut counts: Counts,
) -> Report {
    let plan = &shared.plan;
    let p = &shared.progress;
    counts.expected = u64::from(plan.clients) * u64::from(plan.senders) * u64::from(plan.messages);
    let failures = shared.failures.lock().unwrap_or_else(|e| e.into_inner());
    Report {
        scenario: args.scenario,
        dialect: args.dialect.dialect(),
        servers: plan.addrs.clone(),
        tls: plan.tls.is_some(),
        clients: plan.clients,
        senders: plan.senders,
        messages: plan.messages,
        size: plan.size,
        rate: plan.rate,
        threads,
        joined: p.joined.load(Relaxed),
        join_failed: p.join_failed.load(Relaxed),
        join_failure: failures.first.clone(),
        join_seconds: phases.join_seconds,
        counts,
        closed_early: p.closed_early.load(Relaxed),
        send_errors: p.send_errors.load(Relaxed),
        drain_end: phases.drain_end,
        elapsed_seconds: phases.elapsed_seconds,
        waited_seconds: phases.waited_seconds,
        latency: Latency::of(&latency.all),
        cross_server_latency: Latency::of(&latency.cross_server),
        rss: phases.rss,
    }
}

/// Nanoseconds as seconds.
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}
