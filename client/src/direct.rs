//! The direct client: the handout's five commands on stdin, binary frames on
//! the wire, and the server's frames printed whenever they arrive.
//!
//! The main thread reads commands and sends frames; a printer thread prints
//! every server frame as it comes (so a message from another user shows up
//! while this user is typing). A command the handout calls an error prints
//! its error and sends nothing. There is no prompt. At end of stdin the
//! client closes its sending half and keeps printing until the server
//! closes; it does not check that every request got its reply.

use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::direct::{Outcome, Reply, ReplyDecoder, Request, MAX_TEXT};
use chat_protocol::{name, safe};

use crate::console::{Console, Printer};
use crate::term;
use crate::trace::{Dir, Trace};

/// What one stdin line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    /// Send this frame.
    Send(Request),
    /// `exit`: close and end.
    Exit,
}

/// A command refused on the client's side, before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadUsername,
    BadMessage,
    InvalidCommand,
}

impl Refusal {
    /// The handout's error line, word for word.
    fn message(self) -> &'static str {
        match self {
            Refusal::BadUsername => "Bad username",
            Refusal::BadMessage => "Bad message",
            Refusal::InvalidCommand => "Invalid command",
        }
    }
}

/// Parses one stdin line; `Ok(None)` for a blank line, which is ignored.
///
/// Words are separated by whitespace, as the handout's Python demo splits
/// them, so `list ` and `login  John` are fine. A sendto's text is the rest
/// of the line after the one whitespace character that follows the name,
/// kept exactly as typed.
fn parse(line: &str) -> Result<Option<Command>, Refusal> {
    let line = line.trim_start();
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let no_args = |request: Command| {
        if rest.trim().is_empty() {
            Ok(Some(request))
        } else {
            Err(Refusal::InvalidCommand)
        }
    };
    match cmd {
        "" => Ok(None),
        "login" => {
            let mut words = rest.split_whitespace();
            match (words.next(), words.next()) {
                (Some(name), None) if name::DIRECT.accepts(name) => {
                    Ok(Some(Command::Send(Request::Login(name.to_owned()))))
                }
                _ => Err(Refusal::BadUsername),
            }
        }
        "list" => no_args(Command::Send(Request::List)),
        "logout" => no_args(Command::Send(Request::Logout)),
        "exit" => no_args(Command::Exit),
        "sendto" => {
            let rest = rest.trim_start();
            let Some((to, text)) = rest.split_once(char::is_whitespace) else {
                return Err(Refusal::BadUsername);
            };
            if text.is_empty() || to.len() > name::DIRECT.max {
                return Err(Refusal::BadUsername);
            }
            if text.len() > MAX_TEXT {
                return Err(Refusal::BadMessage);
            }
            Ok(Some(Command::Send(Request::SendTo {
                to: to.to_owned(),
                text: text.to_owned(),
            })))
        }
        _ => Err(Refusal::InvalidCommand),
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

    let reader = {
        let printer = printer.clone();
        move |socket| print_server_frames(socket, &printer, trace)
    };
    if let Err(e) = term::spawn_with_clone(&stream, "printer", reader) {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    let mut sent = Trace::new(&printer, Dir::Sent, trace);
    while let Some(line) = console.read_line("") {
        let line = String::from_utf8_lossy(&line);
        match parse(&line) {
            Ok(None) => {}
            Ok(Some(Command::Send(request))) => {
                let frame = request.to_bytes();
                sent.frames(&frame);
                if !term::send(&stream, &frame, &printer) {
                    break;
                }
            }
            Ok(Some(Command::Exit)) => {
                let _ = stream.shutdown(Shutdown::Both);
                printer.exit(0);
            }
            Err(refusal) => printer.print(format!("{}\n", refusal.message())),
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Prints every server frame until the server closes, then says so on
/// stderr (stdout has no line for it in the contract, and a client that
/// vanished without a word looks like a hang) and ends the process.
fn print_server_frames(socket: TcpStream, printer: &Printer, trace: bool) {
    let mut received = Trace::new(printer, Dir::Received, trace);
    let read = term::read_frames_seen(
        &socket,
        ReplyDecoder,
        |bytes| received.frames(bytes),
        |frame| match frame {
            Ok(Reply::List(names)) if names.is_empty() => {
                printer.note("list: nobody is logged in");
            }
            Ok(reply) => printer.print(show(&reply)),
            Err(error) => printer.note(format!("skipped a frame from the server: {error}")),
        },
    );
    match read {
        Ok(()) => printer.note("The server closed the connection."),
        Err(error) => printer.note(format!("cannot follow the server any more: {error}")),
    }
    printer.exit(0)
}

/// The lines a server frame prints as, network text made terminal-safe.
fn show(reply: &Reply) -> String {
    let mut out = String::new();
    match reply {
        Reply::Response(Outcome::Ok) => out.push_str("Success\n"),
        Reply::Response(Outcome::Failure) => out.push_str("Failure\n"),
        Reply::Response(Outcome::Malformed) => out.push_str("Malformed packet\n"),
        Reply::List(names) => {
            for name in names {
                out.push_str(&safe::escape_str(name));
                out.push('\n');
            }
        }
        Reply::SendTo { from, text } => {
            out.push_str(&safe::escape_str(&format!("{from}: {text}")));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(request: Request) -> Result<Option<Command>, Refusal> {
        Ok(Some(Command::Send(request)))
    }

    fn sendto(to: &str, text: &str) -> Result<Option<Command>, Refusal> {
        send(Request::SendTo {
            to: to.into(),
            text: text.into(),
        })
    }

    #[test]
    fn parse_table() {
        use Refusal::*;
        let n20 = "n".repeat(20);
        let n21 = "n".repeat(21);
        let max_text = "t".repeat(MAX_TEXT);
        let login20 = format!("login {n20}");
        let login21 = format!("login {n21}");
        let sendto20 = format!("sendto {n20} hi");
        let sendto21 = format!("sendto {n21} hi");
        let sendto_max = format!("sendto bob {max_text}");
        let sendto_over = format!("sendto bob {max_text}t");
        #[rustfmt::skip]
        let cases: Vec<(&str, Result<Option<Command>, Refusal>)> = vec![
            ("", Ok(None)),
            ("   ", Ok(None)),
            ("login John", send(Request::Login("John".into()))),
            ("login  John ", send(Request::Login("John".into()))),
            (&login20, send(Request::Login(n20.clone()))),
            ("login Zoë", send(Request::Login("Zoë".into()))),
            ("login", Err(BadUsername)),
            ("login ", Err(BadUsername)),
            ("login John Doe", Err(BadUsername)),
            (&login21, Err(BadUsername)),
            ("list", send(Request::List)),
            ("list ", send(Request::List)),
            ("list bob", Err(InvalidCommand)),
            ("logout", send(Request::Logout)),
            ("logout Joe", Err(InvalidCommand)),
            ("exit", Ok(Some(Command::Exit))),
            ("exit client", Err(InvalidCommand)),
            ("sendto John Hello, how are you?", sendto("John", "Hello, how are you?")),
            ("sendto bob  two spaces ", sendto("bob", " two spaces ")),
            (&sendto20, sendto(&n20, "hi")),
            (&sendto_max, sendto("bob", &max_text)),
            ("sendto JohnHello", Err(BadUsername)),
            ("sendto", Err(BadUsername)),
            ("sendto ", Err(BadUsername)),
            ("sendto bob ", Err(BadUsername)),
            (&sendto21, Err(BadUsername)),
            (&sendto_over, Err(BadMessage)),
            ("LIST", Err(InvalidCommand)),
            ("hello", Err(InvalidCommand)),
            ("loginJohn", Err(InvalidCommand)),
        ];
        for (line, want) in cases {
            let shown: String = line.chars().take(40).collect();
            assert_eq!(parse(line), want, "{shown:?}");
        }
    }

    #[test]
    fn frames_print_as_the_contract_says() {
        #[rustfmt::skip]
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::Response(Outcome::Ok), "Success\n"),
            (Reply::Response(Outcome::Failure), "Failure\n"),
            (Reply::Response(Outcome::Malformed), "Malformed packet\n"),
            (Reply::List(vec![]), ""),
            (Reply::List(vec!["Alice".into(), "Bob".into()]), "Alice\nBob\n"),
            (Reply::SendTo { from: "Bob".into(), text: "Hi how are you?".into() }, "Bob: Hi how are you?\n"),
            (Reply::SendTo { from: "E\x1bve".into(), text: "\x1b]0;pwned\x07".into() }, "E^[ve: ^[]0;pwned^G\n"),
            (Reply::List(vec!["\u{202e}evil".into()]), "<U+202E>evil\n"),
        ];
        for (reply, want) in cases {
            assert_eq!(show(&reply), want);
        }
    }
}
