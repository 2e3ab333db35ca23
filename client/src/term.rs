//! What every dialect's client shares: reaching the server, printing (flushed
//! after every write, so that piped sessions and prompts show at once), and
//! reading stdin lines.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use chat_protocol::{Decoder, FrameBuffer};

use crate::console::{self, Printer};
use std::process::ExitCode;
use std::thread;

/// Connects to `host:port`, or prints `Unable to connect to <host>:<port>`
/// on stdout and gives the exit code 1.
///
/// When the name does not resolve, stderr says so (stdout keeps the
/// contract's one line).
pub fn connect(host: &str, port: u16) -> Result<TcpStream, ExitCode> {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            say(format_args!("Unable to connect to {host}:{port}\n"));
            eprintln!("chat-client: the name {host:?} did not resolve: {e}");
            return Err(ExitCode::from(1));
        }
    };
    match TcpStream::connect(&addrs[..]) {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Err(e) => {
            log::debug!("connect to {host}:{port} failed: {e}");
            say(format_args!("Unable to connect to {host}:{port}\n"));
            Err(ExitCode::from(1))
        }
    }
}

/// Reads `socket` until the peer closes it or a read fails, showing every
/// read's raw bytes to `seen` (the `-v` trace shows the wire, not a
/// re-encoding of what was decoded) and handing every decoded item to
/// `each`. A fatal decoding error ends the reading early and is returned.
pub fn read_frames_seen<D: Decoder>(
    mut socket: &TcpStream,
    decoder: D,
    mut seen: impl FnMut(&[u8]),
    mut each: impl FnMut(D::Item),
) -> Result<(), D::Error> {
    let mut frames = FrameBuffer::new(decoder);
    loop {
        let space = frames.space();
        match socket.read(space) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                seen(&space[..n]);
                frames.filled(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(()),
        }
        while let Some(item) = frames.next_item()? {
            each(item);
        }
    }
}

/// Starts the thread `name` with a clone of `stream` of its own (the
/// clients read the server on one thread while stdin is read on another).
pub fn spawn_with_clone(
    stream: &TcpStream,
    name: &str,
    run: impl FnOnce(TcpStream) + Send + 'static,
) -> io::Result<()> {
    let clone = stream.try_clone()?;
    thread::Builder::new()
        .name(name.into())
        .spawn(move || run(clone))?;
    Ok(())
}

/// Prints `text` as it is (no newline added) and flushes.
pub fn say(text: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(text);
    let _ = out.flush();
}

/// How long a write may wait for a server that takes nothing.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `bytes` to the server; false when that failed. Sending waits at
/// most [`WRITE_TIMEOUT`] in all for a server that takes nothing: then the
/// client gives up on it, says so on stderr and shuts the socket both
/// ways, so that the thread reading the server ends the session as if the
/// server had closed. The user's typing is never held by a server longer
/// than that.
pub fn send(mut stream: &TcpStream, bytes: &[u8], printer: &Printer) -> bool {
    // One deadline for the whole: a write that times out after copying a
    // few bytes returns their count, not an error, so each write's own
    // timeout is what is left.
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut rest = bytes;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_write_timeout(Some(left)).is_err() {
            return give_up(stream, printer);
        }
        match stream.write(rest) {
            Ok(0) => return fail(stream),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return give_up(stream, printer);
            }
            Err(_) => return fail(stream),
        }
    }
    true
}

fn give_up(stream: &TcpStream, printer: &Printer) -> bool {
    printer.note(format!(
        "The server took nothing for {} s: giving up on it.",
        WRITE_TIMEOUT.as_secs()
    ));
    fail(stream)
}

fn fail(stream: &TcpStream) -> bool {
    let _ = stream.shutdown(Shutdown::Both);
    false
}

/// Runs `on_interrupt` on a thread of its own when SIGINT or SIGTERM arrives.
/// Ctrl-C is one of the ways a user ends a session, so the handlers end the
/// process with status 0.
pub fn on_interrupt(on_interrupt: impl FnOnce() + Send + 'static) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        log::warn!("cannot install the Ctrl-C handler");
        return;
    };
    let spawned = thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                on_interrupt();
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the Ctrl-C handler: {e}");
    }
}

/// Ends the process with status 0 at once. It does not wait for stdout
/// (Ctrl-C must end a client whose stdout nobody reads); output goes
/// through flushed writes, so nothing written is held in a buffer.
pub fn exit_ok() -> ! {
    console::exit_now(0)
}
