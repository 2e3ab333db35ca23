//! lobby: one text line per request, one or more text lines per reply.
//!
//! Requests are parsed here exactly as the contract's table reads; which row
//! applies also depends on whether the sender is registered, and that is the
//! server's state, so a request the table treats differently for registered
//! and unregistered senders decodes to its own variant ([`Request::BadService`]).

use crate::line::{Line, LineDecoder};
use crate::name;
use crate::{Decoded, Decoder, Never};

/// The longest request line, in bytes before the LF (a CR before it excluded).
pub const MAX_LINE: usize = 4096;

/// One client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `JOIN` or `JOIN <...>`: the name when exactly one valid name follows.
    Join(Option<String>),
    /// `LIST`.
    List,
    /// `MESG <to> <text>`.
    Mesg { to: String, text: String },
    /// `BCST <text>`.
    Bcst { text: String },
    /// `QUIT`.
    Quit,
    /// `LIST`, `MESG` or `BCST` with the wrong words after it: unknown to a
    /// registered user, "unregistered" to anyone else.
    BadService,
    /// Anything else, including lines that are not UTF-8.
    Unknown,
    /// A line over [`MAX_LINE`] bytes.
    TooLong,
}

impl Request {
    /// Parses one line (without its line end). `None` for a blank line, which
    /// the protocol ignores.
    pub fn parse(line: &[u8]) -> Option<Request> {
        if line.is_empty() {
            return None;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return Some(Request::Unknown);
        };
        let (verb, rest) = match line.split_once(' ') {
            Some((verb, rest)) => (verb, Some(rest)),
            None => (line, None),
        };
        Some(match (verb, rest) {
            ("JOIN", None) => Request::Join(None),
            ("JOIN", Some(name)) => {
                Request::Join(name::LOBBY.accepts(name).then(|| name.to_owned()))
            }
            ("LIST", None) => Request::List,
            ("QUIT", None) => Request::Quit,
            ("MESG", Some(rest)) => match rest.split_once(' ') {
                Some((to, text)) if !to.is_empty() && !text.is_empty() => Request::Mesg {
                    to: to.to_owned(),
                    text: text.to_owned(),
                },
                _ => Request::BadService,
            },
            ("BCST", Some(text)) if !text.is_empty() => Request::Bcst {
                text: text.to_owned(),
            },
            ("LIST" | "MESG" | "BCST", _) => Request::BadService,
            _ => Request::Unknown,
        })
    }
}

/// Decodes a client's byte stream into [`Request`]s.
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    lines: LineDecoder,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        RequestDecoder {
            lines: LineDecoder::new(MAX_LINE),
        }
    }
}

impl Decoder for RequestDecoder {
    type Item = Request;
    type Error = Never;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Request>, Never> {
        Ok(requests(self.lines.decode(buf)?))
    }

    fn idle(&mut self, buf: &[u8]) -> Decoded<Request> {
        requests(self.lines.idle(buf))
    }
}

/// The request a framed line makes (a blank line makes none).
fn requests(line: Decoded<Line>) -> Decoded<Request> {
    match line {
        Decoded::Item(Line::TooLong, used) => Decoded::Item(Request::TooLong, used),
        Decoded::Item(Line::Text(line), used) => match Request::parse(&line) {
            Some(request) => Decoded::Item(request, used),
            None => Decoded::Skip(used),
        },
        Decoded::Skip(used) => Decoded::Skip(used),
        Decoded::Incomplete => Decoded::Incomplete,
    }
}

/// One server reply line (the LIST reply, several lines, is [`encode_list`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// To a JOIN from a registered user: `Already Registered as <own name>`.
    AlreadyRegistered(&'a str),
    /// `Invalid Username`.
    InvalidUsername,
    /// `Too Many Users`; the server then closes the connection.
    TooManyUsers,
    /// `Username Taken`.
    UsernameTaken,
    /// `<name> joined!`, to the joiner and to the others.
    Joined(&'a str),
    /// `<from>: <text>`: a relayed MESG or BCST.
    Relay { from: &'a str, text: &'a str },
    /// `<name> is sending a broadcast`, to the broadcaster.
    Broadcasting(&'a str),
    /// `<name> is quitting the chat server`, to the quitter.
    Quitting(&'a str),
    /// `<name> left`, to the others.
    Left(&'a str),
    /// `Goodbye`, to an unregistered QUIT.
    Goodbye,
    /// `Unregistered User. Use JOIN <username> to register.`
    Unregistered,
    /// `Unknown Recipient`.
    UnknownRecipient,
    /// `Unknown Message`.
    UnknownMessage,
    /// `Message Too Long`.
    TooLong,
    /// `Server Shutting Down`, to every connection at shutdown.
    ShuttingDown,
}

impl Reply<'_> {
    /// Appends the reply and its LF to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let parts: [&str; 3] = match *self {
            Reply::AlreadyRegistered(name) => ["Already Registered as ", name, ""],
            Reply::InvalidUsername => ["Invalid Username", "", ""],
            Reply::TooManyUsers => ["Too Many Users", "", ""],
            Reply::UsernameTaken => ["Username Taken", "", ""],
            Reply::Joined(name) => [name, " joined!", ""],
            Reply::Relay { from, text } => [from, ": ", text],
            Reply::Broadcasting(name) => [name, " is sending a broadcast", ""],
            Reply::Quitting(name) => [name, " is quitting the chat server", ""],
            Reply::Left(name) => [name, " left", ""],
            Reply::Goodbye => ["Goodbye", "", ""],
            Reply::Unregistered => [
                "Unregistered User. Use JOIN <username> to register.",
                "",
                "",
            ],
            Reply::UnknownRecipient => ["Unknown Recipient", "", ""],
            Reply::UnknownMessage => ["Unknown Message", "", ""],
            Reply::TooLong => ["Message Too Long", "", ""],
            Reply::ShuttingDown => ["Server Shutting Down", "", ""],
        };
        for part in parts {
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'\n');
    }

    /// The reply as bytes, LF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Appends the LIST reply: one line per name, in the order given.
pub fn encode_list<'a>(names: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    for name in names {
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Request::*;

    #[test]
    fn a_command_sent_without_a_line_end_is_ended_by_a_pause() {
        let mut frames = crate::FrameBuffer::new(RequestDecoder::default());
        frames.extend(b"JOIN Alice");
        assert_eq!(frames.next_item().unwrap(), None);
        assert_eq!(frames.idle(), Some(Join(Some("Alice".into()))));
        assert_eq!(frames.idle(), None);
        frames.extend(b"LIST\r");
        assert_eq!(frames.next_item().unwrap(), None);
        assert_eq!(frames.idle(), Some(List));
        // A blank pending line is no request.
        frames.extend(b"\r");
        assert_eq!(frames.idle(), None);
        assert!(frames.pending().is_empty());
    }

    fn mesg(to: &str, text: &str) -> Request {
        Mesg {
            to: to.into(),
            text: text.into(),
        }
    }

    #[test]
    fn parse_table() {
        let n33 = format!("JOIN {}", "a".repeat(33));
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Option<Request>)> = vec![
            (b"", None),
            (b"JOIN Alice", Some(Join(Some("Alice".into())))),
            (b"JOIN", Some(Join(None))),
            (b"JOIN ", Some(Join(None))),
            (b"JOIN  Alice", Some(Join(None))),
            (b"JOIN Alice ", Some(Join(None))),
            (b"JOIN Alice Bob", Some(Join(None))),
            (b"JOIN Al_ice", Some(Join(None))),
            (n33.as_bytes(), Some(Join(None))),
            (b"JOINAlice", Some(Unknown)),
            (b"join Alice", Some(Unknown)),
            (b"LIST", Some(List)),
            (b"LIST ", Some(BadService)),
            (b"LIST all", Some(BadService)),
            (b"LISTS", Some(Unknown)),
            (b"list", Some(Unknown)),
            (b"MESG Bob How are you?", Some(mesg("Bob", "How are you?"))),
            (b"MESG Bob  two spaces ", Some(mesg("Bob", " two spaces "))),
            (b"MESG Bob", Some(BadService)),
            (b"MESG Bob ", Some(BadService)),
            (b"MESG ", Some(BadService)),
            (b"MESG", Some(BadService)),
            (b"MESG  Bob hi", Some(BadService)),
            (b"BCST Hello", Some(Bcst { text: "Hello".into() })),
            (b"BCST  Hello ", Some(Bcst { text: " Hello ".into() })),
            (b"BCST", Some(BadService)),
            (b"BCST ", Some(BadService)),
            (b"QUIT", Some(Quit)),
            (b"QUIT ", Some(Unknown)),
            (b"QUIT now", Some(Unknown)),
            (b"HELLO", Some(Unknown)),
            (b" JOIN Alice", Some(Unknown)),
            (b"BCST \xff", Some(Unknown)),
            (b"\xc3", Some(Unknown)),
            (b"BCST caf\xc3\xa9", Some(Bcst { text: "café".into() })),
        ];
        for (line, want) in cases {
            assert_eq!(
                Request::parse(line),
                want,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn reply_table() {
        #[rustfmt::skip]
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::AlreadyRegistered("Al"), "Already Registered as Al\n"),
            (Reply::InvalidUsername, "Invalid Username\n"),
            (Reply::TooManyUsers, "Too Many Users\n"),
            (Reply::UsernameTaken, "Username Taken\n"),
            (Reply::Joined("Al"), "Al joined!\n"),
            (Reply::Relay { from: "Al", text: "hi there" }, "Al: hi there\n"),
            (Reply::Broadcasting("Al"), "Al is sending a broadcast\n"),
            (Reply::Quitting("Al"), "Al is quitting the chat server\n"),
            (Reply::Left("Al"), "Al left\n"),
            (Reply::Goodbye, "Goodbye\n"),
            (Reply::Unregistered, "Unregistered User. Use JOIN <username> to register.\n"),
            (Reply::UnknownRecipient, "Unknown Recipient\n"),
            (Reply::UnknownMessage, "Unknown Message\n"),
            (Reply::TooLong, "Message Too Long\n"),
            (Reply::ShuttingDown, "Server Shutting Down\n"),
        ];
        for (reply, want) in cases {
            assert_eq!(String::from_utf8(reply.to_bytes()).unwrap(), want);
        }
        let mut out = Vec::new();
        encode_list(["Alice", "Bob"], &mut out);
        assert_eq!(out, b"Alice\nBob\n");
    }

    fn decode_all(input: &[u8], step: usize) -> Vec<Request> {
        crate::buffer::decode_in_pieces(RequestDecoder::default(), input, step).0
    }

    #[test]
    fn stream_byte_at_a_time_equals_whole() {
        let mut input = b"JOIN Alice\r\n\nLIST\nMESG Bob hi\n\r\nBCST x\n".to_vec();
        input.extend(vec![b'y'; MAX_LINE + 10]);
        input.extend(b"\nQUIT\n");
        let whole = decode_all(&input, input.len());
        assert_eq!(
            whole,
            vec![
                Join(Some("Alice".into())),
                List,
                mesg("Bob", "hi"),
                Bcst { text: "x".into() },
                TooLong,
                Quit
            ]
        );
        for step in [1, 2, 5, 4096, 4097] {
            assert_eq!(decode_all(&input, step), whole, "step {step}");
        }
    }

    #[test]
    fn line_limit_is_exact() {
        let ok = format!("BCST {}\r\n", "z".repeat(MAX_LINE - 5));
        assert!(matches!(decode_all(ok.as_bytes(), 1)[..], [Bcst { .. }]));
        let over = format!("BCST {}\n", "z".repeat(MAX_LINE - 4));
        assert_eq!(decode_all(over.as_bytes(), 1), vec![TooLong]);
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let input = b"MESG Bob hello\r\n";
        for cut in 0..input.len() {
            let mut dec = RequestDecoder::default();
            assert_eq!(
                dec.decode(&input[..cut]).unwrap(),
                Decoded::Incomplete,
                "cut {cut}"
            );
        }
    }
}
