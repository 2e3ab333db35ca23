//! The lobby client: a prompt, then every stdin line goes to the server as it
//! is and every line from the server is printed.
//!
//! At end of stdin the client closes its sending half and keeps printing
//! until the server closes, so `printf 'JOIN a\nLIST\n' | chat-client ...`
//! shows every reply.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::line::{Line, LineDecoder};

use crate::term;

/// Server lines longer than this are cut into pieces rather than buffered
/// without bound; the lobby server never sends one.
const MAX_SERVER_LINE: usize = 64 * 1024;

pub fn run(host: &str, port: u16) -> ExitCode {
    let stream = match term::connect(host, port) {
        Ok(stream) => stream,
        Err(code) => return code,
    };
    term::on_interrupt(|| term::exit_ok());
    term::say(format_args!("Enter JOIN followed by your username: "));

    if let Err(e) = term::spawn_with_clone(&stream, "printer", |socket| print_server_lines(socket))
    {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    let mut socket = &stream;
    for mut line in term::stdin_lines() {
        if line.is_empty() {
            continue;
        }
        line.push(b'\n');
        if socket.write_all(&line).is_err() {
            break;
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Prints every server line until the server closes, then ends the process.
fn print_server_lines(socket: TcpStream) -> ! {
    let lines = LineDecoder::new(MAX_SERVER_LINE);
    let Ok(()) = term::read_frames(&socket, lines, |line| match line {
        Line::Text(mut text) => {
            text.push(b'\n');
            term::say_bytes(&text);
        }
        Line::TooLong => log::warn!("skipped a server line over {MAX_SERVER_LINE} bytes"),
    });
    term::say(format_args!("Disconnected from server\n"));
    term::exit_ok()
}
