//! `chat bench` end to end: a real `chat server` on a free port, a small
//! fanout run with `--json`, the counts checked. Every wait is bounded.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(60);

/// A `chat server` child, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chat server --port 0` on `runtime` and reads the port it prints.
fn server(runtime: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args([
            "server",
            "--port",
            "0",
            "--flood-rate",
            "0",
            "--runtime",
            runtime,
        ])
        .args(["--log-level", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat server");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let mut server = Server { child, port: 0 };
    let line = rx
        .recv_timeout(STEP)
        .expect("the server prints where it listens");
    // `listening on 127.0.0.1:PORT (runtime smol)`
    server.port = line
        .split_whitespace()
        .nth(2)
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    server
}

/// Runs `chat bench ARGS`, killed after `STEP`; returns (exit code, stdout, stderr).
fn bench(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat bench");
    let deadline = Instant::now() + STEP;
    while child.try_wait().expect("poll chat bench").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chat bench {args:?} took longer than {STEP:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect chat bench output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fanout_counts_every_delivery(runtime: &str) {
    let server = server(runtime);
    let pid = server.child.id().to_string();
    let port = server.port.to_string();
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--clients",
        "3",
        "--messages",
        "5",
        "--json",
        "--timeout",
        "30s",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["joined"], 3, "{report}");
    assert_eq!(report["expected"], 3 * 5 * 3, "{report}");
    assert_eq!(report["received"], 45, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["out_of_order"], 0, "{report}");
    assert_eq!(report["malformed"], 0, "{report}");
    assert_eq!(report["drain_end"], "complete", "{report}");
    assert_eq!(report["latency_us"]["samples"], 45, "{report}");
    assert!(
        report["server_rss_kib"]["before"].as_u64() > Some(0),
        "{report}"
    );
}

#[test]
fn fanout_against_the_smol_server_loses_nothing() {
    fanout_counts_every_delivery("smol");
}

#[test]
fn fanout_against_the_std_server_loses_nothing() {
    fanout_counts_every_delivery("std");
}

#[test]
fn idle_clients_all_join_and_get_the_probe() {
    let server = server("smol");
    let port = server.port.to_string();
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--scenario",
        "idle",
        "--clients",
        "20",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["joined"], 20, "{report}");
    assert_eq!(report["received"], 20, "{report}");
    assert_eq!(report["server_rss_kib"], Value::Null, "{report}");
}

#[test]
fn a_table_is_the_default_output() {
    let server = server("smol");
    let port = server.port.to_string();
    let (code, stdout, stderr) = bench(&["--port", &port, "--clients", "2", "--messages", "3"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        stdout.contains("12 expected, 12 received, 0 lost"),
        "{stdout}"
    );
    assert!(stdout.contains("deliveries/s"), "{stdout}");
}

#[test]
fn non_loopback_hosts_are_refused() {
    let (code, stdout, stderr) = bench(&["--host", "192.0.2.1", "--clients", "1"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stderr.starts_with("error: refusing 192.0.2.1"), "{stderr}");
}

#[test]
fn a_payload_too_small_for_its_marker_is_refused() {
    let (code, _, stderr) = bench(&["--port", "9", "--size", "8"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--size 8 is out of range"), "{stderr}");
}
