//! The lobby, channels and direct clients against fake servers written
//! here: servers that answer without line ends, send escape sequences,
//! pad records the way course clients do, close without a word, or flood a
//! client whose stdout nobody reads. Exact bytes on stdout; every wait
//! bounded (a fake server reads with a timeout, a client run has a
//! deadline).

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::channels;
use chat_protocol::direct::{self, Request};
use nix::sys::signal::Signal::{SIGINT, SIGTERM};

use crate::fake::{read_line, read_n, record, serve_one};
use crate::util::{bin, TIMEOUT};

/// Runs `chat-client args` with `stdin` typed in (then closed) and waits,
/// bounded, for it to exit.
fn run_client(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin("chat-client"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-client");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_owned();
    thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    wait_bounded(child)
}

fn wait_bounded(child: Child) -> Output {
    wait_for_exit(child, TIMEOUT)
}

fn wait_for_exit(child: Child, bound: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(bound) {
        Ok(output) => output.expect("wait for chat-client"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("chat-client did not exit within {bound:?}");
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that the client's stderr holds each of `lines`.
fn stderr_holds(output: &Output, lines: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in lines {
        assert!(stderr.contains(line), "{line:?} not in {stderr}");
    }
}

#[test]
fn lobby_prints_text_without_line_ends_and_loses_nothing_at_disconnect() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_line(&mut s), "JOIN Al\n");
        // Three writes, each answered by the client's next line, so that
        // they arrive as three pieces.
        s.write_all(b"abc\n").unwrap();
        assert_eq!(read_line(&mut s), "LIST\n");
        s.write_all(b"def").unwrap();
        assert_eq!(read_line(&mut s), "BCST x\n");
        s.write_all(b"ghi").unwrap();
    });
    let out = run_client(&["127.0.0.1", &port], "JOIN Al\nLIST\nBCST x\n");
    server.join();
    assert_eq!(
        stdout(&out),
        "Enter JOIN followed by your username: abc\ndefghi\nDisconnected from server\n"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn lobby_puts_disconnected_on_a_line_of_its_own() {
    #[rustfmt::skip]
    let cases: [(&[u8], &str); 4] = [
        (b"Alice joined!\n", "Alice joined!\nDisconnected from server\n"),
        (b"Alice joined!", "Alice joined!\nDisconnected from server\n"),
        (b"Alice joined!Bob joined!", "Alice joined!Bob joined!\nDisconnected from server\n"),
        // Nothing received: the prompt has no line end either.
        (b"", "\nDisconnected from server\n"),
    ];
    for (reply, want) in cases {
        let reply = reply.to_vec();
        let (port, server) = serve_one(move |mut s| {
            assert_eq!(read_line(&mut s), "JOIN Alice\n");
            s.write_all(&reply).unwrap();
        });
        let out = run_client(&["127.0.0.1", &port], "JOIN Alice\n");
        server.join();
        let want = format!("Enter JOIN followed by your username: {want}");
        assert_eq!(stdout(&out), want);
    }
}

#[test]
fn lobby_shows_escape_sequences_as_text() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_line(&mut s), "JOIN Al\n");
        s.write_all(b"Eve: \x1b]0;pwned\x07\x1b[2J\r\n\xc2\x9b\xe2\x80\xae!\n")
            .unwrap();
    });
    let out = run_client(&["127.0.0.1", &port], "JOIN Al\n");
    server.join();
    assert_eq!(
        stdout(&out),
        "Enter JOIN followed by your username: Eve: ^[]0;pwned^G^[[2J\n<U+009B><U+202E>!\nDisconnected from server\n"
    );
}

#[test]
fn lobby_trace_shows_the_wire_on_stderr() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_line(&mut s), "JOIN Al\n");
        s.write_all(b"Al joined!").unwrap();
    });
    let out = run_client(&["lobby", "127.0.0.1", &port, "--trace"], "JOIN Al\n");
    server.join();
    assert_eq!(
        stdout(&out),
        "Enter JOIN followed by your username: Al joined!\nDisconnected from server\n"
    );
    stderr_holds(&out, &["> JOIN Al\n", "< Al joined! (no line end)\n"]);
}

#[test]
fn channels_strips_records_as_python_and_shows_escapes_as_text() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_n(&mut s, 200), record(b"Kay"));
        s.write_all(&record(b"[Bob] Hi!\n")).unwrap();
        s.write_all(&record(b"[Bob] tabs\t\x0b\x0c\r\n")).unwrap();
        s.write_all(&record(b"[Eve] \x1b[2J\x1b]0;pwned\x07"))
            .unwrap();
    });
    let out = run_client(&["channels", "Kay", "127.0.0.1", &port], "");
    server.join();
    let wipe = channels::WIPE;
    assert_eq!(
        stdout(&out),
        format!(
            "[Me] {wipe}[Bob] Hi!\n[Me] {wipe}[Bob] tabs\n[Me] {wipe}[Eve] ^[[2J^[]0;pwned^G\n[Me] \
             {wipe}Server at 127.0.0.1:{port} has disconnected\n"
        )
    );
}

#[test]
fn channels_trace_shows_records_with_their_padding() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_n(&mut s, 200), record(b"Kay"));
        assert_eq!(read_n(&mut s, 200), record(b"/list"));
        s.write_all(&record(b"a\nb")).unwrap();
    });
    let out = run_client(&["channels", "Kay", "127.0.0.1", &port, "-v"], "/list\n");
    server.join();
    stderr_holds(
        &out,
        &[
            "> \"Kay\" + 197 spaces\n",
            "> \"/list\" + 195 spaces\n",
            "< \"a^Jb\" + 197 spaces\n",
        ],
    );
}

#[test]
fn direct_says_on_stderr_when_the_server_closes_and_when_a_list_is_empty() {
    let (port, server) = serve_one(|mut s| {
        assert_eq!(read_n(&mut s, 5), Request::List.to_bytes());
        let mut empty = Vec::new();
        direct::encode_list(std::iter::empty::<&str>(), &mut empty);
        s.write_all(&empty).unwrap();
        let mut bob = Vec::new();
        direct::encode_sendto("B\x1bb", "\x1b]0;x\x07hi", &mut bob);
        s.write_all(&bob).unwrap();
    });
    let out = run_client(&["direct", "127.0.0.1", &port, "--trace"], "list\n");
    server.join();
    assert_eq!(stdout(&out), "B^[b: ^[]0;x^Ghi\n");
    assert_eq!(out.status.code(), Some(0));
    stderr_holds(
        &out,
        &[
            "> 02 00000000  List\n",
            "list: nobody is logged in\n",
            "The server closed the connection.\n",
        ],
    );
}

#[test]
fn an_unresolvable_host_says_so_on_stderr() {
    let out = run_client(&["lobby", "nosuchhost.invalid", "8001"], "");
    assert_eq!(
        stdout(&out),
        "Unable to connect to nosuchhost.invalid:8001\n"
    );
    assert_eq!(out.status.code(), Some(1));
    stderr_holds(&out, &["did not resolve"]);
}

/// Ctrl-C (or SIGTERM) ends a client within 2 s while its stdout is a pipe
/// nobody reads and the server floods it: the fake server writes until the
/// client stops reading (a write times out), then the client gets `signal`.
fn signal_while_stdout_is_blocked(
    signal: nix::sys::signal::Signal,
    args: &[&str],
    hello: usize,
    flood: Vec<u8>,
) {
    let (blocked_tx, blocked) = mpsc::channel();
    let (port, server) = serve_one(move |mut s| {
        read_n(&mut s, hello);
        s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        let started = Instant::now();
        while s.write_all(&flood).is_ok() {
            assert!(
                started.elapsed() < TIMEOUT,
                "the client never stopped reading"
            );
        }
        let _ = blocked_tx.send(());
        // Hold the connection until the client is gone.
        let _ = s.read(&mut [0u8; 1]);
    });
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(port);
    let mut child = Command::new(bin("chat-client"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chat-client");
    let mut stdin = child.stdin.take().expect("stdin");
    if hello == 8 {
        // lobby: a line, so that the fake server has something to read
        stdin.write_all(b"JOIN Al\n").unwrap();
    }
    // Kept open and never read.
    let _stdout = child.stdout.take();
    blocked
        .recv_timeout(TIMEOUT)
        .expect("the client never blocked");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let signalled = Instant::now();
    nix::sys::signal::kill(pid, signal).expect("kill");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(2));
    let elapsed = signalled.elapsed();
    if status.is_err() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    let status = status.unwrap_or_else(|_| panic!("{args:?} still running 2 s after {signal}"));
    assert_eq!(status.expect("wait").code(), Some(0), "{args:?}");
    assert!(elapsed < Duration::from_secs(2));
    println!("{args:?}: exited {elapsed:?} after {signal}");
    drop(stdin);
    server.join();
}

#[test]
fn lobby_ends_on_ctrl_c_while_its_stdout_is_not_read() {
    let flood = format!("{}\n", "x".repeat(1023)).repeat(64).into_bytes();
    signal_while_stdout_is_blocked(SIGINT, &["lobby", "127.0.0.1"], 8, flood);
}

#[test]
fn channels_ends_on_ctrl_c_while_its_stdout_is_not_read() {
    let flood = record(b"[Bob] flood").repeat(300);
    signal_while_stdout_is_blocked(SIGINT, &["channels", "Kay", "127.0.0.1"], 200, flood);
}

#[test]
fn direct_ends_on_sigterm_while_its_stdout_is_not_read() {
    let mut flood = Vec::new();
    for _ in 0..64 {
        direct::encode_sendto("bob", &"y".repeat(1000), &mut flood);
    }
    // direct sends nothing first: the fake server reads nothing.
    signal_while_stdout_is_blocked(SIGTERM, &["direct", "127.0.0.1"], 0, flood);
}

#[test]
fn lobby_gives_up_on_a_server_that_takes_nothing() {
    // The fake server accepts and never reads; the user (a script) goes on
    // typing until the client is gone.
    let (held_tx, held) = mpsc::channel();
    let (port, server) = serve_one(move |s| {
        let _ = held.recv_timeout(3 * TIMEOUT);
        drop(s);
    });
    let mut child = Command::new(bin("chat-client"))
        .args(["127.0.0.1", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-client");
    let mut input = child.stdin.take().expect("stdin");
    thread::spawn(move || {
        let line = format!("BCST {}\n", "z".repeat(1019));
        while input.write_all(line.as_bytes()).is_ok() {}
    });
    let started = Instant::now();
    // The write timeout (10 s) after the buffers fill, then the exit.
    let out = wait_for_exit(child, 3 * TIMEOUT);
    let _ = held_tx.send(());
    server.join();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).ends_with("\nDisconnected from server\n"),
        "{}",
        stdout(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("The server took nothing for 10 s"),
        "{stderr}"
    );
    println!("gave up after {:?}", started.elapsed());
}
