//! A real `redis-server` for the cluster tests: on a free loopback port,
//! with no persistence, killed on drop.

use super::WAIT;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How many free ports are tried before giving up (another process may
/// take a port between our probe and redis's bind).
const PORT_TRIES: usize = 5;

/// A running `redis-server`.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits (bounded) until it answers PING.
    pub(crate) fn start() -> RedisServer {
        for _ in 0..PORT_TRIES {
            let port = free_port();
            if let Some(child) = spawn(port) {
                return RedisServer {
                    port,
                    child: Some(child),
                };
            }
        }
        panic!("redis-server did not start on any of {PORT_TRIES} free ports");
    }

    /// Starts one on `port` (which a test chose free), waiting as `start` does.
    pub(crate) fn start_at(port: u16) -> RedisServer {
        let mut redis = RedisServer { port, child: None };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL): everything it held is gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new, empty one on the same port (after [`kill`](Self::kill)).
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(child) = spawn(self.port) {
                self.child = Some(child);
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    /// Sends one inline command whose reply is a bulk string; `None` for nil.
    pub(crate) fn bulk(&self, command: &str) -> Option<String> {
        let (first, rest) = self.reply(command);
        (first != "$-1").then_some(rest)
    }

    /// Sends one inline command and returns the first line of the reply.
    pub(crate) fn command(&self, command: &str) -> String {
        self.reply(command).0
    }

    /// The first line of the reply to `command`, and the line after it.
    fn reply(&self, command: &str) -> (String, String) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to redis");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .expect("write to redis");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read from redis");
        let mut next = String::new();
        if line.starts_with('$') && !line.starts_with("$-1") {
            reader.read_line(&mut next).expect("read from redis");
        }
        (line.trim_end().to_string(), next.trim_end().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// `redis-server` on `port`, once it answers PING; `None` if it exited
/// (the port was taken) or never answered.
fn spawn(port: u16) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: ./test.sh installs it, \
                 or run `sudo apt-get install -y redis-server`"
            ),
            _ => panic!("cannot run redis-server: {e}"),
        });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if ping(addr) {
            return Some(child);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("+PONG")
}
