//! The clients as a person sees them: each runs in a real pseudo-terminal
//! (portable-pty), its output is rendered by a terminal emulator (vt100),
//! and the tests assert on the screen. The case every client must pass:
//! type a partial line, let a message from another user arrive, and the
//! message is shown above while the prompt and the partial input stay
//! intact below; Enter then sends the line whole.
//!
//! [`Terminal`] is the reusable harness (start a client, type, wait for the
//! screen to show something, bounded); the fake servers are `fake.rs`'s. Room and bridge cases live in
//! `pty_rb.rs` and use the same harness.
//!
//! `CHAT_PTY_CLIENT=/path/to/chat-client` runs the cases against another
//! build (to capture the screens of an older client); on a failure the
//! screen is part of the message.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use chat_protocol::channels;
use chat_protocol::direct::{self, Request};
use portable_pty::{CommandBuilder, PtySize};

use crate::fake::{listen, next, read_line, read_n, record};
use crate::util::{bin, TIMEOUT};

const ROWS: u16 = 24;
const COLS: u16 = 100;

/// What the reader thread shares with the test: the emulated screen, and
/// whether the client's side of the terminal has closed.
struct Shared {
    parser: vt100::Parser<Seen>,
    ended: bool,
    /// How many times the line editor has begun a redraw (it brackets each
    /// in "begin synchronized update", `ESC [ ? 2026 h`); it redraws only
    /// while reading a line, with the terminal in raw mode.
    redraws: usize,
}

/// What the emulator reports besides the screen: titles set, bells rung.
#[derive(Default)]
struct Seen {
    title: Vec<u8>,
    bells: usize,
}

impl vt100::Callbacks for Seen {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = title.to_vec();
    }

    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }
}

/// A client running in a pseudo-terminal of 24 rows by 100 columns.
pub struct Terminal {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

fn client_binary() -> PathBuf {
    match std::env::var_os("CHAT_PTY_CLIENT") {
        Some(path) => PathBuf::from(path),
        None => bin("chat-client"),
    }
}

impl Terminal {
    /// Starts `chat-client <args...>` in a new pseudo-terminal.
    pub fn start(args: &[&str]) -> Terminal {
        let pty = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut command = CommandBuilder::new(client_binary());
        command.args(args);
        command.env("TERM", "xterm");
        command.cwd(std::env::temp_dir());
        let child = pty.slave.spawn_command(command).expect("start chat-client");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = Arc::new(Mutex::new(pty.master.take_writer().expect("pty writer")));
        let shared = Arc::new((
            Mutex::new(Shared {
                parser: vt100::Parser::new_with_callbacks(
                    ROWS.try_into().unwrap(),
                    COLS.try_into().unwrap(),
                    0,
                    Seen::default(),
                ),
                ended: false,
                redraws: 0,
            }),
            Condvar::new(),
        ));
        {
            let (shared, writer) = (shared.clone(), writer.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // The end of the last read, for a sequence cut in two.
                let mut tail: Vec<u8> = Vec::new();
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (lock, changed) = &*shared;
                    let mut state = lock.lock().unwrap();
                    state.parser.process(&buf[..n]);
                    tail.extend_from_slice(&buf[..n]);
                    let redraw = b"\x1b[?2026h";
                    state.redraws += tail.windows(redraw.len()).filter(|w| w == redraw).count();
                    let keep = tail.len().min(redraw.len() - 1);
                    tail.drain(..tail.len() - keep);
                    // Answer "where is the cursor?" as a real terminal does
                    // (the line editor asks when it starts a line).
                    if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                        let (row, col) = state.parser.screen().cursor_position();
                        let answer = format!("\x1b[{};{}R", row + 1, col + 1);
                        let _ = writer.lock().unwrap().write_all(answer.as_bytes());
                    }
                    changed.notify_all();
                }
                let (lock, changed) = &*shared;
                lock.lock().unwrap().ended = true;
                changed.notify_all();
            });
        }
        Terminal {
            shared,
            writer,
            child,
            _master: pty.master,
        }
    }

    /// Types `keys` (`\r` is Enter, `\x03` Ctrl-C, `\x15` Ctrl-U).
    pub fn type_in(&self, keys: &str) {
        let mut writer = self.writer.lock().unwrap();
        writer
            .write_all(keys.as_bytes())
            .expect("type into the pty");
        writer.flush().expect("flush the pty");
    }

    /// The screen's rows, trailing blanks removed.
    pub fn rows(&self) -> Vec<String> {
        let state = self.shared.0.lock().unwrap();
        screen_rows(&state.parser)
    }

    /// The screen as text, one line per row, for a failure message or a
    /// capture.
    pub fn capture(&self) -> String {
        let rows = self.rows();
        let last = rows
            .iter()
            .rposition(|r| !r.is_empty())
            .map_or(0, |i| i + 1);
        let mut out = String::new();
        for row in &rows[..last] {
            out.push_str(&format!("|{row}\n"));
        }
        out
    }

    /// The window title set so far (an OSC sequence from the network must
    /// not set it).
    pub fn title(&self) -> String {
        let state = self.shared.0.lock().unwrap();
        String::from_utf8_lossy(&state.parser.callbacks().title).into_owned()
    }

    /// Waits, bounded, until the line editor has redrawn its line `n`
    /// times in all (so, for `n` = 1, it has the terminal in raw mode).
    pub fn wait_editing(&self, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap();
        while state.redraws < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.ended {
                drop(state);
                panic!("the editor never redrew {n} times:\n{}", self.capture());
            }
            state = changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits, bounded, until the screen's rows satisfy `done`; panics with
    /// the screen otherwise.
    pub fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap();
        loop {
            let rows = screen_rows(&state.parser);
            if done(&rows) {
                return rows;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.ended {
                drop(state);
                panic!("the screen never showed {what}:\n{}", self.capture());
            }
            state = changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// The client's side of the pty, opened anew through the client's
    /// stdin (so that its mode can be read; the master has its own, and the
    /// pty's name may belong to another devpts mount).
    pub fn client_tty(&self) -> std::fs::File {
        use std::os::unix::fs::OpenOptionsExt;
        let pid = self.child.process_id().expect("the client's pid");
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOCTTY)
            .open(format!("/proc/{pid}/fd/0"))
            .expect("open the client's side of the pty")
    }

    /// Sends `signal` to the client.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.process_id().expect("the client's pid");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal the client");
    }

    /// Waits, bounded, until the client has exited, and gives its exit
    /// code. (The end of its output wakes the wait; a pty held open by the
    /// test has no end, so the exit is also looked for every 50 ms.)
    pub fn expect_exit(&mut self) -> u32 {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for chat-client") {
                return status.exit_code();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the client never exited");
            let tick = left.min(std::time::Duration::from_millis(50));
            state = changed.wait_timeout(state, tick).unwrap().0;
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A terminal's local mode flags (`ECHO`, `ICANON`, ...).
pub fn local_flags(tty: &std::fs::File) -> libc::tcflag_t {
    let mode = nix::sys::termios::tcgetattr(tty).expect("the terminal's mode");
    libc::termios::from(mode).c_lflag
}

fn screen_rows(parser: &vt100::Parser<Seen>) -> Vec<String> {
    parser
        .screen()
        .rows(0, COLS)
        .map(|row| row.trim_end().to_owned())
        .collect()
}

/// The last row with anything on it.
pub fn last_row(rows: &[String]) -> &str {
    rows.iter()
        .rev()
        .find(|r| !r.is_empty())
        .map_or("", |r| r.as_str())
}

/// True when `above` is on a row somewhere above the last non-empty row,
/// and the last non-empty row is `bottom`.
pub fn above_and_below(rows: &[String], above: &str, bottom: &str) -> bool {
    let Some(last) = rows.iter().rposition(|r| !r.is_empty()) else {
        return false;
    };
    rows[last] == bottom && rows[..last].iter().any(|r| r == above)
}

const JOIN_PROMPT: &str = "Enter JOIN followed by your username:";

/// The lobby client in a terminal, its fake server's connection, and the
/// join prompt on the screen.
fn lobby_at_the_join_prompt() -> (Terminal, TcpStream) {
    let (port, rx) = listen();
    let term = Terminal::start(&["127.0.0.1", &port.to_string()]);
    let server = next(&rx);
    term.wait_for("the join prompt", |rows| last_row(rows) == JOIN_PROMPT);
    (term, server)
}

#[test]
fn lobby_prints_above_the_line_being_typed() {
    let (term, mut server) = lobby_at_the_join_prompt();

    // Username Taken: the prompt comes back until the user has joined.
    term.type_in("JOIN Bob\r");
    assert_eq!(read_line(&mut server), "JOIN Bob\n");
    server.write_all(b"Username Taken\n").unwrap();
    term.wait_for("the prompt again", |rows| {
        above_and_below(rows, "Username Taken", JOIN_PROMPT)
    });
    term.type_in("JOIN Alice\r");
    assert_eq!(read_line(&mut server), "JOIN Alice\n");
    // A course server's answer: no line end.
    server.write_all(b"Alice joined!").unwrap();
    term.wait_for("the join answered", |rows| {
        rows.iter().any(|r| r == "Alice joined!") && last_row(rows) == "Alice joined!"
    });

    term.type_in("BCST I am typi");
    term.wait_for("the partial line", |rows| {
        last_row(rows) == "BCST I am typi"
    });
    server.write_all(b"Bob: interrupt!\n").unwrap();
    let rows = term.wait_for("the message above the partial line", |rows| {
        above_and_below(rows, "Bob: interrupt!", "BCST I am typi")
    });
    assert!(!rows.iter().any(|r| r.contains("typiBob")));
    println!(
        "lobby, a message arriving while typing:\n{}",
        term.capture()
    );

    // Network text cannot retitle or clear the terminal.
    server.write_all(b"Eve: \x1b]0;pwned\x07\x1b[2J\n").unwrap();
    term.wait_for("the escapes as text", |rows| {
        above_and_below(rows, "Eve: ^[]0;pwned^G^[[2J", "BCST I am typi")
    });
    assert_eq!(term.title(), "");

    term.type_in("ng this\r");
    assert_eq!(read_line(&mut server), "BCST I am typing this\n");
    drop(server);
    let mut term = term;
    term.wait_for("the disconnect", |rows| {
        rows.iter().any(|r| r == "Disconnected from server")
    });
    assert_eq!(term.expect_exit(), 0);
    println!("lobby, after the server closed:\n{}", term.capture());
}

#[test]
fn channels_prints_above_the_line_being_typed() {
    let (port, rx) = listen();
    let port = port.to_string();
    let term = Terminal::start(&["channels", "Kay", "127.0.0.1", &port]);
    let mut server = next(&rx);
    assert_eq!(read_n(&mut server, channels::RECORD), record(b"Kay"));
    term.wait_for("the prompt", |rows| last_row(rows) == "[Me]");

    term.type_in("hello wor");
    term.wait_for("the partial line", |rows| {
        last_row(rows) == "[Me] hello wor"
    });
    server.write_all(&record(b"[Bob] Bob interrupts")).unwrap();
    let rows = term.wait_for("the record above the partial line", |rows| {
        above_and_below(rows, "[Bob] Bob interrupts", "[Me] hello wor")
    });
    assert!(!rows.iter().any(|r| r.contains("interruptsong")));
    println!(
        "channels, a record arriving while typing:\n{}",
        term.capture()
    );

    term.type_in("ld\r");
    assert_eq!(
        read_n(&mut server, channels::RECORD),
        record(b"hello world")
    );
    // History: up-arrow brings the line back, Ctrl-U clears it.
    term.type_in("\x1b[A");
    term.wait_for("the line from history", |rows| {
        last_row(rows) == "[Me] hello world"
    });
    term.type_in("\x15");
    term.wait_for("the cleared line", |rows| last_row(rows) == "[Me]");
    drop(server);
    let mut term = term;
    term.wait_for("the disconnect", |rows| {
        rows.iter()
            .any(|r| r == &format!("Server at 127.0.0.1:{port} has disconnected"))
    });
    assert_eq!(term.expect_exit(), 0);
}

#[test]
fn direct_prints_above_the_line_being_typed_and_ends_on_ctrl_c() {
    let (port, rx) = listen();
    let port = port.to_string();
    let mut term = Terminal::start(&["direct", "127.0.0.1", &port]);
    let mut server = next(&rx);
    // No prompt to wait for: wait for the editor itself.
    term.wait_editing(1);

    term.type_in("sendto bob hi the");
    term.wait_for("the partial line", |rows| {
        last_row(rows) == "sendto bob hi the"
    });
    let mut frame = Vec::new();
    direct::encode_sendto("bob", "yo", &mut frame);
    server.write_all(&frame).unwrap();
    term.wait_for("the message above the partial line", |rows| {
        above_and_below(rows, "bob: yo", "sendto bob hi the")
    });
    println!(
        "direct, a message arriving while typing:\n{}",
        term.capture()
    );

    // Editing keys: backspace, then left and right arrows (moved over the
    // end and back, so the line sent shows they were keys, not text).
    term.type_in("xx");
    term.wait_for("the typed x's", |rows| {
        last_row(rows) == "sendto bob hi thexx"
    });
    term.type_in("\x7f\x7f");
    term.wait_for("the x's erased", |rows| {
        last_row(rows) == "sendto bob hi the"
    });
    term.type_in("\x1b[D\x1b[D\x1b[C\x1b[C");
    term.type_in("re\r");
    let want = Request::SendTo {
        to: "bob".into(),
        text: "hi there".into(),
    }
    .to_bytes();
    assert_eq!(read_n(&mut server, want.len()), want);

    term.type_in("\x03");
    assert_eq!(term.expect_exit(), 0);
}

#[test]
fn sigterm_while_editing_puts_the_terminal_mode_back() {
    let (port, rx) = listen();
    let port = port.to_string();
    let mut term = Terminal::start(&["direct", "127.0.0.1", &port]);
    let _server = next(&rx);
    term.wait_editing(1);
    term.type_in("lis");
    term.wait_for("the partial line", |rows| last_row(rows) == "lis");
    // The editor echoes itself: the terminal's own echo is off.
    let tty = term.client_tty();
    let editing = local_flags(&tty);
    assert_eq!(editing & libc::ECHO, 0, "echo is on while editing");
    term.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(term.expect_exit(), 0);
    let after = local_flags(&tty);
    assert_ne!(after & libc::ECHO, 0, "echo stays off after exit");
    assert_ne!(after & libc::ICANON, 0, "line mode stays off after exit");
}

/// The rows that are exactly `line`.
fn count_rows(rows: &[String], line: &str) -> usize {
    rows.iter().filter(|r| *r == line).count()
}

#[test]
fn lobby_takes_three_pasted_lines_whole_and_in_order() {
    let (term, mut server) = lobby_at_the_join_prompt();

    // Pasted at the join prompt, in one write: the JOIN and two more lines
    // that the editor reads ahead of the first line's end.
    term.type_in("JOIN Alice\rBCST one\rBCST two\r");
    assert_eq!(read_line(&mut server), "JOIN Alice\n");
    server.write_all(b"Alice joined!").unwrap();
    assert_eq!(read_line(&mut server), "BCST one\n");
    assert_eq!(read_line(&mut server), "BCST two\n");

    // Pasted while joined, in one write, while a message arrives.
    term.type_in("BCST three\rBCST four\rBCST five\r");
    server.write_all(b"Bob: hi\n").unwrap();
    for want in ["BCST three\n", "BCST four\n", "BCST five\n"] {
        assert_eq!(read_line(&mut server), want);
    }
    let rows = term.wait_for("every pasted line once, in order", |rows| {
        let lines = [
            "BCST one",
            "BCST two",
            "BCST three",
            "BCST four",
            "BCST five",
        ];
        let at: Vec<Option<usize>> = lines
            .iter()
            .map(|l| rows.iter().position(|r| r == l))
            .collect();
        lines.iter().all(|l| count_rows(rows, l) == 1)
            && at
                .windows(2)
                .all(|w| matches!(w, [Some(a), Some(b)] if a < b))
            && rows.iter().any(|r| r == "Bob: hi")
    });
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("BCST") && r.len() > "BCST three".len()),
        "a pasted line is garbled:\n{}",
        term.capture()
    );
    println!("lobby, three lines pasted:\n{}", term.capture());
}

#[test]
fn lobby_shows_a_line_typed_while_it_waits_for_the_join_answer_once() {
    let (term, mut server) = lobby_at_the_join_prompt();
    term.type_in("JOIN Alice\r");
    assert_eq!(read_line(&mut server), "JOIN Alice\n");
    // The client waits for the answer before its next prompt; what the
    // user types meanwhile is neither echoed twice nor lost.
    term.type_in("BCST early\r");
    term.type_in("BCST la");
    server.write_all(b"Alice joined!").unwrap();
    assert_eq!(read_line(&mut server), "BCST early\n");
    term.type_in("te\r");
    assert_eq!(read_line(&mut server), "BCST late\n");
    let rows = term.wait_for("the last line sent", |rows| {
        rows.iter().any(|r| r == "BCST late")
    });
    assert_eq!(count_rows(&rows, "BCST early"), 1, "{}", term.capture());
    assert_eq!(count_rows(&rows, "BCST late"), 1, "{}", term.capture());
    assert!(
        rows.iter()
            .all(|r| r == "BCST late" || !r.starts_with("BCST la")),
        "{}",
        term.capture()
    );
    println!(
        "lobby, typed while the join was pending:\n{}",
        term.capture()
    );
}
