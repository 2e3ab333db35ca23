//! The by-hand recipes in `README.md` and `docs/PROTOCOLS.md`, run as
//! written against our real server, so the docs and the programs cannot
//! drift apart.
//!
//! A recipe is a fenced code block right after a marker line
//!
//! ```text
//! <!-- recipe port=8001 -->
//! ```
//!
//! In the block, a line starting with `$ ` is a command (continued while a
//! line ends with `\`), and the lines up to the next command are exactly its
//! standard output (`HH:MM:SS` matching any time of day). A command
//! `cargo run ... -p chat-server -- ARGS &` starts our server with ARGS
//! (the port replaced by 0, so the system picks a free loopback port, which
//! the server then announces); `cargo run ... -p chat-<bin> --` elsewhere is
//! the built binary; the documented port (`port=`) is replaced by the real
//! one everywhere, in the output too. Every other command runs as written,
//! with `sh -c`, in a scratch folder of its own, with stdin closed and a
//! bounded wait.
//!
//! Marker attributes:
//! - `port=N` (required): the port the recipe's text uses.
//! - `server="ARGS"`: start the server with these arguments, for a block
//!   that does not start it itself (the README's demo, "with the server
//!   above running").
//! - `users="Alice Bob"`: lobby users who join before the block runs and stay
//!   connected, standing in for the other terminals of a demo.
//! - `typed="LIST|JOIN Trudy"`: the block is one interactive command; these
//!   lines of the block (in order) are what the user types. Each is written
//!   to the command's stdin once the output before it has arrived; after the
//!   last, stdin is closed (Ctrl-D) and the command must end.
//!
//! Netcat is Debian's `netcat-openbsd` (`scripts/test-deps` installs it); a
//! test fails, naming the missing tool, rather than skip.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{bin, like, TempDir};

/// How long one recipe command may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn readme_recipes_work_as_written() {
    run_document("README.md", 2);
}

#[test]
fn protocols_recipes_work_as_written() {
    run_document("docs/PROTOCOLS.md", 8);
}

/// Every code block that pipes into `nc` or a client, or opens `nc`, is a
/// marked recipe: an unmarked one would be a recipe nobody runs.
#[test]
fn every_netcat_block_is_a_marked_recipe() {
    for doc in ["README.md", "docs/PROTOCOLS.md"] {
        let text = read_doc(doc);
        for block in blocks(&text) {
            let runs_nc = block
                .lines
                .iter()
                .any(|l| l.starts_with("$ ") && (l.contains("| nc ") || l.starts_with("$ nc ")));
            assert!(
                !runs_nc || block.marker.is_some(),
                "{doc}:{}: a netcat recipe without a `<!-- recipe ... -->` marker",
                block.line
            );
        }
    }
}

/// The README's test command is the one CI runs, and it runs every test:
/// a newcomer and `.ci/run` cannot drift apart.
#[test]
fn the_readme_test_command_is_what_ci_runs() {
    let readme = read_doc("README.md");
    let commands: Vec<String> = blocks(&readme)
        .into_iter()
        .filter(|b| b.lines.len() == 1)
        .map(|b| b.lines[0].trim().to_string())
        .collect();
    assert!(
        commands.iter().any(|c| c == "scripts/test"),
        "README.md: no block with the test command `scripts/test`: {commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c == "cargo run --release -p chat-server -- 8001"),
        "README.md: no block with the first command: {commands:?}"
    );
    let ci = read_doc(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "scripts/test"),
        ".ci/run does not run `scripts/test`:\n{ci}"
    );
    let script = read_doc("scripts/test");
    let lines: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        lines.contains(&"scripts/test-deps"),
        "scripts/test does not install the tools first:\n{script}"
    );
    assert_eq!(
        lines.last(),
        Some(&"exec cargo test --workspace \"$@\""),
        "scripts/test does not end by running every test:\n{script}"
    );
}

fn run_document(doc: &str, at_least: usize) {
    netcat_is_openbsd();
    let text = read_doc(doc);
    let recipes: Vec<Block> = blocks(&text)
        .into_iter()
        .filter(|b| b.marker.is_some())
        .collect();
    assert!(
        recipes.len() >= at_least,
        "{doc}: {} recipes found, expected at least {at_least}",
        recipes.len()
    );
    let failures: Vec<String> = recipes
        .iter()
        .filter_map(|r| {
            run_recipe(r)
                .err()
                .map(|e| format!("{doc}:{}: {e}", r.line))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn read_doc(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tests need the netcat the docs are written for.
fn netcat_is_openbsd() {
    let out = Command::new("nc").arg("-h").output();
    let help = match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run nc ({e}): run scripts/test-deps to install netcat-openbsd"),
    };
    assert!(
        help.contains("OpenBSD netcat"),
        "nc is not OpenBSD netcat (the docs' recipes are written for Debian's \
         netcat-openbsd): run scripts/test-deps"
    );
}

/// A fenced code block, with the recipe marker before it if there is one.
struct Block {
    /// The line number of the opening fence, for messages.
    line: usize,
    marker: Option<HashMap<String, String>>,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker = None;
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- recipe") {
            marker = Some(attributes(rest.trim_end_matches("-->")));
        } else if trimmed.starts_with("```") {
            let mut body = Vec::new();
            for (_, inner) in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                body.push(inner.to_string());
            }
            out.push(Block {
                line: n + 1,
                marker: marker.take(),
                lines: body,
            });
        } else if !trimmed.is_empty() {
            // A marker belongs to the block right after it.
            marker = None;
        }
    }
    out
}

/// `key=value key="a value"` pairs.
fn attributes(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut rest = text.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_string();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
            }
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        map.insert(key, value.to_string());
        rest = next.trim();
    }
    map
}

/// A command of a block and the standard output written under it.
struct Step {
    command: String,
    output: Vec<String>,
}

fn steps(lines: &[String]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(first) = lines[i].strip_prefix("$ ") {
            let mut command = first.to_string();
            while command.ends_with('\\') && i + 1 < lines.len() {
                i += 1;
                command.push('\n');
                command.push_str(&lines[i]);
            }
            out.push(Step {
                command,
                output: Vec::new(),
            });
        } else if let Some(step) = out.last_mut() {
            step.output.push(lines[i].clone());
        }
        i += 1;
    }
    out
}

fn run_recipe(block: &Block) -> Result<(), String> {
    let marker = block.marker.as_ref().expect("a marked block");
    let doc_port = marker.get("port").ok_or("the marker names no port=")?;
    let dir = TempDir::new("recipe");
    let mut server = None;
    if let Some(args) = marker.get("server") {
        server = Some(RecipeServer::start(args, doc_port, &dir.path)?);
    }
    let steps = steps(&block.lines);
    if steps.is_empty() {
        return Err("the block has no `$ ` command".into());
    }
    let mut users = Vec::new();
    for step in &steps {
        if let Some(args) = server_args(&step.command) {
            server = Some(RecipeServer::start(&args, doc_port, &dir.path)?);
            continue;
        }
        let server = server
            .as_ref()
            .ok_or("a command runs before any server starts")?;
        if users.is_empty() {
            if let Some(names) = marker.get("users") {
                for name in names.split_whitespace() {
                    users.push(join_lobby(server.port, name)?);
                }
            }
        }
        let command = concrete(&step.command, doc_port, server.port);
        // The port shows in some output too (`Server at localhost:8003 ...`).
        let real = server.port.to_string();
        let output: Vec<String> = step
            .output
            .iter()
            .map(|l| replace_number(l, doc_port, &real))
            .collect();
        let result = match marker.get("typed") {
            Some(typed) => run_typed(&command, typed, &output, &dir.path),
            None => run_piped(&command, &output, &dir.path),
        };
        result.map_err(|e| format!("`{}`: {e}", step.command))?;
    }
    Ok(())
}

/// The arguments of a `cargo run ... -p chat-server -- ARGS &` line.
fn server_args(command: &str) -> Option<String> {
    let (cargo, args) = command.split_once(" -- ")?;
    (cargo.starts_with("cargo run") && cargo.contains("-p chat-server"))
        .then(|| args.trim().trim_end_matches('&').trim().to_string())
}

/// The command with `cargo run ... -p chat-X --` replaced by the binary and
/// the documented port by the real one.
fn concrete(command: &str, doc_port: &str, port: u16) -> String {
    let mut out = command.to_string();
    while let Some(start) = out.find("cargo run") {
        let Some(len) = out[start..].find(" -- ") else {
            break;
        };
        let cargo = &out[start..start + len];
        let name = cargo
            .split_whitespace()
            .skip_while(|w| *w != "-p")
            .nth(1)
            .unwrap_or("chat-client")
            .to_string();
        let path = bin(&name).to_string_lossy().into_owned();
        out.replace_range(start..start + len + 4, &format!("{path} "));
    }
    replace_number(&out, doc_port, &port.to_string())
}

/// `text` with every `from` that is a whole number (no digit either side)
/// replaced by `to`.
fn replace_number(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        out.push_str(&rest[..at]);
        let before = out.chars().last();
        let after = rest[at + from.len()..].chars().next();
        let whole = !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit());
        out.push_str(if whole { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// What the block says the command prints: its lines, each ended by LF.
fn expected(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

fn spawn(command: &str, dir: &Path, stdin: Stdio) -> Result<Running, String> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a hung pipeline is ended whole.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, chunks) = channel();
    thread::spawn(move || {
        let mut stdout = stdout;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let (tx, errors) = channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    Ok(Running {
        child,
        chunks,
        got: Vec::new(),
        errors,
    })
}

/// A recipe command that is running, with what it has printed so far.
struct Running {
    child: Child,
    chunks: Receiver<Vec<u8>>,
    got: Vec<u8>,
    /// Its stderr, once it has closed.
    errors: Receiver<String>,
}

impl Running {
    /// Reads until `want` bytes have arrived in all, stdout closes, or the
    /// deadline passes.
    fn read_until(&mut self, want: usize, deadline: Instant) {
        while self.got.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.got.extend(chunk),
                Err(_) => break,
            }
        }
    }

    /// Waits for stdout to close and the command to exit, within the
    /// deadline; the whole process group is killed on failure.
    fn finish(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.got.extend(chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "did not end within {DEADLINE:?}; it printed {:?}",
                        String::from_utf8_lossy(&self.got)
                    ))
                }
            }
        }
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err(format!("did not exit within {DEADLINE:?}"))
    }

    /// What it wrote on stderr, when it has closed that (never waits).
    fn stderr(&self) -> String {
        self.errors
            .try_recv()
            .unwrap_or_else(|_| "(still open)".into())
    }

    fn compare(&self, want: &[u8]) -> Result<(), String> {
        if like(&self.got, want) {
            Ok(())
        } else {
            Err(format!(
                "printed\n{}\nbut the docs say\n{}\n(stderr: {:?})",
                String::from_utf8_lossy(&self.got),
                String::from_utf8_lossy(want),
                self.stderr()
            ))
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The group id is the child's pid (process_group(0)).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

fn run_piped(command: &str, output: &[String], dir: &Path) -> Result<(), String> {
    let mut running = spawn(command, dir, Stdio::null())?;
    let outcome = running.finish(Instant::now() + DEADLINE);
    running.compare(&expected(output))?;
    outcome
}

fn run_typed(command: &str, typed: &str, output: &[String], dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    let mut running = spawn(command, dir, Stdio::piped())?;
    let mut stdin = running.child.stdin.take().expect("piped stdin");
    let mut typed = typed.split('|').peekable();
    let mut want = Vec::new();
    for line in output {
        if typed.peek() == Some(&line.as_str()) {
            typed.next();
            running.read_until(want.len(), deadline);
            running.compare(&want)?;
            writeln!(stdin, "{line}").map_err(|e| format!("cannot type {line:?}: {e}"))?;
        } else {
            want.extend(format!("{line}\n").bytes());
        }
    }
    if let Some(left) = typed.next() {
        return Err(format!("typed line {left:?} is not in the block"));
    }
    running.read_until(want.len(), deadline);
    // Ctrl-D: netcat notices the closed connection when it next reads.
    drop(stdin);
    let outcome = running.finish(deadline);
    running.compare(&want)?;
    outcome
}

/// A lobby user that joins and stays connected for the recipe.
fn join_lobby(port: u16, name: &str) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(DEADLINE))
        .map_err(|e| e.to_string())?;
    writeln!(stream, "JOIN {name}").map_err(|e| e.to_string())?;
    let want = format!("{name} joined!\n");
    let mut got = vec![0; want.len()];
    stream
        .read_exact(&mut got)
        .map_err(|e| format!("{name} could not join: {e}"))?;
    if got != want.as_bytes() {
        return Err(format!(
            "{name} got {:?} on joining",
            String::from_utf8_lossy(&got)
        ));
    }
    Ok(stream)
}

/// Our server, started for one recipe.
struct RecipeServer {
    child: Child,
    port: u16,
}

impl RecipeServer {
    fn start(args: &str, doc_port: &str, dir: &PathBuf) -> Result<RecipeServer, String> {
        let mut args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        let mut given = false;
        for arg in &mut args {
            let replaced = replace_number(arg, doc_port, "0");
            given |= replaced != *arg;
            *arg = replaced;
        }
        if !given {
            // The dialect's default port (room): ask for a free one instead.
            args.push("0".into());
        }
        let mut child = Command::new(bin("chat-server"))
            .args(&args)
            .arg("--bind")
            .arg("127.0.0.1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chat-server {args:?}: {e}"))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        // Keep reading its status lines so that it never waits on them.
        thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let port = first
            .trim()
            .strip_prefix("Server listening on ")
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        match port {
            Some(port) => Ok(RecipeServer { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("chat-server {args:?} printed {first:?} first"))
            }
        }
    }
}

impl Drop for RecipeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn recipe_blocks_split_into_commands_and_their_output() {
    let text = "<!-- recipe port=8001 typed=\"LIST|QUIT\" -->\n```\n$ printf 'a\\n' \\\n    | nc -N localhost 8001\nout\n\n$ echo 18001 8001\n```\n";
    let found = blocks(text);
    assert_eq!(found.len(), 1);
    let marker = found[0].marker.as_ref().expect("marked");
    assert_eq!(marker["port"], "8001");
    assert_eq!(marker["typed"], "LIST|QUIT");
    let steps = steps(&found[0].lines);
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0].command,
        "printf 'a\\n' \\\n    | nc -N localhost 8001"
    );
    assert_eq!(steps[0].output, ["out", ""]);
    assert_eq!(
        replace_number(&steps[1].command, "8001", "40000"),
        "echo 18001 40000"
    );
    assert_eq!(
        server_args("cargo run --release -p chat-server -- channels 8003 &").as_deref(),
        Some("channels 8003")
    );
}
