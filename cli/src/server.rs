//! `chat server`: start a runtime, print where it listens, stop on a signal.

use crate::args::ServerArgs;
use crate::out;
use crate::runtime::{self, Server, ShutdownHandle};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;
use std::thread;

/// Runs the server until SIGINT/SIGTERM. Failures are one `error: ...` line
/// on stderr and exit code 1; limits that make no sense, exit code 2 (as
/// for any other bad argument).
pub(crate) fn run(args: &ServerArgs) -> ExitCode {
    if let Err(error) = args.limits.to_config().validate() {
        let flag = error.field.replace('_', "-");
        out::stderr_line(&format!("error: --{flag}: {error}"));
        return ExitCode::from(2);
    }
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            out::stderr_line(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServerArgs) -> Result<(), String> {
    let addr = runtime::resolve(&args.host, args.port)?;
    let config = args.limits.to_config();
    tracing::debug!(?config, "starting");
    let server = Server::start(args.runtime, addr, config)
        .map_err(|e| format!("cannot listen on {addr}: {}", runtime::describe(&e)))?;
    stop_on_signals(server.shutdown_handle())?;
    let local = server.local_addr();
    out::stdout_line(&format!("listening on {local} (runtime {})", args.runtime));
    server
        .wait()
        .map_err(|e| format!("server failed: {}", runtime::describe(&e)))?;
    tracing::info!("stopped");
    Ok(())
}

/// The first SIGINT/SIGTERM starts the graceful shutdown; a second one
/// exits at once, for when flushing takes too long.
fn stop_on_signals(handle: ShutdownHandle) -> Result<(), String> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = 0;
            for signal in signals.forever() {
                received += 1;
                if received == 1 {
                    tracing::info!(signal, "shutting down");
                    handle.shutdown();
                } else {
                    out::stderr_line("error: second signal, exiting without waiting");
                    std::process::exit(1);
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
