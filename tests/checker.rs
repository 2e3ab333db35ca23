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

/// The `--timeout` of the runs against the example programs: chat-check's
/// default. A program's start-up counts against the first wait for it, and
/// a Python interpreter (through a pyenv shim) took up to 2.4 s to start on
/// a loaded machine, so the 2 s and 3 s these runs had failed a case now
/// and then for nothing the program did. A planted mistake that waits the
/// whole timeout costs these 5 s, side by side with the other cases.
const WAIT: &str = "5";

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
        WAIT,
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
    assert!(suite
        .descendants()
        .any(|n| n.has_tag_name("property") && n.attribute("name") == Some("sync")));
    assert_eq!(suite.attribute("skipped"), Some("0"));

    // The JSON parses and says the same.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid JSON");
    assert_eq!(json["passed"], total - 4);
    assert_eq!(json["failed"], 4);
    assert_eq!(json["skipped"], 0);
    assert_eq!(
        json["sync"],
        "sync on `MESG Nobody0 probe`: answered \"Unknown Recipient\", as the contract says"
    );
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

/// The typical student server: no MESG, QUIT answered `bye`. Before the
/// cases synced on a calibrated probe and stopped asserting the QUIT reply
/// at their end, it failed 21 of 22 cases; a case now fails only for the
/// feature it checks.
#[test]
fn the_typical_server_fails_only_the_cases_of_its_mistakes() {
    let run = chat_check(&[
        "server",
        "lobby",
        "--handout-only",
        "--timeout",
        WAIT,
        "--",
        "python3",
        "docs/examples/lobby_typical_server.py",
        "{port}",
    ]);
    let failed = strings(&[
        // Mistake 3: the line stripped, trailing spaces lost.
        "lobby/bcst/sender-reply",
        // Mistake 1: no MESG.
        "lobby/mesg/relay",
        "lobby/mesg/unknown-recipient",
        "lobby/mesg/unregistered",
        // Mistake 2: QUIT answered `bye`.
        "lobby/quit/registered",
        // The handout's session uses MESG and QUIT.
        "lobby/server/handout-session",
    ]);
    assert_eq!(run.with("FAIL"), failed, "{}", run.stdout);
    assert!(run.with("SKIP").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, Some(1));
    // The header says what the cases synced on instead of the contract's answer.
    assert!(
        run.stdout.starts_with(
            "sync on `MESG Nobody0 probe`: answered \"Unknown Message\" (contract: \"Unknown Recipient\")\n"
        ),
        "{}",
        run.stdout
    );
    for row in ["JOIN 5/5", "LIST 3/3", "MESG 0/3", "BCST 2/3", "QUIT 3/4"] {
        let (feature, score) = row.split_once(' ').expect("row");
        assert!(
            run.stdout.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.first() == Some(&feature) && words.get(1) == Some(&score)
            }),
            "rubric row {row}:\n{}",
            run.stdout
        );
    }
}

/// A copy of `docs/examples/<example>` with `from` replaced by `to`, in a
/// scratch folder of its own: (the folder, the copy).
fn variant(example: &str, from: &str, to: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(example);
    let text =
        std::fs::read_to_string(root().join("docs/examples").join(example)).expect("the example");
    let changed = text.replace(from, to);
    assert_ne!(changed, text, "{from} is no longer in {example}");
    let path = dir.join(example);
    std::fs::write(&path, changed).expect("write the variant");
    (dir, path)
}

/// The channels cases sync on `/join` alone; a server whose usage error
/// for it has other words fails the one case of that rule, and the example
/// server's three mistakes as before, nothing more.
#[test]
fn a_channels_server_with_another_join_usage_fails_only_that_case() {
    let (dir, path) = variant(
        "channels_server.py",
        "\"/join command must be followed by the name of a channel to join.\"",
        "\"usage: /join CHANNEL\"",
    );
    let run = chat_check(&[
        "server",
        "channels",
        "--handout-only",
        "--timeout",
        WAIT,
        "--",
        "python3",
        path.to_str().expect("path"),
        "{port}",
    ]);
    let failed = strings(&[
        "channels/buffering/split-at-random",
        "channels/disconnect/announced",
        "channels/join/no-argument",
        "channels/list/names",
    ]);
    assert_eq!(run.with("FAIL"), failed, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("sync on `/join` alone: answered \"usage: /join CHANNEL"),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_channels_server_fails_exactly_its_three_mistakes() {
    let run = chat_check(&[
        "server",
        "channels",
        "--handout-only",
        "--timeout",
        WAIT,
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
        WAIT,
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
        // Not a mistake of the handout's: it has no -v (a contract option).
        "lobby/client/trace",
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
    // First the sync probe's calibration on a server of its own: 1 s for a
    // JOIN reply, 1 s for the probe's, 2 s of grace after SIGTERM, SIGKILL.
    // Then each case: 1 s for the reply, 2 s of grace; the two side by side.
    // About 7 s in all; the bound leaves room for a loaded machine (three
    // Python start-ups) and still fails a run that waits the default 5 s
    // timeout anywhere, or the grace twice.
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
    assert!(
        run.stdout
            .starts_with("sync on `MESG Nobody0 probe`: no answer; cases wait 500 ms of quiet"),
        "{}",
        run.stdout
    );
    let started: Vec<_> = std::fs::read_dir(&pids)
        .expect("pid dir")
        .flatten()
        .collect();
    assert_eq!(
        started.len(),
        3,
        "the calibration's server and one per case"
    );
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

/// Runs `chat-check server <dialect> --handout-only` on a deliberately
/// broken Python server of `docs/examples/` and checks that exactly
/// `failed` FAIL, the rest PASS, nothing is skipped.
fn broken_server_fails_exactly(dialect: &str, command: &[&str], failed: &[&str]) -> Run {
    broken_fails_exactly("server", dialect, command, failed)
}

fn broken_fails_exactly(side: &str, dialect: &str, command: &[&str], failed: &[&str]) -> Run {
    let mut args = vec![side, dialect, "--handout-only", "--timeout", WAIT, "--"];
    args.extend(command);
    let run = chat_check(&args);
    assert_eq!(run.with("FAIL"), strings(failed), "{}", run.stdout);
    assert!(run.with("SKIP").is_empty(), "{}", run.stdout);
    assert!(run.with("PASS").len() >= 3, "{}", run.stdout);
    assert_eq!(run.code, Some(1));
    run
}

#[test]
fn the_example_direct_server_fails_exactly_its_three_mistakes() {
    broken_server_fails_exactly(
        "direct",
        &["python3", "docs/examples/direct_server.py", "{port}"],
        &[
            // Mistake 2: LIST sorted.
            "direct/list/login-order",
            // Mistake 1: whitespace in a name accepted.
            "direct/login/whitespace",
            // Mistake 3: logout leaves the name listed.
            "direct/logout/stays-open",
        ],
    );
}

#[test]
fn the_example_bridge_server_fails_exactly_its_three_mistakes() {
    broken_server_fails_exactly(
        "bridge",
        &["python3", "docs/examples/bridge_server.py", "--port={port}"],
        &[
            // Mistake 2: the empty BRIDGEACK without its headers.
            "bridge/bridge/empty-when-alone",
            // Mistake 1: REGACK without `Status: registered`.
            "bridge/register/regack",
            // Mistake 3: no /info.
            "bridge/server/info",
        ],
    );
}

#[test]
fn the_example_room_server_fails_exactly_its_three_mistakes() {
    broken_server_fails_exactly(
        "room",
        &["python3", "docs/examples/room_server.py", "{port}"],
        &[
            // Mistake 3: attachments not stored.
            "room/attachment/relayed",
            // Mistake 2: a taken name looked at before a full room.
            "room/join/full",
            // Mistake 1: REPORT without ports.
            "room/report/users",
        ],
    );
}

#[test]
fn the_example_direct_client_fails_exactly_its_three_mistakes() {
    broken_fails_exactly(
        "client",
        "direct",
        &[
            "python3",
            "docs/examples/direct_client.py",
            "{host}",
            "{port}",
        ],
        &[
            // Mistake 3: exit status 1.
            "direct/client/exit",
            // Mistake 2: extra words after list not refused.
            "direct/client/invalid-command",
            // Mistake 1: the names on one line.
            "direct/client/list",
        ],
    );
}

#[test]
fn the_example_bridge_client_fails_exactly_its_three_mistakes() {
    broken_fails_exactly(
        "client",
        "bridge",
        &[
            "python3",
            "docs/examples/bridge_client.py",
            "--id={id}",
            "--port={peer_port}",
            "--server={host}:{port}",
        ],
        &[
            // Mistake 1: an empty line typed in a chat is sent.
            "bridge/client/chat",
            // Mistake 2: /quit in a chat sends no QUIT.
            "bridge/client/quit-in-chat",
            // Mistake 3: a received QUIT prints a line before exiting.
            "bridge/client/received-quit",
        ],
    );
}

/// Every lobby client case starts the client, which prints its prompt:
/// a client with other words for it fails the prompt case alone, beyond
/// the example client's own mistakes.
#[test]
fn a_lobby_client_with_another_prompt_fails_only_the_prompt_case() {
    let (dir, path) = variant(
        "lobby_client.py",
        "\"Enter JOIN followed by your username: \"",
        "\"Username please> \"",
    );
    let run = chat_check(&[
        "client",
        "lobby",
        "--handout-only",
        "--timeout",
        WAIT,
        "--",
        "python3",
        path.to_str().expect("path"),
        "{host}",
        "{port}",
    ]);
    assert_eq!(
        run.with("FAIL"),
        strings(&["lobby/client/prompt"]),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A free port can be taken between the checker choosing it and the server
/// binding it (another case's connection gets it as its own local port):
/// a server that exits at start saying its address is in use is started
/// again on another port, so a loaded machine does not fail cases at random.
#[test]
fn a_server_that_lost_its_port_at_start_is_started_again() {
    let dir = scratch("lost-port");
    let script = dir.join("lost_port.py");
    std::fs::write(
        &script,
        format!(
            r#"
import os, runpy, sys
marker = os.path.join(sys.argv[2], "tried")
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.stderr.write("OSError: [Errno 98] Address already in use\n")
    sys.exit(1)
sys.argv = [sys.argv[0], sys.argv[1]]
runpy.run_path({:?}, run_name="__main__")
"#,
            root()
                .join("docs/examples/lobby_typical_server.py")
                .to_string_lossy()
        ),
    )
    .expect("write the script");
    let run = chat_check(&[
        "server",
        "lobby",
        "-k",
        "lobby/join/ok",
        "--",
        "python3",
        script.to_str().expect("path"),
        "{port}",
        "{dir}",
    ]);
    assert_eq!(
        run.with("PASS"),
        strings(&["lobby/join/ok"]),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_room_client_fails_exactly_its_three_mistakes() {
    broken_fails_exactly(
        "client",
        "room",
        &[
            "python3",
            "docs/examples/room_client.py",
            "{host}",
            "{port}",
        ],
        &[
            // Mistake 2: an attachment saved outside downloads/.
            "room/client/download",
            // Mistake 3: its own QUIT_ACCEPT printed.
            "room/client/quit",
            // Mistake 1: the report numbers users from 0.
            "room/client/report",
        ],
    );
}
