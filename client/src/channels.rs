//! The channels client: sends its name, then every stdin line as records,
//! and prints every record from the server over the `[Me] ` prompt.
//!
//! The prompt is printed before a typed line is sent, so a reply to that
//! line always comes after it: the output of a piped session is the same on
//! every run. At end of stdin the client closes its sending half and keeps
//! printing until the server closes. It does not check the name itself: the
//! server's answer to a bad one is the error the user sees.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::channels::{self, RecordDecoder, PROMPT, WIPE};

use crate::term;

pub fn run(name: &str, host: &str, port: u16) -> ExitCode {
    let stream = match term::connect(host, port) {
        Ok(stream) => stream,
        Err(code) => return code,
    };
    term::on_interrupt(|| term::exit_ok());

    let mut hello = Vec::new();
    channels::encode(name, &mut hello);
    if hello.is_empty() {
        // A blank name still makes a first record, so the server answers it.
        channels::encode_record("", &mut hello);
    }
    let mut socket = &stream;
    if socket.write_all(&hello).is_err() {
        return disconnected(host, port);
    }
    term::say(format_args!("{PROMPT}"));

    let server = host.to_owned();
    let printer = move |socket| print_server_records(socket, &server, port);
    if let Err(e) = term::spawn_with_clone(&stream, "printer", printer) {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    for line in term::stdin_lines() {
        term::say(format_args!("{PROMPT}"));
        let mut records = Vec::new();
        channels::encode(&String::from_utf8_lossy(&line), &mut records);
        if !records.is_empty() && socket.write_all(&records).is_err() {
            break;
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Prints every record over the prompt until the server closes, then ends
/// the process.
fn print_server_records(socket: TcpStream, host: &str, port: u16) -> ! {
    let Ok(()) = term::read_frames(&socket, RecordDecoder, |text| {
        term::say(format_args!("{WIPE}{text}\n{PROMPT}"));
    });
    disconnected(host, port);
    term::exit_ok()
}

/// Tells the user the server is gone (over the prompt, like a record).
fn disconnected(host: &str, port: u16) -> ExitCode {
    let notice = channels::server_disconnected(host, port);
    term::say(format_args!("{WIPE}{notice}\n"));
    ExitCode::SUCCESS
}
