//! Other protocols on the chat port, and a client that guesses nicks
//! forever: an HTTP request gets a 400 and is closed without joining, a TLS
//! ClientHello is closed at once, and the tenth refused nick ends the
//! connection.

use crate::common::peer::Peer;
use crate::common::server::{test_config, Runtime, TestServer};
use crate::honest::Honest;
use std::time::Duration;

on_both_runtimes!(
    http_requests_get_400_and_are_closed,
    http_post_body_never_joins,
    tls_client_hello_is_closed_at_once,
    failed_nick_attempts_are_capped,
);

const BAD_REQUEST: &str = "HTTP/1.0 400 Bad Request\r\n";

/// A config whose handshake timeout cannot close anything during a test:
/// a close seen here is the server's answer to what was sent.
fn patient_config() -> chat_core::Config {
    chat_core::Config {
        handshake_timeout: Duration::from_secs(120),
        ..test_config()
    }
}

/// Sends `request` on a fresh connection, after the prompt; returns the peer.
fn send_after_prompt(addr: std::net::SocketAddr, name: &str, request: &[u8]) -> Peer {
    let mut peer = Peer::connect(name, addr);
    peer.expect_prompt();
    peer.send(request);
    peer
}

/// Reads until the close and checks the 400 came first.
fn expect_bad_request(peer: &mut Peer) {
    let got = peer.expect_closed();
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with(BAD_REQUEST),
        "{}: expected {BAD_REQUEST:?} then the close, got {got:?}",
        peer.name()
    );
}

fn http_requests_get_400_and_are_closed(rt: Runtime) {
    let server = TestServer::start(rt, patient_config());
    let honest = Honest::start(server.addr());
    let requests = [
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "HEAD / HTTP/1.0\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "DELETE /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "PATCH /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    // All at once, so that a server that never answers fails in one WAIT.
    let mut peers: Vec<Peer> = requests
        .iter()
        .map(|r| {
            let method = r.split(' ').next().expect("a method");
            send_after_prompt(server.addr(), method, r.as_bytes())
        })
        .collect();
    for peer in &mut peers {
        expect_bad_request(peer);
    }
    let report = honest.finish();
    report.assert_nothing_else();
    server.stop();
}

fn http_post_body_never_joins(rt: Runtime) {
    let server = TestServer::start(rt, patient_config());
    let honest = Honest::start(server.addr());
    let body = "webbot\nhello";
    let request = format!(
        "POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut peer = send_after_prompt(server.addr(), "poster", request.as_bytes());
    expect_bad_request(&mut peer);
    let report = honest.finish();
    report.assert_nowhere("webbot");
    report.assert_nowhere("hello");
    report.assert_nothing_else();
    server.stop();
}

/// A plausible TLS 1.2/1.3 ClientHello for `localhost`, as a TLS record.
fn client_hello() -> Vec<u8> {
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(body.len()).expect("a short body");
        [&len.to_be_bytes()[..], body].concat()
    }
    let mut hello = vec![0x03, 0x03]; // legacy_version TLS 1.2
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11))); // random
    hello.push(32); // legacy_session_id
    hello.extend((0u8..32).map(|i| i.wrapping_mul(91).wrapping_add(3)));
    // Cipher suites: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
    // TLS_CHACHA20_POLY1305_SHA256, ECDHE-RSA-AES128-GCM-SHA256.
    hello.extend(with_len16(&[
        0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f,
    ]));
    hello.extend([0x01, 0x00]); // compression: null
    let mut extensions = Vec::new();
    // server_name: localhost
    let name = b"localhost";
    let mut sni = vec![0x00];
    sni.extend(with_len16(name));
    extensions.extend([0x00, 0x00]);
    extensions.extend(with_len16(&with_len16(&sni)));
    // supported_groups: x25519, secp256r1
    extensions.extend([0x00, 0x0a]);
    extensions.extend(with_len16(&with_len16(&[0x00, 0x1d, 0x00, 0x17])));
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
    extensions.extend([0x00, 0x0d]);
    extensions.extend(with_len16(&with_len16(&[0x04, 0x03, 0x08, 0x04])));
    // application_layer_protocol_negotiation: h2, http/1.1
    let mut alpn = vec![2];
    alpn.extend(b"h2");
    alpn.push(8);
    alpn.extend(b"http/1.1");
    extensions.extend([0x00, 0x10]);
    extensions.extend(with_len16(&with_len16(&alpn)));
    // supported_versions: TLS 1.3, TLS 1.2
    extensions.extend([0x00, 0x2b]);
    extensions.extend(with_len16(&[0x04, 0x03, 0x04, 0x03, 0x03]));
    // key_share: x25519 with a 32-byte key
    let mut share = vec![0x00, 0x1d];
    share.extend(with_len16(&[0x42; 32]));
    extensions.extend([0x00, 0x33]);
    extensions.extend(with_len16(&with_len16(&share)));
    hello.extend(with_len16(&extensions));

    let len = u32::try_from(hello.len()).expect("a short hello");
    let mut handshake = vec![0x01]; // ClientHello
    handshake.extend(&len.to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(with_len16(&handshake));
    record
}

fn tls_client_hello_is_closed_at_once(rt: Runtime) {
    let server = TestServer::start(rt, patient_config());
    let honest = Honest::start(server.addr());
    let hello = client_hello();
    assert!((180..260).contains(&hello.len()), "{} bytes", hello.len());
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| send_after_prompt(server.addr(), &format!("tls{i}"), &hello))
        .collect();
    for peer in &mut peers {
        let rest = peer.expect_closed();
        assert!(
            rest.is_empty(),
            "{}: nothing after the prompt, got {:?}",
            peer.name(),
            String::from_utf8_lossy(&rest)
        );
    }
    let report = honest.finish();
    report.assert_nothing_else();
    server.stop();
}

fn failed_nick_attempts_are_capped(rt: Runtime) {
    let server = TestServer::start(rt, patient_config());
    let honest = Honest::start(server.addr());
    let long = "n".repeat(33);
    let attempts: [(&str, &str); 10] = [
        ("", "error: nick is empty"),
        ("-x", "error: nick may not start with '-'"),
        (
            "a b",
            "error: nick may only contain letters, digits and _-.[]{}|^",
        ),
        (&long, "error: nick too long (max 32 characters)"),
        ("alice", "error: nick is already taken"),
        ("BOB", "error: nick is already taken"),
        (
            "a:b",
            "error: nick may only contain letters, digits and _-.[]{}|^",
        ),
        ("-y", "error: nick may not start with '-'"),
        ("Alice", "error: nick is already taken"),
        ("bOb", "error: nick is already taken"),
    ];
    let mut guesser = Peer::connect("guesser", server.addr());
    guesser.expect_prompt();
    for (i, (nick, error)) in attempts.iter().enumerate() {
        guesser.send(format!("{nick}\n"));
        guesser.expect_line(error);
        if i < 9 {
            guesser.expect_prompt();
        }
    }
    guesser.expect_line("error: too many failed nick attempts");
    let rest = guesser.expect_closed();
    assert!(
        rest.is_empty(),
        "the close comes right after, got {:?}",
        String::from_utf8_lossy(&rest)
    );

    // Another connection starts its own count.
    let mut fresh = Peer::connect("fresh", server.addr());
    fresh.expect_prompt();
    fresh.send("alice\n");
    fresh.expect_line("error: nick is already taken");
    fresh.expect_prompt();
    drop(fresh);

    let report = honest.finish();
    report.assert_nothing_else();
    server.stop();
}
