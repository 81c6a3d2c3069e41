//! Micro-benchmarks of `chat-core`, the room as a state machine, with no I/O.
//!
//! - `broadcast/*`: one line from one user reaches N joined users. `drain`
//!   answers each `Send` with nothing (accounts are settled outside the timed
//!   part); `drain_ack` also reports every `Send` as written at once, as a
//!   driver whose sockets never block would. Throughput is in recipients.
//! - `framing/*`: a joined user's input cut into 1024-byte reads, in a room
//!   of one user. Throughput is in input bytes.
//! - `join/*`: the N-th user joins a room of N - 1 (the join notice goes to
//!   N users and the joiner gets `Online (N): ...`). Throughput is in users,
//!   so a flat figure across N means the join cost is linear in N.
//!
//! Run: `cargo bench -p chat-tests --bench core`. Figures: docs/performance.md.

#![forbid(unsafe_code)]

use chat_core::{Action, Config, ConnId, Input, Room, Time, MAX_READ};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The line every broadcast sends (the room relays `u0: hello, everyone!`).
const LINE: &[u8] = b"hello, everyone!\n";

/// Limits that stay out of the way: no flood control, no slow-reader kicks,
/// and room for every user. Time never advances, so no deadline fires.
/// Join notices are sent at once, not held: `join/*` measures the whole
/// fan-out of a join, the cost that holding spreads over many joins.
fn config() -> Config {
    Config {
        max_clients: 100_000,
        send_queue: usize::MAX / 2,
        flood_rate: 0,
        notice_hold_per_user: Duration::ZERO,
        ..Config::default()
    }
}

/// Connects `conn` and sends its nick line (`nick\n`): it joins.
fn join(room: &mut Room, conn: ConnId, nick_line: &[u8]) {
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    room.handle(Time::ZERO, Input::Connected { conn, peer });
    room.handle(
        Time::ZERO,
        Input::Received {
            conn,
            bytes: nick_line,
        },
    );
}

/// Drains every action and event; with `ack`, reports each `Send` as fully
/// written at once. Returns the number of `Send`s.
fn drain(room: &mut Room, ack: bool) -> usize {
    let mut sends = 0;
    while let Some(action) = room.poll_action() {
        if let Action::Send { conn, bytes } = action {
            sends += 1;
            if ack {
                let (len, sends) = (bytes.len(), usize::from(!bytes.is_empty()));
                room.handle(Time::ZERO, Input::Written { conn, len, sends });
            }
        }
    }
    while room.poll_event().is_some() {}
    sends
}

/// Reports everything sent so far as written, so send accounts stay bounded.
fn settle(room: &mut Room) {
    let owed: Vec<(ConnId, usize)> = room
        .joined()
        .filter_map(|(conn, _)| Some((conn, room.unflushed(conn)?)))
        .collect();
    for (conn, len) in owed {
        // The whole account, as bytes: what matters here is that it empties.
        room.handle(
            Time::ZERO,
            Input::Written {
                conn,
                len,
                sends: 0,
            },
        );
    }
}

/// A room of `n` joined users `u0`, `u1`, ... on connections `0..n`, drained
/// and settled.
fn room_with(n: u64) -> Room {
    let mut room = Room::new(config());
    for id in 0..n {
        join(&mut room, ConnId(id), format!("u{id}\n").as_bytes());
        drain(&mut room, false);
    }
    settle(&mut room);
    assert_eq!(room.joined().count() as u64, n, "every user joined");
    room
}

/// Times `iters` runs of `step`; settles the send accounts afterwards, untimed.
fn timed(room: &mut Room, iters: u64, mut step: impl FnMut(&mut Room)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        step(room);
    }
    let elapsed = start.elapsed();
    settle(room);
    elapsed
}

fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    for n in [10, 1_000, 10_000] {
        let mut room = room_with(n);
        let say = Input::Received {
            conn: ConnId(0),
            bytes: LINE,
        };
        // Check once that the line really reaches everyone.
        room.handle(Time::ZERO, say);
        assert_eq!(drain(&mut room, true) as u64, n, "one Send per user");
        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::new("drain", n), |b| {
            b.iter_custom(|iters| {
                timed(&mut room, iters, |room| {
                    room.handle(Time::ZERO, say);
                    black_box(drain(room, false));
                })
            })
        });
        group.bench_function(BenchmarkId::new("drain_ack", n), |b| {
            b.iter(|| {
                room.handle(Time::ZERO, say);
                drain(&mut room, true)
            })
        });
    }
    group.finish();
}

/// About 64 KiB of lines of `len` bytes each, `\n` included.
fn stream_of_lines(len: usize) -> Vec<u8> {
    let line: Vec<u8> = (b'a'..=b'z').cycle().take(len - 1).chain([b'\n']).collect();
    line.repeat(64 * 1024 / len)
}

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    for (name, len) in [("short_16", 16), ("typical_64", 64), ("long_900", 900)] {
        let mut room = room_with(1);
        let stream = stream_of_lines(len);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for bytes in stream.chunks(MAX_READ) {
                    let conn = ConnId(0);
                    room.handle(Time::ZERO, Input::Received { conn, bytes });
                    drain(&mut room, true);
                }
            })
        });
    }
    group.finish();
}

fn join_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("join");
    for n in [1_000, 10_000] {
        let mut room = room_with(n - 1);
        // Ids are never reused: each joiner gets a new one, and leaves untimed.
        let mut next_id = n + 1;
        // Check once: prompt, join notice to all n, `You are connected`, `Online (n)`.
        let conn = ConnId(n);
        join(&mut room, conn, b"newcomer\n");
        assert_eq!(drain(&mut room, false) as u64, n + 3, "the newcomer joined");
        room.handle(Time::ZERO, Input::Closed { conn });
        drain(&mut room, false);
        settle(&mut room);
        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let conn = ConnId(next_id);
                    next_id += 1;
                    let start = Instant::now();
                    join(&mut room, conn, b"newcomer\n");
                    black_box(drain(&mut room, false));
                    elapsed += start.elapsed();
                    room.handle(Time::ZERO, Input::Closed { conn });
                    drain(&mut room, false);
                }
                settle(&mut room);
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole bench stays under ~2 minutes on 2 shared cores.
    // Command-line flags (e.g. `--measurement-time 10`) override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = broadcast, framing, join_cost
}
criterion_main!(benches);
