//! The channels client: sends its name, then every stdin line as records,
//! and prints every record from the server.
//!
//! Through a pipe the output is the handout's: each record overwrites the
//! `[Me] ` prompt (`WIPE`), and the prompt is printed again after it; the
//! prompt is printed before a typed line is sent, so a reply to that line
//! always comes after it and a piped session prints the same on every run.
//! In a terminal the editor shows `[Me] ` and records are printed above the
//! line being edited, so nothing typed is wiped.
//!
//! A received record's trailing whitespace is stripped as Python's
//! `str.rstrip()` does (space, TAB, LF, VT, FF, CR): course clients that
//! read lines with `readline()` send `Hi!\n` padded, and every course
//! client shows `[Kay] Hi!`. At end of stdin the client closes its sending
//! half and keeps printing until the server closes. It does not check the
//! name itself: the server's answer to a bad one is the error the user sees.

use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::channels::{self, RecordDecoder, PROMPT, WIPE};
use chat_protocol::safe;

use crate::console::{Console, Printer};
use crate::term;
use crate::trace::{Dir, Trace};

/// A received record's text as the user sees it: stripped as Python does
/// (the decoder has done so already; this says it where it is printed),
/// then made terminal-safe.
fn shown(text: &str) -> String {
    safe::escape_str(channels::strip(text))
}

pub fn run(name: &str, host: &str, port: u16, trace: bool) -> ExitCode {
    let stream = match term::connect(host, port) {
        Ok(stream) => stream,
        Err(code) => return code,
    };
    let mut console = Console::new();
    let printer = console.printer();
    term::on_interrupt(|| term::exit_ok());
    let terminal = console.is_terminal();
    let mut sent = Trace::new(&printer, Dir::Sent, trace);

    let mut hello = Vec::new();
    channels::encode(name, &mut hello);
    if hello.is_empty() {
        // A blank name still makes a first record, so the server answers it.
        channels::encode_record("", &mut hello);
    }
    sent.records(&hello);
    if !term::send(&stream, &hello, &printer) {
        printer.print(disconnected(host, port, terminal));
        printer.exit(0);
    }
    if !terminal {
        printer.print(PROMPT);
    }

    let server = host.to_owned();
    let reader = {
        let printer = printer.clone();
        move |socket| print_server_records(socket, &printer, &server, port, trace)
    };
    if let Err(e) = term::spawn_with_clone(&stream, "printer", reader) {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    let prompt = if terminal { PROMPT } else { "" };
    while let Some(line) = console.read_line(prompt) {
        if !terminal {
            printer.print(PROMPT);
        }
        let mut records = Vec::new();
        channels::encode(&String::from_utf8_lossy(&line), &mut records);
        sent.records(&records);
        if !records.is_empty() && !term::send(&stream, &records, &printer) {
            break;
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Prints every record until the server closes, then ends the process.
fn print_server_records(socket: TcpStream, printer: &Printer, host: &str, port: u16, trace: bool) {
    let terminal = printer.is_terminal();
    let mut received = Trace::new(printer, Dir::Received, trace);
    let Ok(()) = term::read_frames_seen(
        &socket,
        RecordDecoder,
        |bytes| received.records(bytes),
        |text| {
            let text = shown(&text);
            if terminal {
                printer.print(format!("{text}\n"));
            } else {
                printer.print(format!("{WIPE}{text}\n{PROMPT}"));
            }
        },
    );
    printer.print(disconnected(host, port, terminal));
    printer.exit(0)
}

/// Tells the user the server is gone (through a pipe: over the prompt,
/// like a record).
fn disconnected(host: &str, port: u16, terminal: bool) -> String {
    let notice = channels::server_disconnected(host, port);
    if terminal {
        format!("{notice}\n")
    } else {
        format!("{WIPE}{notice}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_text_is_stripped_as_python_does_and_made_safe() {
        #[rustfmt::skip]
        let cases = [
            ("[Kay] Hi!", "[Kay] Hi!"),
            ("[Kay] Hi!\n", "[Kay] Hi!"),
            ("[Kay] Hi! \t\n\x0b\x0c\r  ", "[Kay] Hi!"),
            ("  lead stays", "  lead stays"),
            ("a\nb", "a\nb"),
            ("[Eve] \x1b]0;pwned\x07\x1b[2J", "[Eve] ^[]0;pwned^G^[[2J"),
            ("nbsp\u{a0}", "nbsp\u{a0}"),
        ];
        for (text, want) in cases {
            assert_eq!(shown(text), want, "{text:?}");
        }
    }
}
