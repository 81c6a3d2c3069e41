//! The TLS halves in memory: a server and a client session wired back to
//! back, no sockets.

use super::config::Trust;
use super::session::MAX_SEAL;
use super::{ClientTls, Handshake, HandshakeError, Plain, ServerTls, Step, TlsReader, TlsWriter};
use chat_core::MAX_READ;
use std::io::IoSlice;
use std::path::{Path, PathBuf};

/// A CA, a server certificate for `localhost` it signed, and the files.
pub(crate) struct Files {
    dir: PathBuf,
}

impl Files {
    pub(crate) fn new(test: &str) -> Files {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir = std::env::temp_dir().join(format!("chat-tls-unit-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("the CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("a key");
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .expect("parameters")
            .signed_by(&key, &issuer)
            .expect("the certificate");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write");
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs both handshakes against each other to their end.
pub(crate) fn connect(files: &Files) -> ((TlsReader, TlsWriter), (TlsReader, TlsWriter)) {
    let server_tls =
        ServerTls::load(&files.path("cert.pem"), &files.path("key.pem")).expect("loads");
    let client_tls =
        ClientTls::new(Trust::CaFile(&files.path("ca.pem")), "localhost").expect("loads");
    let mut server = Handshake::server(&server_tls);
    let mut client = Handshake::client(&client_tls).expect("a client");
    for _ in 0..20 {
        let (s, c) = (server.step(), client.step());
        if let Step::Send(bytes) = &c {
            server
                .feed(bytes)
                .expect("the server takes the client's flight");
        }
        if let Step::Send(bytes) = &s {
            client
                .feed(bytes)
                .expect("the client takes the server's flight");
        }
        if matches!((&s, &c), (Step::Done, Step::Done)) {
            return (server.finish(), client.finish());
        }
    }
    panic!("the handshake did not end");
}

/// Seals `text` with `writer` and feeds every record to `reader`.
fn send(writer: &mut TlsWriter, reader: &mut TlsReader, text: &[u8]) {
    let mut rest = text;
    while !rest.is_empty() {
        let taken = writer.seal(&[IoSlice::new(rest)]);
        assert!(taken > 0, "the writer took nothing");
        reader.feed(writer.unsent()).expect("the records decrypt");
        let unsent = writer.unsent().len();
        writer.wrote(unsent);
        rest = &rest[taken..];
    }
}

#[test]
fn plaintext_comes_out_in_reads_of_at_most_max_read() {
    let files = Files::new("reads");
    let ((mut server_reader, _), (_, mut client_writer)) = connect(&files);
    let text: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    send(&mut client_writer, &mut server_reader, &text);
    let mut got = Vec::new();
    let mut buffer = Vec::new();
    while let Plain::Bytes(n) = server_reader.read_plain(&mut buffer).expect("reads") {
        assert!(n <= MAX_READ && n == buffer.len());
        got.extend_from_slice(&buffer);
    }
    assert_eq!(got, text);
    assert_eq!(
        server_reader.read_plain(&mut buffer).expect("reads"),
        Plain::NeedMore
    );
    server_reader.feed(&[]).expect("end of stream");
    assert_eq!(
        server_reader.read_plain(&mut buffer).expect("reads"),
        Plain::Closed
    );
}

#[test]
fn plaintext_counts_as_written_once_its_records_are_out() {
    let files = Files::new("written");
    let ((_, mut server_writer), (mut client_reader, _)) = connect(&files);
    let text = vec![b'x'; 40 * 1024];
    let taken = server_writer.seal(&[IoSlice::new(&text)]);
    assert_eq!(taken, MAX_SEAL, "one batch at a time");
    let records = server_writer.unsent().to_vec();
    assert!(records.len() > taken, "records carry overhead");
    // All but the last byte out: nothing counts yet.
    assert_eq!(server_writer.wrote(records.len() - 1), 0);
    assert!(server_writer.has_unsent());
    assert_eq!(server_writer.wrote(1), taken);
    assert!(!server_writer.has_unsent());
    client_reader.feed(&records).expect("the records decrypt");
    let mut buffer = Vec::new();
    let mut got = 0;
    while let Plain::Bytes(n) = client_reader.read_plain(&mut buffer).expect("reads") {
        got += n;
    }
    assert_eq!(got, taken);
}

#[test]
fn a_plaintext_first_byte_is_not_tls() {
    let files = Files::new("plain");
    let tls = ServerTls::load(&files.path("cert.pem"), &files.path("key.pem")).expect("loads");
    let mut server = Handshake::server(&tls);
    assert!(matches!(server.step(), Step::Receive));
    assert!(matches!(
        server.feed(b"alice\n"),
        Err(HandshakeError::NotTls)
    ));
    let mut server = Handshake::server(&tls);
    assert!(matches!(server.feed(b""), Err(HandshakeError::Eof)));
}

#[test]
fn the_client_rejects_a_server_its_roots_do_not_vouch_for() {
    let files = Files::new("roots");
    let server_tls =
        ServerTls::load(&files.path("cert.pem"), &files.path("key.pem")).expect("loads");
    let client_tls = ClientTls::new(Trust::SystemRoots, "localhost").expect("roots");
    let mut server = Handshake::server(&server_tls);
    let mut client = Handshake::client(&client_tls).expect("a client");
    let mut failure = None;
    for _ in 0..10 {
        if let Step::Send(bytes) = client.step() {
            server.feed(&bytes).expect("the server takes it");
        }
        if let Step::Send(bytes) = server.step() {
            if let Err(error) = client.feed(&bytes) {
                failure = Some(error);
                break;
            }
        }
    }
    let failure = failure.expect("the client refused the server");
    assert!(
        failure.to_string().contains("invalid peer certificate"),
        "{failure}"
    );
}

#[test]
fn bad_files_name_the_file_and_the_problem() {
    let files = Files::new("bad");
    let cert = files.path("cert.pem");
    let key = files.path("key.pem");
    let missing = files.path("missing.pem");
    let error = ServerTls::load(&missing, &key).expect_err("no such file");
    assert_eq!(error.path, missing);

    std::fs::write(files.path("junk.pem"), "junk\n").expect("write");
    let error = ServerTls::load(&files.path("junk.pem"), &key).expect_err("junk");
    assert!(error.to_string().contains("junk.pem") && error.problem.contains("no certificate"));

    let error = ServerTls::load(&cert, &cert).expect_err("a certificate is no key");
    assert_eq!(error.path, cert);
    assert!(error.problem.contains("private key"), "{}", error.problem);

    let other = Files::new("bad-other");
    let error = ServerTls::load(&cert, &other.path("key.pem")).expect_err("another key");
    assert!(
        error.problem.contains("does not match"),
        "{}",
        error.problem
    );
    assert!(Path::new(&error.path).ends_with("key.pem"));
}
