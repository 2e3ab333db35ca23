//! Helpers for the end-to-end tests: start the real binaries, speak raw
//! bytes over TCP, and wait on replies, never on sleeps.
//!
//! - [`Server::start`] runs `chat-server` on `127.0.0.1` with port 0, learns
//!   the port from its first status line (`Server listening on ...`), and
//!   collects the rest of its stdout for [`Server::expect_status`]. Dropping
//!   it kills the process.
//! - Conformance checking of other implementations is `chat-check`'s job
//!   (the `check` crate); every dialect's end-to-end cases live there and
//!   run against our binaries in `tests/check.rs`. What stays here is what
//!   only makes sense for this project's own programs: abuse, durability,
//!   soak, the clients against hostile peers and in a pseudo-terminal.
//! - [`Peer`] is a raw TCP client with a read timeout, so a missing reply
//!   fails the test instead of hanging it.
//! - [`Program`] runs `chat-client` with piped stdin and stdout.
//! - [`like`] compares bytes in which the server's clock shows: the
//!   placeholder `HH:MM:SS` in what is expected matches any time of that
//!   shape. [`TempDir`] is a scratch folder removed on drop.

// Each dialect's tests use a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single expected reply may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::bins::bin;

/// Bytes compared with the server's clock left out: `HH:MM:SS` in what is
/// expected matches any time of that shape (the checker's own comparison,
/// so that both suites read times alike).
pub use chat_check::conn::{like, TIME};

/// A scratch folder of its own under the system's temporary folder, removed
/// (with what is in it) on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("chat-tests-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch folder");
        TempDir { path }
    }

    /// A path inside the folder.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// The path inside the folder as a command-line argument.
    pub fn arg(&self, rel: &str) -> String {
        self.join(rel).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The address in a server's first status line, `Server listening on ADDR`.
pub fn listening_addr(first: &str) -> SocketAddr {
    first
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("first server line names no address: {first:?}"))
}

/// Starts `chat-server ARGS --bind 127.0.0.1` through `sh -c` after the
/// shell command `prefix` (a `ulimit`), with stdin closed and stdout and
/// stderr piped.
pub fn spawn_under(prefix: &str, args: &[&str]) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("{prefix} && exec \"$0\" \"$@\""))
        .arg(bin("chat-server"))
        .args(args)
        .args(["--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-server")
}

/// The server under test: a `chat-server` process of our own.
pub struct Server {
    pub addr: SocketAddr,
    child: Option<Child>,
    status: Option<Receiver<String>>,
    /// The server's stdin, for servers started with [`Server::start_with_stdin`].
    stdin: Option<ChildStdin>,
    /// The server's stdout and stderr, held open and never read, for
    /// servers started with [`Server::unread`].
    unread: Option<(BufReader<ChildStdout>, ChildStderr)>,
}

impl Server {
    /// Starts `chat-server <args...>` on a free loopback port (the test gives
    /// the port argument as `0`).
    pub fn start(args: &[&str]) -> Server {
        Server::spawn(args, Stdio::null())
    }

    /// Like [`Server::start`], with a pipe to the server's stdin for
    /// [`Server::type_in`].
    pub fn start_with_stdin(args: &[&str]) -> Server {
        Server::spawn(args, Stdio::piped())
    }

    fn spawn(args: &[&str], stdin: Stdio) -> Server {
        let mut child = Command::new(bin("chat-server"))
            .args(args)
            .args(["--bind", "127.0.0.1"])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chat-server");
        let server_stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let addr = listening_addr(&first);
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            addr,
            child: Some(child),
            status: Some(rx),
            stdin: server_stdin,
            unread: None,
        }
    }

    /// Starts `chat-server <args...>` like [`Server::start`], with its
    /// stdout and stderr pipes that nobody reads after the first line (a
    /// paused terminal, `| sleep`): the pipes fill, and the server must go
    /// on serving. No status lines ([`Server::expect_status`] panics).
    pub fn unread(args: &[&str]) -> Server {
        // `exec`: the shell becomes the server, so the child is the server.
        let mut child = spawn_under(":", args);
        let stdout = child.stdout.take().expect("server stdout");
        let stderr = child.stderr.take().expect("server stderr");
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let addr = listening_addr(&first);
        Server {
            addr,
            child: Some(child),
            status: None,
            stdin: None,
            unread: Some((stdout, stderr)),
        }
    }

    /// Types `text` on the server's stdin.
    pub fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("a server started with stdin");
        stdin
            .write_all(text.as_bytes())
            .expect("write to server stdin");
        stdin.flush().expect("flush server stdin");
    }

    /// The next status line, whatever it is.
    pub fn next_status(&self) -> String {
        self.expect_status("at all", |_| true)
    }

    /// The port as a string, for command lines.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Connects a raw client.
    pub fn connect(&self) -> Peer {
        Peer::connect(self.addr)
    }

    /// Waits for a status line that satisfies `want`, skipping others, and
    /// returns it.
    pub fn expect_status(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let rx = self.status.as_ref().expect("status lines of an own server");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no status line {what} within {TIMEOUT:?}"),
            }
        }
    }

    /// Sends a signal to the server process (SIGTERM = 15, SIGINT = 2).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("own server").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the server process to exit and returns its status and the
    /// time it took.
    pub fn wait(&mut self) -> (ExitStatus, Duration) {
        let child = self.child.as_mut().expect("own server");
        let started = Instant::now();
        let deadline = started + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for server") {
                return (status, started.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's thread count, from /proc.
    pub fn threads(&self) -> usize {
        self.proc_status("Threads:")
    }

    /// Waits until the server's thread count is back to `baseline`. Polling
    /// is the only way: no reply signals that a thread has ended.
    pub fn await_threads(&self, baseline: usize) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let now = self.threads();
            if now <= baseline {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{now} threads, not back to {baseline} within {TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's resident memory in KiB (`VmRSS`), from /proc.
    pub fn rss_kib(&self) -> usize {
        self.proc_status("VmRSS:")
    }

    /// A number from the server's /proc status, e.g. `Threads:`.
    fn proc_status(&self, field: &str) -> usize {
        let pid = self.child.as_ref().expect("own server").id();
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|n| n.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} line in /proc/{pid}/status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw TCP client.
pub struct Peer {
    pub stream: TcpStream,
}

/// Reads one byte at a time would be slow for megabytes of lines, so
/// [`Peer::read_line`] peeks at what has arrived and takes up to its LF.
const PEEK: usize = 64 * 1024;

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        let _ = stream.set_nodelay(true);
        Peer { stream }
    }

    /// Sends `bytes` as they are.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .expect("send to server");
    }

    /// Reads exactly `want.len()` bytes and checks they are `want`.
    pub fn expect(&mut self, want: impl AsRef<[u8]>) {
        let want = want.as_ref();
        let got = self.read_exact(want.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "unexpected bytes from the server"
        );
        // Lossy text hides which invalid byte was sent (0x81 and 0x82 both
        // show as U+FFFD); binary dialects need the bytes compared too.
        assert_eq!(got, want, "unexpected bytes from the server");
    }

    /// Reads exactly `want.len()` bytes and checks they are [`like`] `want`.
    pub fn expect_like(&mut self, want: impl AsRef<[u8]>) {
        let want = want.as_ref();
        let got = self.read_exact(want.len());
        assert!(
            like(&got, want),
            "unexpected bytes from the server:\n got {:?}\nwant {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        let mut filled = 0;
        while filled < n {
            match self.stream.read(&mut got[filled..]) {
                Ok(0) => panic!(
                    "connection closed after {filled} of {n} bytes: {:?}",
                    String::from_utf8_lossy(&got[..filled])
                ),
                Ok(k) => filled += k,
                Err(e) => panic!(
                    "read failed after {filled} of {n} bytes ({e}): {:?}",
                    String::from_utf8_lossy(&got[..filled])
                ),
            }
        }
        got
    }

    /// Reads one LF-ended line and returns it without the LF.
    pub fn read_line(&mut self) -> String {
        let mut line = Vec::new();
        let mut peeked = vec![0u8; PEEK];
        loop {
            let n = match self.stream.peek(&mut peeked) {
                Ok(0) => panic!(
                    "connection closed inside a line: {:?}",
                    String::from_utf8_lossy(&line)
                ),
                Ok(n) => n,
                Err(e) => panic!(
                    "read failed inside a line ({e}): {:?}",
                    String::from_utf8_lossy(&line)
                ),
            };
            // Take up to and including the LF, or all that is there.
            let take = peeked[..n]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(n, |i| i + 1);
            line.extend(self.read_exact(take));
            if line.last() == Some(&b'\n') {
                line.pop();
                return String::from_utf8_lossy(&line).into_owned();
            }
        }
    }

    /// Checks that the server closes the connection with nothing more sent.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 256];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected close, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            // A reset is also the server closing.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected close, got {e}"),
        }
    }

    /// Closes the sending half (FIN) and keeps reading.
    pub fn finish(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Closes the connection with RST instead of FIN: a zero linger time
    /// makes close() abort the connection.
    pub fn reset(self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("set SO_LINGER");
        drop(self.stream);
    }
}

/// A `chat-client` process with piped stdin and stdout.
pub struct Program {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Receiver<u8>,
    seen: Vec<u8>,
}

impl Program {
    /// Starts `chat-client <args...>`.
    pub fn start(args: &[&str]) -> Program {
        Program::start_in(args, None)
    }

    /// Starts `chat-client <args...>` in folder `dir`.
    pub fn start_in(args: &[&str], dir: Option<&std::path::Path>) -> Program {
        let mut command = Command::new(bin("chat-client"));
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().expect("start chat-client");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("client stdout");
        let (tx, rx) = channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || buf[..n].iter().any(|&b| tx.send(b).is_err()) {
                    break;
                }
            }
        });
        Program {
            child,
            stdin,
            output: rx,
            seen: Vec::new(),
        }
    }

    /// Types `text` on the client's stdin.
    pub fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(text.as_bytes())
            .expect("write to client stdin");
        stdin.flush().expect("flush client stdin");
    }

    /// Closes the client's stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until the client has printed `want` next, exactly, and consumes it.
    pub fn expect(&mut self, want: &str) {
        let got = self.take(want.len());
        assert_eq!(String::from_utf8_lossy(&got), want, "client output");
    }

    /// Waits until the client has printed something [`like`] `want` next,
    /// and consumes it.
    pub fn expect_like(&mut self, want: &str) {
        let got = self.take(want.len());
        assert!(
            like(&got, want.as_bytes()),
            "client output:\n got {:?}\nwant {want:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// Waits until the client has printed `marker` and returns everything
    /// up to and including it.
    pub fn read_until(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(at) = self
                .seen
                .windows(marker.len())
                .position(|w| w == marker.as_bytes())
            {
                let got: Vec<u8> = self.seen.drain(..at + marker.len()).collect();
                return String::from_utf8_lossy(&got).into_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(b) => self.seen.push(b),
                Err(_) => panic!(
                    "client printed {:?}, expected {marker:?} in it",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Waits for the client's next line and returns it without its LF.
    pub fn expect_line(&mut self) -> String {
        let mut line = self.read_until("\n");
        line.pop();
        line
    }

    /// Waits for the next `n` bytes of output and consumes them.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + TIMEOUT;
        while self.seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(b) => self.seen.push(b),
                Err(_) => panic!(
                    "client printed {:?}, expected {n} bytes",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
        self.seen.drain(..n).collect()
    }

    /// Waits for the client to end, checks it printed nothing more, and
    /// returns its exit code.
    pub fn expect_exit(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for client") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "client did not exit within {TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(10));
        };
        // The output thread ends at EOF; collect what is left.
        while let Ok(b) = self.output.recv_timeout(TIMEOUT) {
            self.seen.push(b);
        }
        assert_eq!(
            String::from_utf8_lossy(&self.seen),
            "",
            "client printed more before exiting"
        );
        status.code().unwrap_or(-1)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
