//! `chat bench` end to end: a real `chat server` on a free port, a small
//! fanout run with `--json`, the counts checked; the same over TLS (with a
//! CA and certificate made here), and TLS handshakes up to the prompt;
//! the split over two ports, against two separate servers (two rooms).
//! Every wait is bounded.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
    server_with(runtime, &[])
}

/// As [`server`], with `extra` flags; the port is the first one printed.
fn server_with(runtime: &str, extra: &[&str]) -> Server {
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
        .args(extra)
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

/// Runs `chat bench --json ARGS` against two separate plain servers (each
/// its own room), the ports in that order; returns the report. The bench
/// expects one room across both, so with C clients (even) each receives
/// only the C/2 senders of its own server: half of it is lost, and no
/// delivery crosses servers.
fn against_two_rooms(args: &[&str]) -> Value {
    let (a, b) = (server("smol"), server("smol"));
    let ports = format!("{},{}", a.port, b.port);
    let pids = format!("{},{}", a.child.id(), b.child.id());
    let mut all = vec![
        "--port",
        &ports,
        "--server-pid",
        &pids,
        "--json",
        "--timeout",
        "30s",
        "--stall",
        "1s",
    ];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = bench(&all);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let servers = [
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    ];
    assert_eq!(report["servers"], serde_json::json!(servers), "{report}");
    assert!(
        report["server_rss_kib"]["before"].as_u64() > Some(0),
        "{report}"
    );
    report
}

/// The counts of a run of `clients` (even) × `messages` against two rooms.
fn check_two_rooms(report: &Value, clients: u64, messages: u64) {
    let expected = clients * clients * messages;
    assert_eq!(report["joined"], clients, "{report}");
    assert_eq!(report["expected"], expected, "{report}");
    assert_eq!(report["received"], expected / 2, "{report}");
    assert_eq!(report["lost"], expected / 2, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["unknown"], 0, "{report}");
    assert_eq!(report["malformed"], 0, "{report}");
    assert_eq!(report["drain_end"], "stalled", "{report}");
    assert_eq!(report["latency_us"]["samples"], expected / 2, "{report}");
    assert_eq!(report["cross_server_latency_us"]["samples"], 0, "{report}");
}

#[test]
fn fanout_over_two_rooms_reports_the_other_rooms_messages_lost() {
    let report = against_two_rooms(&["--clients", "4", "--messages", "5"]);
    check_two_rooms(&report, 4, 5);
}

#[test]
fn fixed_rate_over_two_rooms_reports_the_other_rooms_messages_lost() {
    let report = against_two_rooms(&["--clients", "6", "--messages", "4", "--rate", "20"]);
    check_two_rooms(&report, 6, 4);
    assert_eq!(report["rate"], 20.0, "{report}");
}

/// A loopback TCP forwarder to `target`, so one server (one room) is
/// reachable at a second port; returns that port. Each connection is
/// copied both ways by two threads, which end when either side closes.
fn forwarder(target: u16) -> u16 {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("a bound address").port();
    thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                return;
            };
            for (mut from, mut to) in [
                (inbound.try_clone(), outbound.try_clone()),
                (outbound.try_clone(), inbound.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                    let _ = from.shutdown(Shutdown::Read);
                });
            }
        }
    });
    port
}

#[test]
fn one_room_at_two_ports_counts_the_cross_server_deliveries() {
    // Clients 0 and 2 connect straight to the server, client 1 through the
    // forwarder: one room. Cross-server: 0 and 2 receive 5 messages each
    // from 1, and 1 receives 2 × 5 from 0 and 2: 20 of the 45 deliveries
    // (the same-server ones, 25, are not).
    let server = server("smol");
    let ports = format!("{},{}", server.port, forwarder(server.port));
    let (code, stdout, stderr) = bench(&[
        "--port",
        &ports,
        "--clients",
        "3",
        "--messages",
        "5",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["expected"], 45, "{report}");
    assert_eq!(report["received"], 45, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["drain_end"], "complete", "{report}");
    assert_eq!(report["latency_us"]["samples"], 45, "{report}");
    assert_eq!(report["cross_server_latency_us"]["samples"], 20, "{report}");
    assert!(
        report["cross_server_latency_us"]["max"].as_f64() > Some(0.0),
        "{report}"
    );
}

#[test]
fn one_server_reports_no_cross_server_latency() {
    let server = server("smol");
    let port = server.port.to_string();
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--clients",
        "2",
        "--messages",
        "2",
        "--json",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["server"], format!("127.0.0.1:{port}"), "{report}");
    assert_eq!(report["received"], 8, "{report}");
    assert_eq!(report["cross_server_latency_us"], Value::Null, "{report}");
}

#[test]
fn bad_port_lists_are_refused() {
    let (code, _, stderr) = bench(&["--port", "9,0"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--port 0 names no server"), "{stderr}");
    let (code, _, stderr) = bench(&["--port", "0"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--port 0 names no server"), "{stderr}");
    let (code, _, stderr) = bench(&["--port", "9,10", "--server-pid", "1"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("1 pids for 2 ports"), "{stderr}");
}

/// A CA and a server certificate for 127.0.0.1 it signed, as PEM files in
/// a fresh directory, removed when dropped.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(test: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir =
            std::env::temp_dir().join(format!("chat-bench-tls-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("the CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("server parameters")
            .signed_by(&key, &issuer)
            .expect("the server certificate");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert.pem");
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key.pem");
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        path_str(&self.dir.join(name)).to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// A server that serves TLS only (`--no-plain`), so the port it prints is
/// the TLS port.
fn tls_server(runtime: &str, pki: &Pki) -> Server {
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    server_with(
        runtime,
        &[
            "--no-plain",
            "--tls-port",
            "0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    )
}

fn tls_fanout_counts_every_delivery(runtime: &str) {
    let pki = Pki::new(&format!("fanout-{runtime}"));
    let server = tls_server(runtime, &pki);
    let port = server.port.to_string();
    let ca = pki.path("ca.pem");
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--tls",
        "--ca",
        &ca,
        "--clients",
        "3",
        "--messages",
        "200",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["tls"], true, "{report}");
    assert_eq!(report["joined"], 3, "{report}");
    assert_eq!(report["expected"], 3 * 200 * 3, "{report}");
    assert_eq!(report["received"], 1800, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["out_of_order"], 0, "{report}");
    assert_eq!(report["malformed"], 0, "{report}");
    assert_eq!(report["drain_end"], "complete", "{report}");
}

#[test]
fn tls_fanout_against_the_smol_server_loses_nothing() {
    tls_fanout_counts_every_delivery("smol");
}

#[test]
fn tls_fanout_against_the_std_server_loses_nothing() {
    tls_fanout_counts_every_delivery("std");
}

#[test]
fn tls_fanout_at_a_fixed_rate_measures_every_delivery() {
    let pki = Pki::new("rate");
    let server = tls_server("smol", &pki);
    let port = server.port.to_string();
    let ca = pki.path("ca.pem");
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--tls",
        "--ca",
        &ca,
        "--clients",
        "4",
        "--messages",
        "5",
        "--rate",
        "20",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["received"], 4 * 5 * 4, "{report}");
    assert_eq!(report["latency_us"]["samples"], 80, "{report}");
}

#[test]
fn tls_handshakes_up_to_the_prompt_are_counted() {
    let pki = Pki::new("handshake");
    let server = tls_server("smol", &pki);
    let port = server.port.to_string();
    let ca = pki.path("ca.pem");
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--tls",
        "--ca",
        &ca,
        "--scenario",
        "handshake",
        "--clients",
        "30",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["scenario"], "handshake", "{report}");
    assert_eq!(report["joined"], 30, "{report}");
    assert_eq!(report["join_failures"], 0, "{report}");
    assert_eq!(report["latency_us"]["samples"], 30, "{report}");
    assert!(report["joins_per_second"].as_f64() > Some(0.0), "{report}");
}

#[test]
fn tls_without_the_ca_rejects_the_server() {
    let pki = Pki::new("no-ca");
    let server = tls_server("smol", &pki);
    let port = server.port.to_string();
    let (code, stdout, stderr) = bench(&[
        "--port",
        &port,
        "--tls",
        "--clients",
        "2",
        "--messages",
        "1",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["joined"], 0, "{report}");
    assert_eq!(report["join_failures"], 2, "{report}");
    let why = report["join_failure"].as_str().unwrap_or_default();
    assert!(why.contains("invalid peer certificate"), "{report}");
}
