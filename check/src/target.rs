//! The controllers: what reaches or starts the program under test, and the
//! [`Ctx`] a case runs in.
//!
//! - [`Target::Running`]: a server someone else started, at HOST:PORT. Cases
//!   that need a server of their own are skipped, with the reason.
//! - [`Target::Server`]: a command with `{port}` (a free loopback port) and
//!   `{dir}` (the case's own empty folder, also its working directory),
//!   started afresh for every case, so cases never disturb each other and
//!   can run side by side.
//! - [`Target::Client`]: a client command with `{host}` and `{port}` (and any
//!   placeholder a case fills, such as `{name}`); the checker listens as the
//!   server (for bridge also as the peer).
//!
//! Every process started here runs in a process group of its own and is
//! ended when its case ends: SIGTERM, then SIGKILL after the grace period,
//! to the whole group, so a program that ignores SIGTERM or has forked
//! still goes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Dir, Transcript};
use crate::{Case, Check, Dialect, Failure, Need, Settings, Side};

/// A dialect's sync probe: a request whose answer proves that everything
/// sent before it on the connection was handled and nothing else was sent
/// to it meanwhile. Which answer a server gives is found once per run
/// ([`Ctx::sync_reply`]), so that a server that gets the probe's own rule
/// wrong (a lobby server without MESG) fails only the cases of that rule.
pub struct SyncProbe {
    /// What is sent, in words, for the report.
    pub sent: &'static str,
    /// The contract's answer, for the report.
    pub answer: &'static str,
    /// Spaces pad the answer to this length (channels' 200-byte records);
    /// 0 for none.
    pub pad: usize,
    /// Asks a server of its own for its answer to the probe, as a
    /// registered user: `None` when it answers nothing within the timeout.
    pub calibrate: fn(&mut Ctx) -> Result<Option<Vec<u8>>, Failure>,
}

/// How long a probe that the server answers with nothing waits for quiet
/// instead: a bounded window, weaker than an answer.
pub const QUIET: Duration = Duration::from_millis(500);

/// The answers found so far, by dialect, shared by the cases of a run.
#[derive(Debug, Clone, Default)]
pub struct SyncCache(Arc<Mutex<HashMap<Dialect, Option<Vec<u8>>>>>);

/// A program run to its end by [`Ctx::run_server_to_end`].
pub struct Ran {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What the cases run against.
#[derive(Debug, Clone)]
pub enum Target {
    /// A server that is already running.
    Running(SocketAddr),
    /// A server command, started once per case.
    Server(Vec<String>),
    /// A client command, started by each case that needs it.
    Client(Vec<String>),
}

impl Target {
    /// Why `case` cannot run against this target, if it cannot.
    pub fn cannot_run(&self, case: &Case) -> Option<String> {
        match (self, case.side) {
            (Target::Running(addr), Side::Server) => {
                if case.needs.is_empty() {
                    None
                } else {
                    let needs: Vec<String> = case.needs.iter().map(|n| n.to_string()).collect();
                    Some(format!(
                        "needs {} (give a command instead of {addr}: chat-check server {} -- COMMAND)",
                        needs.join(", "),
                        case.dialect
                    ))
                }
            }
            (Target::Server(_), Side::Server) | (Target::Client(_), Side::Client) => None,
            (_, side) => Some(format!(
                "a {} case; this run checks the other side",
                side.name()
            )),
        }
    }

    /// The side this target is.
    pub fn side(&self) -> Side {
        match self {
            Target::Client(_) => Side::Client,
            _ => Side::Server,
        }
    }
}

/// Replaces every `{key}` in `args` by its value. An argument that looks
/// like a path (it has a `/` or a `.` in it: `server.py`,
/// `./target/debug/chat-server`) and names an existing file or folder
/// relative to where the checker runs is made absolute first, because the
/// program runs in the case's own folder. Bare words (`lobby`) never are.
pub fn substitute(args: &[String], vars: &[(&str, String)]) -> Vec<String> {
    args.iter()
        .map(|arg| {
            let path = Path::new(arg);
            let pathlike = arg.contains('/') || arg.contains('.');
            let arg = if pathlike
                && !arg.starts_with('-')
                && path.is_relative()
                && !arg.contains('{')
                && path.exists()
            {
                std::env::current_dir()
                    .map(|d| d.join(path).to_string_lossy().into_owned())
                    .unwrap_or_else(|_| arg.clone())
            } else {
                arg.clone()
            };
            vars.iter().fold(arg, |arg, (key, value)| {
                arg.replace(&format!("{{{key}}}"), value)
            })
        })
        .collect()
}

/// A free loopback port: bound, read and released. Another program could
/// take it in between; on loopback, with the kernel handing out ports in
/// turn, that does not happen in practice.
pub fn free_port() -> Result<u16, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::note(format!("no free port: {e}")))
}

/// The process groups started and not yet ended, for [`end_all`].
static LIVE: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Kills every process group the checker started and has not ended yet:
/// for a checker that is itself interrupted (Ctrl-C), since its programs
/// run in groups of their own, out of the terminal's reach.
pub fn end_all() {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    for &pgid in live.iter() {
        // SAFETY: as in `Proc::signal_group`: plain integers, and the ids
        // are of groups this process started whose leaders it has not
        // reaped yet (they leave the list before being reaped).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// A started process: its output is drained into the transcript (and, line
/// by line, into a channel for cases that read it), and it is ended on drop.
struct Proc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Output lines (stdout) for [`Ctx::expect_status`].
    lines: Receiver<Vec<u8>>,
    /// Output bytes as they came (stdout), for client cases.
    bytes: Receiver<Vec<u8>>,
    /// Stderr lines, each with its LF.
    errs: Receiver<Vec<u8>>,
    exited: Option<ExitStatus>,
    grace: Duration,
    transcript: Transcript,
}

impl Proc {
    fn start(
        label: &str,
        argv: &[String],
        dir: &Path,
        transcript: &Transcript,
        grace: Duration,
    ) -> Result<Proc, Failure> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Failure::note("an empty command"));
        };
        transcript.note(label, &format!("started: {}", argv.join(" ")));
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            // Students' Python servers print() without flushing; through a
            // pipe their status lines would sit in a buffer.
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that the end reaches what it forked.
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::note(format!("cannot start {program}: {e}")))?;
        if let Ok(pid) = i32::try_from(child.id()) {
            LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        }
        let stdin = child.stdin.take();
        let (line_tx, lines) = channel();
        let (byte_tx, bytes) = channel();
        if let Some(mut stdout) = child.stdout.take() {
            let transcript = transcript.clone();
            let who = format!("{label} stdout");
            // A server's status lines are recorded whole (a Python print()
            // writes the text and its LF apart); a client's output as it
            // comes (its prompts have no LF).
            let by_line = !label.starts_with("client");
            thread::spawn(move || {
                let mut line = Vec::new();
                let mut unrecorded = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if by_line {
                        unrecorded.extend_from_slice(&buf[..n]);
                        if let Some(end) = unrecorded.iter().rposition(|&b| b == b'\n') {
                            let whole: Vec<u8> = unrecorded.drain(..=end).collect();
                            transcript.record(&who, Dir::Received, &whole);
                        }
                    } else {
                        transcript.record(&who, Dir::Received, &buf[..n]);
                    }
                    let _ = byte_tx.send(buf[..n].to_vec());
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            let _ = line_tx.send(std::mem::take(&mut line));
                        } else if line.len() < 64 * 1024 {
                            line.push(b);
                        }
                    }
                }
                if !unrecorded.is_empty() {
                    transcript.record(&who, Dir::Received, &unrecorded);
                }
                if !line.is_empty() {
                    let _ = line_tx.send(line);
                }
            });
        }
        let (err_tx, errs) = channel();
        if let Some(stderr) = child.stderr.take() {
            let transcript = transcript.clone();
            let who = format!("{label} stderr");
            thread::spawn(move || {
                for mut line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                    transcript.record(&who, Dir::Received, &line);
                    line.push(b'\n');
                    let _ = err_tx.send(line);
                }
            });
        }
        Ok(Proc {
            label: label.to_string(),
            child,
            stdin,
            lines,
            bytes,
            errs,
            exited: None,
            grace,
            transcript: transcript.clone(),
        })
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    /// Sends `signal` to the process (not its group: a shutdown signal is
    /// what a user at the terminal would send to it).
    fn signal(&mut self, signal: i32) {
        // A reaped child's pid may already be another process's.
        if self.poll().is_some() {
            self.transcript.note(
                &self.label,
                &format!("not sent signal {signal}: it has exited"),
            );
            return;
        }
        self.transcript
            .note(&self.label, &format!("sent signal {signal}"));
        // SAFETY: kill(2) takes plain integers and touches no memory of
        // ours. The pid is our own child's and it is not reaped (poll just
        // said so, and only this thread reaps it), so it names no other
        // process.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: no memory is touched, as in `signal`. The negative pid
        // names the child's own process group (`process_group(0)` made its
        // id the child's pid). Linux gives no new process an id in use as
        // a group's, so while the group has members (what the child left
        // running) this names only them. Once it has none, the id names
        // nothing (ESRCH) unless a new process has taken that pid and made
        // itself a group leader within the moment since: the end of a case
        // comes right after the child's exit, and the pid space wraps only
        // after tens of thousands of new processes.
        unsafe {
            libc::kill(-self.pid(), signal);
        }
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        self.reap(false)
    }

    /// Reaps the child if it has exited (or, with `block`, once it has),
    /// taking it off [`LIVE`] in the same step, under its lock, so that
    /// [`end_all`] never signals a group whose leader is reaped.
    fn reap(&mut self, block: bool) -> Option<ExitStatus> {
        if self.exited.is_none() {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            let status = if block {
                self.child.wait().ok()
            } else {
                self.child.try_wait().ok().flatten()
            };
            if let Some(status) = status {
                let pid = self.pid();
                live.retain(|&p| p != pid);
                drop(live);
                self.transcript
                    .note(&self.label, &format!("exited: {status}"));
                self.exited = Some(status);
            }
        }
        self.exited
    }

    /// Waits for the process to exit, at most `within`.
    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.poll() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // No event tells us a child has exited without blocking on it.
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ends the process: SIGTERM, then SIGKILL after the grace period. What
    /// its group left running is killed too.
    fn end(&mut self) {
        if self.poll().is_none() {
            self.signal_group(libc::SIGTERM);
            if self.wait(self.grace).is_none() {
                self.transcript
                    .note(&self.label, "did not exit after SIGTERM: SIGKILL");
                self.signal_group(libc::SIGKILL);
                let _ = self.child.kill();
                self.reap(true);
            }
        }
        self.signal_group(libc::SIGKILL);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.end();
    }
}

/// A case's own empty working folder, removed at case end.
struct CaseDir(PathBuf);

impl CaseDir {
    fn new(id: &str) -> Result<CaseDir, Failure> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let safe: String = id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path =
            std::env::temp_dir().join(format!("chat-check-{}-{n}-{safe}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| Failure::note(format!("cannot create {}: {e}", path.display())))?;
        Ok(CaseDir(path))
    }
}

impl Drop for CaseDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a case runs: its target, its transcript, its folder, the programs
/// it started.
pub struct Ctx {
    pub timeout: Duration,
    /// See [`Settings::bare_commands`].
    pub bare_commands: bool,
    case_id: &'static str,
    dialect: Dialect,
    sync: SyncCache,
    sync_noted: bool,
    target: Target,
    options: Vec<&'static str>,
    grace: Duration,
    transcript: Transcript,
    // Declared before `dir`: processes end before their folder goes.
    server: Option<Proc>,
    clients: Vec<Proc>,
    addr: Option<SocketAddr>,
    /// The current server has accepted a connection.
    served: bool,
    dir: CaseDir,
}

impl Ctx {
    pub(crate) fn new(case: &Case, target: &Target, settings: &Settings) -> Result<Ctx, Failure> {
        Ok(Ctx {
            timeout: settings.timeout,
            bare_commands: settings.bare_commands,
            case_id: case.id,
            dialect: case.dialect,
            sync: settings.sync.clone(),
            sync_noted: false,
            target: target.clone(),
            options: case.options(),
            grace: settings.grace,
            transcript: Transcript::new(),
            server: None,
            clients: Vec::new(),
            addr: match target {
                Target::Running(addr) => Some(*addr),
                _ => None,
            },
            served: false,
            dir: CaseDir::new(case.id)?,
        })
    }

    /// A context of its own for finding the answer to `dialect`'s probe:
    /// with a server command, its own fresh server.
    fn for_calibration(
        dialect: Dialect,
        target: &Target,
        settings: &Settings,
    ) -> Result<Ctx, Failure> {
        let case = Case::server(dialect, "sync", "SYNC", "", crate::Source::Contract, |_| {
            Ok(())
        });
        Ctx::new(&case, target, settings)
    }

    /// The answer this run's server gives to `probe` (`None`: it answers
    /// nothing), found once per run on a server of its own (or the running
    /// one) and shared by every case. Notes it in the case's transcript.
    pub fn sync_reply(&mut self, probe: &SyncProbe) -> Result<Option<Vec<u8>>, Failure> {
        let reply = sync_reply(self.dialect, &self.target, &self.sync_settings(), probe)?;
        if !self.sync_noted {
            self.sync_noted = true;
            self.note(&sync_words(probe, &reply));
        }
        Ok(reply)
    }

    fn sync_settings(&self) -> Settings {
        Settings {
            timeout: self.timeout,
            grace: self.grace,
            bare_commands: self.bare_commands,
            sync: self.sync.clone(),
        }
    }

    /// Starts the case's server, if the target is a server command.
    pub(crate) fn begin(&mut self) -> Check {
        if let Target::Server(_) = self.target {
            self.start_server()?;
        }
        Ok(())
    }

    /// Ends every process and returns the transcript.
    pub(crate) fn finish(mut self) -> Vec<crate::Entry> {
        self.clients.clear();
        self.server = None;
        self.transcript.entries()
    }

    pub fn id(&self) -> &'static str {
        self.case_id
    }

    /// Whether the server is shared with the cases before and after this
    /// one (a running server): a case must then leave it as it found it.
    pub fn shared(&self) -> bool {
        matches!(self.target, Target::Running(_))
    }

    /// The case's own folder (the working directory of what it starts).
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// Records a note in the transcript.
    pub fn note(&self, text: &str) {
        self.transcript.note("check", text);
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    // ---- server cases ----

    /// The server's address.
    pub fn addr(&self) -> Result<SocketAddr, Failure> {
        self.addr
            .ok_or_else(|| Failure::note("this case has no server address"))
    }

    /// (Re)starts the server from its command on a new free port, in the
    /// case's folder. The previous one, if any, is ended first.
    pub fn start_server(&mut self) -> Check {
        let Target::Server(command) = &self.target else {
            return Err(Failure::note("only a server command can be (re)started"));
        };
        self.server = None;
        self.served = false;
        let port = free_port()?;
        let dir = self.dir.0.to_string_lossy().into_owned();
        let mut argv = substitute(command, &[("port", port.to_string()), ("dir", dir)]);
        argv.extend(self.options.iter().map(|s| s.to_string()));
        self.server = Some(Proc::start(
            "server",
            &argv,
            &self.dir.0,
            &self.transcript,
            self.grace,
        )?);
        self.addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
        Ok(())
    }

    /// Connects to the server, waiting (bounded) for a server just started
    /// to listen. `label` names the connection in the transcript.
    pub fn connect(&mut self, label: &str) -> Result<Conn, Failure> {
        let mut restarts = 0;
        loop {
            match self.connect_once(label) {
                Ok(conn) => {
                    self.served = true;
                    return Ok(conn);
                }
                // The free port was taken between the checker choosing it
                // and the server binding it (another case's connection got
                // it as its own port): start again on another, at most twice.
                Err(failure) if !self.served && restarts < 2 && self.lost_its_port() => {
                    restarts += 1;
                    self.note("the server could not bind its port (taken meanwhile): a new port");
                    let _ = failure;
                    self.start_server()?;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// Whether the server exited, before any connection, saying its
    /// address is in use.
    fn lost_its_port(&mut self) -> bool {
        let Some(server) = self.server.as_mut() else {
            return false;
        };
        if server.poll().is_none() {
            return false;
        }
        let mut said = Vec::new();
        while let Ok(line) = server.errs.recv_timeout(Duration::from_millis(100)) {
            said.extend(line);
        }
        String::from_utf8_lossy(&said)
            .to_lowercase()
            .contains("in use")
    }

    fn connect_once(&mut self, label: &str) -> Result<Conn, Failure> {
        let addr = self.addr()?;
        let timeout = self.timeout;
        let transcript = self.transcript.clone();
        let alive = |server: &mut Proc| match server.poll() {
            Some(status) => Err(Failure::note(format!(
                "the server exited ({status}) before accepting a connection"
            ))),
            None => Ok(()),
        };
        let mut conn = match self.server.as_mut() {
            Some(server) => Conn::connect(
                addr,
                label,
                &transcript,
                timeout,
                Some(&mut || alive(server)),
            )?,
            None => Conn::connect(addr, label, &transcript, timeout, None)?,
        };
        if self.bare_commands {
            conn.eol = b"";
        }
        if self.shared() {
            conn.depart_fully();
        }
        Ok(conn)
    }

    /// Runs the server command once more, to its end (within the timeout),
    /// with `{port}` as given, or with every argument that holds `{port}`
    /// left out when `port` is `None`; returns what it did.
    pub fn run_server_to_end(&mut self, port: Option<u16>) -> Result<Ran, Failure> {
        self.run_server_with(port, &[])
    }

    /// Like [`Ctx::run_server_to_end`], with `extra` arguments added at the
    /// end of the command (`--help`, an option out of range).
    pub fn run_server_with(&mut self, port: Option<u16>, extra: &[&str]) -> Result<Ran, Failure> {
        let Target::Server(command) = &self.target else {
            return Err(Failure::note("only a server command can be run"));
        };
        let dir = self.dir.0.to_string_lossy().into_owned();
        let argv: Vec<String> = match port {
            Some(port) => substitute(command, &[("port", port.to_string()), ("dir", dir)]),
            None => substitute(
                &command
                    .iter()
                    .filter(|a| !a.contains("{port}"))
                    .cloned()
                    .collect::<Vec<_>>(),
                &[("dir", dir)],
            ),
        };
        let mut argv = argv;
        argv.extend(extra.iter().map(|a| a.to_string()));
        let mut proc = Proc::start("run", &argv, &self.dir.0, &self.transcript, self.grace)?;
        proc.stdin = None;
        let Some(status) = proc.wait(self.timeout) else {
            return Err(Failure::new(
                "the server command did not exit",
                "an exit",
                format!("still running after {:?}", self.timeout),
            ));
        };
        let collect = |rx: &Receiver<Vec<u8>>, timeout: Duration| {
            let mut out = Vec::new();
            while let Ok(bytes) = rx.recv_timeout(timeout) {
                out.extend(bytes);
            }
            out
        };
        let stdout = collect(&proc.bytes, self.timeout);
        let stderr = collect(&proc.errs, self.timeout);
        Ok(Ran {
            code: status.code(),
            stdout,
            stderr,
        })
    }

    fn own_server(&mut self) -> Result<&mut Proc, Failure> {
        self.server
            .as_mut()
            .ok_or_else(|| Failure::note("this case needs a server the checker started"))
    }

    /// Waits for a line on the server's stdout that satisfies `want`,
    /// skipping others, and returns it.
    pub fn expect_status(
        &mut self,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, Failure> {
        let timeout = self.timeout;
        let server = self.own_server()?;
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.lines.recv_timeout(left) {
                Ok(line) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if want(&text) {
                        return Ok(text);
                    }
                    seen.push(text);
                }
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => "in time",
                        RecvTimeoutError::Disconnected => "before its stdout closed",
                    };
                    let last: Vec<&str> = seen
                        .iter()
                        .rev()
                        .take(5)
                        .rev()
                        .map(String::as_str)
                        .collect();
                    return Err(Failure::new(
                        format!("no server status line {why}"),
                        what,
                        last.join("\n"),
                    ));
                }
            }
        }
    }

    /// Types `text` on the server's stdin.
    pub fn server_stdin(&mut self, text: &str) -> Check {
        let server = self.own_server()?;
        server
            .transcript
            .record("server stdin", Dir::Sent, text.as_bytes());
        let stdin = server
            .stdin
            .as_mut()
            .ok_or_else(|| Failure::note("the server's stdin is closed"))?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| Failure::note(format!("writing to the server's stdin: {e}")))
    }

    /// Closes the server's stdin (end of input).
    pub fn close_server_stdin(&mut self) -> Check {
        let server = self.own_server()?;
        server
            .transcript
            .note("server stdin", "closed (end of input)");
        server.stdin = None;
        Ok(())
    }

    /// Sends `signal` (libc::SIGTERM, SIGINT, SIGKILL) to the server.
    pub fn signal_server(&mut self, signal: i32) -> Check {
        self.own_server()?.signal(signal);
        Ok(())
    }

    /// Waits (within the timeout) for the server to exit; returns its
    /// status and how long it took.
    pub fn expect_server_exit(&mut self) -> Result<(ExitStatus, Duration), Failure> {
        let timeout = self.timeout;
        let server = self.own_server()?;
        let started = Instant::now();
        server
            .wait(timeout)
            .map(|status| (status, started.elapsed()))
            .ok_or_else(|| {
                Failure::new(
                    "the server did not exit",
                    "exit",
                    format!("still running after {timeout:?}"),
                )
            })
    }

    /// The server process id, for what the methods here do not cover.
    pub fn server_pid(&mut self) -> Result<u32, Failure> {
        Ok(self.own_server()?.child.id())
    }

    // ---- client cases ----

    /// Listens on a free loopback port, as the server (or the peer) the
    /// client is to reach.
    pub fn listen(&self, label: &str) -> Result<Listener, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Failure::note(format!("cannot listen: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::note(format!("cannot listen: {e}")))?;
        self.transcript.note(label, &format!("listening on {addr}"));
        Ok(Listener {
            listener,
            addr,
            label: label.to_string(),
            transcript: self.transcript.clone(),
            timeout: self.timeout,
            accepted: 0,
        })
    }

    /// Starts the client command with `{host}` = 127.0.0.1 and the given
    /// placeholders (`port`, `name`, ...) filled in, in the case's folder.
    pub fn start_client(&mut self, vars: &[(&str, &str)]) -> Result<Client, Failure> {
        self.start_client_with(vars, &[])
    }

    /// Like [`Ctx::start_client`], with `extra` arguments added at the end
    /// of the command (`-v`).
    pub fn start_client_with(
        &mut self,
        vars: &[(&str, &str)],
        extra: &[&str],
    ) -> Result<Client, Failure> {
        let Target::Client(command) = &self.target else {
            return Err(Failure::note("this case needs a client command"));
        };
        let mut all: Vec<(&str, String)> = vec![("host", "127.0.0.1".to_string())];
        all.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
        let mut argv = substitute(command, &all);
        argv.extend(extra.iter().map(|a| a.to_string()));
        if let Some(missing) = argv.iter().find(|a| a.contains('{') && a.contains('}')) {
            self.note(&format!("unfilled placeholder in {missing}"));
        }
        let n = self.clients.len();
        let label = if n == 0 {
            "client".to_string()
        } else {
            format!("client{}", n + 1)
        };
        let proc = Proc::start(&label, &argv, &self.dir.0, &self.transcript, self.grace)?;
        self.clients.push(proc);
        Ok(Client {
            index: n,
            label,
            seen: Vec::new(),
            errs: Vec::new(),
            closed: false,
        })
    }

    fn client_proc(&mut self, client: &Client) -> &mut Proc {
        &mut self.clients[client.index]
    }
}

/// The answer `target` gives to `probe`, from `settings.sync` or, the first
/// time, asked of a server of its own (the lock is held meanwhile, so the
/// cases that start together wait for one calibration).
pub fn sync_reply(
    dialect: Dialect,
    target: &Target,
    settings: &Settings,
    probe: &SyncProbe,
) -> Result<Option<Vec<u8>>, Failure> {
    let mut known = settings
        .sync
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(reply) = known.get(&dialect) {
        return Ok(reply.clone());
    }
    let mut ctx = Ctx::for_calibration(dialect, target, settings)?;
    let reply = ctx.begin().and_then(|()| (probe.calibrate)(&mut ctx));
    drop(ctx.finish());
    let reply = reply.map_err(|f| Failure {
        what: format!("finding the server's answer to {}: {}", probe.sent, f.what),
        ..f
    })?;
    known.insert(dialect, reply.clone());
    Ok(reply)
}

/// One line on what the cases sync on.
pub fn sync_words(probe: &SyncProbe, reply: &Option<Vec<u8>>) -> String {
    let answer = crate::report::escape(probe.answer.as_bytes());
    let mut contract = probe.answer.as_bytes().to_vec();
    if contract.len() < probe.pad {
        contract.resize(probe.pad, b' ');
    }
    match reply {
        Some(r) if *r == contract => {
            format!(
                "sync on {}: answered \"{answer}\", as the contract says",
                probe.sent
            )
        }
        Some(r) => format!(
            "sync on {}: answered \"{}\" (contract: \"{answer}\")",
            probe.sent,
            crate::report::escape(r),
        ),
        None => format!(
            "sync on {}: no answer; cases wait {} ms of quiet instead (weaker)",
            probe.sent,
            QUIET.as_millis()
        ),
    }
}

/// The checker listening as the server (or the bridge peer) a client is to
/// reach.
pub struct Listener {
    listener: TcpListener,
    pub addr: SocketAddr,
    label: String,
    transcript: Transcript,
    timeout: Duration,
    accepted: usize,
}

impl Listener {
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Accepts the client's next connection, within the timeout.
    pub fn accept(&mut self) -> Result<Conn, Failure> {
        self.listener.set_nonblocking(true).ok();
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, from)) => {
                    stream.set_nonblocking(false).ok();
                    self.accepted += 1;
                    let label = if self.accepted == 1 {
                        self.label.clone()
                    } else {
                        format!("{}#{}", self.label, self.accepted)
                    };
                    self.transcript
                        .note(&label, &format!("accepted a connection from {from}"));
                    return Ok(Conn::new(stream, &label, &self.transcript, self.timeout));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(Failure::new(
                            format!("{}: the client did not connect", self.label),
                            format!("a connection to {}", self.addr),
                            "",
                        ));
                    }
                    // accept has no timeout of its own; poll it, bounded.
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(Failure::note(format!("accept failed: {e}"))),
            }
        }
    }

    /// Expects no connection within `quiet`.
    pub fn expect_no_connection(&mut self, quiet: Duration) -> Check {
        self.listener.set_nonblocking(true).ok();
        let deadline = Instant::now() + quiet;
        while Instant::now() < deadline {
            if let Ok((_, from)) = self.listener.accept() {
                return Err(Failure::new(
                    format!("{}: an unexpected connection", self.label),
                    "no connection",
                    format!("a connection from {from}"),
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// A client process started by [`Ctx::start_client`]: its stdin, and its
/// stdout as it comes. Methods take the [`Ctx`] that owns the process.
pub struct Client {
    index: usize,
    label: String,
    /// Printed and not yet taken by an `expect_*`.
    seen: Vec<u8>,
    /// Stderr lines so far, for [`Client::expect_stderr_line`].
    errs: Vec<String>,
    closed: bool,
}

impl Client {
    /// Types `text` on the client's stdin (one write).
    pub fn type_in(&mut self, ctx: &mut Ctx, text: &str) -> Check {
        let label = format!("{} stdin", self.label);
        let proc = ctx.client_proc(self);
        proc.transcript.record(&label, Dir::Sent, text.as_bytes());
        let stdin = proc
            .stdin
            .as_mut()
            .ok_or_else(|| Failure::note("the client's stdin is closed"))?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| Failure::note(format!("typing into the client: {e}")))
    }

    /// Closes the client's stdin (end of input).
    pub fn close_stdin(&mut self, ctx: &mut Ctx) {
        let proc = ctx.client_proc(self);
        proc.transcript
            .note(&format!("{} stdin", self.label), "closed (end of input)");
        proc.stdin = None;
    }

    /// Waits until `done(seen)` holds or the output ends or the timeout.
    fn wait_for(&mut self, ctx: &mut Ctx, done: &dyn Fn(&[u8]) -> bool) -> bool {
        let timeout = ctx.timeout;
        let proc = ctx.client_proc(self);
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.seen) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match proc.bytes.recv_timeout(left) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return done(&self.seen);
                }
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Expects the client to print exactly `want` next.
    pub fn expect_output(&mut self, ctx: &mut Ctx, want: impl AsRef<[u8]>) -> Check {
        let want = want.as_ref();
        let n = want.len();
        self.wait_for(ctx, &|s| s.len() >= n || !want.starts_with(s));
        if self.seen.len() >= n && &self.seen[..n] == want {
            self.seen.drain(..n);
            return Ok(());
        }
        let ending = if want.starts_with(&self.seen) {
            self.ending()
        } else {
            ""
        };
        Err(Failure::new(
            format!("{}: unexpected output{ending}", self.label),
            want,
            &self.seen[..self.seen.len().min(n + 64)],
        ))
    }

    /// Expects the client's output to contain `marker`; returns what came
    /// before it and takes both.
    pub fn expect_output_until(&mut self, ctx: &mut Ctx, marker: &str) -> Result<String, Failure> {
        let m = marker.as_bytes();
        let find = |s: &[u8]| s.windows(m.len()).position(|w| w == m);
        self.wait_for(ctx, &|s| find(s).is_some());
        match find(&self.seen) {
            Some(at) => {
                let before: Vec<u8> = self.seen.drain(..at + m.len()).take(at).collect();
                Ok(String::from_utf8_lossy(&before).into_owned())
            }
            None => Err(Failure::new(
                format!(
                    "{}: output lacks the expected text{}",
                    self.label,
                    self.ending()
                ),
                marker,
                self.seen.clone(),
            )),
        }
    }

    /// Expects the client to print nothing for `quiet`: for the rare rule
    /// that only silence can show (a partial record is not printed).
    pub fn expect_quiet(&mut self, ctx: &mut Ctx, quiet: Duration) -> Check {
        let proc = ctx.client_proc(self);
        let deadline = Instant::now() + quiet;
        while self.seen.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match proc.bytes.recv_timeout(left) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(_) => break,
            }
        }
        if self.seen.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                format!("{}: expected no output for {quiet:?}", self.label),
                "",
                self.seen.clone(),
            ))
        }
    }

    fn ending(&self) -> &'static str {
        if self.closed {
            " (then its output ended)"
        } else {
            " (then nothing more was printed in time)"
        }
    }

    /// Expects the client to exit with `code`, having printed nothing more.
    pub fn expect_exit(&mut self, ctx: &mut Ctx, code: i32) -> Check {
        let timeout = ctx.timeout;
        let status = ctx.client_proc(self).wait(timeout);
        let Some(status) = status else {
            return Err(Failure::new(
                format!("{}: did not exit", self.label),
                format!("exit status {code}"),
                format!("still running after {timeout:?}"),
            ));
        };
        // The output ends with the process; take what is left.
        self.wait_for(ctx, &|_| false);
        if !self.seen.is_empty() {
            return Err(Failure::new(
                format!("{}: printed more before exiting", self.label),
                "",
                self.seen.clone(),
            ));
        }
        match status.code() {
            Some(c) if c == code => Ok(()),
            _ => Err(Failure::new(
                format!("{}: exit status", self.label),
                format!("exit status {code}"),
                status.to_string(),
            )),
        }
    }

    /// Expects the client to exit with `code`, whatever else it prints.
    pub fn expect_exit_code(&mut self, ctx: &mut Ctx, code: i32) -> Check {
        let timeout = ctx.timeout;
        match ctx.client_proc(self).wait(timeout) {
            None => Err(Failure::new(
                format!("{}: did not exit", self.label),
                format!("exit status {code}"),
                format!("still running after {timeout:?}"),
            )),
            Some(status) if status.code() == Some(code) => Ok(()),
            Some(status) => Err(Failure::new(
                format!("{}: exit status", self.label),
                format!("exit status {code}"),
                status.to_string(),
            )),
        }
    }

    /// Expects the client to exit, with any status and whatever it prints,
    /// within the timeout; returns the status. For rules that say only
    /// "it ends" (Ctrl-C, a peer gone).
    pub fn expect_exit_any(&mut self, ctx: &mut Ctx) -> Result<ExitStatus, Failure> {
        let timeout = ctx.timeout;
        ctx.client_proc(self).wait(timeout).ok_or_else(|| {
            Failure::new(
                format!("{}: did not exit", self.label),
                "an exit",
                format!("still running after {timeout:?}"),
            )
        })
    }

    /// Takes what the client prints until it is quiet for `quiet` (bounded
    /// by the timeout), and returns it: for a start-up text (a prompt) a
    /// case of another feature does not grade.
    pub fn skip_output(&mut self, ctx: &mut Ctx, quiet: Duration) -> Vec<u8> {
        let timeout = ctx.timeout;
        let proc = ctx.client_proc(self);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match proc.bytes.recv_timeout(quiet) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    break;
                }
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        std::mem::take(&mut self.seen)
    }

    /// Waits (bounded) for a line on the client's stderr that is `want`
    /// (without its LF); the lines before it are skipped, and stay skipped.
    pub fn expect_stderr_line(&mut self, ctx: &mut Ctx, want: &str) -> Check {
        let timeout = ctx.timeout;
        let proc = ctx.client_proc(self);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.errs.iter().position(|l| l == want) {
                self.errs.drain(..=at);
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match proc.errs.recv_timeout(left) {
                Ok(line) => {
                    let line = String::from_utf8_lossy(&line);
                    self.errs
                        .push(line.trim_end_matches(['\n', '\r']).to_string());
                }
                Err(_) => {
                    let tail = self.errs.iter().rev().take(5).rev().cloned();
                    return Err(Failure::new(
                        format!("{}: a line on stderr", self.label),
                        want,
                        tail.collect::<Vec<_>>().join("\n"),
                    ));
                }
            }
        }
    }

    /// Sends `signal` to the client.
    pub fn signal(&mut self, ctx: &mut Ctx, signal: i32) {
        ctx.client_proc(self).signal(signal);
    }

    /// Whether the client has exited, without waiting.
    pub fn has_exited(&mut self, ctx: &mut Ctx) -> bool {
        ctx.client_proc(self).poll().is_some()
    }
}

/// A need is met by any server command target.
pub fn needs_summary(needs: &[Need]) -> String {
    needs
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_only_pathlike_arguments_made_absolute() {
        let args: Vec<String> = [
            "Cargo.toml",
            "lobby",
            "src",
            "{port}",
            "--port={port}",
            "x/{dir}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = substitute(&args, &[("port", "8001".into()), ("dir", "/tmp/d".into())]);
        assert!(
            got[0].starts_with('/') && got[0].ends_with("/Cargo.toml"),
            "{got:?}"
        );
        assert_eq!(
            &got[1..],
            ["lobby", "src", "8001", "--port=8001", "x//tmp/d"]
        );
    }
}
