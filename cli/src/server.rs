//! `chat server`: start a runtime, print where it listens, stop on a signal.

use crate::args::{ClusterArgs, ServerArgs};
use crate::out;
use crate::runtime;
use chat_core::cluster::MAX_NODE_NAME;
use chat_core::NodeId;
use chat_runtime_common::listener::Endpoint;
use chat_runtime_common::log::redis::{ClusterOptions, LogConfig, LogConfigError};
use chat_runtime_common::runtime::ShutdownHandle;
use chat_runtime_common::tls::ServerTls;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

/// Runs the server until SIGINT/SIGTERM. Failures are one `error: ...` line
/// on stderr and exit code 1; limits that make no sense, exit code 2 (as
/// for any other bad argument).
pub(crate) fn run(args: &ServerArgs) -> ExitCode {
    if let Err(error) = args.limits.to_config().validate() {
        let flag = error.field.replace('_', "-");
        out::stderr_line(&format!("error: --{flag}: {error}"));
        return ExitCode::from(2);
    }
    let cluster = match cluster_options(&args.cluster) {
        Ok(cluster) => cluster,
        Err(message) => {
            out::stderr_line(&format!("error: {message}"));
            return ExitCode::from(2);
        }
    };
    match serve(args, cluster.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            out::stderr_line(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// The cluster flags, checked: `None` without `--cluster`.
fn cluster_options(args: &ClusterArgs) -> Result<Option<ClusterOptions>, String> {
    let Some(url) = &args.cluster else {
        return Ok(None);
    };
    let log = LogConfig::new(url, &args.room).map_err(|error| match error {
        LogConfigError::Room => format!("--room: {error}"),
        LogConfigError::Url(_) => format!("--cluster: {error}"),
    })?;
    if let Some(name) = &args.node_name {
        if !NodeId::is_valid_name(name) {
            return Err(format!(
                "--node-name: a node name is 1 to {MAX_NODE_NAME} bytes with no whitespace"
            ));
        }
    }
    Ok(Some(ClusterOptions {
        log,
        node_name: args.node_name.clone(),
    }))
}

fn serve(args: &ServerArgs, cluster: Option<&ClusterOptions>) -> Result<(), String> {
    let tls = match (&args.tls.tls_cert, &args.tls.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            ServerTls::load(cert, key).map_err(|e| format!("cannot use {e}"))?,
        )),
        _ => None,
    };
    let mut endpoints = Vec::new();
    if !args.tls.no_plain {
        endpoints.push(Endpoint::Plain(runtime::resolve(&args.host, args.port)?));
    }
    if let Some(tls) = &tls {
        let addr = runtime::resolve(&args.host, args.tls.tls_port)?;
        endpoints.push(Endpoint::Tls(addr, Arc::clone(tls)));
    }
    let config = args.limits.to_config();
    tracing::debug!(?config, "starting");
    let wanted: Vec<String> = endpoints.iter().map(|e| e.addr().to_string()).collect();
    let server = args
        .runtime
        .runtime()
        .start(&endpoints, config, cluster)
        .map_err(|e| {
            format!(
                "cannot listen on {}: {}",
                wanted.join(" and "),
                runtime::describe(&e)
            )
        })?;
    if let Some(tls) = &tls {
        watch_certificate(Arc::clone(tls))?;
    }
    stop_on_signals(server.shutdown_handle(), tls)?;
    for (endpoint, local) in endpoints.iter().zip(server.local_addrs()) {
        let tls_note = if endpoint.tls().is_some() {
            ", TLS"
        } else {
            ""
        };
        out::stdout_line(&format!(
            "listening on {local} (runtime {}{tls_note})",
            args.runtime
        ));
    }
    server
        .wait()
        .map_err(|e| format!("server failed: {}", runtime::describe(&e)))?;
    tracing::info!("stopped");
    Ok(())
}

/// The first SIGINT/SIGTERM starts the graceful shutdown; a second one
/// exits at once, for when flushing takes too long. With a TLS port, SIGHUP
/// reloads its certificate and key (new connections get them; a file that
/// does not load is logged and the old ones stay).
fn stop_on_signals(handle: ShutdownHandle, tls: Option<Arc<ServerTls>>) -> Result<(), String> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    match &tls {
                        Some(tls) => match tls.reload() {
                            Ok(()) => {
                                tracing::info!("reloaded the TLS certificate and key");
                                warn_about_certificate(tls);
                            }
                            Err(error) => {
                                tracing::warn!(%error, "cannot reload TLS; keeping the old files")
                            }
                        },
                        None => tracing::info!("SIGHUP ignored: no TLS port"),
                    }
                    continue;
                }
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

/// How often the certificate's validity period is looked at again.
const CERTIFICATE_CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Logs a warning when the TLS certificate in use is not valid yet, has
/// expired, or expires soon.
fn warn_about_certificate(tls: &ServerTls) {
    if let Some(warning) = tls.warning(SystemTime::now()) {
        tracing::warn!("{warning}");
    }
}

/// Warns about the certificate now, then once a day for as long as the
/// server runs (the thread ends with the process).
fn watch_certificate(tls: Arc<ServerTls>) -> Result<(), String> {
    warn_about_certificate(&tls);
    thread::Builder::new()
        .name("certificate".into())
        .spawn(move || loop {
            thread::sleep(CERTIFICATE_CHECK_EVERY);
            warn_about_certificate(&tls);
        })
        .map(drop)
        .map_err(|e| format!("cannot start the certificate thread: {e}"))
}
