//! channels: every message, both ways, is one fixed 200-byte record of UTF-8
//! text padded with spaces.
//!
//! [`RecordDecoder`] cuts a stream into records and strips their padding,
//! whatever the reads looked like. [`records`] is the one splitter for text
//! longer than a record: the server uses it for relays and errors, the client
//! for long input lines, and [`encode`] pads what it yields. [`Request`]
//! parses what a named client sends; the first record of a connection is its
//! name, which is the server's state, so the server checks it with
//! [`crate::name::CHANNELS`] itself. Every string the contract gives lives in
//! [`Reply`] or in the client constants below.
//!
//! Nothing here knows which channel anyone is in.

use crate::{Decoded, Decoder, Never};

/// The size of every record, in bytes.
pub const RECORD: usize = 200;

/// What the client shows before each line the user types.
pub const PROMPT: &str = "[Me] ";

/// What the client writes before a record from the server, so that the
/// record overwrites the prompt.
pub const WIPE: &str = "\r    \r";

/// The client's line when the server goes away.
pub fn server_disconnected(host: &str, port: u16) -> String {
    format!("Server at {host}:{port} has disconnected")
}

/// Whether `c` is whitespace a receiver strips from the end of a record:
/// the six that Python's `str.rstrip()` strips among ASCII, space, TAB, LF,
/// VT, FF and CR. Course clients that read stdin with `readline()` send
/// `Hi!\n` padded with spaces, and every course server relays `Hi!`.
pub fn is_stripped(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// [`is_stripped`] for one byte (all six are ASCII, so never part of a
/// longer UTF-8 character).
fn is_stripped_byte(b: u8) -> bool {
    is_stripped(char::from(b))
}

/// `text` without its trailing whitespace, as a receiver takes a record.
pub fn strip(text: &str) -> &str {
    text.trim_end_matches(is_stripped)
}

/// Cuts a stream into records and yields each one's text, trailing
/// whitespace ([`is_stripped`]) stripped.
///
/// Text that is not UTF-8 is taken with U+FFFD in place of the bad bytes:
/// a peer that cut a character at a record's end loses that character and
/// nothing else.
#[derive(Debug, Clone, Default)]
pub struct RecordDecoder;

impl Decoder for RecordDecoder {
    type Item = String;
    type Error = Never;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<String>, Never> {
        let Some(record) = buf.get(..RECORD) else {
            return Ok(Decoded::Incomplete);
        };
        let end = record
            .iter()
            .rposition(|&b| !is_stripped_byte(b))
            .map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&record[..end]).into_owned();
        Ok(Decoded::Item(text, RECORD))
    }
}

/// The records that carry `text`: each one the longest prefix of whole
/// characters that fits in [`RECORD`] bytes, less its trailing whitespace
/// ([`is_stripped`]), which moves to the start of the next record where the
/// receiver's stripping cannot reach it.
///
/// A run of whitespace too long to fit before the character after it loses
/// its excess; trailing whitespace of `text` is not carried (the receiver
/// would strip it). Text of whitespace only gives no record at all.
pub fn records(text: &str) -> Records<'_> {
    Records { rest: text }
}

/// The iterator [`records`] returns.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest;
        let body = rest.trim_start_matches(is_stripped);
        let next_char = body.chars().next()?;
        // Keep only as much leading whitespace as fits in one record together
        // with the character after them, so that every record carries text.
        let spaces = rest.len() - body.len();
        let keep = spaces.min(RECORD - next_char.len_utf8());
        let rest = &rest[spaces - keep..];

        let mut fit = rest.len().min(RECORD);
        while !rest.is_char_boundary(fit) {
            fit -= 1;
        }
        let record = strip(&rest[..fit]);
        self.rest = &rest[record.len()..];
        Some(record)
    }
}

/// Appends one record: `text` padded with spaces to [`RECORD`] bytes.
/// `text` is one item of [`records`]; anything longer is cut to a record.
pub fn encode_record(text: &str, out: &mut Vec<u8>) {
    debug_assert!(text.len() <= RECORD, "a record is at most {RECORD} bytes");
    let bytes = &text.as_bytes()[..text.len().min(RECORD)];
    out.extend_from_slice(bytes);
    out.resize(out.len() + (RECORD - bytes.len()), b' ');
}

/// Appends `text` as as many records as it takes (see [`records`]).
pub fn encode(text: &str, out: &mut Vec<u8>) {
    for record in records(text) {
        encode_record(record, out);
    }
}

/// The reply to `/list`: the names in the order given, separated by LF,
/// packed into as few records as they fit without splitting a name. A name
/// too long for a record alone (only possible after U+FFFD replacement)
/// goes out through [`records`].
pub fn encode_list<'a>(names: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    let mut packed = String::new();
    for name in names {
        if !packed.is_empty() && packed.len() + 1 + name.len() > RECORD {
            encode(&packed, out);
            packed.clear();
        }
        if !packed.is_empty() {
            packed.push('\n');
        }
        packed.push_str(name);
    }
    encode(&packed, out);
}

/// What a named client sends, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `/create` and its argument, if any.
    Create(Option<String>),
    /// `/join` and its argument, if any.
    Join(Option<String>),
    /// `/list`.
    List,
    /// Any other record starting with `/`: its first word.
    Invalid(String),
    /// A text for the sender's channel, as received.
    Text(String),
}

impl Request {
    /// Parses one record's text. `None` for an empty record, which carries
    /// nothing and is ignored.
    pub fn parse(text: &str) -> Option<Request> {
        if text.is_empty() {
            return None;
        }
        if !text.starts_with('/') {
            return Some(Request::Text(text.to_owned()));
        }
        // The handout's servers split on whitespace: further words are ignored.
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or_default();
        let argument = words.next().map(str::to_owned);
        Some(match command {
            "/create" => Request::Create(argument),
            "/join" => Request::Join(argument),
            "/list" => Request::List,
            _ => Request::Invalid(command.to_owned()),
        })
    }
}

/// Every message the server sends but the channel list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A first record that is not a valid, free name; the server then closes.
    BadName(&'a str),
    /// `/create` of a channel that exists.
    ChannelExists(&'a str),
    /// `/create` with no argument.
    CreateWithoutName,
    /// `/create` when `--max-channels` channels exist.
    TooManyChannels(&'a str),
    /// `/join` of a channel that does not exist.
    NoSuchChannel(&'a str),
    /// `/join` with no argument.
    JoinWithoutName,
    /// A control message that is none of the three; carries its first word.
    InvalidControl(&'a str),
    /// A text from a client in no channel.
    NotInChannel,
    /// A text relayed to the others in the sender's channel.
    Relay { from: &'a str, text: &'a str },
    /// To the others in a channel a user joined.
    Joined(&'a str),
    /// To the others in a channel a user left.
    Left(&'a str),
}

impl Reply<'_> {
    /// The message's text, before it is cut into records.
    pub fn text(&self) -> String {
        match *self {
            Reply::BadName(name) => format!("Name {name} is not valid or is already in use."),
            Reply::ChannelExists(ch) => format!("Room {ch} already exists, so cannot be created."),
            Reply::CreateWithoutName => {
                "/create command must be followed by the name of a channel to create".into()
            }
            Reply::TooManyChannels(ch) => format!("Too many channels, so {ch} cannot be created."),
            Reply::NoSuchChannel(ch) => format!("No channel named {ch} exists. Try '/create {ch}'?"),
            Reply::JoinWithoutName => {
                "/join command must be followed by the name of a channel to join.".into()
            }
            Reply::InvalidControl(word) => format!(
                "{word} is not a valid control message. Valid messages are /create, /list, and /join."
            ),
            Reply::NotInChannel => {
                "Not currently in any channel. Must join a channel before sending messages.".into()
            }
            Reply::Relay { from, text } => format!("[{from}] {text}"),
            Reply::Joined(name) => format!("{name} has joined"),
            Reply::Left(name) => format!("{name} has left"),
        }
    }

    /// Appends the message as as many records as it takes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode(&self.text(), out);
    }

    /// The message as records.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` padded to one record, written out by hand.
    fn rec(text: &str) -> Vec<u8> {
        let mut out = text.as_bytes().to_vec();
        assert!(out.len() <= RECORD);
        out.resize(RECORD, b' ');
        out
    }

    fn decode_all(input: &[u8], step: usize) -> Vec<String> {
        crate::buffer::decode_in_pieces(RecordDecoder, input, step).0
    }

    #[test]
    fn decode_table() {
        let full = "x".repeat(RECORD);
        let cut_char = {
            // A two-byte character cut after its first byte at the record end.
            let mut r = "a".repeat(RECORD - 1).into_bytes();
            r.push(0xc3);
            r
        };
        #[rustfmt::skip]
        let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
            (vec![], vec![]),
            (b"Alice".to_vec(), vec![]),
            (rec("Alice"), vec!["Alice"]),
            (rec(""), vec![""]),
            (rec("  two  words  "), vec!["  two  words"]),
            // Trailing whitespace goes as Python's str.rstrip() takes it.
            (rec("tab\t"), vec!["tab"]),
            (rec("line\nbreak\n"), vec!["line\nbreak"]),
            (rec("Hi!\n"), vec!["Hi!"]),
            (rec("Hi!\r\n"), vec!["Hi!"]),
            (rec("a \t\n\x0b\x0c\r "), vec!["a"]),
            (rec("\t\x0b\x0c"), vec![""]),
            (rec(" \tin\tside"), vec![" \tin\tside"]),
            // Other controls and Unicode spaces are not stripped.
            (rec("nul\0"), vec!["nul\0"]),
            (rec("nbsp\u{a0}"), vec!["nbsp\u{a0}"]),
            (rec("esc\x1b"), vec!["esc\x1b"]),
            (rec("café"), vec!["café"]),
            (full.clone().into_bytes(), vec![&full]),
            ([rec("a"), rec("/list"), rec("b")].concat(), vec!["a", "/list", "b"]),
            ([rec("a"), b"partial".to_vec()].concat(), vec!["a"]),
            (rec("bad \u{fffd}"), vec!["bad \u{fffd}"]),
        ];
        for (input, want) in cases {
            for step in [usize::MAX, 1, 2, 3, 7, 199, 200, 201] {
                assert_eq!(
                    decode_all(&input, step.min(input.len().max(1))),
                    want,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
        let mut bad = rec("x");
        bad[1] = 0xff;
        assert_eq!(decode_all(&bad, RECORD), vec!["x\u{fffd}"]);
        assert_eq!(
            decode_all(&cut_char, RECORD),
            vec![format!("{}\u{fffd}", "a".repeat(RECORD - 1))]
        );
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let input = rec("Hello world!");
        for cut in 0..RECORD {
            let mut dec = RecordDecoder;
            assert_eq!(
                dec.decode(&input[..cut]).unwrap(),
                Decoded::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(
            RecordDecoder.decode(&input).unwrap(),
            Decoded::Item("Hello world!".into(), RECORD)
        );
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let mut input = Vec::new();
        for text in ["Panda", "/create 168_tas", "", "日本語 text", "/list"] {
            input.extend(rec(text));
        }
        let whole = decode_all(&input, input.len());
        assert_eq!(
            whole,
            vec!["Panda", "/create 168_tas", "", "日本語 text", "/list"]
        );
        for step in 1..=RECORD + 1 {
            assert_eq!(decode_all(&input, step), whole, "step {step}");
        }
    }

    /// The records of `text` as owned strings.
    fn split(text: &str) -> Vec<String> {
        records(text).map(str::to_owned).collect()
    }

    #[test]
    fn split_table() {
        let a200 = "a".repeat(200);
        let a199 = "a".repeat(199);
        let e100 = "é".repeat(100); // 200 bytes
        let s = |n: usize| " ".repeat(n);
        #[rustfmt::skip]
        let cases: Vec<(String, Vec<String>)> = vec![
            ("".into(), vec![]),
            ("   ".into(), vec![]),
            ("hi".into(), vec!["hi".into()]),
            ("hi  ".into(), vec!["hi".into()]),
            ("  hi".into(), vec!["  hi".into()]),
            (a200.clone(), vec![a200.clone()]),
            // One byte over: the last character goes on.
            (format!("{a200}b"), vec![a200.clone(), "b".into()]),
            // A two-byte character that would straddle the boundary moves whole.
            (format!("{a199}é"), vec![a199.clone(), "é".into()]),
            (format!("{e100}é"), vec![e100.clone(), "é".into()]),
            (format!("{a199}😀x"), vec![a199.clone(), "😀x".into()]),
            // Spaces at the cut move to the front of the next record.
            (format!("{}  next", "a".repeat(198)), vec!["a".repeat(198), "  next".into()]),
            (format!("{a199} b"), vec![a199.clone(), " b".into()]),
            (format!("{a200} b"), vec![a200.clone(), " b".into()]),
            // A run of spaces longer than a record loses its excess.
            (format!("a{}b", s(300)), vec!["a".into(), format!("{}b", s(199))]),
            (format!("a{}😀", s(300)), vec!["a".into(), format!("{}😀", s(196))]),
            (format!("{}b", s(250)), vec![format!("{}b", s(199))]),
            (format!("{a200}{}", s(10)), vec![a200.clone()]),
            // Any stripped whitespace, not only spaces, moves across a cut.
            (format!("{a199}\tb"), vec![a199.clone(), "\tb".into()]),
            (format!("{}\n \r{}", "a".repeat(198), "next"), vec!["a".repeat(198), "\n \rnext".into()]),
            ("Hi!\n".into(), vec!["Hi!".into()]),
            ("\t\n ".into(), vec![]),
            // Whitespace that is not stripped is just text.
            (format!("{a199}\u{a0}b"), vec![a199.clone(), "\u{a0}b".into()]),
        ];
        for (text, want) in cases {
            let got = split(&text);
            assert_eq!(got, want, "{text:?}");
            for record in &got {
                assert!(record.len() <= RECORD && strip(record) == record && !record.is_empty());
            }
        }
    }

    #[test]
    fn split_then_strip_gives_the_text_back() {
        // Without long runs of spaces, the records join into the text less
        // its trailing spaces.
        let texts = [
            format!("[Alice] {}", "word ".repeat(80)),
            "ü ".repeat(150),
            format!("{} tail", "日本".repeat(70)),
        ];
        for text in texts {
            let mut out = Vec::new();
            encode(&text, &mut out);
            assert_eq!(out.len() % RECORD, 0);
            let joined = decode_all(&out, 13).concat();
            assert_eq!(joined, strip(&text));
        }
    }

    #[test]
    fn parse_table() {
        use Request::*;
        let s = |x: &str| Some(x.to_owned());
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<Request>)> = vec![
            ("", None),
            ("Hello world!", Some(Text("Hello world!".into()))),
            ("  indented", Some(Text("  indented".into()))),
            ("a /create b", Some(Text("a /create b".into()))),
            ("/create tas", Some(Create(s("tas")))),
            ("/create  tas  extra words", Some(Create(s("tas")))),
            ("/create", Some(Create(None))),
            ("/create\ttas", Some(Create(s("tas")))),
            ("/join 168_tas", Some(Join(s("168_tas")))),
            ("/join 168 tas", Some(Join(s("168")))),
            ("/join", Some(Join(None))),
            ("/list", Some(List)),
            ("/list everything", Some(List)),
            ("/JOIN tas", Some(Invalid("/JOIN".into()))),
            ("/joinx tas", Some(Invalid("/joinx".into()))),
            ("/", Some(Invalid("/".into()))),
            ("/ join", Some(Invalid("/".into()))),
        ];
        for (text, want) in cases {
            assert_eq!(Request::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn reply_table() {
        #[rustfmt::skip]
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::BadName("a b"), "Name a b is not valid or is already in use."),
            (Reply::ChannelExists("tas"), "Room tas already exists, so cannot be created."),
            (Reply::CreateWithoutName, "/create command must be followed by the name of a channel to create"),
            (Reply::TooManyChannels("tas"), "Too many channels, so tas cannot be created."),
            (Reply::NoSuchChannel("tas"), "No channel named tas exists. Try '/create tas'?"),
            (Reply::JoinWithoutName, "/join command must be followed by the name of a channel to join."),
            (Reply::InvalidControl("/JOIN"), "/JOIN is not a valid control message. Valid messages are /create, /list, and /join."),
            (Reply::NotInChannel, "Not currently in any channel. Must join a channel before sending messages."),
            (Reply::Relay { from: "Kay", text: "Hi!" }, "[Kay] Hi!"),
            (Reply::Joined("Kay"), "Kay has joined"),
            (Reply::Left("Kay"), "Kay has left"),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.to_bytes(), rec(want), "{reply:?}");
        }
        assert_eq!(
            server_disconnected("localhost", 55555),
            "Server at localhost:55555 has disconnected"
        );
    }

    #[test]
    fn long_replies_continue_in_records() {
        let ch = "c".repeat(180);
        let got = Reply::NoSuchChannel(&ch).to_bytes();
        let text = format!("No channel named {ch} exists. Try '/create {ch}'?");
        let want = [rec(&text[..200]), rec(&text[200..400]), rec(&text[400..])].concat();
        assert_eq!(got, want);
    }

    #[test]
    fn list_packs_whole_names() {
        let n = |i: usize| format!("{i:0>30}");
        let names: Vec<String> = (0..10).map(n).collect();
        let mut out = Vec::new();
        encode_list(names.iter().map(String::as_str), &mut out);
        // Six names of 30 bytes and five LFs make 185 bytes; a seventh would
        // make 216.
        let first = names[..6].join("\n");
        let second = names[6..].join("\n");
        assert_eq!(out, [rec(&first), rec(&second)].concat());

        let mut out = Vec::new();
        encode_list([], &mut out);
        assert!(out.is_empty());

        let exact = ["a".repeat(99), "b".repeat(100)];
        let mut out = Vec::new();
        encode_list(exact.iter().map(String::as_str), &mut out);
        assert_eq!(out, rec(&format!("{}\n{}", exact[0], exact[1])));
    }

    #[test]
    fn encode_record_pads() {
        let mut out = b"x".to_vec();
        encode_record("ab", &mut out);
        assert_eq!(out.len(), 1 + RECORD);
        assert_eq!(&out[1..], &rec("ab")[..]);
    }
}
