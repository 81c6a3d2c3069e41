//! The `chat` binary's command line: help and argument errors. (Its network
//! behaviour is tested end to end in the `chat-tests` package.)

use std::process::{Command, Output};

fn chat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(args)
        .output()
        .expect("run chat")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_both_commands() {
    let out = chat(&["--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(help.contains("server") && help.contains("client"), "{help}");
}

#[test]
fn server_help_lists_every_limit_with_its_default() {
    let out = chat(&["server", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for flag in [
        "--host",
        "--port",
        "--runtime",
        "--log-level",
        "--max-clients",
        "--max-line",
        "--handshake-timeout",
        "--send-queue",
        "--flood-rate",
        "--flood-burst",
        "--settle",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    for default in ["55555", "smol", "10000", "1024", "30s", "256KiB", "250ms"] {
        assert!(
            help.contains(default),
            "default {default} missing from:\n{help}"
        );
    }
}

#[test]
fn client_help_lists_its_options() {
    let out = chat(&["client", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for flag in ["--nick", "--dialect", "--timestamps", "--host", "--port"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // One connection serves every server, whatever runtime it runs on.
    assert!(!help.contains("--runtime"), "{help}");
}

#[test]
fn bad_flags_are_clap_errors() {
    for args in [
        &["server", "--send-queue", "lots"][..],
        &["server", "--runtime", "tokio"],
        &["client", "--dialect", "irc"],
        &["dance"],
    ] {
        let out = chat(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}
