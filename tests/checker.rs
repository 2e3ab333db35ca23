//! Tests of `chat-check` itself: a checker is only as good as the bugs it
//! catches. The deliberately wrong Python servers and client of
//! `docs/examples/` must FAIL exactly the cases covering their mistakes and
//! PASS the rest; a running server gets SKIPs, never PASSes, for what it
//! cannot show; the JUnit XML parses; the exit status says what happened;
//! and a server that never answers and ignores SIGTERM costs no more than
//! its timeouts, and is gone afterwards.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[path = "bins.rs"]
mod bins;

/// A binary of the workspace, built first when missing or older than its
/// sources.
fn bin(name: &str) -> String {
    bins::bin(name).to_string_lossy().into_owned()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    took: Duration,
}

impl Run {
    /// Each case's outcome word by id, from the `PASS|FAIL|SKIP <id> — ...` lines.
    fn outcomes(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let mut words = l.splitn(3, ' ');
                let word = words.next()?;
                let id = words.next()?;
                matches!(word, "PASS" | "FAIL" | "SKIP").then(|| (id.to_string(), word.to_string()))
            })
            .collect()
    }

    fn with(&self, word: &str) -> Vec<String> {
        self.outcomes()
            .into_iter()
            .filter(|(_, w)| w == word)
            .map(|(id, _)| id)
            .collect()
    }

    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

fn chat_check(args: &[&str]) -> Run {
    let started = Instant::now();
    let out = Command::new(bin("chat-check"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run chat-check");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        took: started.elapsed(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-checker-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_example_server_fails_exactly_its_three_mistakes() {
    let dir = scratch("server");
    let junit = dir.join("report.xml");
    let json = dir.join("report.json");
    let run = chat_check(&[
        "server",
        "lobby",
        "--handout-only",
        "--timeout",
        "2",
        "--junit",
        junit.to_str().expect("path"),
        "--json",
        json.to_str().expect("path"),
        "--",
        "python3",
        "docs/examples/lobby_server.py",
        "{port}",
    ]);
    let failed = strings(&[
        // Mistake 1: BCST relayed to the sender too.
        "lobby/bcst/sender-reply",
        "lobby/join/already-registered",
        "lobby/list/unregistered",
        "lobby/server/handout-session",
    ]);
    assert_eq!(run.with("FAIL"), failed, "{}", run.stdout);
    assert!(run.with("SKIP").is_empty(), "{}", run.stdout);
    let total = run.outcomes().len();
    assert_eq!(
        run.last_line(),
        format!("{} passed, 4 failed, 0 skipped", total - 4)
    );
    assert_eq!(run.code, Some(1));
    // Expected and received bytes and a transcript under a FAIL.
    assert!(
        run.stdout.contains("    expected: \"Unknown Recipient\""),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("    received: \"BsAlice:  Hello  Unknown Recipient\""));
    assert!(run.stdout.contains("    transcript:"));
    // The rubric table names the handout's five rows.
    for row in ["JOIN", "LIST", "MESG", "BCST", "QUIT"] {
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with(row)),
            "{row}"
        );
    }

    // The JUnit XML parses and says the same.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), total);
    let mut junit_failed: Vec<String> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap_or("").to_string())
        .collect();
    junit_failed.sort();
    assert_eq!(junit_failed, failed);
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("failures"), Some("4"));
    assert_eq!(suite.attribute("skipped"), Some("0"));

    // The JSON parses and says the same.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid JSON");
    assert_eq!(json["passed"], total - 4);
    assert_eq!(json["failed"], 4);
    assert_eq!(json["skipped"], 0);
    let cases = json["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), total);
    let mut json_failed: Vec<String> = cases
        .iter()
        .filter(|c| c["outcome"] == "FAIL")
        .map(|c| c["id"].as_str().unwrap_or("").to_string())
        .collect();
    json_failed.sort();
    assert_eq!(json_failed, failed);
    let sender = cases
        .iter()
        .find(|c| c["id"] == "lobby/bcst/sender-reply")
        .expect("the case");
    assert_eq!(sender["source"], "handout");
    assert_eq!(sender["handout"], "Alice is sending a broadcast");
    assert_eq!(sender["expected"], "Unknown Recipient");
    assert!(!sender["transcript"]
        .as_array()
        .expect("transcript")
        .is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_channels_server_fails_exactly_its_three_mistakes() {
    let run = chat_check(&[
        "server",
        "channels",
        "--handout-only",
        "--timeout",
        "2",
        "--",
        "python3",
        "docs/examples/channels_server.py",
        "{port}",
    ]);
    let failed = strings(&[
        // Mistake 1: a recv taken as a record.
        "channels/buffering/split-at-random",
        // Mistake 3: a departure not announced.
        "channels/disconnect/announced",
        // Mistake 2: /list names separated by ", ".
        "channels/list/names",
    ]);
    assert_eq!(run.with("FAIL"), failed, "{}", run.stdout);
    assert!(run.with("SKIP").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout
            .contains("    received: \"first, second {\u{d7}187}\""),
        "{}",
        run.stdout
    );
}

#[test]
fn the_example_client_fails_exactly_its_mistakes() {
    let run = chat_check(&[
        "client",
        "lobby",
        "--timeout",
        "2",
        "--",
        "python3",
        "docs/examples/lobby_client.py",
        "{host}",
        "{port}",
    ]);
    let failed = strings(&[
        // Mistake 2: not `Disconnected from server` at close.
        "lobby/client/end-of-input",
        "lobby/client/nothing-lost-at-close",
        // Mistake 1: typed empty lines sent.
        "lobby/client/sends-lines",
        // Mistake 3: escape sequences printed raw.
        "lobby/client/terminal-safe",
    ]);
    assert_eq!(run.with("FAIL"), failed, "{}", run.stdout);
    assert!(run.with("SKIP").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, Some(1));
}

#[test]
fn our_server_passes_and_the_exit_status_is_0() {
    let run = chat_check(&[
        "server",
        "lobby",
        "-k",
        "lobby/join/ok",
        "-k",
        "lobby/quit/",
        "--",
        &bin("chat-server"),
        "lobby",
        "{port}",
        "--bind",
        "127.0.0.1",
    ]);
    assert!(run.with("FAIL").is_empty(), "{}", run.stdout);
    assert!(run.outcomes().len() >= 5, "{}", run.stdout);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
}

/// A server someone else started, ended on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_running_server_gets_skips_never_passes_for_what_needs_its_own() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = Running(
        Command::new(bin("chat-server"))
            .args(["lobby", &port.to_string(), "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start chat-server"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = format!("127.0.0.1:{port}");
    let dir = scratch("running");
    let junit = dir.join("report.xml");
    let run = chat_check(&[
        "server",
        "lobby",
        "--junit",
        junit.to_str().expect("path"),
        &addr,
        "-k",
        "lobby/join/",
        "-k",
        "lobby/server/status",
    ]);
    let skipped = strings(&[
        "lobby/join/first-row-applies",
        "lobby/join/max-users-option",
        "lobby/join/room-again-after-a-leave",
        "lobby/join/too-many-users",
        "lobby/server/status-lines",
    ]);
    assert_eq!(run.with("SKIP"), skipped, "{}", run.stdout);
    assert!(run.with("FAIL").is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.contains("    why: needs the server's stdout"),
        "{}",
        run.stdout
    );
    let passed = run.with("PASS").len();
    assert_eq!(
        run.last_line(),
        format!("{passed} passed, 0 failed, 5 skipped")
    );
    assert_eq!(run.code, Some(0));
    // In JUnit XML a SKIP is <skipped>, never a plain pass.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let mut junit_skipped: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
        .map(|c| c.attribute("name").unwrap_or("").to_string())
        .collect();
    junit_skipped.sort();
    assert_eq!(junit_skipped, skipped);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    for args in [
        &["server", "lobby"][..],
        &["server", "nosuch", "127.0.0.1:1"],
        &["server", "lobby", "127.0.0.1:1", "--", "x"],
        &["server", "lobby", "--timeout", "0", "127.0.0.1:1"],
        &["server", "lobby", "--timeout", "inf", "127.0.0.1:1"],
        &["client", "lobby", "127.0.0.1:1"],
        &["client", "lobby"],
        &["server", "lobby", "-k", "no-such-case", "127.0.0.1:1"],
        &["server", "lobby", "--", "python3", "server.py"],
        &[],
    ] {
        assert_eq!(chat_check(args).code, Some(2), "{args:?}");
    }
    let help = chat_check(&["--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
    let list = chat_check(&["server", "lobby", "--list"]);
    assert_eq!(list.code, Some(0));
    assert!(
        list.stdout
            .contains("lobby/join/too-many-users [handout] JOIN — "),
        "{}",
        list.stdout
    );
    assert!(list
        .stdout
        .contains("lobby/join/invalid-username [contract] JOIN — "));
}

/// A server that accepts and reads but never answers, and ignores SIGTERM;
/// it writes its pid where the test can see it.
const DEAF: &str = r#"
import os, signal, socket, sys, threading
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(os.path.join(sys.argv[2], str(os.getpid())), "w").close()
def drain(c):
    while c.recv(4096):
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
"#;

#[test]
fn a_server_that_never_answers_nor_exits_costs_only_its_timeouts() {
    let pids = scratch("deaf");
    let run = chat_check(&[
        "server",
        "lobby",
        "--timeout",
        "1",
        "--jobs",
        "2",
        "-k",
        "lobby/join/ok",
        "-k",
        "lobby/quit/registered",
        "--",
        "python3",
        "-c",
        DEAF,
        "{port}",
        pids.to_str().expect("path"),
    ]);
    assert_eq!(run.with("FAIL").len(), 2, "{}", run.stdout);
    assert_eq!(run.code, Some(1));
    // Each case: 1 s for the reply, 2 s of grace after SIGTERM, SIGKILL;
    // the two run side by side.
    assert!(run.took < Duration::from_secs(8), "took {:?}", run.took);
    let started: Vec<_> = std::fs::read_dir(&pids)
        .expect("pid dir")
        .flatten()
        .collect();
    assert_eq!(started.len(), 2, "two servers started");
    for entry in started {
        let pid = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !PathBuf::from(format!("/proc/{pid}")).exists(),
            "server {pid} is still running"
        );
    }
    let _ = std::fs::remove_dir_all(&pids);
}

#[test]
fn interrupting_the_checker_ends_every_program_it_started() {
    let pids = scratch("interrupted");
    let mut checker = Command::new(bin("chat-check"))
        .args([
            "server",
            "lobby",
            "--timeout",
            "60",
            "-k",
            "lobby/join/ok",
            "--",
            "python3",
            "-c",
            DEAF,
            "{port}",
            pids.to_str().expect("path"),
        ])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat-check");
    // Wait (bounded) for the deaf server to be up: it writes its pid.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let found = std::fs::read_dir(&pids)
            .expect("pid dir")
            .flatten()
            .next()
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let Some(pid) = found {
            break pid;
        }
        assert!(Instant::now() < deadline, "the server never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let sent = Command::new("kill")
        .args(["-INT", &checker.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = checker.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "chat-check kept running"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    // SIGKILL is immediate, but the kernel may take a moment to reap.
    let gone = Instant::now() + Duration::from_secs(5);
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < gone, "server {pid} outlived the checker");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&pids);
}
