//! The command line of `chat-check` (and, being an integration test of
//! this package, what makes `cargo test --workspace` build the binary that
//! `tests/checker.rs` runs).

use std::process::Command;

fn chat_check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chat-check"))
        .args(args)
        .output()
        .expect("run chat-check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version_print_to_stdout_and_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["server", "--help"],
        &["client", "--help"],
    ] {
        let (code, stdout, _) = chat_check(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(!stdout.is_empty(), "{args:?}");
    }
    let (_, help, _) = chat_check(&["--help"]);
    assert!(help.contains("chat-check server lobby -- python3 server.py {port}"));
}

#[test]
fn a_missing_target_is_a_usage_error() {
    let (code, stdout, stderr) = chat_check(&["server", "lobby"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(stderr.contains("HOST:PORT"), "{stderr}");
}

#[test]
fn list_names_every_case_of_the_side_once() {
    let (code, stdout, _) = chat_check(&["client", "channels", "--list"]);
    assert_eq!(code, Some(0));
    let ids: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|id| id.starts_with("channels/client/")),
        "{stdout}"
    );
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "an id listed twice");
    // Each handout case, then the handout's words it rests on.
    let (_, handout, _) = chat_check(&["client", "channels", "--list", "--handout-only"]);
    let lines: Vec<&str> = handout.lines().collect();
    assert!(!lines.is_empty() && lines.len() % 2 == 0, "{handout}");
    for pair in lines.chunks(2) {
        assert!(pair[0].contains(" [handout] "), "{handout}");
        assert!(pair[1].starts_with("    handout: \u{201c}"), "{handout}");
    }
    assert!(lines.len() / 2 < ids.len());
}
