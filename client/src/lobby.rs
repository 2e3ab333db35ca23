//! The lobby client: a prompt, then every stdin line goes to the server as it
//! is and every line from the server is printed.
//!
//! At end of stdin the client closes its sending half and keeps printing
//! until the server closes, so `printf 'JOIN a\nLIST\n' | chat-client ...`
//! shows every reply.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::line::{Line, LineDecoder};
use chat_protocol::FrameBuffer;

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

    let printer = match stream.try_clone() {
        Ok(socket) => thread::Builder::new()
            .name("printer".into())
            .spawn(move || print_server_lines(socket)),
        Err(e) => Err(e),
    };
    if let Err(e) = printer {
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
fn print_server_lines(mut socket: TcpStream) -> ! {
    let mut frames = FrameBuffer::new(LineDecoder::new(MAX_SERVER_LINE));
    loop {
        match socket.read(frames.space()) {
            Ok(0) | Err(_) => break,
            Ok(n) => frames.filled(n),
        }
        while let Ok(Some(line)) = frames.next_item() {
            match line {
                Line::Text(mut text) => {
                    text.push(b'\n');
                    term::say_bytes(&text);
                }
                Line::TooLong => log::warn!("skipped a server line over {MAX_SERVER_LINE} bytes"),
            }
        }
    }
    term::say(format_args!("Disconnected from server\n"));
    term::exit_ok()
}
