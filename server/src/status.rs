//! Status lines: the server's stdout, one line per connection event and per
//! request, so that a demo audience (or a test) sees each event as it
//! happens; and the `--trace` lines, which go to stderr the same way.
//! Warnings and debugging go through `log` to stderr.
//!
//! Printing never holds the server up. A line goes into a bounded buffer in
//! memory, and a thread of its own ([`start`]) writes that buffer out. When
//! nobody reads the output (a terminal paused with Ctrl-S, a full pipe to
//! `less`), that thread blocks in `write`, not the dispatcher; the buffer
//! fills, and further lines are dropped and counted, never waited for. Once
//! output flows again, the count goes out as one line of its own,
//! `… N status lines dropped`, where the lines were lost.
//!
//! On the dispatcher thread, which prints a line for every request, lines
//! are first gathered in a buffer of the thread's own and handed over in
//! one piece when the dispatcher has handled the events at hand (see
//! [`Conns::flush`]), before it waits for more: a line is out before
//! anything else happens, but a burst of requests costs one hand-over, not
//! one each. Any other thread hands over each line at once.
//!
//! [`Conns::flush`]: crate::conns::Conns::flush

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A thread's own buffer this large is handed over without waiting for the
/// flush.
const FLUSH_AT: usize = 64 * 1024;
/// What waits for the output thread, in bytes: some seconds of a busy
/// server's lines, so that a moment's stall loses nothing, and a bound on
/// the memory a paused terminal costs.
const BACKLOG: usize = 1 << 20;

thread_local! {
    /// `Some` on a thread that called [`defer`].
    static BUFFER: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Where a [`Backlog`]'s bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Stdout = 0,
    Stderr = 1,
}

/// Whether each target's output thread runs, by [`Target`] number.
static STARTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// Lines waiting for an output thread, bounded in bytes.
#[derive(Debug)]
pub struct Backlog {
    state: Mutex<Pending>,
    /// Signalled when lines arrive (for the output thread) and when the
    /// output thread has written everything (for [`finish`]).
    changed: Condvar,
    limit: usize,
    /// What the dropped-lines note calls a line.
    what: &'static str,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Lines refused since the output thread last took the buffer.
    dropped: u64,
    /// The output thread holds bytes it has not finished writing.
    writing: bool,
}

impl Backlog {
    /// An empty backlog of at most `limit` bytes.
    pub fn new(limit: usize, what: &'static str) -> Backlog {
        Backlog {
            state: Mutex::new(Pending::default()),
            changed: Condvar::new(),
            limit,
            what,
        }
    }

    /// Adds whole lines, or drops and counts them when they do not fit.
    /// Once lines were dropped, every line is dropped until the output
    /// thread takes the buffer, so that the note stands where the gap is.
    /// Never blocks on the output.
    pub fn push(&self, lines: &[u8], count: u64) {
        if lines.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        let fits = state.bytes.len().saturating_add(lines.len()) <= self.limit;
        if state.dropped > 0 || !fits {
            state.dropped = state.dropped.saturating_add(count);
            return;
        }
        let was_empty = state.bytes.is_empty();
        state.bytes.extend_from_slice(lines);
        drop(state);
        if was_empty {
            self.changed.notify_all();
        }
    }

    /// Waits until there are bytes to write, and takes them, followed by
    /// the note on lines dropped since the last take.
    pub fn take(&self, into: &mut Vec<u8>) {
        let mut state = self.state.lock();
        while state.bytes.is_empty() && state.dropped == 0 {
            state.writing = false;
            self.changed.notify_all();
            self.changed.wait(&mut state);
        }
        state.writing = true;
        std::mem::swap(&mut state.bytes, into);
        let dropped = std::mem::take(&mut state.dropped);
        drop(state);
        if dropped > 0 {
            let _ = writeln!(into, "… {dropped} {} dropped", self.what);
        }
    }

    /// Waits until everything pushed so far is written, or `deadline`.
    /// Whether it was.
    pub fn wait_written(&self, deadline: Instant) -> bool {
        let mut state = self.state.lock();
        while state.writing || !state.bytes.is_empty() || state.dropped > 0 {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return false;
            }
        }
        true
    }
}

/// The stdout backlog (status lines) and the stderr one (trace lines).
fn backlog(target: Target) -> &'static Backlog {
    static STDOUT: OnceLock<Backlog> = OnceLock::new();
    static STDERR: OnceLock<Backlog> = OnceLock::new();
    match target {
        Target::Stdout => STDOUT.get_or_init(|| Backlog::new(BACKLOG, "status lines")),
        Target::Stderr => STDERR.get_or_init(|| Backlog::new(BACKLOG, "trace lines")),
    }
}

/// Starts the output threads. Lines printed before are kept and written
/// once they run. If a thread cannot start, its lines are written by the
/// printing thread itself (as before this module had threads).
pub fn start() {
    for target in [Target::Stdout, Target::Stderr] {
        let spawned = thread::Builder::new()
            .name(format!("{target:?}").to_lowercase())
            .stack_size(64 * 1024)
            .spawn(move || write_loop(target));
        if spawned.is_ok() {
            STARTED[target as usize].store(true, Ordering::Release);
        }
    }
}

fn started(target: Target) -> bool {
    STARTED[target as usize].load(Ordering::Acquire)
}

/// An output thread: write the backlog out as it comes. Write errors (a
/// closed stdout) are not worth stopping a server for: they are ignored.
fn write_loop(target: Target) {
    let backlog = backlog(target);
    let mut bytes = Vec::new();
    loop {
        backlog.take(&mut bytes);
        write_to(target, &bytes);
        bytes.clear();
        if bytes.capacity() > BACKLOG {
            bytes = Vec::new();
        }
    }
}

fn write_to(target: Target, bytes: &[u8]) {
    match target {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
        Target::Stderr => {
            let mut out = std::io::stderr().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}

/// Hands `bytes` (`count` whole lines) to `target`'s output.
fn hand_over(target: Target, bytes: &[u8], count: u64) {
    if started(target) {
        backlog(target).push(bytes, count);
    } else {
        write_to(target, bytes);
    }
}

/// Lets what is waiting go out, for at most `within` (at shutdown: the
/// exit must not wait for a stdout nobody reads).
pub fn finish(within: Duration) {
    flush();
    let deadline = Instant::now() + within;
    for target in [Target::Stdout, Target::Stderr] {
        if started(target) {
            backlog(target).wait_written(deadline);
        }
    }
}

/// From now on, this thread's status lines wait for [`flush`].
pub fn defer() {
    BUFFER.with(|b| *b.borrow_mut() = Some(Vec::with_capacity(FLUSH_AT)));
}

thread_local! {
    /// Lines in this thread's deferred buffer.
    static LINES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Appends `line` and its LF to `buf`, made terminal-safe: status lines
/// show names, channel names and raw fields that came from the network,
/// and none of it may reach the operator's terminal as a control sequence
/// (contract, "Terminal safety"; [`chat_protocol::safe`]). An LF inside
/// the line shows as `^J` as well, so that a peer cannot forge a status
/// line of its own. Plain ASCII lines, nearly all of them, are checked and
/// left as they are.
fn append_line(buf: &mut Vec<u8>, line: fmt::Arguments<'_>) {
    let start = buf.len();
    let _ = write!(buf, "{line}");
    let plain = buf[start..]
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t');
    if !plain {
        let safe = chat_protocol::safe::escape(&buf[start..]).replace('\n', "^J");
        buf.truncate(start);
        buf.extend_from_slice(safe.as_bytes());
    }
    buf.push(b'\n');
}

/// Prints one status line: handed to the output thread at once, or on a
/// deferring thread at the next [`flush`].
pub fn print(line: fmt::Arguments<'_>) {
    let deferred = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let Some(buf) = b.as_mut() else {
            return false;
        };
        append_line(buf, line);
        LINES.with(|n| n.set(n.get() + 1));
        if buf.len() >= FLUSH_AT {
            hand_over(Target::Stdout, buf, LINES.with(|n| n.replace(0)));
            buf.clear();
        }
        true
    });
    if !deferred {
        let mut buf = Vec::new();
        append_line(&mut buf, line);
        hand_over(Target::Stdout, &buf, 1);
    }
}

/// Prints one trace line on stderr, through the stderr output thread.
pub fn trace(line: fmt::Arguments<'_>) {
    let mut buf = Vec::new();
    append_line(&mut buf, line);
    hand_over(Target::Stderr, &buf, 1);
}

/// Where `log` writes (warnings and debugging, on stderr): through the
/// stderr backlog and its thread, so that a stderr nobody reads never holds
/// up the thread that logs (the dispatcher among them).
#[derive(Debug, Clone, Copy)]
pub struct LogPipe;

impl Write for LogPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        hand_over(
            Target::Stderr,
            buf,
            u64::try_from(lines.max(1)).unwrap_or(u64::MAX),
        );
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hands this thread's deferred lines to the output thread.
pub fn flush() {
    BUFFER.with(|b| {
        if let Some(buf) = b.borrow_mut().as_mut() {
            if !buf.is_empty() {
                hand_over(Target::Stdout, buf, LINES.with(|n| n.replace(0)));
                buf.clear();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_bound_are_dropped_and_counted_where_they_were_lost() {
        let backlog = Backlog::new(12, "status lines");
        backlog.push(b"fd 7: one\n", 1);
        backlog.push(b"fd 7: two\n", 1);
        // Once dropping started, even a line that would fit is dropped,
        // so that the note stands where the gap is.
        backlog.push(b"x\n", 1);
        let mut out = Vec::new();
        backlog.take(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "fd 7: one\n… 2 status lines dropped\n"
        );
        out.clear();
        backlog.push(b"fd 7: three\n", 1);
        backlog.take(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), "fd 7: three\n");
    }

    #[test]
    fn pushing_never_waits_for_the_output() {
        // Nobody takes: pushes go on, bounded, however many there are.
        let backlog = Backlog::new(1024, "status lines");
        for i in 0..100_000 {
            backlog.push(format!("fd 7: line {i}\n").as_bytes(), 1);
        }
        let state = backlog.state.lock();
        assert!(state.bytes.len() <= 1024);
        assert!(state.dropped > 99_000);
    }

    fn safe(line: &str) -> String {
        let mut buf = Vec::new();
        append_line(&mut buf, format_args!("{line}"));
        String::from_utf8(buf).expect("UTF-8")
    }

    #[test]
    fn status_lines_are_terminal_safe() {
        #[rustfmt::skip]
        let cases = [
            ("fd 7: JOIN Alice", "fd 7: JOIN Alice\n"),
            ("fd 7: Kay: /create \x1b]0;pwned\x07\x1b[2J", "fd 7: Kay: /create ^[]0;pwned^G^[[2J\n"),
            ("fd 7: unknown field X\rY", "fd 7: unknown field X^MY\n"),
            ("fd 7: LOGIN a\nfd 8: forged", "fd 7: LOGIN a^Jfd 8: forged\n"),
            ("fd 7: LOGIN caf\u{e9} \u{202e}x\u{85}", "fd 7: LOGIN caf\u{e9} <U+202E>x<U+0085>\n"),
            ("fd 7: tab\tkept", "fd 7: tab\tkept\n"),
            ("fd 7: DEL\x7f", "fd 7: DEL^?\n"),
        ];
        for (line, want) in cases {
            assert_eq!(safe(line), want, "{line:?}");
        }
    }

    #[test]
    fn waiting_for_the_output_is_bounded() {
        let backlog = Backlog::new(1024, "status lines");
        backlog.push(b"never written\n", 1);
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!backlog.wait_written(deadline));
    }
}
