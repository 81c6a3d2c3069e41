//! End-to-end: the chat over TLS, on both runtimes, with a CA and a server
//! certificate for `localhost` and 127.0.0.1 made here with rcgen.
//!
//! - TLS clients and plain clients share one room and see the same lines
//!   in the same order; several lines in one TLS record arrive whole.
//! - A plaintext client on the TLS port gets the TLS-only line and EOF.
//! - Under TLS the send queue still tells a reader that stopped from one
//!   that reads: the first is closed as too slow, the second keeps up.
//! - The real binary serves TLS and joins over it (with `--ca`); without
//!   `--ca` the client rejects the unknown issuer; a bad certificate file
//!   stops the server with one error line; Python's `ssl` module joins.
//! - Connections in their TLS handshake count against `--max-clients` with
//!   the room's: the ones beyond it are closed at once, not after the
//!   handshake timeout, and a TLS client joins once the others are gone.
//! - The per-address limits apply before the handshake: a connection past
//!   `--connects-per-minute` completes no handshake and is sent nothing.
//! - A certificate out of its validity period is warned about at start and
//!   on SIGHUP; a truncated PEM file is named as such.

#[macro_use]
mod common;

use chat_runtime_common::tls::{ClientTls, ServerTls, Trust};
use common::bin::ChatProcess;
use common::peer::Peer;
use common::server::{test_config, Runtime, TestServer};
use common::WAIT;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

on_both_runtimes!(
    tls_and_plain_clients_share_a_room,
    plaintext_client_on_the_tls_port_is_told_and_closed,
    stalled_tls_reader_is_dropped_and_a_reading_one_keeps_up,
    python_ssl_client_joins,
);

/// A CA and a server certificate it signed, as PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes a CA and a certificate for `localhost` and 127.0.0.1, in a
/// directory named after `test`.
fn pki(test: &str) -> Pki {
    pki_valid(test, None)
}

/// A day: year, month, day.
type Day = (i32, u8, u8);

/// [`pki`], with the server certificate valid from the first day to the
/// second when given.
fn pki_valid(test: &str, period: Option<(Day, Day)>) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = std::env::temp_dir().join(format!("chat-e2e-tls-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "chat test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server parameters");
    if let Some(((y0, m0, d0), (y1, m1, d1))) = period {
        params.not_before = rcgen::date_time_ymd(y0, m0, d0);
        params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    }
    let cert = params
        .signed_by(&key, &issuer)
        .expect("the server certificate");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        dir,
    };
    std::fs::write(&pki.ca, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(&pki.cert, cert.pem()).expect("write cert.pem");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write key.pem");
    pki
}

fn server_tls(pki: &Pki) -> Arc<ServerTls> {
    Arc::new(ServerTls::load(&pki.cert, &pki.key).expect("the test certificate loads"))
}

fn client_tls(pki: &Pki) -> ClientTls {
    ClientTls::new(Trust::CaFile(&pki.ca), "127.0.0.1").expect("the test CA loads")
}

fn tls_server(runtime: Runtime, config: chat_core::Config, pki: &Pki) -> TestServer {
    TestServer::start_endpoints(runtime, config, Some(server_tls(pki)))
}

/// A client over the runtime's own TLS client connection. A thread reads
/// and hands over lines, so every wait here is bounded by [`WAIT`].
struct TlsPeer {
    name: String,
    lines: Receiver<String>,
    writer: chat_runtime_std::ClientWriter,
    /// Once set, the reading thread stops after its current read, leaving
    /// the socket open and unread.
    stop_reading: Arc<AtomicBool>,
}

impl TlsPeer {
    fn connect(name: &str, addr: SocketAddr, tls: &ClientTls) -> TlsPeer {
        let conn = chat_runtime_std::ClientConn::connect_tls(addr, WAIT, tls)
            .unwrap_or_else(|e| panic!("{name}: TLS connect to {addr} failed: {e}"));
        TlsPeer::over(name, conn)
    }

    /// A peer over a connection whose handshake is done.
    fn over(name: &str, conn: chat_runtime_std::ClientConn) -> TlsPeer {
        let (mut reader, writer) = conn.split();
        let (tx, lines) = mpsc::channel();
        let stop_reading = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stop_reading);
        thread::spawn(move || {
            let mut pending = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let Ok(Some(bytes)) = reader.read() else {
                    return; // EOF or error: the receiver sees the sender gone
                };
                pending.extend_from_slice(&bytes);
                while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=at).collect();
                    let line = String::from_utf8_lossy(&line[..at]).into_owned();
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        });
        TlsPeer {
            name: name.to_string(),
            lines,
            writer,
            stop_reading,
        }
    }

    /// Connects, sends the nick, and reads the three join lines (the first
    /// after the bare prompt).
    fn join(nick: &str, addr: SocketAddr, tls: &ClientTls) -> TlsPeer {
        let mut peer = TlsPeer::connect(nick, addr, tls);
        peer.send(&format!("{nick}\n"));
        peer.expect_line(&format!("alias?{nick} joined the chat"));
        peer.expect_line("You are connected to the server!");
        let online = peer.line();
        assert!(online.starts_with("Online ("), "{nick}: got {online:?}");
        peer
    }

    fn send(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{}: sending failed: {e}", self.name));
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("{}: no line ({e})", self.name))
    }

    fn expect_line(&mut self, expected: &str) {
        assert_eq!(self.line(), expected, "{}: unexpected line", self.name);
    }
}

fn tls_and_plain_clients_share_a_room(runtime: Runtime) {
    let pki = pki(&format!("room-{runtime}"));
    let server = tls_server(runtime, test_config(), &pki);
    let tls = client_tls(&pki);
    let mut alice = TlsPeer::join("alice", server.tls_addr(), &tls);
    let mut bob = TlsPeer::join("bob", server.tls_addr(), &tls);
    alice.expect_line("bob joined the chat");
    let mut carol = Peer::join("carol", server.addr());
    alice.expect_line("carol joined the chat");
    bob.expect_line("carol joined the chat");

    alice.send("hello from TLS\n");
    for peer in [&mut alice, &mut bob] {
        peer.expect_line("alice: hello from TLS");
    }
    carol.expect_line("alice: hello from TLS");
    carol.send("hello from plain\n");
    carol.expect_line("carol: hello from plain");
    // Three lines in one write, so in one TLS record, over MAX_READ together.
    let long = "x".repeat(900);
    bob.send(&format!("{long}1\n{long}2\n{long}3\n"));
    let expected = [
        "carol: hello from plain".to_string(),
        format!("bob: {long}1"),
        format!("bob: {long}2"),
        format!("bob: {long}3"),
    ];
    for line in &expected {
        alice.expect_line(line);
        bob.expect_line(line);
    }
    for line in &expected[1..] {
        carol.expect_line(line);
    }
    server.stop();
}

fn plaintext_client_on_the_tls_port_is_told_and_closed(runtime: Runtime) {
    let pki = pki(&format!("plain-{runtime}"));
    let server = tls_server(runtime, test_config(), &pki);
    let mut plain = Peer::connect("plain", server.tls_addr());
    plain.send("bob\n");
    plain.expect_line(chat_core::TLS_ONLY_LINE.trim_end());
    assert_eq!(plain.expect_closed(), b"", "nothing after the line");
    // The room never heard of it: a TLS client joins alone.
    let mut alice = TlsPeer::join("alice", server.tls_addr(), &client_tls(&pki));
    alice.send("/who\n");
    let who = alice.line();
    assert!(who.contains("alice") && !who.contains("bob"), "{who}");
    server.stop();
}

const TOO_SLOW: &str = "stall left the chat! (too slow)";

fn stalled_tls_reader_is_dropped_and_a_reading_one_keeps_up(runtime: Runtime) {
    let pki = pki(&format!("slow-{runtime}"));
    // The default queue: room for the readers that read (a batch of 50 KB
    // at a time) even on a loaded machine, and still far less than a
    // stalled reader lets pile up.
    let config = chat_core::Config {
        send_queue: 256 * 1024,
        flood_rate: 0,
        ..test_config()
    };
    let server = tls_server(runtime, config, &pki);
    let tls = client_tls(&pki);
    let mut stall = TlsPeer::join("stall", server.tls_addr(), &tls);
    let mut fast = TlsPeer::join("fast", server.tls_addr(), &tls);
    let mut bob = Peer::join("bob", server.addr());
    stall.expect_line("fast joined the chat");
    stall.expect_line("bob joined the chat");
    fast.expect_line("bob joined the chat");
    stall.stop_reading.store(true, Ordering::SeqCst);
    // Bob reads his own lines on a thread (else he would be the slow one)
    // and sends from this one.
    let mut bob_writer = bob.writer();
    let bob_lines = thread::spawn(move || bob.skip_to_line("bob: done"));

    let pad = "p".repeat(1000);
    let mut sent = 0;
    let mut kicked = false;
    // 20 MB at most: far more than a 256 KiB queue and the socket buffers hold.
    while !kicked && sent < 20_000 {
        let batch: String = (sent..sent + 50)
            .map(|i| format!("msg {i} {pad}\n"))
            .collect();
        bob_writer
            .write_all(batch.as_bytes())
            .expect("bob sends a batch");
        // The fast reader gets every line of the batch before the next one.
        for i in sent..sent + 50 {
            let line = fast.line();
            if line == TOO_SLOW {
                kicked = true;
                let next = fast.line();
                assert_eq!(next, format!("bob: msg {i} {pad}"), "fast: out of order");
            } else {
                assert_eq!(
                    line,
                    format!("bob: msg {i} {pad}"),
                    "fast: lost or reordered"
                );
            }
        }
        sent += 50;
    }
    assert!(
        kicked,
        "the stalled TLS reader was not closed after {sent} lines"
    );
    bob_writer.write_all(b"done\n").expect("bob sends done");
    let rest = bob_lines.join().expect("bob's reader");
    assert!(
        rest.iter().any(|l| l == TOO_SLOW),
        "bob saw no too-slow notice"
    );
    assert!(
        !rest.iter().any(|l| l.starts_with("fast left")),
        "the reading TLS client was closed: {rest:?}"
    );
    fast.expect_line("bob: done");
    server.stop();
}

/// Python's `ssl` module with the test CA: prompt, join, a line and its echo.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
buf = b""
def read_until(marker):
    global buf
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("closed early; got %r" % buf)
        buf += chunk
read_until(b"alias?")
s.sendall(b"py\n")
read_until(b"Online (1): py\n")
s.sendall(b"hello from python\n")
read_until(b"py: hello from python\n")
print("ok")
"#;

fn python_ssl_client_joins(runtime: Runtime) {
    let pki = pki(&format!("python-{runtime}"));
    let server = tls_server(runtime, test_config(), &pki);
    let port = server.tls_addr().port().to_string();
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(&pki.ca)
        .arg(&port)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success() && output.stdout == b"ok\n",
        "python: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    server.stop();
}

/// `chat server` with a TLS port: its two `listening on` lines, parsed.
fn tls_chat_server(runtime: &str, pki: &Pki) -> (ChatProcess, SocketAddr, SocketAddr) {
    tls_chat_server_with(runtime, pki, &[])
}

/// As [`tls_chat_server`], with `extra` flags.
fn tls_chat_server_with(
    runtime: &str,
    pki: &Pki,
    extra: &[&str],
) -> (ChatProcess, SocketAddr, SocketAddr) {
    let (cert, key) = (path_str(&pki.cert), path_str(&pki.key));
    let mut args = vec![
        "server",
        "--port",
        "0",
        "--tls-port",
        "0",
        "--runtime",
        runtime,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ];
    args.extend_from_slice(extra);
    let mut server = ChatProcess::spawn("server", &args);
    let plain = listening_addr(&server.next_line(), &format!("(runtime {runtime})"));
    let tls = listening_addr(&server.next_line(), &format!("(runtime {runtime}, TLS)"));
    (server, plain, tls)
}

fn listening_addr(line: &str, suffix: &str) -> SocketAddr {
    line.strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix(suffix))
        .and_then(|addr| addr.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected server line {line:?}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn chat_binary_serves_and_joins_over_tls() {
    let pki = pki("bin");
    for server_runtime in ["smol", "std"] {
        let (mut server, plain, tls) = tls_chat_server(server_runtime, &pki);
        let mut alice = Peer::join("alice", plain);
        let mut bot = ChatProcess::client(
            "bot",
            tls,
            &["--tls", "--ca", path_str(&pki.ca), "--nick", "bot"],
        );
        alice.expect_line("bot joined the chat");
        bot.send_line("hi");
        bot.close_stdin();
        alice.expect_line("bot: hi");
        let status = bot.wait_exit();
        assert!(status.success(), "the TLS bot exited with {status}");
        server.terminate();
        assert!(server.wait_exit().success());
    }
}

#[test]
fn chat_client_without_the_ca_rejects_the_server() {
    let pki = pki("no-ca");
    let (mut server, _plain, tls) = tls_chat_server("smol", &pki);
    let mut bot = ChatProcess::client("bot", tls, &["--tls", "--nick", "bot"]);
    bot.close_stdin();
    let status = bot.wait_exit();
    assert!(!status.success(), "the client accepted an unknown issuer");
    let stderr = bot.stderr_lines();
    assert!(
        stderr.iter().any(|l| l.starts_with("error: ")
            && l.contains("not signed by an authority you trust")
            && l.contains("--ca FILE")
            && l.contains("--tls-insecure")),
        "no clear verification error: {stderr:?}"
    );
    server.terminate();
    assert!(server.wait_exit().success());
}

/// What `openssl req -x509` makes without `basicConstraints=CA:FALSE`: a
/// self-signed certificate for `localhost` and 127.0.0.1 that says it is a
/// CA, as PEM files in a fresh directory (the certificate is also the `ca`).
fn self_signed_ca_as_server(test: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = std::env::temp_dir().join(format!("chat-e2e-tls-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("the certificate");
    let pki = Pki {
        ca: dir.join("cert.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        dir,
    };
    std::fs::write(&pki.cert, cert.pem()).expect("write cert.pem");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write key.pem");
    pki
}

#[test]
fn the_servers_own_certificate_given_with_ca_is_trusted_whatever_its_constraints() {
    let pinned = self_signed_ca_as_server("pinned");
    let (mut server, plain, tls) = tls_chat_server("smol", &pinned);
    let mut alice = Peer::join("alice", plain);
    let mut bot = ChatProcess::client(
        "bot",
        tls,
        &["--tls", "--ca", path_str(&pinned.cert), "--nick", "bot"],
    );
    alice.expect_line("bot joined the chat");
    bot.send_line("pinned");
    bot.close_stdin();
    alice.expect_line("bot: pinned");
    let status = bot.wait_exit();
    assert!(status.success(), "exit {status}: {:?}", bot.stderr_lines());
    // Another certificate in the file is no pin: the server is refused.
    let other = pki("not-the-pin");
    let mut stranger = ChatProcess::client(
        "stranger",
        tls,
        &["--tls", "--ca", path_str(&other.ca), "--nick", "stranger"],
    );
    stranger.close_stdin();
    assert_eq!(stranger.wait_exit().code(), Some(1));
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn tls_to_a_plain_port_is_told_the_port_does_not_speak_it() {
    let (mut server, addr) = ChatProcess::server("smol", &[]);
    let mut bot = ChatProcess::client("bot", addr, &["--tls", "--nick", "bot"]);
    bot.close_stdin();
    assert_eq!(bot.wait_exit().code(), Some(1));
    let stderr = bot.stderr_lines();
    assert!(
        stderr.iter().any(|l| l.starts_with("error: ")
            && l.contains("the server does not speak TLS on this port")),
        "{stderr:?}"
    );
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn a_missing_ca_file_is_a_usage_error() {
    let missing = std::env::temp_dir().join(format!("chat-no-such-ca-{}.pem", std::process::id()));
    let port = "1"; // never reached: the file is read first
    let mut bot = ChatProcess::spawn(
        "bot",
        &[
            "client",
            "--port",
            port,
            "--tls",
            "--ca",
            path_str(&missing),
            "--nick",
            "bot",
        ],
    );
    bot.close_stdin();
    assert_eq!(bot.wait_exit().code(), Some(2));
    let stderr = bot.stderr_lines();
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("error: ") && l.contains(path_str(&missing))),
        "{stderr:?}"
    );
}

/// Without `--tls` on a TLS port, `chat client` waits for a prompt that
/// never comes until the server gives up on the handshake (10 s), then
/// says what probably happened.
#[test]
fn chat_client_without_tls_on_the_tls_port_is_told_to_try_it() {
    let pki = pki("plain-client");
    let (mut server, _plain, tls) = tls_chat_server("smol", &pki);
    let mut bot = ChatProcess::client("bot", tls, &["--nick", "bot"]);
    let status = bot.wait_exit();
    assert_eq!(status.code(), Some(1), "exit code");
    let stderr = bot.stderr_lines();
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("error: ") && l.contains("try --tls")),
        "no hint at TLS: {stderr:?}"
    );
    server.terminate();
    assert!(server.wait_exit().success());
}

/// `chat server` with `pki`'s certificate and key files, which it must
/// refuse: it exits 1 with one line on stderr, returned.
fn refused_files(pki: &Pki) -> (ChatProcess, Vec<String>) {
    let args = [
        "server",
        "--port",
        "0",
        "--tls-port",
        "0",
        "--tls-cert",
        path_str(&pki.cert),
        "--tls-key",
        path_str(&pki.key),
    ];
    let mut server = ChatProcess::spawn("server", &args);
    assert_eq!(server.wait_exit().code(), Some(1), "exit status");
    let stderr = server.stderr_lines();
    assert_eq!(stderr.len(), 1, "one line: {stderr:?}");
    (server, stderr)
}

#[test]
fn chat_server_with_a_bad_certificate_says_so_and_exits_1() {
    let pki = pki("bad-cert");
    std::fs::write(&pki.cert, "not a certificate\n").expect("overwrite cert.pem");
    let (mut server, stderr) = refused_files(&pki);
    assert!(
        stderr[0].starts_with("error: ") && stderr[0].contains(path_str(&pki.cert)),
        "the line names the file: {stderr:?}"
    );
    assert!(server.rest_of_stdout().is_empty());
}

/// Well under the handshake timeout (10 s): a connection the server closes
/// this soon was refused, not timed out.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Whether the server closed `stream` (end of stream or a reset), without
/// waiting. Panics if the server sent anything: nothing was asked.
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    match (&*stream).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the server spoke first on the TLS port"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// With `--max-clients 3` and one plain client in the room, five raw TCP
/// connections to the TLS port that never send a ClientHello: two are held
/// in their handshakes, three are closed promptly. A TLS client cannot get
/// in while they are held, and joins once they are gone.
fn half_open_handshakes_count_against_max_clients(runtime: &str) {
    let pki = pki(&format!("half-open-{runtime}"));
    let (mut server, plain, tls_addr) =
        tls_chat_server_with(runtime, &pki, &["--max-clients", "3"]);
    let mut alice = Peer::join("alice", plain);
    let raw: Vec<TcpStream> = (0..5)
        .map(|i| {
            TcpStream::connect_timeout(&tls_addr, WAIT)
                .unwrap_or_else(|e| panic!("raw connection {i}: {e}"))
        })
        .collect();
    let mut closed = vec![false; raw.len()];
    let deadline = Instant::now() + PROMPTLY;
    while closed.iter().filter(|c| **c).count() < 3 && Instant::now() < deadline {
        for (stream, closed) in raw.iter().zip(closed.iter_mut()) {
            *closed = *closed || is_closed(stream);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let count = |closed: &[bool]| closed.iter().filter(|c| **c).count();
    assert_eq!(
        count(&closed),
        3,
        "{runtime}: of 5 half-open handshakes with room for 2, closed within {PROMPTLY:?}: {closed:?}"
    );
    thread::sleep(Duration::from_millis(200));
    for (stream, closed) in raw.iter().zip(closed.iter_mut()) {
        *closed = *closed || is_closed(stream);
    }
    assert_eq!(
        count(&closed),
        3,
        "{runtime}: the two admitted are held: {closed:?}"
    );

    let tls = client_tls(&pki);
    assert!(
        chat_runtime_std::ClientConn::connect_tls(tls_addr, WAIT, &tls).is_err(),
        "{runtime}: a TLS handshake was completed beyond --max-clients"
    );
    drop(raw);
    // The server sees the two held ones end, then has room again.
    let mut conn = None;
    for _ in 0..100 {
        match chat_runtime_std::ClientConn::connect_tls(tls_addr, WAIT, &tls) {
            Ok(ok) => {
                conn = Some(ok);
                break;
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    let conn = conn.unwrap_or_else(|| panic!("{runtime}: no TLS handshake after the others left"));
    let mut bob = TlsPeer::over("bob", conn);
    bob.send("bob\n");
    bob.expect_line("alias?bob joined the chat");
    alice.expect_line("bob joined the chat");
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn half_open_handshakes_count_against_max_clients_smol() {
    half_open_handshakes_count_against_max_clients("smol");
}

#[test]
fn half_open_handshakes_count_against_max_clients_std() {
    half_open_handshakes_count_against_max_clients("std");
}

/// One address may hold at most `--max-per-address` TLS handshakes in
/// progress, however many the server has room for.
fn one_address_holds_at_most_max_per_address_handshakes(runtime: &str) {
    let pki = pki(&format!("per-address-{runtime}"));
    let flags = [
        "--max-clients",
        "100",
        "--max-per-address",
        "2",
        "--limit-loopback",
    ];
    let (mut server, _plain, tls_addr) = tls_chat_server_with(runtime, &pki, &flags);
    let raw: Vec<TcpStream> = (0..5)
        .map(|i| {
            TcpStream::connect_timeout(&tls_addr, WAIT)
                .unwrap_or_else(|e| panic!("raw connection {i}: {e}"))
        })
        .collect();
    let mut closed = vec![false; raw.len()];
    let deadline = Instant::now() + PROMPTLY;
    while closed.iter().filter(|c| **c).count() < 3 && Instant::now() < deadline {
        for (stream, closed) in raw.iter().zip(closed.iter_mut()) {
            *closed = *closed || is_closed(stream);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let count = closed.iter().filter(|c| **c).count();
    assert_eq!(
        count, 3,
        "{runtime}: of 5 half-open handshakes from one address with 2 allowed, closed within {PROMPTLY:?}: {closed:?}"
    );
    drop(raw);
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn one_address_holds_at_most_max_per_address_handshakes_smol() {
    one_address_holds_at_most_max_per_address_handshakes("smol");
}

#[test]
fn one_address_holds_at_most_max_per_address_handshakes_std() {
    one_address_holds_at_most_max_per_address_handshakes("std");
}

/// With `--limit-loopback` and a connect rate of one a minute after the
/// burst, TLS clients connecting one after another from loopback: the
/// burst's handshakes complete, every later one is closed before its
/// handshake, and a raw connection is closed promptly with nothing sent.
fn connects_past_the_rate_complete_no_handshake(runtime: &str) {
    let pki = pki(&format!("connect-rate-{runtime}"));
    let flags = [
        "--max-per-address",
        "0",
        "--connects-per-minute",
        "1",
        "--limit-loopback",
    ];
    let (mut server, _plain, tls_addr) = tls_chat_server_with(runtime, &pki, &flags);
    let tls = client_tls(&pki);
    let burst = chat_core::ADDRESS_CONNECT_BURST as usize;
    let tries = burst + 8;
    let handshakes = (0..tries)
        .filter(|_| chat_runtime_std::ClientConn::connect_tls(tls_addr, WAIT, &tls).is_ok())
        .count();
    assert_eq!(
        handshakes, burst,
        "{runtime}: of {tries} TLS connects at 1 a minute after a burst of {burst}, handshakes completed"
    );
    let raw = TcpStream::connect_timeout(&tls_addr, WAIT).expect("a raw connection");
    let deadline = Instant::now() + PROMPTLY;
    while !is_closed(&raw) {
        assert!(
            Instant::now() < deadline,
            "{runtime}: a connection past the rate is held for its handshake"
        );
        thread::sleep(Duration::from_millis(20));
    }
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn connects_past_the_rate_complete_no_handshake_smol() {
    connects_past_the_rate_complete_no_handshake("smol");
}

#[test]
fn connects_past_the_rate_complete_no_handshake_std() {
    connects_past_the_rate_complete_no_handshake("std");
}

/// A server started with an expired certificate says so in its log; sent
/// SIGHUP after its files were replaced by a certificate not valid yet, it
/// says that.
#[test]
fn a_certificate_out_of_its_period_is_warned_about_at_start_and_on_reload() {
    let expired = pki_valid("expired", Some(((2020, 1, 1), (2021, 1, 1))));
    let (mut server, _plain, _tls) = tls_chat_server_with("smol", &expired, &[]);
    let line = server.stderr_line_containing("certificate has expired");
    assert!(
        line.contains("WARN") && line.contains("2021-01-01"),
        "{line}"
    );
    let future = pki_valid("future", Some(((2090, 1, 1), (2091, 1, 1))));
    std::fs::copy(&future.cert, &expired.cert).expect("replace cert.pem");
    std::fs::copy(&future.key, &expired.key).expect("replace key.pem");
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    server.stderr_line_containing("reloaded");
    let line = server.stderr_line_containing("certificate is not valid yet");
    assert!(line.contains("2090-01-01"), "{line}");
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn a_truncated_certificate_file_is_named_as_such() {
    let pki = pki("truncated");
    let pem = std::fs::read_to_string(&pki.cert).expect("read cert.pem");
    std::fs::write(&pki.cert, &pem[..pem.len() / 2]).expect("truncate cert.pem");
    let (_server, stderr) = refused_files(&pki);
    assert!(
        stderr[0].contains("cut short") && stderr[0].contains("END CERTIFICATE"),
        "a human message: {stderr:?}"
    );
    assert!(!stderr[0].contains("end_marker"), "{stderr:?}");
}
