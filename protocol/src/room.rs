//! room: every message, both ways, is a header block of `NAME: value` lines
//! ended by an empty line, then exactly PAYLOAD_LENGTH bytes of payload.
//!
//! Sending is strict ([`Message::encode`] writes all fourteen fields in the
//! contract's order); receiving is lenient ([`MessageDecoder`] takes the
//! fields in any order, a missing one as 0 or empty, and `NAME:` or
//! `NAME: `). Everything the contract calls malformed is a fatal
//! [`Malformed`] error, one variant per cause.
//!
//! Also here, because the server and the client both need them and they are
//! pure: the history entry format ([`encode_entry`], [`entry_text`],
//! [`attachment_text`]) and the attachment file-name rules ([`base_name`],
//! [`numbered`], [`free_name`]). Storing a file is I/O and stays with the
//! server and the client.

use std::fmt;
use std::path::Path;

use crate::line::split_line;
use crate::{Decoded, Decoder};

/// The longest header block, in bytes, its closing empty line included.
pub const MAX_HEADER: usize = 8192;

/// The longest chat text, in bytes: a server reads and drops the payload of
/// a longer one (and says so), keeping the connection.
pub const MAX_TEXT: u64 = 64 * 1024;

/// The most payload a server takes from a connection before it has asked to
/// join: texts and attachments are refused then, so more cannot be needed.
pub const MAX_BEFORE_JOIN: u64 = 64 * 1024;

/// The longest file whose text an attachment's history entry holds; a
/// longer one is recorded as `<user> sent <file> (<N> bytes)`.
pub const MAX_ENTRY_FILE: usize = 64 * 1024;

/// The fourteen header fields, in the order a sender writes them. The first
/// nine are the flags, in [`Kind`] order.
pub const FIELDS: [&str; 14] = [
    "REPORT_REQUEST_FLAG",
    "REPORT_RESPONSE_FLAG",
    "JOIN_REQUEST_FLAG",
    "JOIN_REJECT_FLAG",
    "JOIN_ACCEPT_FLAG",
    "NEW_USER_FLAG",
    "QUIT_REQUEST_FLAG",
    "QUIT_ACCEPT_FLAG",
    "ATTACHMENT_FLAG",
    "NUMBER",
    "USERNAME",
    "FILENAME",
    "PAYLOAD_LENGTH",
    "TIMESTAMP",
];

const NUMBER: usize = 9;
const USERNAME: usize = 10;
const FILENAME: usize = 11;
const PAYLOAD_LENGTH: usize = 12;
const TIMESTAMP: usize = 13;

/// What a message is: the one flag that is set, or none (a chat text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ReportRequest,
    ReportResponse,
    JoinRequest,
    JoinReject,
    JoinAccept,
    NewUser,
    QuitRequest,
    QuitAccept,
    Attachment,
    /// No flag set.
    Text,
}

impl Kind {
    /// Every kind but a text: the flagged kinds, in field order.
    pub const FLAGGED: [Kind; 9] = [
        Kind::ReportRequest,
        Kind::ReportResponse,
        Kind::JoinRequest,
        Kind::JoinReject,
        Kind::JoinAccept,
        Kind::NewUser,
        Kind::QuitRequest,
        Kind::QuitAccept,
        Kind::Attachment,
    ];

    /// The flag field that is 1 for this kind; `None` for a text.
    pub fn flag(self) -> Option<&'static str> {
        Kind::FLAGGED
            .iter()
            .position(|&k| k == self)
            .map(|i| FIELDS[i])
    }
}

/// One message, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// NUMBER: the active users in a report response, else 0.
    pub number: u64,
    pub username: String,
    pub filename: String,
    /// `HH:MM:SS` on what goes into the history, else empty.
    pub timestamp: String,
    /// Any bytes: attachments are binary.
    pub payload: Vec<u8>,
    /// The PAYLOAD_LENGTH of a text longer than [`MAX_TEXT`] that a
    /// server-side decoder read and dropped (the payload is then empty);
    /// 0 otherwise. Never encoded.
    pub dropped: u64,
}

impl Message {
    /// A message of `kind` with every other field 0 or empty.
    pub fn new(kind: Kind) -> Message {
        Message {
            kind,
            number: 0,
            username: String::new(),
            filename: String::new(),
            timestamp: String::new(),
            payload: Vec::new(),
            dropped: 0,
        }
    }

    /// A chat text from `username` (the server uses `Server` for its own).
    pub fn text(username: &str, payload: impl Into<Vec<u8>>) -> Message {
        Message::new(Kind::Text).user(username).payload(payload)
    }

    pub fn user(mut self, username: &str) -> Message {
        self.username = username.to_owned();
        self
    }

    pub fn file(mut self, filename: &str) -> Message {
        self.filename = filename.to_owned();
        self
    }

    pub fn at(mut self, timestamp: &str) -> Message {
        self.timestamp = timestamp.to_owned();
        self
    }

    pub fn number(mut self, number: u64) -> Message {
        self.number = number;
        self
    }

    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Message {
        self.payload = payload.into();
        self
    }

    /// Appends the message: all fourteen fields in order, the empty line,
    /// the payload. Text values must not hold a line end (usernames, stored
    /// file names and timestamps never do).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut field = |name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            if !value.is_empty() {
                out.push(b' ');
                out.extend_from_slice(value.as_bytes());
            }
            out.push(b'\n');
        };
        for (i, kind) in Kind::FLAGGED.iter().enumerate() {
            field(FIELDS[i], if *kind == self.kind { "1" } else { "0" });
        }
        field(FIELDS[NUMBER], &self.number.to_string());
        field(FIELDS[USERNAME], &self.username);
        field(FIELDS[FILENAME], &self.filename);
        field(FIELDS[PAYLOAD_LENGTH], &self.payload.len().to_string());
        field(FIELDS[TIMESTAMP], &self.timestamp);
        out.push(b'\n');
        out.extend_from_slice(&self.payload);
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(300 + self.payload.len());
        self.encode(&mut out);
        out
    }
}

/// Why a stream cannot be followed any further. The server sends
/// `Malformed message: <this>` and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The header block passed [`MAX_HEADER`] bytes before its empty line
    /// ended.
    HeaderTooLong,
    /// A header line that is not UTF-8.
    NotUtf8,
    /// A header line with no `:` after the field name.
    NoColon,
    /// A field name that is not one of the fourteen.
    UnknownField(String),
    /// A field given twice in one block.
    RepeatedField(&'static str),
    /// A flag that is neither `0` nor `1`.
    BadFlag(&'static str),
    /// NUMBER or PAYLOAD_LENGTH that is not a decimal number.
    BadNumber(&'static str),
    /// Two flags set in one message.
    TwoFlags(&'static str, &'static str),
    /// PAYLOAD_LENGTH over the receiver's limit.
    TooLarge { length: u64, max: u64 },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::HeaderTooLong => {
                write!(f, "header block longer than {MAX_HEADER} bytes")
            }
            Malformed::NotUtf8 => write!(f, "header line is not UTF-8"),
            Malformed::NoColon => write!(f, "header line without a colon"),
            Malformed::UnknownField(name) => write!(f, "unknown field {name}"),
            Malformed::RepeatedField(name) => write!(f, "repeated field {name}"),
            Malformed::BadFlag(name) => write!(f, "{name} is not 0 or 1"),
            Malformed::BadNumber(name) => write!(f, "{name} is not a number"),
            Malformed::TwoFlags(a, b) => write!(f, "both {a} and {b} are set"),
            Malformed::TooLarge { length, max } => write!(
                f,
                "payload length {length} is over the limit of {max} bytes"
            ),
        }
    }
}

impl std::error::Error for Malformed {}

/// Decodes a stream of messages, with payloads of at most `max_payload`
/// bytes.
///
/// It remembers the header lines already parsed, so an incomplete message is
/// not parsed again from the start; a header block is refused as soon as it
/// passes [`MAX_HEADER`], and a PAYLOAD_LENGTH over the limit as soon as its
/// line ends, before any payload arrives.
///
/// A server's decoder ([`MessageDecoder::server`]) adds the rules for what
/// clients send: until its owner says the client has joined
/// ([`set_joined`](MessageDecoder::set_joined)), a payload over
/// [`MAX_BEFORE_JOIN`] is [`Malformed::TooLarge`] (a connection that is not
/// in the room has no use for a large payload); and a text over [`MAX_TEXT`] comes out at
/// once with its length in [`Message::dropped`] and no payload, which is
/// then skipped as it arrives, never buffered.
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    max_payload: u64,
    /// Whether the server's rules for client input apply.
    server: bool,
    /// Whether the client has joined, as the owner last said: the decoder
    /// cannot know whether a JOIN_REQUEST was accepted.
    joined: bool,
    /// Payload bytes of a dropped text still to skip.
    discard: u64,
    /// Bytes of the current header block already parsed (whole lines).
    parsed: usize,
    /// The end of the header block, once its empty line is seen.
    header_end: Option<usize>,
    /// Which fields the block has given, by index into [`FIELDS`].
    seen: [bool; 14],
    /// The flag set so far, as an index into [`FIELDS`].
    flag: Option<usize>,
    length: u64,
    message: Message,
}

impl MessageDecoder {
    pub fn new(max_payload: u64) -> MessageDecoder {
        MessageDecoder {
            max_payload,
            server: false,
            joined: false,
            discard: 0,
            parsed: 0,
            header_end: None,
            seen: [false; 14],
            flag: None,
            length: 0,
            message: Message::new(Kind::Text),
        }
    }

    /// A server's decoder of what one client sends: attachments of at most
    /// `max_attachment` bytes, and the limits on texts and on payloads
    /// before joining.
    pub fn server(max_attachment: u64) -> MessageDecoder {
        MessageDecoder {
            server: true,
            ..MessageDecoder::new(max_attachment)
        }
    }

    /// Tells a server's decoder whether its client is in the room now: the
    /// limit on the payload of the next message follows (the message being
    /// decoded keeps the limit it was checked against). The server says so
    /// after each JOIN_REQUEST is answered, before the next message.
    pub fn set_joined(&mut self, joined: bool) {
        self.joined = joined;
    }

    /// The payload limit that applies now.
    fn limit(&self) -> u64 {
        if self.server && !self.joined {
            self.max_payload.min(MAX_BEFORE_JOIN)
        } else {
            self.max_payload
        }
    }

    /// Ready for the next message; what the stream has shown so far stays.
    fn next_message(&mut self) -> Message {
        let fresh = MessageDecoder {
            server: self.server,
            joined: self.joined,
            ..MessageDecoder::new(self.max_payload)
        };
        std::mem::replace(self, fresh).message
    }

    /// Takes one `NAME: value` line into the message being built.
    fn field(&mut self, line: &[u8]) -> Result<(), Malformed> {
        let line = std::str::from_utf8(line).map_err(|_| Malformed::NotUtf8)?;
        let (name, value) = line.split_once(':').ok_or(Malformed::NoColon)?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        let index = FIELDS
            .iter()
            .position(|&f| f == name)
            .ok_or_else(|| Malformed::UnknownField(name.to_owned()))?;
        let field = FIELDS[index];
        if std::mem::replace(&mut self.seen[index], true) {
            return Err(Malformed::RepeatedField(field));
        }
        match index {
            0..=8 => match value {
                "0" => {}
                "1" => match self.flag.replace(index) {
                    Some(first) => return Err(Malformed::TwoFlags(FIELDS[first], field)),
                    None => self.message.kind = Kind::FLAGGED[index],
                },
                _ => return Err(Malformed::BadFlag(field)),
            },
            NUMBER => self.message.number = number(value).ok_or(Malformed::BadNumber(field))?,
            PAYLOAD_LENGTH => {
                let length = number(value).ok_or(Malformed::BadNumber(field))?;
                let max = self.limit();
                if length > max {
                    return Err(Malformed::TooLarge { length, max });
                }
                self.length = length;
            }
            USERNAME => self.message.username = value.to_owned(),
            FILENAME => self.message.filename = value.to_owned(),
            _ => self.message.timestamp = value.to_owned(),
        }
        Ok(())
    }
}

/// A decimal number of ASCII digits only (`u64::from_str` also takes `+`).
fn number(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl Decoder for MessageDecoder {
    type Item = Message;
    type Error = Malformed;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Message>, Malformed> {
        if self.discard > 0 {
            if buf.is_empty() {
                return Ok(Decoded::Incomplete);
            }
            let n = usize::try_from(self.discard).map_or(buf.len(), |d| d.min(buf.len()));
            self.discard -= n as u64;
            return Ok(Decoded::Skip(n));
        }
        while self.header_end.is_none() {
            let rest = buf.get(self.parsed..).unwrap_or_default();
            let Some((line, used)) = split_line(rest) else {
                // The empty line can only end past the limit now.
                if buf.len() >= MAX_HEADER {
                    return Err(Malformed::HeaderTooLong);
                }
                return Ok(Decoded::Incomplete);
            };
            let end = self.parsed + used;
            if end > MAX_HEADER {
                return Err(Malformed::HeaderTooLong);
            }
            if line.is_empty() {
                self.header_end = Some(end);
            } else {
                self.field(line)?;
            }
            self.parsed = end;
        }
        let header_end = self.header_end.unwrap_or(self.parsed);
        if self.server && self.message.kind == Kind::Text && self.length > MAX_TEXT {
            let length = self.length;
            let mut message = self.next_message();
            message.dropped = length;
            self.discard = length;
            return Ok(Decoded::Item(message, header_end));
        }
        // The length was checked against `max_payload`, a usize-sized limit
        // in practice; saturate rather than wrap on a 32-bit target.
        let length = usize::try_from(self.length).unwrap_or(usize::MAX);
        let Some(payload) = buf.get(header_end..).and_then(|rest| rest.get(..length)) else {
            return Ok(Decoded::Incomplete);
        };
        let payload = payload.to_vec();
        let mut message = self.next_message();
        message.payload = payload;
        Ok(Decoded::Item(message, header_end + length))
    }
}

/// Appends one history entry: `[<time>] <username>: <text>` and an LF.
pub fn encode_entry(time: &str, username: &str, text: &[u8], out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(username.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// The text of a chat message or a UTF-8 file as an entry shows it: the
/// payload without one trailing LF, since the entry adds its own.
pub fn entry_text(payload: &[u8]) -> &[u8] {
    payload.strip_suffix(b"\n").unwrap_or(payload)
}

/// What an attachment's entry (and a client's screen) shows: the file's text
/// when it is UTF-8 and at most [`MAX_ENTRY_FILE`] bytes, else
/// `<username> sent <file> (<N> bytes)`.
pub fn attachment_text(username: &str, file: &str, bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= MAX_ENTRY_FILE => entry_text(text.as_bytes()).to_vec(),
        _ => format!("{username} sent {file} ({} bytes)", bytes.len()).into_bytes(),
    }
}

/// The name an attachment called `filename` is stored under, before
/// numbering: what follows the last `/` or `\`, without control characters;
/// `attachment` when that is empty or only dots, so no name can leave the
/// downloads folder.
pub fn base_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control()).collect();
    if name.chars().all(|c| c == '.') {
        "attachment".to_owned()
    } else {
        name
    }
}

/// `name` with the number `n` (2 or more) before its extension, split as
/// `Path::file_stem` and `Path::extension` split it: `a.tar.gz` becomes
/// `a.tar-2.gz`, `.bashrc` becomes `.bashrc-2`.
pub fn numbered(name: &str, n: u32) -> String {
    let path = Path::new(name);
    let stem = path.file_stem().map(|s| s.to_string_lossy());
    let stem = stem.as_deref().unwrap_or(name);
    match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    }
}

/// The first of `base_name(filename)`, then its `-2`, `-3`, ... versions
/// that `taken` says is free: the name to store an attachment under without
/// overwriting anything.
pub fn free_name(filename: &str, taken: impl FnMut(&str) -> bool) -> String {
    free_name_from(&base_name(filename), 1, taken).0
}

/// The first free name for `base` (a [`base_name`]) at or after number
/// `from` (1 is `base` itself, 2 its `-2` version, ...), and its number. A
/// caller that stores many files of one name remembers the number after
/// the last one it got and starts there, so each search probes once in the
/// common case instead of once per earlier file.
pub fn free_name_from(base: &str, from: u32, mut taken: impl FnMut(&str) -> bool) -> (String, u32) {
    let mut n = from.max(1);
    loop {
        let name = match n {
            1 => base.to_owned(),
            n => numbered(base, n),
        };
        if !taken(&name) {
            return (name, n);
        }
        // u32::MAX names of one base cannot all exist; wrap to probing from
        // the start rather than overflow.
        n = n.checked_add(1).unwrap_or(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL_JOIN: &str = "REPORT_REQUEST_FLAG: 0\nREPORT_RESPONSE_FLAG: 0\n\
        JOIN_REQUEST_FLAG: 1\nJOIN_REJECT_FLAG: 0\nJOIN_ACCEPT_FLAG: 0\n\
        NEW_USER_FLAG: 0\nQUIT_REQUEST_FLAG: 0\nQUIT_ACCEPT_FLAG: 0\n\
        ATTACHMENT_FLAG: 0\nNUMBER: 0\nUSERNAME: Fire\nFILENAME:\n\
        PAYLOAD_LENGTH: 0\nTIMESTAMP:\n\n";

    /// Decodes `input` fed in pieces of `step` bytes: the messages, and the
    /// error that stopped the stream if any.
    fn decode(input: &[u8], step: usize, max: u64) -> (Vec<Message>, Option<Malformed>) {
        crate::buffer::decode_in_pieces(MessageDecoder::new(max), input, step)
    }

    #[test]
    fn encode_writes_all_fourteen_fields_in_order() {
        let join = Message::new(Kind::JoinRequest).user("Fire");
        assert_eq!(String::from_utf8(join.to_bytes()).unwrap(), FULL_JOIN);
        let relay = Message::new(Kind::Attachment)
            .user("Cool")
            .file("a b.txt")
            .at("20:32:40")
            .payload(&b"\x00\xffhi\n"[..]);
        let want = "REPORT_REQUEST_FLAG: 0\nREPORT_RESPONSE_FLAG: 0\n\
            JOIN_REQUEST_FLAG: 0\nJOIN_REJECT_FLAG: 0\nJOIN_ACCEPT_FLAG: 0\n\
            NEW_USER_FLAG: 0\nQUIT_REQUEST_FLAG: 0\nQUIT_ACCEPT_FLAG: 0\n\
            ATTACHMENT_FLAG: 1\nNUMBER: 0\nUSERNAME: Cool\nFILENAME: a b.txt\n\
            PAYLOAD_LENGTH: 5\nTIMESTAMP: 20:32:40\n\n";
        let mut bytes = want.as_bytes().to_vec();
        bytes.extend_from_slice(b"\x00\xffhi\n");
        assert_eq!(relay.to_bytes(), bytes);
        let report = Message::new(Kind::ReportResponse).number(3);
        assert!(String::from_utf8(report.to_bytes())
            .unwrap()
            .contains("\nREPORT_RESPONSE_FLAG: 1\n"));
        assert!(String::from_utf8(report.to_bytes())
            .unwrap()
            .contains("\nNUMBER: 3\n"));
    }

    #[test]
    fn decode_table() {
        let big = vec![0xab; 70_000];
        let mut with_big = b"ATTACHMENT_FLAG: 1\nPAYLOAD_LENGTH: 70000\n\n".to_vec();
        with_big.extend_from_slice(&big);
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Vec<Message>)> = vec![
            (b"", vec![]),
            (FULL_JOIN.as_bytes(), vec![Message::new(Kind::JoinRequest).user("Fire")]),
            (b"REPORT_REQUEST_FLAG: 1\n\n", vec![Message::new(Kind::ReportRequest)]),
            (b"REPORT_REQUEST_FLAG: 1\r\n\r\n", vec![Message::new(Kind::ReportRequest)]),
            // Any order, `NAME:` and `NAME: ` and `NAME:value`.
            (b"PAYLOAD_LENGTH: 2\nUSERNAME:\nTIMESTAMP: \nFILENAME:x\n\nhi",
             vec![Message::text("", "hi").file("x")]),
            (b"USERNAME:  two\n\n", vec![Message::text(" two", "")]),
            (b"USERNAME: a:b\n\n", vec![Message::text("a:b", "")]),
            (b"\n", vec![Message::text("", "")]),
            (b"NUMBER: 007\nREPORT_RESPONSE_FLAG: 1\nJOIN_REQUEST_FLAG: 0\n\n",
             vec![Message::new(Kind::ReportResponse).number(7)]),
            // The payload is bytes: blank lines and header-like text included.
            (b"PAYLOAD_LENGTH: 7\n\n\n\nA: 1\nPAYLOAD_LENGTH: 0\n\n",
             vec![Message::text("", "\n\nA: 1\n"), Message::text("", "")]),
            (b"PAYLOAD_LENGTH: 3\n\n\xff\x00\r", vec![Message::text("", &b"\xff\x00\r"[..])]),
            (&with_big, vec![Message::new(Kind::Attachment).payload(big.clone())]),
            (b"QUIT_REQUEST_FLAG: 1\n\nQUIT_ACCEPT_FLAG: 1\nUSERNAME: Fun\n\n",
             vec![Message::new(Kind::QuitRequest), Message::new(Kind::QuitAccept).user("Fun")]),
        ];
        for (input, want) in cases {
            for step in [usize::MAX, 1, 2, 3, 7, 4096] {
                assert_eq!(
                    decode(input, step, 1 << 20),
                    (want.clone(), None),
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn every_malformation_is_its_own_error() {
        use Malformed::*;
        let long_line = format!("USERNAME: {}\n\n", "x".repeat(MAX_HEADER));
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Malformed)> = vec![
            (long_line.as_bytes(), HeaderTooLong),
            (b"USERNAME: \xff\n\n", NotUtf8),
            (b"hello\n\n", NoColon),
            (b"COLOR: red\n\n", UnknownField("COLOR".into())),
            (b"username: x\n\n", UnknownField("username".into())),
            (b"USERNAME : x\n\n", UnknownField("USERNAME ".into())),
            (b"NUMBER: 1\nNUMBER: 1\n\n", RepeatedField("NUMBER")),
            (b"TIMESTAMP:\nTIMESTAMP:\n\n", RepeatedField("TIMESTAMP")),
            (b"JOIN_REQUEST_FLAG: 2\n\n", BadFlag("JOIN_REQUEST_FLAG")),
            (b"JOIN_REQUEST_FLAG:\n\n", BadFlag("JOIN_REQUEST_FLAG")),
            (b"JOIN_REQUEST_FLAG: yes\n\n", BadFlag("JOIN_REQUEST_FLAG")),
            (b"JOIN_REQUEST_FLAG: 1 \n\n", BadFlag("JOIN_REQUEST_FLAG")),
            (b"NUMBER: -1\n\n", BadNumber("NUMBER")),
            (b"NUMBER: +1\n\n", BadNumber("NUMBER")),
            (b"NUMBER:\n\n", BadNumber("NUMBER")),
            (b"PAYLOAD_LENGTH: 1e3\n\n", BadNumber("PAYLOAD_LENGTH")),
            (b"PAYLOAD_LENGTH: 99999999999999999999999\n\n", BadNumber("PAYLOAD_LENGTH")),
            (b"JOIN_REQUEST_FLAG: 1\nQUIT_REQUEST_FLAG: 1\n\n",
             TwoFlags("JOIN_REQUEST_FLAG", "QUIT_REQUEST_FLAG")),
            (b"PAYLOAD_LENGTH: 1001\n\n", TooLarge { length: 1001, max: 1000 }),
        ];
        for (input, want) in cases {
            for step in [usize::MAX, 1, 5] {
                let (items, error) = decode(input, step, 1000);
                assert_eq!(items, vec![], "{:?}", String::from_utf8_lossy(input));
                assert_eq!(
                    error.as_ref(),
                    Some(&want),
                    "{:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        // A good message before the bad one still comes out.
        let (items, error) = decode(b"REPORT_REQUEST_FLAG: 1\n\nX: 1\n\n", 1, 1000);
        assert_eq!(items, vec![Message::new(Kind::ReportRequest)]);
        assert_eq!(error, Some(UnknownField("X".into())));
    }

    #[test]
    fn malformed_reads_as_a_reason() {
        let cases: Vec<(Malformed, &str)> = vec![
            (
                Malformed::HeaderTooLong,
                "header block longer than 8192 bytes",
            ),
            (Malformed::NotUtf8, "header line is not UTF-8"),
            (Malformed::NoColon, "header line without a colon"),
            (Malformed::UnknownField("X".into()), "unknown field X"),
            (Malformed::RepeatedField("NUMBER"), "repeated field NUMBER"),
            (
                Malformed::BadFlag("NEW_USER_FLAG"),
                "NEW_USER_FLAG is not 0 or 1",
            ),
            (Malformed::BadNumber("NUMBER"), "NUMBER is not a number"),
            (
                Malformed::TwoFlags("NEW_USER_FLAG", "ATTACHMENT_FLAG"),
                "both NEW_USER_FLAG and ATTACHMENT_FLAG are set",
            ),
            (
                Malformed::TooLarge { length: 9, max: 8 },
                "payload length 9 is over the limit of 8 bytes",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(error.to_string(), want);
        }
    }

    #[test]
    fn header_limit_is_exact_and_needs_no_more_bytes() {
        // A block of exactly MAX_HEADER bytes, its empty line included.
        let pad = MAX_HEADER - "USERNAME: \n\n".len();
        let exact = format!("USERNAME: {}\n\n", "u".repeat(pad));
        assert_eq!(exact.len(), MAX_HEADER);
        let (items, error) = decode(exact.as_bytes(), usize::MAX, 0);
        assert_eq!((items.len(), error), (1, None));
        let crlf = format!("USERNAME: {}\n\r\n", "u".repeat(pad));
        let (_, error) = decode(crlf.as_bytes(), usize::MAX, 0);
        assert_eq!(error, Some(Malformed::HeaderTooLong));
        // MAX_HEADER bytes with no end of block in them: refused at once.
        let mut dec = MessageDecoder::new(0);
        let open = vec![b'x'; MAX_HEADER - 1];
        assert_eq!(dec.decode(&open).unwrap(), Decoded::Incomplete);
        let open = vec![b'x'; MAX_HEADER];
        assert_eq!(dec.decode(&open), Err(Malformed::HeaderTooLong));
        // Many short lines count together, whole lines or not.
        let two = format!("USERNAME: {0}\nFILENAME: {0}\n\n", "v".repeat(5000));
        let (_, error) = decode(two.as_bytes(), usize::MAX, 0);
        assert_eq!(error, Some(Malformed::HeaderTooLong));
        let many = format!("\n{}", "x".repeat(MAX_HEADER));
        let (items, error) = decode(many.as_bytes(), 1, 0);
        assert_eq!((items.len(), error), (1, Some(Malformed::HeaderTooLong)));
    }

    #[test]
    fn server_rules_for_client_input() {
        let join = Message::new(Kind::JoinRequest).user("Fire").to_bytes();
        let report = Message::new(Kind::ReportRequest).to_bytes();
        let text = |n: usize| Message::text("", vec![b't'; n]).to_bytes();
        let file = |n: usize| Message::new(Kind::Attachment).payload(vec![b'f'; n]);
        let cat = |parts: &[&[u8]]| parts.concat();
        let dropped = |n: u64| Message {
            dropped: n,
            ..Message::text("", "")
        };
        let max = 1 << 20;
        #[rustfmt::skip]
        /// Joined, the input, the messages and the error it decodes to.
        type Case = (bool, Vec<u8>, Vec<Message>, Option<Malformed>);
        let cases: Vec<Case> = vec![
            // Before joining: at most 64 KiB of payload, whatever the kind.
            (
                false,
                text(65536),
                vec![Message::text("", vec![b't'; 65536])],
                None,
            ),
            (
                false,
                text(65537),
                vec![],
                Some(Malformed::TooLarge {
                    length: 65537,
                    max: 65536,
                }),
            ),
            (
                false,
                file(65537).to_bytes(),
                vec![],
                Some(Malformed::TooLarge {
                    length: 65537,
                    max: 65536,
                }),
            ),
            // A JOIN_REQUEST alone lifts nothing: only the server knows
            // whether it was accepted (a refused joiner stays at 64 KiB).
            (
                false,
                cat(&[&join, &file(70_000).to_bytes()]),
                vec![Message::new(Kind::JoinRequest).user("Fire")],
                Some(Malformed::TooLarge {
                    length: 70_000,
                    max: 65536,
                }),
            ),
            // Joined: attachments up to the limit, long texts dropped.
            (
                true,
                cat(&[&file(70_000).to_bytes(), &report]),
                vec![file(70_000), Message::new(Kind::ReportRequest)],
                None,
            ),
            (
                true,
                cat(&[&text(65537), &report, &text(200_000), &text(3)]),
                vec![
                    dropped(65537),
                    Message::new(Kind::ReportRequest),
                    dropped(200_000),
                    Message::text("", "ttt"),
                ],
                None,
            ),
            (
                true,
                file(max as usize + 1).to_bytes(),
                vec![],
                Some(Malformed::TooLarge {
                    length: max + 1,
                    max,
                }),
            ),
        ];
        for (joined, input, want, error) in cases {
            for step in [usize::MAX, 1, 1000, 4096] {
                let mut decoder = MessageDecoder::server(max);
                decoder.set_joined(joined);
                let got = crate::buffer::decode_in_pieces(decoder, &input, step);
                assert_eq!(got, (want.clone(), error.clone()), "in pieces of {step}");
            }
        }
        // A client's decoder of what a server sends has none of these rules.
        let (items, error) = decode(&text(70_000), 4096, max);
        assert_eq!((items[0].payload.len(), error), (70_000, None));
    }

    #[test]
    fn the_owner_sets_the_limit_between_messages() {
        let big = Message::new(Kind::Attachment)
            .payload(vec![b'f'; 70_000])
            .to_bytes();
        let mut frames = crate::FrameBuffer::new(MessageDecoder::server(1 << 20));
        frames.extend(&Message::new(Kind::JoinRequest).user("Fire").to_bytes());
        assert_eq!(
            frames.next_item().unwrap().map(|m| m.kind),
            Some(Kind::JoinRequest)
        );
        // The server accepted the join before the next header.
        frames.decoder_mut().set_joined(true);
        frames.extend(&big);
        assert_eq!(
            frames.next_item().unwrap().map(|m| m.payload.len()),
            Some(70_000)
        );
        // Told otherwise (a refused joiner), the 64 KiB limit is back.
        frames.decoder_mut().set_joined(false);
        frames.extend(&big);
        assert_eq!(
            frames.next_item(),
            Err(Malformed::TooLarge {
                length: 70_000,
                max: MAX_BEFORE_JOIN
            })
        );
    }

    #[test]
    fn a_dropped_text_is_never_buffered() {
        let mut frames = crate::FrameBuffer::new(MessageDecoder::server(1 << 30));
        frames.decoder_mut().set_joined(true);
        frames.extend(b"PAYLOAD_LENGTH: 100000000\n\n");
        assert_eq!(
            frames.next_item().unwrap().map(|m| m.dropped),
            Some(100_000_000)
        );
        for _ in 0..100 {
            frames.extend(&[b'x'; 10_000]);
            assert_eq!(frames.next_item().unwrap(), None);
            assert!(frames.capacity() <= 64 * 1024, "{}", frames.capacity());
        }
    }

    #[test]
    fn payload_limit_is_checked_before_the_payload() {
        let mut dec = MessageDecoder::new(5);
        assert_eq!(
            dec.decode(b"PAYLOAD_LENGTH: 6\n"),
            Err(Malformed::TooLarge { length: 6, max: 5 })
        );
        let mut dec = MessageDecoder::new(5);
        assert_eq!(
            dec.decode(b"PAYLOAD_LENGTH: 5\n\n12345").unwrap(),
            Decoded::Item(Message::text("", "12345"), 24)
        );
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let mut input = FULL_JOIN.as_bytes().to_vec();
        input.extend(Message::text("Cool", "Hi.\n").at("20:32:45").to_bytes());
        let first = FULL_JOIN.len();
        for cut in 0..first {
            let mut dec = MessageDecoder::new(100);
            assert_eq!(
                dec.decode(&input[..cut]),
                Ok(Decoded::Incomplete),
                "cut {cut}"
            );
        }
        for cut in 0..input.len() - first {
            let mut dec = MessageDecoder::new(100);
            assert_eq!(
                dec.decode(&input[first..first + cut]),
                Ok(Decoded::Incomplete),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn one_byte_at_a_time_equals_whole() {
        let messages = vec![
            Message::new(Kind::ReportRequest),
            Message::new(Kind::ReportResponse)
                .number(2)
                .payload("Cool 127.0.0.1 5000\nFun ::1 6000\n"),
            Message::new(Kind::JoinAccept)
                .user("Fire")
                .payload("[20:32:40] Server: Cool joined the chatroom.\n"),
            Message::new(Kind::Attachment)
                .user("Fire")
                .file("x.bin")
                .at("20:37:55")
                .payload((0..=255u8).collect::<Vec<_>>()),
            Message::text("Cool", "multi\nline\n\n").at("20:38:23"),
            Message::new(Kind::QuitAccept)
                .user("Fire")
                .payload("Fire left the chatroom.")
                .at("20:38:48"),
        ];
        let input: Vec<u8> = messages.iter().flat_map(Message::to_bytes).collect();
        let whole = decode(&input, usize::MAX, 1 << 20);
        assert_eq!(whole, (messages, None));
        for step in [1, 2, 13, 256] {
            assert_eq!(decode(&input, step, 1 << 20), whole, "step {step}");
        }
    }

    #[test]
    fn history_entries() {
        let mut out = Vec::new();
        encode_entry("20:32:40", "Server", b"Cool joined the chatroom.", &mut out);
        encode_entry("20:32:45", "Cool", entry_text(b"Hi.\n"), &mut out);
        encode_entry("20:33:00", "Fun", entry_text(b"two\nlines"), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[20:32:40] Server: Cool joined the chatroom.\n\
             [20:32:45] Cool: Hi.\n[20:33:00] Fun: two\nlines\n"
        );
        let cases: Vec<(&[u8], &[u8])> = vec![
            (b"I eat in daylight!\n", b"I eat in daylight!"),
            (b"no newline", b"no newline"),
            (b"two\n\n", b"two\n"),
            (b"", b""),
            (b"\x89PNG\r\n", b"Cool sent pic.png (6 bytes)"),
            (&[b'a'; 65536], &[b'a'; 65536]),
            (&[b'a'; 65537], b"Cool sent pic.png (65537 bytes)"),
            (b"caf\xc3\xa9\n", "café".as_bytes()),
        ];
        for (bytes, want) in cases {
            assert_eq!(attachment_text("Cool", "pic.png", bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn file_names() {
        #[rustfmt::skip]
        let cases: Vec<(&str, &str)> = vec![
            ("coolfile1.txt", "coolfile1.txt"),
            ("attachments/coolfile1.txt", "coolfile1.txt"),
            ("../../etc/passwd", "passwd"),
            ("/tmp/evil.txt", "evil.txt"),
            ("..\\..\\win.ini", "win.ini"),
            ("a/b\\c", "c"),
            ("dir/", "attachment"),
            ("", "attachment"),
            (".", "attachment"),
            ("..", "attachment"),
            ("a/..", "attachment"),
            ("...", "attachment"),
            ("\u{1}..\u{7f}", "attachment"),
            ("ti\u{0}ny\r\n.txt", "tiny.txt"),
            (".bashrc", ".bashrc"),
            ("Zoë's pic.png", "Zoë's pic.png"),
        ];
        for (filename, want) in cases {
            assert_eq!(base_name(filename), want, "{filename:?}");
        }
        #[rustfmt::skip]
        let cases: Vec<(&str, u32, &str)> = vec![
            ("name", 2, "name-2"),
            ("name.ext", 2, "name-2.ext"),
            ("name.ext", 10, "name-10.ext"),
            (".bashrc", 2, ".bashrc-2"),
            ("a.tar.gz", 3, "a.tar-3.gz"),
            ("attachment", 2, "attachment-2"),
        ];
        for (name, n, want) in cases {
            assert_eq!(numbered(name, n), want, "{name} {n}");
        }
        let taken = ["x.txt", "x-2.txt", "x-3.txt"];
        assert_eq!(free_name("up/x.txt", |n| taken.contains(&n)), "x-4.txt");
        assert_eq!(free_name("y.txt", |n| taken.contains(&n)), "y.txt");
        // Starting from a remembered number probes once; a name taken since
        // (by someone else) is probed past.
        let mut probes = 0;
        let mut taken_count = |n: &str| {
            probes += 1;
            taken.contains(&n)
        };
        assert_eq!(
            free_name_from("x.txt", 4, &mut taken_count),
            ("x-4.txt".into(), 4)
        );
        assert_eq!(probes, 1);
        assert_eq!(
            free_name_from("x.txt", 2, |n| taken.contains(&n)),
            ("x-4.txt".into(), 4)
        );
        assert_eq!(
            free_name_from("x.txt", 0, |n| taken.contains(&n)),
            ("x-4.txt".into(), 4)
        );
        assert_eq!(free_name_from("z", 1, |_| false), ("z".into(), 1));
    }
}
