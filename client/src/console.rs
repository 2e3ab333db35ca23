//! The one console every client reads its user's lines from and prints
//! through.
//!
//! Two modes, chosen once at start:
//!
//! - **Terminal** (stdin and stdout both terminals): lines are read with
//!   rustyline's editor (arrows, backspace, Ctrl-U, history on up-arrow),
//!   and everything printed goes through rustyline's external printer, which
//!   prints it *above* the line being edited and redraws the prompt and the
//!   partial input below it. Text arriving while the user types therefore
//!   never garbles the typing. Each piece printed becomes whole lines (a
//!   missing final line end is added). Nothing typed or pasted ahead is
//!   lost: the editor keeps what it read past a line's end for the next
//!   line (rustyline's `buffer-redux` feature), and between two lines the
//!   terminal holds keys unechoed for it ([`hold_typeahead`]).
//! - **Pipe** (anything else: scripts, graders, `printf ... |`): stdin is
//!   read line by line as bytes and output is written to stdout exactly as
//!   given, flushed after every piece, so scripted sessions stay byte for
//!   byte what the contract says, prompts included.
//!
//! In both modes one output thread does all the writing, fed through a
//! bounded queue ([`Printer`]): a client whose stdout is not being read
//! stops taking from the network when the queue is full (so the server's
//! send queue applies, and memory stays bounded), and the exit path
//! ([`exit_now`]) never waits for stdout: it restores the terminal's mode
//! with one `tcsetattr` (which does not wait for output) and ends the
//! process. What it deliberately does not do: colour, completion, or saving
//! history between runs.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};

/// How many pieces of output may wait for a slow stdout before the
/// printing side waits too (and with it the thread reading the network).
const QUEUE: usize = 64;

/// The terminal's mode as it was before the editor changed it, put back by
/// [`exit_now`] whatever thread ends the process.
static SAVED_MODE: OnceLock<libc::termios> = OnceLock::new();

/// rustyline's printer for text from other threads.
type External = Box<dyn rustyline::ExternalPrinter + Send>;

/// One piece of output.
enum Out {
    /// For stdout, printed as given.
    Stdout(String),
    /// A line for stderr (hints, traces).
    Stderr(String),
    /// Everything before this is printed: end the process with this code.
    Exit(u8),
}

/// What prints: cheap to clone, safe to use from any thread. Text printed
/// through one printer appears in the order it was given.
///
/// Network text must be made terminal-safe (`chat_protocol::safe`) before
/// it is given here: the printer prints what it is given.
#[derive(Clone)]
pub struct Printer {
    tx: Sender<Out>,
    terminal: bool,
}

impl Printer {
    /// Prints `text` on stdout (in a terminal: above the line being edited).
    pub fn print(&self, text: impl Into<String>) {
        self.send(Out::Stdout(text.into()));
    }

    /// Prints one line on stderr, where a client explains itself without
    /// changing stdout (a hint, a reason for exiting, a trace line).
    pub fn note(&self, line: impl Into<String>) {
        let mut line = line.into();
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.send(Out::Stderr(line));
    }

    /// Whether lines are being edited in a terminal (see the module doc).
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Ends the process with `code` once everything printed so far is out.
    pub fn exit(&self, code: u8) -> ! {
        self.send(Out::Exit(code));
        // The output thread ends the process; if it is gone, end it here.
        loop {
            thread::park();
        }
    }

    fn send(&self, out: Out) {
        // If the output thread died, nothing can be printed any more.
        if let Err(crossbeam_channel::SendError(Out::Exit(code))) = self.tx.send(out) {
            exit_now(code);
        }
    }
}

/// Where the user's lines come from.
enum Input {
    Editor(Box<DefaultEditor>),
    Lines(io::StdinLock<'static>),
}

/// The user's side of a client: lines in, and a [`Printer`] for output.
pub struct Console {
    input: Input,
    printer: Printer,
    /// True while the editor is reading a line (the output thread then must
    /// make sure its last text was drawn before it ends the process).
    reading: Arc<AtomicBool>,
}

impl Console {
    /// Chooses the mode (see the module doc) and starts the output thread.
    pub fn new() -> Console {
        let reading = Arc::new(AtomicBool::new(false));
        if io::stdin().is_terminal() && io::stdout().is_terminal() {
            match terminal_editor() {
                Ok((editor, external)) => {
                    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
                    let flag = reading.clone();
                    if spawn_output(move || terminal_output(rx, external, flag)) {
                        return Console {
                            input: Input::Editor(Box::new(editor)),
                            printer: Printer { tx, terminal: true },
                            reading,
                        };
                    }
                    // Without its thread the editor is no use: read plainly.
                    return Console::plain(reading);
                }
                Err(e) => log::debug!("no line editor, reading plain lines: {e}"),
            }
        }
        Console::plain(reading)
    }

    /// Pipe mode (also when the editor cannot be had).
    fn plain(reading: Arc<AtomicBool>) -> Console {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        if !spawn_output(move || pipe_output(rx)) {
            // The receiver is gone with the closure: printing does nothing
            // and `Printer::exit` ends the process itself.
            log::error!("cannot start the output thread");
        }
        Console {
            input: Input::Lines(io::stdin().lock()),
            printer: Printer {
                tx,
                terminal: false,
            },
            reading,
        }
    }

    /// A printer for this console (clone it for other threads).
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Whether lines are being edited in a terminal.
    pub fn is_terminal(&self) -> bool {
        self.printer.terminal
    }

    /// Reads one line, without its LF (and without a CR before it). In a
    /// terminal `prompt` is the editor's prompt, redrawn under anything
    /// printed meanwhile; through a pipe it is printed (if not empty) before
    /// reading, in order with all other output. `None` at end of input
    /// (Ctrl-D in a terminal) or on a read error.
    pub fn read_line(&mut self, prompt: &str) -> Option<Vec<u8>> {
        match &mut self.input {
            Input::Editor(editor) => {
                self.reading.store(true, Ordering::SeqCst);
                let line = editor.readline(prompt);
                self.reading.store(false, Ordering::SeqCst);
                match line {
                    Ok(line) => Some(line.into_bytes()),
                    Err(ReadlineError::Interrupted) => {
                        // Ctrl-C arrives as a signal (the editor keeps ISIG);
                        // should the editor see it anyway, make it one.
                        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGINT);
                        None
                    }
                    Err(ReadlineError::Eof) => None,
                    Err(e) => {
                        log::warn!("cannot read the terminal: {e}");
                        None
                    }
                }
            }
            Input::Lines(stdin) => {
                if !prompt.is_empty() {
                    self.printer.print(prompt);
                }
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        Some(line)
                    }
                }
            }
        }
    }
}

impl Drop for Console {
    /// A client that returns from its `run` leaves the terminal as it
    /// found it.
    fn drop(&mut self) {
        restore_mode();
    }
}

/// Ends the process with `code` at once, from any thread: puts the
/// terminal's mode back if the editor changed it, and never touches the
/// stdout lock (another thread may be blocked writing to a stdout nobody
/// reads; `std::process::exit` itself only tries the lock).
pub fn exit_now(code: u8) -> ! {
    restore_mode();
    std::process::exit(i32::from(code))
}

/// The editor and its external printer, with the terminal's mode saved.
fn terminal_editor() -> rustyline::Result<(DefaultEditor, External)> {
    let config = Config::builder()
        .auto_add_history(true)
        // Ctrl-C stays a signal, handled like SIGTERM by the client's one
        // exit path.
        .enable_signals(true)
        // Bracketed paste would need a write to the terminal at exit, and
        // the exit must not write (the terminal may be paused).
        .bracketed_paste(false)
        .build();
    let mut editor = DefaultEditor::with_config(config)?;
    let external: External = Box::new(editor.create_external_printer()?);
    if let Ok(mode) = nix::sys::termios::tcgetattr(io::stdin()) {
        let _ = SAVED_MODE.set(mode.clone().into());
        hold_typeahead(mode);
    }
    Ok((editor, external))
}

/// Sets the terminal for the moments between two lines read by the
/// editor (while a client sends a line, waits for an answer, or runs a
/// menu step): no echo, no line editing by the terminal, keys taken as
/// the editor takes them (no CR-to-LF, no Ctrl-S/Ctrl-Q); output and
/// signals as before. Keys typed or pasted then wait in the terminal
/// untouched and unshown until the editor reads them, so they are neither
/// echoed twice (once by the terminal, once by the editor) nor cooked
/// differently from keys typed while it reads. The editor takes this mode
/// as the one to return to after each line; [`exit_now`] and dropping the
/// [`Console`] put the original mode back.
fn hold_typeahead(mut mode: nix::sys::termios::Termios) {
    use nix::sys::termios::{InputFlags, LocalFlags, SetArg, SpecialCharacterIndices};
    mode.local_flags &= !(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::IEXTEN);
    mode.input_flags &= !(InputFlags::ICRNL | InputFlags::IXON);
    mode.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    mode.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    // TCSADRAIN (as the editor does): what was typed stays to be read.
    if let Err(e) = nix::sys::termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, &mode) {
        log::debug!("cannot hold typed keys between lines: {e}");
    }
}

/// Puts the terminal's mode back as it was before the console changed it
/// (does nothing in pipe mode). It does not wait for output.
fn restore_mode() {
    if let Some(mode) = SAVED_MODE.get() {
        let mode = nix::sys::termios::Termios::from(*mode);
        let _ =
            nix::sys::termios::tcsetattr(io::stdin(), nix::sys::termios::SetArg::TCSANOW, &mode);
    }
}

fn spawn_output(run: impl FnOnce() + Send + 'static) -> bool {
    thread::Builder::new()
        .name("output".into())
        .spawn(run)
        .is_ok()
}

/// Pipe mode: every piece written as given and flushed.
fn pipe_output(rx: Receiver<Out>) {
    for out in rx {
        match out {
            Out::Stdout(text) => {
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
            Out::Stderr(text) => {
                let _ = io::stderr().lock().write_all(text.as_bytes());
            }
            Out::Exit(code) => exit_now(code),
        }
    }
}

/// Terminal mode: every piece printed above the edited line.
fn terminal_output(rx: Receiver<Out>, mut external: External, reading: Arc<AtomicBool>) {
    let stderr_is_terminal = io::stderr().is_terminal();
    for out in rx {
        match out {
            Out::Stdout(mut text) => {
                if text.is_empty() {
                    continue;
                }
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                let _ = external.print(text);
            }
            Out::Stderr(text) if stderr_is_terminal => {
                let _ = external.print(text);
            }
            Out::Stderr(text) => {
                let _ = io::stderr().lock().write_all(text.as_bytes());
            }
            Out::Exit(code) => {
                if reading.load(Ordering::SeqCst) {
                    // The editor takes messages through a one-place
                    // channel and draws each before it takes the next: once
                    // the second of two more has been handed over, the
                    // first was taken, so everything before it is drawn.
                    // Each is "cursor up", then the editor's own line end:
                    // nothing visible.
                    let _ = external.print("\x1b[A".into());
                    let _ = external.print("\x1b[A".into());
                }
                exit_now(code)
            }
        }
    }
}
