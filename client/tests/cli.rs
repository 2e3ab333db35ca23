//! The client's command line: usage, exit codes, and the line printed when
//! the server cannot be reached. (Having an integration test here also makes
//! `cargo test --workspace` build the `chat-client` binary that the
//! end-to-end suite in `tests/` drives.)

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chat-client")
}

/// A loopback port with nothing listening on it.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    for dialect in [
        &[][..],
        &["lobby"],
        &["room"],
        &["channels"],
        &["direct"],
        &["bridge"],
    ] {
        for flag in ["--help", "--version"] {
            let args: Vec<&str> = dialect.iter().copied().chain([flag]).collect();
            let out = client(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}");
            assert!(!out.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn missing_arguments_exit_2() {
    for args in [
        &[][..],
        &["lobby"],
        &["lobby", "localhost"],
        &["channels", "Al"],
        &["direct"],
    ] {
        assert_eq!(client(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn unreachable_server_prints_unable_to_connect_and_exits_1() {
    let port = closed_port();
    for args in [
        vec!["127.0.0.1", port.as_str()],
        vec!["lobby", "127.0.0.1", port.as_str()],
    ] {
        let out = client(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Unable to connect to 127.0.0.1:{port}\n"),
            "{args:?}"
        );
    }
}

#[test]
fn lobby_channels_and_direct_take_trace_flags() {
    for dialect in ["lobby", "channels", "direct"] {
        let out = client(&[dialect, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("-v, --trace"), "{dialect}: {help}");
    }
}
