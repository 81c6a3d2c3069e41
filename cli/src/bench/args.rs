//! `chat bench`'s flags.

use crate::args::{DialectArg, DEFAULT_PORT};
use crate::units::HumanDuration;
use clap::{Args, ValueEnum};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `chat bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Server to load: a loopback address (the tool only targets this machine)
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,

    /// Server port, or a comma-separated list of the ports of several
    /// servers that serve one room together (`chat server --cluster`):
    /// client i connects to the (i mod n)-th. Deliveries are expected as in
    /// one room; servers that are separate rooms show as lost deliveries
    #[arg(long, short, value_name = "PORT[,PORT...]",
          default_value_t = List(vec![DEFAULT_PORT]), value_parser = parse_list::<u16>)]
    pub(crate) port: List<u16>,

    /// fanout: everyone joins, then everyone sends and receives everything;
    /// idle: join the clients, measure join time and server memory;
    /// handshake: connect (and handshake, with --tls) up to the prompt, then
    /// close: connections or TLS handshakes per second
    #[arg(long, value_enum, default_value_t = Scenario::Fanout)]
    pub(crate) scenario: Scenario,

    /// Connections, each a user with its own nick (bench0, bench1, ...)
    #[arg(long, short, value_name = "C", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) clients: u32,

    /// Messages each client sends (fanout)
    #[arg(long, short, value_name = "M", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) messages: u32,

    /// Bytes per message, the marker `#SENDER.SEQ.NANOS;` included
    #[arg(long, short, value_name = "S", default_value_t = 64)]
    pub(crate) size: usize,

    /// Messages per second per client; as fast as possible when absent
    #[arg(long, short, value_name = "R", value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,

    /// Bound on each phase: joining, then sending and draining (e.g. 60s, 500ms)
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(Duration::from_secs(60)))]
    pub(crate) timeout: HumanDuration,

    /// End the drain when no new delivery arrived for this long: lost
    /// messages never come
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(Duration::from_secs(5)))]
    pub(crate) stall: HumanDuration,

    /// The server's process id, to report its memory (VmRSS) before and
    /// after; with several ports, one pid per port in the same order, and
    /// the memory reported is their sum
    #[arg(long, value_name = "PID[,PID...]", value_parser = parse_list::<u32>)]
    pub(crate) server_pid: Option<List<u32>>,

    /// Print one JSON object instead of the table
    #[arg(long)]
    pub(crate) json: bool,

    /// framed: this project's protocol; seed: the original Python server
    #[arg(long, value_enum, default_value_t = DialectArg::Framed)]
    pub(crate) dialect: DialectArg,

    /// Worker threads of the load generator [default: 1 with --rate, where a
    /// second thread's cross-thread wake-ups double the latency measured;
    /// otherwise the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) threads: Option<u32>,

    #[command(flatten)]
    pub(crate) tls: crate::tls::TlsFlags,

    /// Most connections in the handshake at once (keeps the server's accept
    /// backlog from overflowing)
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) join_window: u32,
}

/// What `chat bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Every client sends M messages to the room; every client receives all
    Fanout,
    /// Clients join and stay; one probe message checks they are served
    Idle,
    /// Clients connect (and with --tls complete the TLS handshake) until
    /// the server's `alias?` prompt, then close: connections (or TLS
    /// handshakes) per second
    Handshake,
}

impl Scenario {
    /// Its flag value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Idle => "idle",
            Scenario::Handshake => "handshake",
        }
    }
}

/// A comma-separated list of numbers (ports, pids).
///
/// # Invariants
/// Never empty, and no value occurs twice (`parse_list` refuses both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct List<T>(pub(crate) Vec<T>);

impl<T: fmt::Display> fmt::Display for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, value) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{value}")?;
        }
        Ok(())
    }
}

/// `A,B,...`: at least one value, each parsed as a `T`, none repeated.
fn parse_list<T>(s: &str) -> Result<List<T>, String>
where
    T: FromStr + PartialEq + fmt::Display,
    T::Err: fmt::Display,
{
    let mut values: Vec<T> = Vec::new();
    for word in s.split(',') {
        let word = word.trim();
        let value = word.parse::<T>().map_err(|e| format!("`{word}`: {e}"))?;
        if values.contains(&value) {
            return Err(format!("{value} is listed twice"));
        }
        values.push(value);
    }
    Ok(List(values))
}

/// A positive, finite number of messages per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1e9 => Ok(rate),
        Ok(_) => Err("the rate must be a positive number of messages per second".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command, DialectArg};
    use clap::Parser;

    fn bench(args: &[&str]) -> Result<super::BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(["chat", "bench"].iter().chain(args))?;
        match cli.command {
            Command::Bench(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn bench_flags_parse() {
        let args = bench(&[
            "--clients=100",
            "--messages=10",
            "--size=128",
            "--rate=2.5",
            "--timeout=90s",
            "--scenario=idle",
            "--server-pid=42",
            "--json",
            "--dialect=seed",
            "--threads=3",
            "--port=4000",
        ])
        .expect("valid flags");
        assert_eq!((args.clients, args.messages, args.size), (100, 10, 128));
        assert_eq!(args.rate, Some(2.5));
        assert_eq!(args.timeout.0.as_secs(), 90);
        assert_eq!(args.scenario, super::Scenario::Idle);
        assert_eq!(args.dialect, DialectArg::Seed);
        assert_eq!(
            (args.server_pid, args.threads, args.port),
            (
                Some(super::List(vec![42])),
                Some(3),
                super::List(vec![4000])
            )
        );
        assert!(args.json);
    }

    #[test]
    fn bench_tls_flags_parse() {
        let args = bench(&["--tls", "--ca=ca.pem", "--scenario=handshake"]).expect("valid flags");
        assert!(args.tls.speaks_tls());
        assert_eq!(args.tls.ca.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert_eq!(args.scenario, super::Scenario::Handshake);
        let args = bench(&["--tls-insecure"]).expect("valid flags");
        assert!(args.tls.speaks_tls() && args.tls.tls_insecure);
        assert!(!bench(&[]).expect("no flags is valid").tls.speaks_tls());
    }

    #[test]
    fn bench_defaults() {
        let args = bench(&[]).expect("no flags is valid");
        assert_eq!(args.scenario, super::Scenario::Fanout);
        assert_eq!(args.dialect, DialectArg::Framed);
        assert_eq!(args.rate, None);
        assert_eq!(args.host, "127.0.0.1");
        assert_eq!(args.port, super::List(vec![crate::args::DEFAULT_PORT]));
        assert_eq!(args.server_pid, None);
    }

    #[test]
    fn ports_and_pids_take_lists() {
        let args = bench(&["--port=55555,55556, 55557", "--server-pid=7,8,9"]).expect("lists");
        assert_eq!(args.port, super::List(vec![55555, 55556, 55557]));
        assert_eq!(args.server_pid, Some(super::List(vec![7, 8, 9])));
        assert_eq!(args.port.to_string(), "55555,55556,55557");
    }

    #[test]
    fn bad_bench_flags_are_rejected() {
        for bad in [
            &["--clients=0"][..],
            &["--messages=0"],
            &["--rate=0"],
            &["--rate=-1"],
            &["--rate=inf"],
            &["--scenario=storm"],
            &["--dialect=irc"],
            &["--threads=0"],
            &["--ca=ca.pem"],
            &["--tls-insecure", "--tls", "--ca=ca.pem"],
            &["--scenario=handshakes"],
            &["--port="],
            &["--port=1,"],
            &["--port=1,,2"],
            &["--port=1,1"],
            &["--port=70000"],
            &["--port=a"],
            &["--server-pid=1,x"],
            &["--server-pid=3,3"],
        ] {
            assert!(bench(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
