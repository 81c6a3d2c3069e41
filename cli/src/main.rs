//! `chat`: a TCP chat room server and client.
//!
//! Protocol work is `chat-core`'s; this binary parses arguments, moves bytes
//! through one of the two runtimes, handles signals and draws the terminal.
//! `chat bench` is a load generator for any server on this machine.

#![forbid(unsafe_code)]

mod args;
mod bench;
mod client;
mod logging;
mod out;
mod runtime;
mod server;
mod tls;
mod units;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Server(args) => {
            logging::init(cli.log_level.as_deref(), "info");
            server::run(args)
        }
        Command::Client(args) => {
            // At a terminal, log lines would land in the chat screen: none
            // unless asked for (--log-level, RUST_LOG).
            let default = if client::at_terminal() { "off" } else { "warn" };
            logging::init(cli.log_level.as_deref(), default);
            client::run(args)
        }
        Command::Bench(args) => {
            logging::init(cli.log_level.as_deref(), "warn");
            bench::run(args)
        }
    }
}
