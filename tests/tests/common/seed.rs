//! A Rust stand-in for the seed's Python `server.py` (the small program this
//! project grew from; `bench/seed_server.py` keeps it as it was), for testing
//! `chat client --dialect seed` without Python.
//!
//! It does what the seed does, byte for byte where it matters:
//! - on accept it sends `alias?` and takes the next single `recv(1024)`,
//!   whatever it holds, as the alias (in the accept loop, one client at a time);
//! - it broadcasts `{alias} esta conectado ao chat` to everyone, where
//!   `{alias}` is Python's `repr` of the bytes (`b'alice'`), then sends the
//!   joiner `Voce esta conectado ao servidor!`; no terminators anywhere;
//! - every chunk a client sends is broadcast raw, with no framing, to every client,
//!   the sender included.
//!
//! One deliberate difference: at EOF the seed's loop spins on `recv` returning
//! `b''` forever; the stand-in treats EOF like the seed treats an error
//! (broadcast `{alias} acabou de sair do chat!`, drop the client).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

type Clients = Arc<Mutex<Vec<(u64, TcpStream)>>>;

/// The stand-in, listening on a free loopback port until dropped.
pub(crate) struct SeedServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    clients: Clients,
    accept: Option<JoinHandle<()>>,
}

impl SeedServer {
    /// Starts listening on `127.0.0.1:0`.
    pub(crate) fn start() -> SeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the seed stand-in");
        let addr = listener.local_addr().expect("its address");
        let stopping = Arc::new(AtomicBool::new(false));
        let clients: Clients = Arc::default();
        let accept = {
            let stopping = Arc::clone(&stopping);
            let clients = Arc::clone(&clients);
            thread::spawn(move || accept_loop(&listener, &stopping, &clients))
        };
        SeedServer {
            addr,
            stopping,
            clients,
            accept: Some(accept),
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SeedServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop, then close every client (ending their threads).
        let _ = TcpStream::connect(self.addr);
        if let Ok(clients) = self.clients.lock() {
            for (_, stream) in clients.iter() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Python's `repr()` of a bytes object, as an f-string shows it.
fn py_bytes_repr(bytes: &[u8]) -> String {
    // Python quotes with `"` when the bytes hold `'` but no `"`.
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

fn broadcast(clients: &Clients, bytes: &[u8]) {
    if let Ok(clients) = clients.lock() {
        for (_, stream) in clients.iter() {
            let _ = (&*stream).write_all(bytes);
        }
    }
}

fn accept_loop(listener: &TcpListener, stopping: &AtomicBool, clients: &Clients) {
    let mut next_id = 0;
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        // client.send('alias?'); alias = client.recv(1024)
        if stream.write_all(b"alias?").is_err() {
            continue;
        }
        let mut buf = [0u8; 1024];
        let n = match stream.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => continue,
        };
        let alias = py_bytes_repr(&buf[..n]);
        next_id += 1;
        let id = next_id;
        let Ok(reader) = stream.try_clone() else {
            continue;
        };
        let Ok(mut own) = stream.try_clone() else {
            continue;
        };
        if let Ok(mut list) = clients.lock() {
            list.push((id, stream));
        }
        broadcast(
            clients,
            format!("{alias} esta conectado ao chat").as_bytes(),
        );
        let _ = own.write_all(b"Voce esta conectado ao servidor!");
        let clients = Arc::clone(clients);
        thread::spawn(move || handle_client(id, reader, &alias, &clients));
    }
}

/// `handle_client`: relay every chunk raw until the client goes away.
fn handle_client(id: u64, mut stream: TcpStream, alias: &str, clients: &Clients) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => broadcast(clients, &buf[..n]),
            _ => break,
        }
    }
    if let Ok(mut list) = clients.lock() {
        list.retain(|(other, _)| *other != id);
    }
    let _ = stream.shutdown(Shutdown::Both);
    broadcast(
        clients,
        format!("{alias} acabou de sair do chat!").as_bytes(),
    );
}

#[test]
fn python_bytes_repr_matches_python() {
    assert_eq!(py_bytes_repr(b"alice"), "b'alice'");
    assert_eq!(py_bytes_repr(b"it's\n"), "b\"it's\\n\"");
    assert_eq!(py_bytes_repr(b"'\""), "b'\\'\"'");
    assert_eq!(py_bytes_repr("é".as_bytes()), "b'\\xc3\\xa9'");
}
