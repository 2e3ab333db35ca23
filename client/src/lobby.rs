//! The lobby client: a prompt, then every stdin line goes to the server as it
//! is and everything the server sends is printed as it arrives.
//!
//! Five of six real course servers answer without line ends (`Alice
//! joined!Bob joined!`), so the client never waits for an LF:
//!
//! - through a pipe, every read is printed at once, byte for byte (made
//!   terminal-safe), and when the server closes, `Disconnected from server`
//!   follows on a line of its own (after a line end when the output so far
//!   did not end with one);
//! - in a terminal, text is printed above the line being edited, a line at
//!   a time: a text without a line end shows as a line once the server has
//!   paused for 200 ms, the lobby dialect's own framing rule, so a reply cut
//!   by TCP is not shown in pieces. The prompt is shown again until the user
//!   has joined (after `Username Taken`, say), then the line is bare.
//!
//! At end of stdin the client closes its sending half and keeps printing
//! until the server closes, so `printf 'JOIN a\nLIST\n' | chat-client ...`
//! shows every reply.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use chat_protocol::line::{Line, LineDecoder};
use chat_protocol::{safe, FrameBuffer};
use crossbeam_channel::{Receiver, Sender};

use crate::console::{Console, Printer};
use crate::term;
use crate::trace::{Dir, Trace};

/// The contract's prompt, printed once at start (through a pipe).
const PROMPT: &str = "Enter JOIN followed by your username: ";
/// Server lines longer than this are cut into pieces rather than buffered
/// without bound (terminal mode); the lobby server never sends one.
const MAX_SERVER_LINE: usize = 64 * 1024;
/// The pause after which a text without a line end is a line (terminal).
const PAUSE: Duration = Duration::from_millis(200);
/// How long, in a terminal, the next prompt waits for the answer to a JOIN
/// (so that it can say whether the join prompt is still needed).
const JOIN_WAIT: Duration = Duration::from_secs(2);
const DISCONNECTED: &str = "Disconnected from server\n";

/// What the stdin side and the reading side share in a terminal: whether
/// the user has joined, and under which name a JOIN is pending.
#[derive(Default)]
struct Joining {
    joined: AtomicBool,
    asked: Mutex<Option<String>>,
}

impl Joining {
    /// Takes note of a server line; true when it says the user is in: the
    /// pending JOIN's `<name> joined!` (a course server may run on without
    /// a line end: `Alice joined!Bob joined!`), or `Already Registered as`.
    fn heard(&self, line: &[u8]) -> bool {
        let Ok(mut asked) = self.asked.lock() else {
            return false;
        };
        let joined = line.starts_with(b"Already Registered as ")
            || asked
                .as_deref()
                .is_some_and(|name| line.starts_with(format!("{name} joined!").as_bytes()));
        if joined {
            *asked = None;
            self.joined.store(true, Ordering::SeqCst);
        }
        joined
    }
}

pub fn run(host: &str, port: u16, trace: bool) -> ExitCode {
    let stream = match term::connect(host, port) {
        Ok(stream) => stream,
        Err(code) => return code,
    };
    let mut console = Console::new();
    let printer = console.printer();
    term::on_interrupt(|| term::exit_ok());
    let terminal = console.is_terminal();
    if !terminal {
        printer.print(PROMPT);
    }

    let joining = Arc::new(Joining::default());
    let (answered_tx, answered) = crossbeam_channel::bounded(1);
    let reader = {
        let (printer, joining) = (printer.clone(), joining.clone());
        move |socket| {
            let trace = Trace::new(&printer, Dir::Received, trace);
            if terminal {
                print_lines(socket, &printer, trace, &joining, &answered_tx)
            } else {
                print_as_it_arrives(socket, &printer, trace)
            }
        }
    };
    if let Err(e) = term::spawn_with_clone(&stream, "printer", reader) {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    let mut sent = Trace::new(&printer, Dir::Sent, trace);
    loop {
        let prompt = if terminal && !joining.joined.load(Ordering::SeqCst) {
            PROMPT
        } else {
            ""
        };
        let Some(mut line) = console.read_line(prompt) else {
            break;
        };
        if line.is_empty() {
            continue;
        }
        let join = terminal && !joining.joined.load(Ordering::SeqCst);
        let join = join
            .then(|| line.strip_prefix(b"JOIN "))
            .flatten()
            .map(|name| String::from_utf8_lossy(name).into_owned());
        if let (Some(name), Ok(mut asked)) = (&join, joining.asked.lock()) {
            *asked = Some(name.clone());
            while answered.try_recv().is_ok() {}
        }
        line.push(b'\n');
        sent.lines(&line);
        if !term::send(&stream, &line, &printer) {
            break;
        }
        if join.is_some() {
            await_answer(&answered);
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Waits, bounded, for the server to answer (any line will do).
fn await_answer(answered: &Receiver<()>) {
    let _ = answered.recv_timeout(JOIN_WAIT);
}

/// Pipe mode: prints every read at once, then the disconnect line, then
/// ends the process once all is printed.
fn print_as_it_arrives(mut socket: TcpStream, printer: &Printer, mut trace: Trace) -> ! {
    let mut stream = safe::Stream::default();
    // The prompt is on stdout without a line end.
    let mut line_ended = false;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        trace.lines(&buf[..n]);
        let mut text = String::new();
        stream.push(&buf[..n], &mut text);
        if let Some(last) = text.chars().last() {
            line_ended = last == '\n';
            printer.print(text);
        }
    }
    let mut text = String::new();
    stream.finish(&mut text);
    if let Some(last) = text.chars().last() {
        line_ended = last == '\n';
    }
    if !line_ended {
        text.push('\n');
    }
    text.push_str(DISCONNECTED);
    printer.print(text);
    printer.exit(0)
}

/// Terminal mode: prints whole lines (a text without a line end once the
/// server pauses), notes joins, then the disconnect line, then ends.
fn print_lines(
    mut socket: TcpStream,
    printer: &Printer,
    mut trace: Trace,
    joining: &Joining,
    answered: &Sender<()>,
) -> ! {
    let mut frames = FrameBuffer::new(LineDecoder::new(MAX_SERVER_LINE));
    let show = |line: Line| {
        let mut text = match line {
            Line::Text(text) => {
                joining.heard(&text);
                let _ = answered.try_send(());
                safe::escape(&text)
            }
            Line::TooLong => format!("[a server line over {MAX_SERVER_LINE} bytes, cut]"),
        };
        text.push('\n');
        printer.print(text);
    };
    loop {
        let waiting = !frames.pending().is_empty();
        let _ = socket.set_read_timeout(waiting.then_some(PAUSE));
        let space = frames.space();
        match socket.read(space) {
            Ok(0) => break,
            Ok(n) => {
                trace.lines(&space[..n]);
                frames.filled(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if let Some(line) = frames.idle() {
                    show(line);
                }
                continue;
            }
            Err(_) => break,
        }
        while let Ok(Some(line)) = frames.next_item() {
            show(line);
        }
    }
    if let Some(line) = frames.idle() {
        show(line);
    }
    printer.print(DISCONNECTED);
    printer.exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_is_heard_in_the_servers_answers() {
        #[rustfmt::skip]
        let cases: &[(Option<&str>, &[u8], bool)] = &[
            (Some("Alice"), b"Alice joined!", true),
            (Some("Alice"), b"Alice joined!Bob joined!", true),
            (Some("Alice"), b"Username Taken", false),
            (Some("Alice"), b"Bob joined!", false),
            (Some("Al"), b"Alice joined!", false),
            (None, b"Alice joined!", false),
            (None, b"Already Registered as Alice", true),
        ];
        for (asked, line, want) in cases {
            let joining = Joining::default();
            *joining.asked.lock().unwrap() = asked.map(str::to_owned);
            assert_eq!(joining.heard(line), *want, "{asked:?} {line:?}");
            assert_eq!(joining.joined.load(Ordering::SeqCst), *want);
        }
    }
}
