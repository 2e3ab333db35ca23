//! The server's command line, as the contract gives it: usage and exit codes.
//! (Having an integration test here also makes `cargo test --workspace`
//! build the `chat-server` binary that the end-to-end suite in `tests/`
//! starts.)

use std::net::TcpListener;
use std::process::{Command, Output};

fn server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .output()
        .expect("run chat-server")
}

#[test]
fn missing_port_prints_usage_and_exits_2() {
    for args in [&["lobby"][..], &["channels"], &["direct"], &["bridge"]] {
        let out = server(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage:"),
            "{args:?}"
        );
    }
    let out = server(&[]);
    assert_eq!(out.status.code(), Some(2));
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
            let out = server(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}");
            assert!(!out.stdout.is_empty(), "{args:?}");
        }
    }
    let out = server(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("chat-server {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_taken_port_is_an_error_line_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = server(&[&port, "--bind", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("error: cannot listen on 127.0.0.1:{port}: ");
    assert!(stderr.starts_with(&want), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}

#[test]
fn out_of_range_values_are_usage_errors_not_panics() {
    for args in [
        &["8001", "--login-timeout", "18446744073709551615"][..],
        &["channels", "8001", "--max-connections", "0"],
        &["direct", "8001", "--sendq", "184467440737095516160"],
    ] {
        let out = server(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_shows_each_dialects_own_sendq_default() {
    for (dialect, default) in [("lobby", "1 MiB"), ("room", "64 MiB"), ("bridge", "1 MiB")] {
        let out = server(&[dialect, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        let sendq = help.split("--sendq").nth(1).unwrap_or_default();
        let sendq = sendq.split("\n  -").next().unwrap_or_default();
        assert!(
            sendq.contains(&format!("[default: {default}]")),
            "{dialect}: {sendq}"
        );
    }
}
