//! The direct client: the handout's five commands on stdin, binary frames on
//! the wire, and the server's frames printed whenever they arrive.
//!
//! The main thread reads commands and sends frames; a printer thread prints
//! every server frame as it comes (so a message from another user shows up
//! while this user is typing). A command the handout calls an error prints
//! its error and sends nothing. There is no prompt. At end of stdin the
//! client closes its sending half and keeps printing until the server
//! closes; it does not check that every request got its reply.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

use chat_protocol::direct::{Outcome, Reply, ReplyDecoder, Request, MAX_TEXT};
use chat_protocol::name;

use crate::term;

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

pub fn run(host: &str, port: u16) -> ExitCode {
    let stream = match term::connect(host, port) {
        Ok(stream) => stream,
        Err(code) => return code,
    };
    term::on_interrupt(|| term::exit_ok());

    if let Err(e) = term::spawn_with_clone(&stream, "printer", |socket| print_server_frames(socket))
    {
        log::error!("cannot read from the server: {e}");
        return ExitCode::from(1);
    }

    let mut socket = &stream;
    for line in term::stdin_lines() {
        let line = String::from_utf8_lossy(&line);
        match parse(&line) {
            Ok(None) => {}
            Ok(Some(Command::Send(request))) => {
                if socket.write_all(&request.to_bytes()).is_err() {
                    break;
                }
            }
            Ok(Some(Command::Exit)) => {
                let _ = stream.shutdown(Shutdown::Both);
                term::exit_ok();
            }
            Err(refusal) => term::say(format_args!("{}\n", refusal.message())),
        }
    }
    // End of stdin: let the server finish answering, then it closes.
    let _ = stream.shutdown(Shutdown::Write);
    loop {
        thread::park();
    }
}

/// Prints every server frame until the server closes, then ends the process.
fn print_server_frames(socket: TcpStream) -> ! {
    let read = term::read_frames(&socket, ReplyDecoder, |frame| match frame {
        Ok(reply) => term::say_bytes(&show(&reply)),
        Err(error) => log::warn!("skipped a frame from the server: {error}"),
    });
    if let Err(error) = read {
        log::error!("cannot follow the server any more: {error}");
    }
    term::exit_ok()
}

/// The lines a server frame prints as.
fn show(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    match reply {
        Reply::Response(Outcome::Ok) => out.extend_from_slice(b"Success\n"),
        Reply::Response(Outcome::Failure) => out.extend_from_slice(b"Failure\n"),
        Reply::Response(Outcome::Malformed) => out.extend_from_slice(b"Malformed packet\n"),
        Reply::List(names) => {
            for name in names {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
        }
        Reply::SendTo { from, text } => {
            let _ = writeln!(out, "{from}: {text}");
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
        ];
        for (reply, want) in cases {
            assert_eq!(String::from_utf8(show(&reply)).unwrap(), want);
        }
    }
}
