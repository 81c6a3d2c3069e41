//! The command line, declared with clap's derive API.

use crate::runtime::RuntimeKind;
use crate::units::{ByteSize, HumanDuration};
use chat_core::{Config, Dialect};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The seed's port, and ours by default.
pub(crate) const DEFAULT_PORT: u16 = 55555;

/// `chat client --help`: what its exit code says.
const CLIENT_EXIT_CODES: &str = "\
Exit codes:
  0  a normal end: you left (/quit, Ctrl-D, end of input) or the server shut down
  1  no connection: cannot resolve or connect, the connection was lost or closed
     without a reason, or the server said nothing (--wait-for-server)
  2  bad command line (a --ca file that cannot be read included), or piped input
     ended before giving a nick
  3  the server turned you away before you joined: the nick was refused (piped),
     the server is full, too many connections from your address, or the time
     limit for choosing a nick passed
  4  piped: the session ended normally but the server refused lines you sent
     (each `error: ...` line is also written to stderr), or with --reconnect
     lines read while offline were not sent (each is named on stderr)

With --reconnect, a lost connection or a server shutdown is not the end: the
client says `disconnected: REASON; reconnecting in N s…`, tries again (1 s,
doubling to 30 s, a little less at random), rejoins with the same nick and
says `reconnected as NICK`. Leaving (/quit, Ctrl-D, end of input) is final, and
so is a first connection that never joined. A line typed while offline is not
sent, then or later: a note shows it, and Up brings it back to send again. If
the nick is still taken (the old connection not gone yet on the server), the
rejoin is tried 3 times, then the nick is asked for as at the start.";
/// The TLS port by default: the one after the plain one.
pub(crate) const DEFAULT_TLS_PORT: u16 = 55556;

/// A TCP chat room: run a server, or join one.
#[derive(Debug, Parser)]
#[command(name = "chat", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Log filter for stderr, e.g. `info` or `chat=debug` (overrides RUST_LOG)
    #[arg(long, global = true, value_name = "FILTER", value_parser = parse_log_filter)]
    pub(crate) log_level: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a chat server until SIGINT or SIGTERM
    Server(ServerArgs),
    /// Join a chat server (interactive on a terminal, plain lines when piped)
    #[command(after_help = CLIENT_EXIT_CODES)]
    Client(ClientArgs),
    /// Load a chat server on this machine and measure it: deliveries/s,
    /// latency, losses, join time, memory per connection
    Bench(crate::bench::BenchArgs),
}

/// `chat server`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on (an IP address or a host name; `::1` for IPv6)
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,

    /// Port to listen on; 0 picks a free port and prints it
    #[arg(long, short, default_value_t = DEFAULT_PORT)]
    pub(crate) port: u16,

    /// Which I/O driver runs the room
    #[arg(long, value_enum, default_value_t = RuntimeKind::Smol)]
    pub(crate) runtime: RuntimeKind,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,

    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,

    #[command(flatten)]
    pub(crate) limits: Limits,
}

/// The cluster flags of `chat server`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cluster")]
pub(crate) struct ClusterArgs {
    /// Serve one room with every server started with the same Redis and --room,
    /// through a Redis stream (e.g. redis://127.0.0.1:6379)
    #[arg(long, value_name = "URL")]
    pub(crate) cluster: Option<String>,

    /// The room's name in that Redis
    #[arg(
        long,
        value_name = "NAME",
        default_value = "lobby",
        requires = "cluster"
    )]
    pub(crate) room: String,

    /// This server's name in the cluster, unique there [default: the address it listens on]
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub(crate) node_name: Option<String>,
}

/// The TLS port of `chat server`.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct ServerTlsArgs {
    /// Serve TLS too, with this PEM certificate chain (leaf first); SIGHUP reloads it
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Port for TLS, beside the plain --port; 0 picks a free port and prints it
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_TLS_PORT)]
    pub(crate) tls_port: u16,

    /// Serve TLS only: no plain port
    #[arg(long, requires = "tls_cert")]
    pub(crate) no_plain: bool,
}

/// One flag per limit of the protocol; defaults are `chat_core::Config::default()`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub(crate) struct Limits {
    /// Most connections at once, joined or not; one more gets `error: server full`
    #[arg(long, value_name = "N", default_value_t = Config::default().max_clients)]
    pub(crate) max_clients: usize,

    /// Longest line in bytes, terminator excluded
    #[arg(long, value_name = "BYTES", default_value_t = Config::default().max_line)]
    pub(crate) max_line: usize,

    /// Time a connection has to join before it is closed (e.g. 30s, 250ms, 2m; plain number = seconds)
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(Config::default().handshake_timeout))]
    pub(crate) handshake_timeout: HumanDuration,

    /// What may wait for one client's socket before it is dropped as too slow: bytes, plus 72 per queued piece (e.g. 256KiB, 1MiB)
    #[arg(long, value_name = "SIZE", default_value_t = ByteSize(Config::default().send_queue))]
    pub(crate) send_queue: ByteSize,

    /// Sustained lines per second per user; 0 turns flood control off
    #[arg(long, value_name = "LINES", default_value_t = Config::default().flood_rate)]
    pub(crate) flood_rate: u32,

    /// Lines a user may send at once before the rate applies
    #[arg(long, value_name = "LINES", default_value_t = Config::default().flood_burst)]
    pub(crate) flood_burst: u32,

    /// How long an unterminated nick waits before it is taken as a seed-dialect client's nick
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(Config::default().settle))]
    pub(crate) settle: HumanDuration,

    /// Join and leave notices wait this long per user in the room, so that one write
    /// carries many (holds under 1 ms are not made, none is over 250 ms); 0 sends each at once
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(Config::default().notice_hold_per_user))]
    pub(crate) notice_hold_per_user: HumanDuration,

    /// Most connections at once from one address (IPv6: one /64); one more gets
    /// `error: too many connections from your address`; 0 turns it off
    #[arg(long, value_name = "N", default_value_t = Config::default().max_per_address)]
    pub(crate) max_per_address: usize,

    /// Connections one address may open a minute, after a burst of 16; 0 turns it off
    #[arg(long, value_name = "N", default_value_t = Config::default().connects_per_minute)]
    pub(crate) connects_per_minute: u32,

    /// Apply the per-address limits to loopback too (exempt by default: a local
    /// proxy, bench or test is one address for everyone)
    #[arg(long)]
    pub(crate) limit_loopback: bool,

    /// Room lines a joiner is sent from before it joined, marked `[history] `; 0 keeps none
    #[arg(long, value_name = "LINES", default_value_t = Config::default().history)]
    pub(crate) history: usize,
}

impl Limits {
    /// The room configuration these flags describe.
    pub(crate) fn to_config(&self) -> Config {
        Config {
            max_clients: self.max_clients,
            max_line: self.max_line,
            handshake_timeout: self.handshake_timeout.0,
            send_queue: self.send_queue.0,
            send_overhead: chat_core::SEND_OVERHEAD,
            flood_rate: self.flood_rate,
            flood_burst: self.flood_burst,
            settle: self.settle.0,
            notice_hold_per_user: self.notice_hold_per_user.0,
            max_per_address: self.max_per_address,
            history: self.history,
            connects_per_minute: self.connects_per_minute,
            limit_loopback: self.limit_loopback,
        }
    }
}

/// `chat client`.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Server to connect to (an IP address or a host name)
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,

    /// Server port [default: 55555, with --tls 55556]
    #[arg(long, short)]
    pub(crate) port: Option<u16>,

    #[command(flatten)]
    pub(crate) tls: crate::tls::TlsFlags,

    /// Nick to join with; asked for when missing (when piped: the first input line)
    #[arg(long, short)]
    pub(crate) nick: Option<String>,

    /// framed: this project's protocol; seed: the seed dialect of the original Python server
    #[arg(long, value_enum, default_value_t = DialectArg::Framed)]
    pub(crate) dialect: DialectArg,

    /// How long the server may stay silent once connected (no `alias?`)
    /// before the client gives up (exit code 1); `waiting for the server…`
    /// is shown after a second
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) wait_for_server: HumanDuration,

    /// At a terminal: after this long with nothing from the server, ask it
    /// whether it is there (`/ping`, answered unseen). A ping or a line of
    /// yours unanswered for a third of it (0.5 to 5 s) shows `(no answer
    /// from the server for N s)` and marks your lines the room has not sent
    /// back yet; `0` turns the check off
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub(crate) ping_after: HumanDuration,

    /// After a lost connection or a server shutdown, connect again (waiting
    /// 1 s, doubling to 30 s) and rejoin with the same nick. Lines typed while
    /// offline are not sent: a note says so and Up brings them back; piped,
    /// each is reported on stderr and the exit code is 4
    #[arg(long)]
    pub(crate) reconnect: bool,

    /// Prefix received lines with the time (HH:MM:SS, local time: `TZ` or the system's)
    #[arg(long)]
    pub(crate) timestamps: bool,

    /// With --timestamps: the time in UTC
    #[arg(long, requires = "timestamps")]
    pub(crate) utc: bool,

    /// At a terminal: hide the join, leave and rename notices of users who
    /// have not spoken for this long (weechat's smart filter; a burst of
    /// notices shown is collapsed into one line either way)
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub(crate) smart_filter: HumanDuration,

    /// At a terminal: show every join, leave and rename notice (turns the
    /// smart filter off)
    #[arg(long)]
    pub(crate) show_joins: bool,

    /// No terminal bell on a private line or a line that names you
    #[arg(long)]
    pub(crate) no_bell: bool,

    /// Keep no input history (by default kept in $XDG_DATA_HOME/chat/history,
    /// or ~/.local/share/chat/history)
    #[arg(long)]
    pub(crate) no_history: bool,
}

/// `--dialect` values, for `chat client` and `chat bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DialectArg {
    /// This project's protocol (docs/protocol.md): lines end with `\n`
    Framed,
    /// The seed dialect of the original Python server: no framing, own
    /// messages prefixed `NICK: `
    Seed,
}

impl DialectArg {
    /// The dialect it names.
    pub(crate) fn dialect(self) -> Dialect {
        match self {
            DialectArg::Framed => Dialect::Framed,
            DialectArg::Seed => Dialect::Seed,
        }
    }
}

impl ClientArgs {
    /// Whether the connection speaks TLS.
    pub(crate) fn speaks_tls(&self) -> bool {
        self.tls.speaks_tls()
    }

    /// The port to connect to: the one given, or the default for the transport.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(if self.speaks_tls() {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        })
    }

    /// The dialect the session speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect.dialect()
    }
}

/// Checks a tracing filter at parse time, so a typo is clap's error.
fn parse_log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("chat").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn server_defaults_are_the_core_defaults() {
        let cli = parse(&["server"]).expect("no flags is valid");
        let Command::Server(args) = cli.command else {
            panic!("parsed as a client")
        };
        assert_eq!(args.host, "127.0.0.1");
        assert_eq!(args.port, DEFAULT_PORT);
        assert_eq!(args.tls.tls_port, DEFAULT_TLS_PORT);
        assert!(args.tls.tls_cert.is_none() && !args.tls.no_plain);
        assert_eq!(args.runtime, RuntimeKind::Smol);
        assert_eq!(args.limits.to_config(), Config::default());
    }

    #[test]
    fn server_limit_flags_map_onto_config() {
        let cli = parse(&[
            "server",
            "--port=0",
            "--runtime=std",
            "--max-clients=2",
            "--max-line=100",
            "--handshake-timeout=250ms",
            "--send-queue=64KiB",
            "--flood-rate=0",
            "--flood-burst=5",
            "--settle=50ms",
            "--notice-hold-per-user=5us",
            "--max-per-address=3",
            "--connects-per-minute=0",
            "--limit-loopback",
            "--history=7",
            "--log-level=debug",
        ])
        .expect("valid flags");
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
        let Command::Server(args) = cli.command else {
            panic!("parsed as a client")
        };
        assert_eq!(args.runtime, RuntimeKind::Std);
        assert_eq!(
            args.limits.to_config(),
            Config {
                max_clients: 2,
                max_line: 100,
                handshake_timeout: Duration::from_millis(250),
                send_queue: 64 * 1024,
                send_overhead: chat_core::SEND_OVERHEAD,
                flood_rate: 0,
                flood_burst: 5,
                settle: Duration::from_millis(50),
                notice_hold_per_user: Duration::from_micros(5),
                max_per_address: 3,
                connects_per_minute: 0,
                limit_loopback: true,
                history: 7,
            }
        );
    }

    #[test]
    fn client_flags_parse() {
        let cli = parse(&[
            "client",
            "--nick",
            "alice",
            "--dialect",
            "seed",
            "--timestamps",
            "--host",
            "::1",
        ])
        .expect("valid flags");
        let Command::Client(args) = cli.command else {
            panic!("parsed as a server")
        };
        assert_eq!(args.nick.as_deref(), Some("alice"));
        assert_eq!(args.dialect(), Dialect::Seed);
        assert!(args.timestamps);
        assert_eq!(args.host, "::1");
        assert_eq!(args.ping_after.0, Duration::from_secs(15));
        assert_eq!(args.smart_filter.0, Duration::from_secs(600));
        assert!(!args.show_joins);
        let cli = parse(&[
            "client",
            "--ping-after",
            "1500ms",
            "--smart-filter",
            "2m",
            "--show-joins",
        ])
        .expect("valid flags");
        let Command::Client(args) = cli.command else {
            panic!("parsed as a server")
        };
        assert_eq!(args.ping_after.0, Duration::from_millis(1500));
        assert_eq!(args.smart_filter.0, Duration::from_secs(120));
        assert!(args.show_joins);
    }

    #[test]
    fn tls_flags_parse() {
        let cli = parse(&[
            "server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--no-plain",
        ])
        .expect("valid flags");
        let Command::Server(args) = cli.command else {
            panic!("parsed as a client")
        };
        assert_eq!(
            args.tls.tls_cert.as_deref(),
            Some(std::path::Path::new("c.pem"))
        );
        assert!(args.tls.no_plain);

        let cli = parse(&["client", "--tls", "--ca", "ca.pem"]).expect("valid flags");
        let Command::Client(args) = cli.command else {
            panic!("parsed as a server")
        };
        assert!(args.speaks_tls());
        assert_eq!(args.port(), DEFAULT_TLS_PORT);
        let cli = parse(&["client"]).expect("valid flags");
        let Command::Client(args) = cli.command else {
            panic!("parsed as a server")
        };
        assert_eq!(args.port(), DEFAULT_PORT);
    }

    #[test]
    fn cluster_flags_parse() {
        let cli = parse(&[
            "server",
            "--cluster",
            "redis://127.0.0.1:6379",
            "--node-name",
            "a",
        ])
        .expect("valid flags");
        let Command::Server(args) = cli.command else {
            panic!("parsed as a client")
        };
        assert_eq!(
            args.cluster.cluster.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(args.cluster.room, "lobby");
        assert_eq!(args.cluster.node_name.as_deref(), Some("a"));
        let cli = parse(&["server"]).expect("valid flags");
        let Command::Server(args) = cli.command else {
            panic!("parsed as a client")
        };
        assert!(args.cluster.cluster.is_none());
    }

    #[test]
    fn bad_flags_are_rejected() {
        for bad in [
            &["server", "--port", "70000"][..],
            &["server", "--runtime", "tokio"],
            &["server", "--handshake-timeout", "soon"],
            &["server", "--send-queue", "lots"],
            &["client", "--dialect", "irc"],
            &["server", "--tls-cert", "c.pem"],
            &["server", "--no-plain"],
            &["client", "--ca", "ca.pem"],
            &["client", "--tls-insecure", "--ca", "ca.pem"],
            &["server", "--log-level", "=[="],
            &["server", "--node-name", "a"],
            &["server", "--room", "r"],
            &["serve"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
