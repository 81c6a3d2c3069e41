//! The honest pair: `alice` and `bob` chat throughout every attack, and
//! afterwards must have received every line both of them sent, once, in
//! order, and nothing else but well-formed room lines.
//!
//! Each has a sender thread writing `a-0`, `a-1`, … (`b-0`, … for bob), one
//! line every [`PACE`], far below flood control, and a reader thread keeping
//! every line it receives. [`Honest::finish`] stops the senders, has each send
//! a sentinel (`a-end`, `b-end`), waits until both readers saw both sentinels
//! and checks what they got. Every wait is bounded by [`WAIT`] or a count.

use crate::common::peer::Peer;
use crate::common::WAIT;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Between two honest lines: 10 lines a second, half the default flood rate.
const PACE: Duration = Duration::from_millis(100);

/// Each honest user sends at least this many numbered lines before the
/// sentinel, so that the chat really runs while the attack does.
const MIN_LINES: usize = 5;

/// A bound on the numbered lines of one sender (a minute of chat).
const MAX_SENT: usize = 600;

/// A bound on the lines one honest reader keeps (floods, noise, notices).
const MAX_RECEIVED: usize = 200_000;

/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(2);

/// The honest nicks.
pub(crate) const ALICE: &str = "alice";
pub(crate) const BOB: &str = "bob";

/// What one reader thread has seen.
#[derive(Default)]
struct Seen {
    /// Every line received, decoded (lossily, if it was not UTF-8).
    lines: Mutex<Vec<String>>,
    /// Lines that were not valid UTF-8, as received.
    invalid: Mutex<Vec<Vec<u8>>>,
    /// The reader has stopped (both sentinels, or a failure).
    done: AtomicBool,
}

/// One honest user: its sender and reader threads.
struct User {
    nick: &'static str,
    /// The prefix of its numbered lines: `a` or `b`.
    tag: &'static str,
    sender: Option<JoinHandle<usize>>,
    reader: Option<JoinHandle<()>>,
    sent: Arc<AtomicUsize>,
    seen: Arc<Seen>,
}

/// The two honest users, chatting.
pub(crate) struct Honest {
    stop: Arc<AtomicBool>,
    users: [User; 2],
}

/// The lines an honest user received besides the honest pair's own.
pub(crate) struct Received {
    pub(crate) nick: &'static str,
    /// Every line that was not an honest numbered line or sentinel, in order.
    pub(crate) others: Vec<String>,
}

/// What [`Honest::finish`] found, once the pair's own lines checked out.
pub(crate) struct Report {
    pub(crate) alice: Received,
    pub(crate) bob: Received,
}

impl Report {
    /// Both honest users' views.
    pub(crate) fn both(&self) -> [&Received; 2] {
        [&self.alice, &self.bob]
    }

    /// Asserts that neither honest user received a line holding `needle`.
    pub(crate) fn assert_nowhere(&self, needle: &str) {
        for r in self.both() {
            let hits: Vec<&String> = r.others.iter().filter(|l| l.contains(needle)).collect();
            assert!(hits.is_empty(), "{}: received {hits:?}", r.nick);
        }
    }

    /// Asserts that each honest user received exactly `n` lines equal to `line`.
    pub(crate) fn assert_count(&self, line: &str, n: usize) {
        for r in self.both() {
            let got = r.others.iter().filter(|l| *l == line).count();
            assert_eq!(got, n, "{}: copies of {line:?} in {:?}", r.nick, r.others);
        }
    }

    /// Asserts that neither honest user received anything but their own lines.
    pub(crate) fn assert_nothing_else(&self) {
        for r in self.both() {
            assert!(r.others.is_empty(), "{}: also got {:?}", r.nick, r.others);
        }
    }
}

impl Honest {
    /// Joins `alice` and `bob` to the server at `addr` and starts their chat;
    /// returns once each has received the other's first line.
    pub(crate) fn start(addr: SocketAddr) -> Honest {
        let mut alice = Peer::join(ALICE, addr);
        let bob = Peer::join(BOB, addr);
        alice.expect_line("bob joined the chat");
        let stop = Arc::new(AtomicBool::new(false));
        let honest = Honest {
            users: [
                User::start(alice, ALICE, "a", &stop),
                User::start(bob, BOB, "b", &stop),
            ],
            stop,
        };
        honest.wait_for("the honest chat to flow", |lines| {
            lines.iter().any(|l| l == "alice: a-0") && lines.iter().any(|l| l == "bob: b-0")
        });
        honest
    }

    /// Waits (bounded by [`WAIT`]) until `done` holds for what each honest
    /// reader received so far.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + WAIT;
        for user in &self.users {
            loop {
                if done(&user.seen.lines.lock().expect("the lines")) {
                    break;
                }
                assert!(
                    !user.seen.done.load(Ordering::SeqCst),
                    "{}: the reader stopped while waiting for {what}",
                    user.nick
                );
                assert!(
                    Instant::now() < deadline,
                    "{}: waited {WAIT:?} for {what}; last lines: {:?}",
                    user.nick,
                    last_lines(&user.seen.lines.lock().expect("the lines"))
                );
                thread::sleep(POLL);
            }
        }
    }

    /// Whether `done` holds now for what each honest reader received.
    pub(crate) fn users_all(&self, done: impl Fn(&[String]) -> bool) -> bool {
        self.users
            .iter()
            .all(|u| done(&u.seen.lines.lock().expect("the lines")))
    }

    /// How many numbered lines alice has sent so far.
    pub(crate) fn sent_so_far(&self) -> usize {
        self.users[0].sent.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until both honest users received `line`.
    pub(crate) fn wait_for_line(&self, line: &str) {
        self.wait_for(line, |lines| lines.iter().rev().any(|l| l == line));
    }

    /// Stops the chat and checks it: each honest user received exactly every
    /// line each of them sent, once and in order, and any other line is
    /// clean text shaped like a room line. Returns those other lines.
    pub(crate) fn finish(mut self) -> Report {
        // The chat runs for at least a few lines, however short the attack.
        let deadline = Instant::now() + WAIT;
        while self
            .users
            .iter()
            .any(|u| u.sent.load(Ordering::SeqCst) < MIN_LINES)
        {
            assert!(Instant::now() < deadline, "the honest senders stalled");
            thread::sleep(POLL);
        }
        self.stop.store(true, Ordering::SeqCst);
        let sent: Vec<usize> = self
            .users
            .iter_mut()
            .map(|u| {
                let sender = u.sender.take().expect("finish runs once");
                match sender.join() {
                    Ok(n) => n,
                    Err(_) => panic!("{}: the sender failed (its panic is above)", u.nick),
                }
            })
            .collect();
        for user in &mut self.users {
            let reader = user.reader.take().expect("finish runs once");
            if reader.join().is_err() {
                panic!(
                    "{}: the reader failed (its panic is above); last lines: {:?}",
                    user.nick,
                    last_lines(&user.seen.lines.lock().expect("the lines"))
                );
            }
        }
        let [alice, bob] = &self.users;
        let check =
            |user: &User| -> Received {
                let invalid = user.seen.invalid.lock().expect("the invalid lines");
                assert!(
                    invalid.is_empty(),
                    "{}: received lines that are not UTF-8: {:?}",
                    user.nick,
                    *invalid
                );
                let lines = user.seen.lines.lock().expect("the lines");
                let mut others = Vec::new();
                let mut next = [0usize; 2];
                let mut ended = [false; 2];
                for line in lines.iter() {
                    let Some((i, text)) = [alice, bob].iter().enumerate().find_map(|(i, u)| {
                        line.strip_prefix(&format!("{}: ", u.nick)).map(|t| (i, t))
                    }) else {
                        check_room_line(user.nick, line);
                        others.push(line.clone());
                        continue;
                    };
                    let from = [alice, bob][i];
                    let expected = if next[i] < sent[i] {
                        format!("{}-{}", from.tag, next[i])
                    } else {
                        format!("{}-end", from.tag)
                    };
                    assert!(
                        !ended[i] && text == expected,
                        "{}: got {line:?} where {}: {expected} was due \
                     ({} sent {} numbered lines and the sentinel)",
                        user.nick,
                        from.nick,
                        from.nick,
                        sent[i]
                    );
                    if next[i] < sent[i] {
                        next[i] += 1;
                    } else {
                        ended[i] = true;
                    }
                }
                assert_eq!(ended, [true, true], "{}: a sentinel is missing", user.nick);
                Received {
                    nick: user.nick,
                    others,
                }
            };
        Report {
            alice: check(alice),
            bob: check(bob),
        }
    }
}

impl Drop for Honest {
    /// A test that failed before [`Honest::finish`]: stops the senders and
    /// gives the readers a moment to see the sentinels, so that the threads
    /// end quietly instead of failing again once the server is gone.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for user in &mut self.users {
            if let Some(sender) = user.sender.take() {
                let _ = sender.join();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && self
                .users
                .iter()
                .any(|u| u.reader.is_some() && !u.seen.done.load(Ordering::SeqCst))
        {
            thread::sleep(POLL);
        }
    }
}

impl User {
    fn start(peer: Peer, nick: &'static str, tag: &'static str, stop: &Arc<AtomicBool>) -> User {
        let sent = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Seen::default());
        let writer = peer.writer();
        let sender = {
            let stop = Arc::clone(stop);
            let sent = Arc::clone(&sent);
            thread::spawn(move || send_numbered(writer, nick, tag, &stop, &sent))
        };
        let reader = {
            let seen = Arc::clone(&seen);
            thread::spawn(move || read_until_sentinels(peer, &seen))
        };
        User {
            nick,
            tag,
            sender: Some(sender),
            reader: Some(reader),
            sent,
            seen,
        }
    }
}

/// Writes `TAG-0`, `TAG-1`, … one per [`PACE`] until `stop`, then
/// `TAG-end`; returns how many numbered lines it wrote.
fn send_numbered(
    mut writer: TcpStream,
    nick: &str,
    tag: &str,
    stop: &AtomicBool,
    sent: &AtomicUsize,
) -> usize {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        assert!(
            n < MAX_SENT,
            "{nick}: the attack outlasted {MAX_SENT} lines"
        );
        writer
            .write_all(format!("{tag}-{n}\n").as_bytes())
            .unwrap_or_else(|e| panic!("{nick}: sending line {n} failed: {e}"));
        n += 1;
        sent.store(n, Ordering::SeqCst);
        thread::sleep(PACE);
    }
    writer
        .write_all(format!("{tag}-end\n").as_bytes())
        .unwrap_or_else(|e| panic!("{nick}: sending the sentinel failed: {e}"));
    n
}

/// Keeps every line `peer` receives until it saw both sentinels.
fn read_until_sentinels(mut peer: Peer, seen: &Seen) {
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _done = Done(&seen.done);
    let mut sentinels = [false; 2];
    for _ in 0..MAX_RECEIVED {
        let bytes = peer.line_bytes();
        let line = match String::from_utf8(bytes) {
            Ok(line) => line,
            Err(e) => {
                let line = String::from_utf8_lossy(e.as_bytes()).into_owned();
                seen.invalid
                    .lock()
                    .expect("the invalid lines")
                    .push(e.into_bytes());
                line
            }
        };
        if line == "alice: a-end" {
            sentinels[0] = true;
        } else if line == "bob: b-end" {
            sentinels[1] = true;
        }
        seen.lines.lock().expect("the lines").push(line);
        if sentinels == [true, true] {
            return;
        }
    }
    panic!(
        "{}: {MAX_RECEIVED} lines and the sentinels still missing",
        peer.name()
    );
}

fn last_lines(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(8)..]
}

/// Whether `c` must never reach a client: C0 but TAB, DEL, C1.
pub(crate) fn is_control(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c)
}

/// Whether `s` could be a nick: 1–32 letters, digits or `_-.[]{}|^`, not
/// starting with `-`.
pub(crate) fn is_nick(s: &str) -> bool {
    let count = s.chars().count();
    (1..=32).contains(&count)
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_-.[]{}|^".contains(c))
}

/// Whether `reason` (inside its brackets) is one of the server's, or a
/// user's marked as such with no bracket of its own.
pub(crate) fn is_leave_reason(reason: &str) -> bool {
    let servers = ["too slow", "flooding", "server lost", "server shut down"];
    servers.contains(&reason)
        || reason
            .strip_prefix("Quit: ")
            .is_some_and(|r| !r.is_empty() && !r.contains(['(', ')']))
}

/// The nick `line` is about, if it is a room line: a message, an action, a
/// private message, a join, leave or rename notice.
pub(crate) fn room_line_nick(line: &str) -> Option<&str> {
    if let Some((nick, _)) = line.split_once(": ").filter(|(n, _)| is_nick(n)) {
        return Some(nick);
    }
    if let Some(rest) = line.strip_prefix("* ") {
        let nick = rest.split_once(' ').map_or(rest, |(nick, _)| nick);
        return is_nick(nick).then_some(nick);
    }
    if let Some((nick, _)) = line
        .strip_prefix("[pm from ")
        .and_then(|rest| rest.split_once("] "))
    {
        return is_nick(nick).then_some(nick);
    }
    if let Some(nick) = line.strip_suffix(" joined the chat") {
        return is_nick(nick).then_some(nick);
    }
    if let Some((nick, reason)) = line.split_once(" left the chat!") {
        let reason_ok = reason.is_empty()
            || reason
                .strip_prefix(" (")
                .and_then(|r| r.strip_suffix(')'))
                .is_some_and(is_leave_reason);
        return (is_nick(nick) && reason_ok).then_some(nick);
    }
    if let Some((old, new)) = line.split_once(" is now known as ") {
        return (is_nick(old) && is_nick(new)).then_some(old);
    }
    None
}

/// An attacker's line as an honest user may receive it: clean text, a room
/// line, about someone else than the honest pair.
fn check_room_line(who: &str, line: &str) {
    let bad: Vec<char> = line.chars().filter(|&c| is_control(c)).collect();
    assert!(
        bad.is_empty(),
        "{who}: control characters {bad:?} in {line:?}"
    );
    match room_line_nick(line) {
        Some(nick) => assert!(
            !nick.eq_ignore_ascii_case(ALICE) && !nick.eq_ignore_ascii_case(BOB),
            "{who}: a line about an honest user that none of them sent: {line:?}"
        ),
        None => panic!("{who}: not a room line: {line:?}"),
    }
}

/// Whether `line` is one of the honest pair's own lines, which an attacker
/// in the room receives in between its own.
pub(crate) fn is_honest_line(line: &str) -> bool {
    let numbered = |rest: Option<&str>| {
        rest.is_some_and(|n| n == "end" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
    };
    numbered(line.strip_prefix("alice: a-")) || numbered(line.strip_prefix("bob: b-"))
}

/// The next line `peer` receives that is not an honest chat line.
pub(crate) fn next_line(peer: &mut Peer) -> String {
    for _ in 0..MAX_RECEIVED {
        let line = peer.line();
        if !is_honest_line(&line) {
            return line;
        }
    }
    panic!(
        "{}: only honest lines for {MAX_RECEIVED} lines",
        peer.name()
    );
}

/// The next lines `peer` receives, honest chat skipped, are exactly `expected`.
pub(crate) fn expect_lines(peer: &mut Peer, expected: &[&str]) {
    for line in expected {
        let got = next_line(peer);
        assert_eq!(got, *line, "{}: unexpected line", peer.name());
    }
}

/// Reads `peer` until the server closes it and returns the lines it got
/// that are not honest chat (a last unterminated piece included).
pub(crate) fn lines_until_closed(peer: &mut Peer) -> Vec<String> {
    let rest = peer.expect_closed();
    String::from_utf8_lossy(&rest)
        .split_terminator('\n')
        .filter(|l| !is_honest_line(l))
        .map(str::to_string)
        .collect()
}

/// Joins `nick` while the honest pair chats: like [`Peer::join`], and also
/// waits until both honest users saw the join notice.
pub(crate) fn join(honest: &Honest, nick: &str, addr: SocketAddr) -> Peer {
    let peer = Peer::join(nick, addr);
    honest.wait_for_line(&format!("{nick} joined the chat"));
    peer
}
