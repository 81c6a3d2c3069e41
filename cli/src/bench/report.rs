//! The result of a run: a table for people, one JSON object for scripts.

use super::args::Scenario;
use super::tally::Counts;
use chat_core::Dialect;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Everything a run measured.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) scenario: Scenario,
    pub(crate) dialect: Dialect,
    /// The servers, in `--port` order (client i on the (i mod n)-th).
    pub(crate) servers: Vec<SocketAddr>,
    /// Whether every connection spoke TLS.
    pub(crate) tls: bool,
    pub(crate) clients: u32,
    /// Clients that send (fanout: all; idle: one probe).
    pub(crate) senders: u32,
    /// Messages per sender.
    pub(crate) messages: u32,
    pub(crate) size: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) threads: u32,
    pub(crate) joined: u32,
    pub(crate) join_failed: u32,
    /// The first join failure, described.
    pub(crate) join_failure: Option<String>,
    /// First connect to the last confirmed join.
    pub(crate) join_seconds: Option<f64>,
    /// Counts summed over the joined clients; `expected` is replaced by the
    /// plan's (clients × senders × messages), so failed joins count as lost.
    pub(crate) counts: Counts,
    pub(crate) closed_early: u32,
    pub(crate) send_errors: u32,
    /// Why the drain ended.
    pub(crate) drain_end: DrainEnd,
    /// Go to the last distinct delivery: the time the rates are over.
    pub(crate) elapsed_seconds: f64,
    /// Go to the end of the drain.
    pub(crate) waited_seconds: f64,
    pub(crate) latency: Option<Latency>,
    /// The latency of the deliveries whose sender was on another server
    /// than the recipient; `None` when there were none (always with one
    /// server).
    pub(crate) cross_server_latency: Option<Latency>,
    /// Summed over the servers' processes.
    pub(crate) rss: Option<Rss>,
}

/// Why the drain phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DrainEnd {
    /// Every expected delivery arrived.
    Complete,
    /// Every joined client's connection ended.
    AllClosed,
    /// Nothing new arrived for `--stall`.
    Stalled,
    /// `--timeout` passed.
    Timeout,
}

impl DrainEnd {
    /// Its name in the JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DrainEnd::Complete => "complete",
            DrainEnd::AllClosed => "connections_closed",
            DrainEnd::Stalled => "stalled",
            DrainEnd::Timeout => "timeout",
        }
    }
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Latency {
    pub(crate) samples: u64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Latency {
    /// Its JSON object; `null` for `None`.
    fn to_json(latency: Option<Latency>) -> Value {
        latency.map_or(Value::Null, |l| {
            json!({
                "samples": l.samples,
                "p50": l.p50,
                "p90": l.p90,
                "p99": l.p99,
                "p99_9": l.p999,
                "max": l.max,
            })
        })
    }

    /// Its table row's text.
    fn to_row(self) -> String {
        format!(
            "p50 {} p90 {} p99 {} p99.9 {} max {} ({} samples)",
            micros(self.p50),
            micros(self.p90),
            micros(self.p99),
            micros(self.p999),
            micros(self.max),
            self.samples
        )
    }

    /// Percentiles of a histogram in nanoseconds; `None` when it is empty.
    pub(crate) fn of(h: &Histogram<u64>) -> Option<Latency> {
        let us = |ns: u64| ns as f64 / 1000.0;
        (!h.is_empty()).then(|| Latency {
            samples: h.len(),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

/// The server's resident memory, KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rss {
    /// Before the first connect.
    pub(crate) before: u64,
    /// Once every client joined (or the join phase ended).
    pub(crate) joined: u64,
    /// At the end of the run, before the clients closed.
    pub(crate) end: u64,
}

impl Report {
    /// The servers as `--port` named them: `ADDR` or `ADDR,ADDR,...`.
    fn servers_text(&self) -> String {
        let addrs: Vec<String> = self.servers.iter().map(ToString::to_string).collect();
        addrs.join(",")
    }

    /// `cross_server_latency_us`: `null` with one server; with several, an
    /// object whose `samples` is 0 (and percentiles `null`) when no
    /// delivery crossed servers.
    fn cross_server_json(&self) -> Value {
        if self.servers.len() <= 1 {
            return Value::Null;
        }
        match self.cross_server_latency {
            Some(l) => Latency::to_json(Some(l)),
            None => json!({
                "samples": 0,
                "p50": null,
                "p90": null,
                "p99": null,
                "p99_9": null,
                "max": null,
            }),
        }
    }

    /// Distinct deliveries per second.
    pub(crate) fn deliveries_per_second(&self) -> f64 {
        per_second(self.counts.unique as f64, self.elapsed_seconds)
    }

    /// Joins (in `handshake`: connections up to the prompt, TLS handshake
    /// included with `--tls`) per second, over the join phase.
    pub(crate) fn joins_per_second(&self) -> f64 {
        per_second(f64::from(self.joined), self.join_seconds.unwrap_or(0.0))
    }

    /// Room messages per second: deliveries per second over the recipients.
    pub(crate) fn messages_per_second(&self) -> f64 {
        self.deliveries_per_second() / f64::from(self.clients)
    }

    /// Server memory per joined connection, bytes (from `before` to `joined`).
    pub(crate) fn rss_per_connection(&self) -> Option<f64> {
        let rss = self.rss?;
        (self.joined > 0)
            .then(|| (rss.joined as f64 - rss.before as f64) * 1024.0 / f64::from(self.joined))
    }

    /// The JSON object `--json` prints.
    pub(crate) fn to_json(&self) -> Value {
        let c = &self.counts;
        json!({
            "scenario": self.scenario.name(),
            "dialect": self.dialect.name(),
            "server": self.servers_text(),
            "servers": self.servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "tls": self.tls,
            "clients": self.clients,
            "senders": self.senders,
            "messages": self.messages,
            "size": self.size,
            "rate": self.rate,
            "threads": self.threads,
            "joined": self.joined,
            "join_failures": self.join_failed,
            "join_failure": self.join_failure,
            "join_seconds": self.join_seconds,
            "joins_per_second": self.joins_per_second(),
            "expected": c.expected,
            "received": c.unique,
            "lost": c.lost(),
            "duplicated": c.duplicated,
            "out_of_order": c.out_of_order,
            "unknown": c.unknown,
            "malformed": c.malformed,
            "closed_early": self.closed_early,
            "send_errors": self.send_errors,
            "drain_end": self.drain_end.name(),
            "elapsed_seconds": self.elapsed_seconds,
            "waited_seconds": self.waited_seconds,
            "deliveries_per_second": self.deliveries_per_second(),
            "messages_per_second": self.messages_per_second(),
            "latency_us": Latency::to_json(self.latency),
            "cross_server_latency_us": self.cross_server_json(),
            "server_rss_kib": self.rss.map(|r| json!({
                "before": r.before,
                "joined": r.joined,
                "end": r.end,
                "per_connection_bytes": self.rss_per_connection(),
            })),
        })
    }

    /// The table printed without `--json`.
    pub(crate) fn to_table(&self) -> String {
        let mut t = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(t, "{name:<14} {value}");
        };
        let pace = match self.rate {
            Some(rate) => format!("{rate} msg/s per client"),
            None => "full speed".into(),
        };
        row(
            "scenario",
            format!(
                "{} against {}{}{} ({} dialect), {} threads",
                self.scenario.name(),
                if self.servers.len() > 1 {
                    format!("{} servers ", self.servers.len())
                } else {
                    String::new()
                },
                self.servers_text(),
                if self.tls { " over TLS" } else { "" },
                self.dialect.name(),
                self.threads
            ),
        );
        let load = match self.scenario {
            Scenario::Handshake => format!(
                "{} clients, each connects up to the prompt and closes",
                self.clients
            ),
            Scenario::Fanout | Scenario::Idle => format!(
                "{} clients, {} sending {} × {} B, {pace}",
                self.clients, self.senders, self.messages, self.size
            ),
        };
        row("load", load);
        let join_time = self
            .join_seconds
            .map_or("-".into(), |s| format!("{:.3} s", s));
        row(
            "joined",
            format!(
                "{}/{} in {join_time}, {:.0}/s",
                self.joined,
                self.clients,
                self.joins_per_second()
            ),
        );
        if let Some(why) = &self.join_failure {
            row(
                "join failures",
                format!("{} (first: {why})", self.join_failed),
            );
        }
        if self.scenario != Scenario::Handshake {
            self.delivery_rows(&mut row);
        }
        if let Some(l) = self.latency {
            let name = match self.scenario {
                Scenario::Handshake => "to the prompt",
                Scenario::Fanout | Scenario::Idle => "latency",
            };
            row(name, l.to_row());
        }
        if self.servers.len() > 1 && self.scenario != Scenario::Handshake {
            let text = self
                .cross_server_latency
                .map_or("no delivery crossed servers".into(), Latency::to_row);
            row("cross-server", text);
        }
        if let Some(r) = self.rss {
            let per = self
                .rss_per_connection()
                .map_or("-".into(), |b| format!("{:.0} B", b));
            row(
                "server RSS",
                format!(
                    "{} KiB before, {} KiB joined, {} KiB at the end; {per} per connection",
                    r.before, r.joined, r.end
                ),
            );
        }
        t
    }
}

impl Report {
    /// The rows about deliveries: counts, anomalies, time, throughput.
    fn delivery_rows(&self, row: &mut impl FnMut(&str, String)) {
        let c = &self.counts;
        row(
            "deliveries",
            format!(
                "{} expected, {} received, {} lost, {} duplicated, {} out of order",
                c.expected,
                c.unique,
                c.lost(),
                c.duplicated,
                c.out_of_order
            ),
        );
        if c.unknown + c.malformed > 0 || self.closed_early + self.send_errors > 0 {
            row(
                "anomalies",
                format!(
                    "{} unknown markers, {} malformed, {} connections closed early, {} send errors",
                    c.unknown, c.malformed, self.closed_early, self.send_errors
                ),
            );
        }
        let end = match self.drain_end {
            DrainEnd::Complete => String::new(),
            DrainEnd::AllClosed => ", then every connection was closed".into(),
            DrainEnd::Stalled => format!(
                ", then nothing more until the drain stalled at {:.3} s",
                self.waited_seconds
            ),
            DrainEnd::Timeout => format!(", then timed out at {:.3} s", self.waited_seconds),
        };
        row(
            "elapsed",
            format!("{:.3} s to the last delivery{end}", self.elapsed_seconds),
        );
        row(
            "throughput",
            format!(
                "{:.0} deliveries/s, {:.0} messages/s",
                self.deliveries_per_second(),
                self.messages_per_second()
            ),
        );
    }
}

/// `count / seconds`, 0 when no time passed.
fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count / seconds
    } else {
        0.0
    }
}

/// Microseconds, shown in the unit that reads best.
fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            scenario: Scenario::Fanout,
            dialect: Dialect::Framed,
            servers: vec!["127.0.0.1:55555".parse().expect("valid address")],
            tls: false,
            clients: 4,
            senders: 4,
            messages: 10,
            size: 64,
            rate: None,
            threads: 2,
            joined: 4,
            join_failed: 0,
            join_failure: None,
            join_seconds: Some(0.01),
            counts: Counts {
                expected: 160,
                unique: 150,
                duplicated: 2,
                ..Counts::default()
            },
            closed_early: 0,
            send_errors: 0,
            drain_end: DrainEnd::Stalled,
            elapsed_seconds: 0.5,
            waited_seconds: 5.5,
            latency: None,
            cross_server_latency: None,
            rss: Some(Rss {
                before: 1000,
                joined: 1004,
                end: 1010,
            }),
        }
    }

    #[test]
    fn rates_are_per_second_of_elapsed_time() {
        let r = report();
        assert_eq!(r.deliveries_per_second(), 300.0);
        assert_eq!(r.messages_per_second(), 75.0);
        assert_eq!(r.rss_per_connection(), Some(1024.0));
    }

    #[test]
    fn json_carries_the_counts() {
        let v = report().to_json();
        assert_eq!(v["expected"], 160);
        assert_eq!(v["received"], 150);
        assert_eq!(v["lost"], 10);
        assert_eq!(v["duplicated"], 2);
        assert_eq!(v["drain_end"], "stalled");
        assert_eq!(v["latency_us"], Value::Null);
        assert_eq!(v["cross_server_latency_us"], Value::Null);
        assert_eq!(v["server"], "127.0.0.1:55555");
        assert_eq!(v["server_rss_kib"]["per_connection_bytes"], 1024.0);
    }

    #[test]
    fn table_says_what_went_wrong() {
        let table = report().to_table();
        assert!(table.contains("10 lost, 2 duplicated"), "{table}");
        assert!(table.contains("stalled at 5.500 s"), "{table}");
    }

    #[test]
    fn a_handshake_run_reports_joins_per_second_not_deliveries() {
        let r = Report {
            scenario: Scenario::Handshake,
            tls: true,
            join_seconds: Some(0.5),
            ..report()
        };
        assert_eq!(r.joins_per_second(), 8.0);
        let table = r.to_table();
        assert!(table.contains("over TLS"), "{table}");
        assert!(table.contains("4/4 in 0.500 s, 8/s"), "{table}");
        assert!(!table.contains("deliveries"), "{table}");
        assert_eq!(r.to_json()["tls"], true);
    }

    #[test]
    fn several_servers_report_their_cross_server_latency() {
        let two = vec![
            "127.0.0.1:55555".parse().expect("valid address"),
            "127.0.0.1:55556".parse().expect("valid address"),
        ];
        let lat = Latency {
            samples: 7,
            p50: 10.0,
            p90: 20.0,
            p99: 30.0,
            p999: 40.0,
            max: 50.0,
        };
        let r = Report {
            servers: two.clone(),
            cross_server_latency: Some(lat),
            ..report()
        };
        let v = r.to_json();
        assert_eq!(v["server"], "127.0.0.1:55555,127.0.0.1:55556");
        assert_eq!(v["servers"][1], "127.0.0.1:55556");
        assert_eq!(v["cross_server_latency_us"]["samples"], 7);
        assert_eq!(v["cross_server_latency_us"]["p99"], 30.0);
        assert_eq!(v["cross_server_latency_us"]["max"], 50.0);
        let table = r.to_table();
        assert!(
            table.contains("2 servers 127.0.0.1:55555,127.0.0.1:55556"),
            "{table}"
        );
        assert!(table.contains("cross-server   p50 10 µs"), "{table}");

        let none_crossed = Report {
            servers: two,
            ..report()
        };
        let v = none_crossed.to_json();
        assert_eq!(v["cross_server_latency_us"]["samples"], 0);
        assert_eq!(v["cross_server_latency_us"]["p50"], Value::Null);
        let table = none_crossed.to_table();
        assert!(table.contains("no delivery crossed servers"), "{table}");
        assert!(!report().to_table().contains("cross-server"));
    }

    #[test]
    fn latency_percentiles_come_from_the_histogram() {
        let mut h = crate::bench::worker::histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).expect("in range");
        }
        let l = Latency::of(&h).expect("not empty");
        assert_eq!(l.samples, 1000);
        assert!((l.p50 - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99 - 990.0).abs() < 1.0, "{l:?}");
        assert!((l.max - 1000.0).abs() < 1.0, "{l:?}");
        assert_eq!(Latency::of(&crate::bench::worker::histogram()), None);
    }
}
