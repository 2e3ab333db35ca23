//! bridge: HTTP-like header blocks, for a rendezvous server and the
//! peer-to-peer chats it introduces.
//!
//! A message is a type line, `Name: value` header lines and an empty line,
//! every line ended by CR LF (a bare LF is accepted). One [`MessageDecoder`]
//! reads all six message types, whoever sends them; what a receiver does
//! with a type it does not expect (the server with a CHAT, say) is its own
//! business. Checking a REGISTER's values is here too ([`Contact::check`]),
//! because the reasons are part of the wire (`Status: rejected (<reason>)`).
//!
//! Receivers are lenient where the contract leaves room: header names match
//! without regard to ASCII case, one space after the colon is optional,
//! unknown headers are ignored, the first of repeated headers counts, a
//! missing header reads as an empty value, and empty lines between blocks
//! are skipped. What they cannot follow (a block over [`MAX_BLOCK`] bytes, a
//! line that is not UTF-8, a header line without a colon, an unknown type)
//! is an [`Error`], fatal for the stream. This module does not keep the
//! registry or know about pairing; the server does.

use std::fmt;
use std::net::IpAddr;

use crate::line::split_line;
use crate::name;
use crate::{Decoded, Decoder};

/// The most bytes one block may take, its closing empty line included. A
/// block still open past this is an [`Error::TooLarge`], so a peer that never
/// ends its block cannot make the receiver buffer without bound.
pub const MAX_BLOCK: usize = 64 * 1024;

/// The longest chat text a client sends in one CHAT: with the other header
/// lines it always fits in [`MAX_BLOCK`].
pub const MAX_TEXT: usize = 32 * 1024;

/// The `Status` of a REGACK that accepted the registration.
pub const REGISTERED: &str = "registered";

/// A client's contact as headers carry it: text, not yet checked. The empty
/// contact (all three empty) is the BRIDGEACK for "nobody to pair with".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub client_id: String,
    pub ip: String,
    pub port: String,
}

impl Contact {
    pub fn new(
        client_id: impl Into<String>,
        ip: impl Into<String>,
        port: impl Into<String>,
    ) -> Self {
        Contact {
            client_id: client_id.into(),
            ip: ip.into(),
            port: port.into(),
        }
    }

    /// Whether every value is empty (the empty BRIDGEACK).
    pub fn is_empty(&self) -> bool {
        self.client_id.is_empty() && self.ip.is_empty() && self.port.is_empty()
    }

    /// The contact in canonical form (the IP as Rust prints it, the port
    /// without leading zeros), or the first reason it cannot be registered,
    /// checking clientID, IP and Port in that order.
    pub fn check(&self) -> Result<Contact, Rejection> {
        if self.client_id.is_empty() {
            return Err(Rejection::MissingClientId);
        }
        if !name::BRIDGE.accepts(&self.client_id) {
            return Err(Rejection::BadClientId);
        }
        if self.ip.is_empty() {
            return Err(Rejection::MissingIp);
        }
        let ip: IpAddr = self.ip.parse().map_err(|_| Rejection::BadIp)?;
        if self.port.is_empty() {
            return Err(Rejection::MissingPort);
        }
        // `u16::from_str` takes a leading `+`; a port is digits only.
        let port = match self.port.bytes().all(|b| b.is_ascii_digit()) {
            true => self.port.parse::<u16>().ok().filter(|&p| p != 0),
            false => None,
        };
        let port = port.ok_or(Rejection::BadPort)?;
        Ok(Contact::new(
            self.client_id.clone(),
            ip.to_string(),
            port.to_string(),
        ))
    }
}

/// Why a REGISTER is refused; the REGACK says `Status: rejected (<reason>)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No clientID header, or an empty value.
    MissingClientId,
    /// A clientID that is not 1 to 32 ASCII letters and digits.
    BadClientId,
    /// No IP header, or an empty value.
    MissingIp,
    /// An IP that is not an IPv4 or IPv6 address.
    BadIp,
    /// No Port header, or an empty value.
    MissingPort,
    /// A Port that is not a number from 1 to 65535.
    BadPort,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::MissingClientId => "missing clientID",
            Rejection::BadClientId => "bad clientID",
            Rejection::MissingIp => "missing IP",
            Rejection::BadIp => "bad IP",
            Rejection::MissingPort => "missing Port",
            Rejection::BadPort => "bad Port",
        })
    }
}

/// One message of the dialect, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// REGISTER (client → server): the sender's contact.
    Register(Contact),
    /// REGACK (server → client): the contact as received, and `registered`
    /// or `rejected (<reason>)`.
    RegAck { contact: Contact, status: String },
    /// BRIDGE (client → server): who asks for a peer.
    Bridge { client_id: String },
    /// BRIDGEACK (server → client): the peer's contact, or the empty one.
    BridgeAck(Contact),
    /// The first CHAT (peer → peer): who is calling and where it listens.
    ChatStart(Contact),
    /// Every further CHAT (peer → peer): one line of chat. A CHAT is this
    /// one when it carries a Message header.
    ChatLine { client_id: String, message: String },
    /// QUIT (peer → peer): the chat is over.
    Quit,
}

impl Message {
    /// The type line's word, for logs and status lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Register(_) => "REGISTER",
            Message::RegAck { .. } => "REGACK",
            Message::Bridge { .. } => "BRIDGE",
            Message::BridgeAck(_) => "BRIDGEACK",
            Message::ChatStart(_) | Message::ChatLine { .. } => "CHAT",
            Message::Quit => "QUIT",
        }
    }

    /// Appends the block, CR LF line ends, headers in the contract's order.
    /// A value never holds an LF (values come from decoded lines or typed
    /// ones); should one slip in, it goes out as a space so that framing
    /// holds.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let contact = |c: &Contact| -> [(&'static str, String); 3] {
            [
                ("clientID", c.client_id.clone()),
                ("IP", c.ip.clone()),
                ("Port", c.port.clone()),
            ]
        };
        let headers: Vec<(&str, String)> = match self {
            Message::Register(c) | Message::BridgeAck(c) | Message::ChatStart(c) => {
                contact(c).into()
            }
            Message::RegAck { contact: c, status } => {
                let mut headers: Vec<_> = contact(c).into();
                headers.push(("Status", status.clone()));
                headers
            }
            Message::Bridge { client_id } => vec![("clientID", client_id.clone())],
            Message::ChatLine { client_id, message } => vec![
                ("clientID", client_id.clone()),
                ("Message", message.clone()),
            ],
            Message::Quit => Vec::new(),
        };
        out.extend_from_slice(self.kind().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(value.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A fault after which a bridge stream cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A block ran past [`MAX_BLOCK`] bytes without its closing empty line.
    TooLarge,
    /// A line is not UTF-8.
    NotUtf8,
    /// A header line has no colon.
    NoColon,
    /// The type line names none of the six types (the name, cut to 64 bytes).
    UnknownType(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge => write!(f, "message block over {MAX_BLOCK} bytes"),
            Error::NotUtf8 => f.write_str("line is not utf-8"),
            Error::NoColon => f.write_str("header line without a colon"),
            Error::UnknownType(kind) => write!(f, "unknown message type {kind:?}"),
        }
    }
}

impl std::error::Error for Error {}

/// The six type lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    RegAck,
    Bridge,
    BridgeAck,
    Chat,
    Quit,
}

impl Kind {
    fn parse(line: &str) -> Option<Kind> {
        Some(match line {
            "REGISTER" => Kind::Register,
            "REGACK" => Kind::RegAck,
            "BRIDGE" => Kind::Bridge,
            "BRIDGEACK" => Kind::BridgeAck,
            "CHAT" => Kind::Chat,
            "QUIT" => Kind::Quit,
            _ => return None,
        })
    }
}

/// The headers of the block being read; `None` until one arrives.
#[derive(Debug, Clone, Default)]
struct Headers {
    client_id: Option<String>,
    ip: Option<String>,
    port: Option<String>,
    status: Option<String>,
    message: Option<String>,
}

impl Headers {
    /// Records one header line; the first of repeated names counts.
    fn add(&mut self, line: &str) -> Result<(), Error> {
        let (name, value) = line.split_once(':').ok_or(Error::NoColon)?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        let slot = match name.to_ascii_lowercase().as_str() {
            "clientid" => &mut self.client_id,
            "ip" => &mut self.ip,
            "port" => &mut self.port,
            "status" => &mut self.status,
            "message" => &mut self.message,
            _ => return Ok(()),
        };
        slot.get_or_insert_with(|| value.to_owned());
        Ok(())
    }

    fn into_message(self, kind: Kind) -> Message {
        let text = |v: Option<String>| v.unwrap_or_default();
        let contact = Contact {
            client_id: text(self.client_id),
            ip: text(self.ip),
            port: text(self.port),
        };
        match kind {
            Kind::Register => Message::Register(contact),
            Kind::RegAck => Message::RegAck {
                contact,
                status: text(self.status),
            },
            Kind::Bridge => Message::Bridge {
                client_id: contact.client_id,
            },
            Kind::BridgeAck => Message::BridgeAck(contact),
            Kind::Chat => match self.message {
                Some(message) => Message::ChatLine {
                    client_id: contact.client_id,
                    message,
                },
                None => Message::ChatStart(contact),
            },
            Kind::Quit => Message::Quit,
        }
    }
}

/// Decodes a stream of bridge messages, whichever side it is read on.
///
/// The lines of a block already read are kept parsed between calls, and the
/// search for the next LF resumes where it stopped, so a block arriving a
/// byte at a time is scanned in linear time.
#[derive(Debug, Clone, Default)]
pub struct MessageDecoder {
    /// The type of the block being read, once its first line is in.
    kind: Option<Kind>,
    headers: Headers,
    /// Where the first line not yet parsed starts.
    line_start: usize,
    /// How many bytes from `line_start` hold no LF.
    scanned: usize,
}

impl MessageDecoder {
    fn reset(&mut self) {
        *self = MessageDecoder::default();
    }
}

impl Decoder for MessageDecoder {
    type Item = Message;
    type Error = Error;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Message>, Error> {
        loop {
            let rest = buf.get(self.line_start..).unwrap_or_default();
            let from = self.scanned.min(rest.len());
            if !rest[from..].contains(&b'\n') {
                if buf.len() > MAX_BLOCK {
                    return Err(Error::TooLarge);
                }
                self.scanned = rest.len();
                return Ok(Decoded::Incomplete);
            }
            let Some((line, used)) = split_line(rest) else {
                return Ok(Decoded::Incomplete);
            };
            let end = self.line_start + used;
            if end > MAX_BLOCK {
                return Err(Error::TooLarge);
            }
            let line = std::str::from_utf8(line).map_err(|_| Error::NotUtf8)?;
            self.line_start = end;
            self.scanned = 0;
            match self.kind {
                // Empty lines between blocks carry nothing.
                None if line.is_empty() => {
                    self.reset();
                    return Ok(Decoded::Skip(end));
                }
                None => {
                    let kind = Kind::parse(line).ok_or_else(|| {
                        let cut = line.char_indices().nth(64).map_or(line.len(), |(i, _)| i);
                        Error::UnknownType(line[..cut].to_owned())
                    })?;
                    self.kind = Some(kind);
                }
                Some(kind) if line.is_empty() => {
                    let headers = std::mem::take(&mut self.headers);
                    self.reset();
                    return Ok(Decoded::Item(headers.into_message(kind), end));
                }
                Some(_) => self.headers.add(line)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Message::*;

    fn contact(id: &str, ip: &str, port: &str) -> Contact {
        Contact::new(id, ip, port)
    }

    /// Decodes `input` fed in pieces of `step` bytes: the messages, and the
    /// error that ended the stream, if any.
    fn decode_all(input: &[u8], step: usize) -> (Vec<Message>, Option<Error>) {
        crate::buffer::decode_in_pieces(MessageDecoder::default(), input, step)
    }

    #[test]
    fn encode_table() {
        let alice = contact("Alice", "127.0.0.1", "5000");
        #[rustfmt::skip]
        let cases: Vec<(Message, &str)> = vec![
            (Register(alice.clone()),
             "REGISTER\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\n\r\n"),
            (RegAck { contact: alice.clone(), status: REGISTERED.into() },
             "REGACK\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\nStatus: registered\r\n\r\n"),
            (RegAck { contact: contact("Alice", "", "5000"), status: "rejected (missing IP)".into() },
             "REGACK\r\nclientID: Alice\r\nIP: \r\nPort: 5000\r\nStatus: rejected (missing IP)\r\n\r\n"),
            (Bridge { client_id: "Bob".into() }, "BRIDGE\r\nclientID: Bob\r\n\r\n"),
            (BridgeAck(alice.clone()),
             "BRIDGEACK\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\n\r\n"),
            (BridgeAck(Contact::default()), "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n"),
            (ChatStart(alice.clone()),
             "CHAT\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\n\r\n"),
            (ChatLine { client_id: "Alice".into(), message: " Hi: there ".into() },
             "CHAT\r\nclientID: Alice\r\nMessage:  Hi: there \r\n\r\n"),
            (ChatLine { client_id: "A".into(), message: "x\ny".into() },
             "CHAT\r\nclientID: A\r\nMessage: x y\r\n\r\n"),
            (Quit, "QUIT\r\n\r\n"),
        ];
        for (message, want) in cases {
            assert_eq!(String::from_utf8(message.to_bytes()).unwrap(), want);
            if !want.contains("x y") {
                let (back, err) = decode_all(want.as_bytes(), usize::MAX);
                assert_eq!((back, err), (vec![message], None), "round trip of {want:?}");
            }
        }
    }

    #[test]
    fn decode_table() {
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<Message>, Option<Error>)> = vec![
            ("", vec![], None),
            ("QUIT\r\n", vec![], None),
            ("QUIT\r\n\r\n", vec![Quit], None),
            ("QUIT\n\n", vec![Quit], None),
            ("\r\n\nQUIT\n\r\n\r\n", vec![Quit], None),
            ("REGISTER\nclientID: Al\nIP: ::1\nPort: 9\n\n",
             vec![Register(contact("Al", "::1", "9"))], None),
            ("REGISTER\r\nPort:9\r\nCLIENTID: Al\r\nX-Extra: y\r\nclientid: Other\r\n\r\n",
             vec![Register(contact("Al", "", "9"))], None),
            ("BRIDGE\r\n\r\n", vec![Bridge { client_id: "".into() }], None),
            ("BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n",
             vec![BridgeAck(Contact::default())], None),
            ("CHAT\r\nclientID: Bo\r\nMessage: a:b\r\r\n\r\n",
             vec![ChatLine { client_id: "Bo".into(), message: "a:b\r".into() }], None),
            ("CHAT\r\nclientID: Bo\r\nIP: 1.2.3.4\r\nPort: 7\r\n\r\n",
             vec![ChatStart(contact("Bo", "1.2.3.4", "7"))], None),
            ("REGACK\r\nStatus: registered\r\n\r\n",
             vec![RegAck { contact: Contact::default(), status: "registered".into() }], None),
            ("QUIT\r\n\r\nHELLO\r\n\r\n", vec![Quit], Some(Error::UnknownType("HELLO".into()))),
            ("quit\r\n\r\n", vec![], Some(Error::UnknownType("quit".into()))),
            ("BRIDGE\r\nclientID Al\r\n\r\n", vec![], Some(Error::NoColon)),
        ];
        for (input, messages, error) in cases {
            for step in [usize::MAX, 1, 2, 5] {
                assert_eq!(
                    decode_all(input.as_bytes(), step),
                    (messages.clone(), error.clone()),
                    "{input:?} in pieces of {step}"
                );
            }
        }
        let not_utf8 = b"BRIDGE\r\nclientID: \xff\r\n\r\n";
        assert_eq!(decode_all(not_utf8, 1), (vec![], Some(Error::NotUtf8)));
    }

    #[test]
    fn check_table() {
        use Rejection::*;
        let n33 = "a".repeat(33);
        #[rustfmt::skip]
        let cases: Vec<(Contact, Result<Contact, Rejection>)> = vec![
            (contact("Al", "127.0.0.1", "5000"), Ok(contact("Al", "127.0.0.1", "5000"))),
            (contact("Al", "0:0::1", "05000"), Ok(contact("Al", "::1", "5000"))),
            (contact("Al", "1.2.3.4", "65535"), Ok(contact("Al", "1.2.3.4", "65535"))),
            (contact("", "", ""), Err(MissingClientId)),
            (contact("A l", "", ""), Err(BadClientId)),
            (contact(&n33, "1.2.3.4", "1"), Err(BadClientId)),
            (contact("Al", "", "1"), Err(MissingIp)),
            (contact("Al", "localhost", "1"), Err(BadIp)),
            (contact("Al", "1.2.3", "1"), Err(BadIp)),
            (contact("Al", "1.2.3.4", ""), Err(MissingPort)),
            (contact("Al", "1.2.3.4", "0"), Err(BadPort)),
            (contact("Al", "1.2.3.4", "65536"), Err(BadPort)),
            (contact("Al", "1.2.3.4", "+80"), Err(BadPort)),
            (contact("Al", "1.2.3.4", " 80"), Err(BadPort)),
        ];
        for (input, want) in cases {
            assert_eq!(input.check(), want, "{input:?}");
        }
        assert_eq!(MissingIp.to_string(), "missing IP");
        assert_eq!(BadClientId.to_string(), "bad clientID");
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let input = b"REGISTER\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\n\r\n";
        for cut in 0..input.len() {
            let mut dec = MessageDecoder::default();
            assert_eq!(
                dec.decode(&input[..cut]).unwrap(),
                Decoded::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn stream_byte_at_a_time_equals_whole() {
        let mut input = Vec::new();
        let messages = vec![
            Register(contact("Alice", "127.0.0.1", "5000")),
            Bridge {
                client_id: "Alice".into(),
            },
            ChatStart(contact("Bob", "10.0.0.2", "6000")),
            ChatLine {
                client_id: "Bob".into(),
                message: "Hello Alice".into(),
            },
            Quit,
        ];
        for m in &messages {
            m.encode(&mut input);
            input.extend_from_slice(b"\r\n");
        }
        let whole = decode_all(&input, input.len());
        assert_eq!(whole, (messages, None));
        for step in [1, 2, 3, 7, 64] {
            assert_eq!(decode_all(&input, step), whole, "step {step}");
        }
    }

    #[test]
    fn block_size_is_bounded() {
        let text = |n: usize| "x".repeat(n);
        // "CHAT\r\n" + "Message: " + text + "\r\n" + "\r\n" is 19 bytes more.
        let fits = format!("CHAT\r\nMessage: {}\r\n\r\n", text(MAX_BLOCK - 19));
        assert_eq!(fits.len(), MAX_BLOCK);
        let (got, err) = decode_all(fits.as_bytes(), 4096);
        assert_eq!((got.len(), err), (1, None));
        let over = format!("CHAT\r\nMessage: {}\r\n\r\n", text(MAX_BLOCK - 18));
        assert_eq!(decode_all(over.as_bytes(), 4096).1, Some(Error::TooLarge));
        // A block that never ends fails as soon as it passes the bound.
        let endless = format!("CHAT\r\nMessage: {}", text(MAX_BLOCK));
        assert_eq!(
            decode_all(endless.as_bytes(), 1000).1,
            Some(Error::TooLarge)
        );
        let mut dec = MessageDecoder::default();
        assert_eq!(
            dec.decode(endless.as_bytes()[..MAX_BLOCK].as_ref()),
            Ok(Decoded::Incomplete)
        );
        assert_eq!(dec.decode(endless.as_bytes()), Err(Error::TooLarge));
        // The longest chat text a client sends fits.
        let line = ChatLine {
            client_id: "a".repeat(32),
            message: text(MAX_TEXT),
        };
        assert!(line.to_bytes().len() <= MAX_BLOCK);
    }
}
