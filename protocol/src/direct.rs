//! direct: binary type-length-value frames, both ways.
//!
//! A frame is one type byte, a 4-byte big-endian body length and the body.
//! Names inside a body are a u8 length and UTF-8 bytes; texts a big-endian
//! u16 length and UTF-8 bytes.
//!
//! Decoding first splits a frame off by its header, then parses the body by
//! its type. The two can fail separately: a body that does not parse, or a
//! type nobody knows, is survivable (the frame is skipped exactly, and its
//! item is a [`BodyError`] that the receiver answers); a length over the
//! side's limit is the decoder's fatal [`FrameError`], decided from the
//! header alone, so no receiver ever buffers an oversized body. Whether a
//! well-formed request is allowed (logged in, name rules) is the server's
//! business, not this module's.

use std::fmt;

use crate::{Decoded, Decoder};

/// Bytes before the body: type (1) and body length (4).
pub const HEADER: usize = 5;
/// The longest body a client may send; a longer one closes the connection.
pub const MAX_REQUEST_BODY: u32 = 70_000;
/// The longest body a client accepts: a LIST of 65,535 names of 255 bytes.
pub const MAX_REPLY_BODY: u32 = 2 + 65_535 * 256;
/// The longest name a frame can carry, in bytes.
pub const MAX_NAME: usize = u8::MAX as usize;
/// The longest text a frame can carry, in bytes.
pub const MAX_TEXT: usize = u16::MAX as usize;

/// The type bytes.
pub mod kind {
    pub const LOGIN: u8 = 0x01;
    pub const LIST: u8 = 0x02;
    pub const SENDTO: u8 = 0x03;
    pub const LOGOUT: u8 = 0x04;
    pub const LIST_REPLY: u8 = 0x81;
    pub const RESPONSE: u8 = 0x82;
    pub const SENDTO_REPLY: u8 = 0x83;
}

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// 0x01: log in as this name.
    Login(String),
    /// 0x02: who is logged in.
    List,
    /// 0x03: a text for a logged-in user.
    SendTo { to: String, text: String },
    /// 0x04: log out, keeping the connection.
    Logout,
}

/// The result carried by a RESPONSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: the request was carried out.
    Ok = 0,
    /// 1: the request was refused.
    Failure = 1,
    /// 2: the frame could not be read.
    Malformed = 2,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 0x81: the logged-in names, in login order.
    List(Vec<String>),
    /// 0x82: the result of any request but a successful list.
    Response(Outcome),
    /// 0x83: a text from another user (or from oneself).
    SendTo { from: String, text: String },
}

/// Why a frame's body could not be read; the frame itself was whole and has
/// been skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The type byte names no frame this side receives.
    UnknownType(u8),
    /// A length inside the body runs past its end.
    Overrun,
    /// A name or text is not UTF-8.
    NotUtf8,
    /// Bytes are left after the last field.
    TrailingBytes,
    /// A RESPONSE carries a result other than 0, 1 or 2.
    UnknownOutcome(u8),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::UnknownType(t) => write!(f, "unknown frame type 0x{t:02x}"),
            BodyError::Overrun => f.write_str("a length runs past the end of the body"),
            BodyError::NotUtf8 => f.write_str("a string is not utf-8"),
            BodyError::TrailingBytes => f.write_str("bytes left over after the body"),
            BodyError::UnknownOutcome(r) => write!(f, "unknown response result {r}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A frame after which the stream cannot be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header announces a body longer than the receiver accepts.
    TooLong(u32),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong(len) => write!(f, "body length {len} is over the limit"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One decoded frame: what it says, or why its body could not be read.
pub type Parsed<T> = Result<T, BodyError>;

/// A whole frame at the front of the input, body not yet parsed.
struct RawFrame<'a> {
    kind: u8,
    body: &'a [u8],
    /// Header and body: how far the input moves on.
    used: usize,
}

/// Splits the frame at the front of `buf`, `None` until it is whole. The
/// header alone decides a length over `max`.
fn split_frame(buf: &[u8], max: u32) -> Result<Option<RawFrame<'_>>, FrameError> {
    let Some((&[kind, a, b, c, d], rest)) = buf.split_first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if len > max {
        return Err(FrameError::TooLong(len));
    }
    // len <= max, which fits in usize on every platform this builds for.
    let len = len as usize;
    Ok(rest.get(..len).map(|body| RawFrame {
        kind,
        body,
        used: HEADER + len,
    }))
}

/// Reads the fields of one body from front to back.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Parsed<&'a [u8]> {
        if n > self.0.len() {
            return Err(BodyError::Overrun);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Parsed<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Parsed<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn string(&mut self, len: usize) -> Parsed<String> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| BodyError::NotUtf8)
    }

    fn name(&mut self) -> Parsed<String> {
        let len = self.u8()?;
        self.string(len.into())
    }

    fn text(&mut self) -> Parsed<String> {
        let len = self.u16()?;
        self.string(len.into())
    }

    /// Ends the body: `value` if nothing is left over.
    fn end<T>(self, value: T) -> Parsed<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(BodyError::TrailingBytes)
        }
    }
}

impl Request {
    /// Parses the body of a frame of type `kind`.
    pub fn parse(kind: u8, body: &[u8]) -> Parsed<Request> {
        let mut f = Fields(body);
        match kind {
            kind::LOGIN => {
                let name = f.name()?;
                f.end(Request::Login(name))
            }
            kind::LIST => f.end(Request::List),
            kind::SENDTO => {
                let to = f.name()?;
                let text = f.text()?;
                f.end(Request::SendTo { to, text })
            }
            kind::LOGOUT => f.end(Request::Logout),
            other => Err(BodyError::UnknownType(other)),
        }
    }

    /// Appends the frame. A name over [`MAX_NAME`] or a text over
    /// [`MAX_TEXT`] bytes is cut to fit (the client refuses them first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Login(name) => frame(out, kind::LOGIN, |out| put_name(out, name)),
            Request::List => frame(out, kind::LIST, |_| {}),
            Request::SendTo { to, text } => frame(out, kind::SENDTO, |out| {
                put_name(out, to);
                put_text(out, text);
            }),
            Request::Logout => frame(out, kind::LOGOUT, |_| {}),
        }
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl Reply {
    /// Parses the body of a frame of type `kind`.
    pub fn parse(kind: u8, body: &[u8]) -> Parsed<Reply> {
        let mut f = Fields(body);
        match kind {
            kind::LIST_REPLY => {
                let count = f.u16()?;
                // No capacity from the peer's count: the names must be there.
                let mut names = Vec::new();
                for _ in 0..count {
                    names.push(f.name()?);
                }
                f.end(Reply::List(names))
            }
            kind::RESPONSE => {
                let outcome = match f.u8()? {
                    0 => Outcome::Ok,
                    1 => Outcome::Failure,
                    2 => Outcome::Malformed,
                    other => return Err(BodyError::UnknownOutcome(other)),
                };
                f.end(Reply::Response(outcome))
            }
            kind::SENDTO_REPLY => {
                let from = f.name()?;
                let text = f.text()?;
                f.end(Reply::SendTo { from, text })
            }
            other => Err(BodyError::UnknownType(other)),
        }
    }

    /// Appends the frame (see [`encode_list`], [`encode_response`] and
    /// [`encode_sendto`], which need no owned strings).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::List(names) => encode_list(names.iter().map(String::as_str), out),
            Reply::Response(outcome) => encode_response(*outcome, out),
            Reply::SendTo { from, text } => encode_sendto(from, text, out),
        }
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Appends a LIST of `names` in the order given: at most 65,535 of them,
/// each cut to [`MAX_NAME`] bytes.
pub fn encode_list<'a>(names: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    frame(out, kind::LIST_REPLY, |out| {
        let count_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let mut count: u16 = 0;
        for name in names.into_iter().take(u16::MAX.into()) {
            put_name(out, name);
            count += 1;
        }
        out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    });
}

/// Appends a RESPONSE.
pub fn encode_response(outcome: Outcome, out: &mut Vec<u8>) {
    frame(out, kind::RESPONSE, |out| out.push(outcome as u8));
}

/// Appends a SENDTO from `from`; both strings are cut to fit if needed.
pub fn encode_sendto(from: &str, text: &str, out: &mut Vec<u8>) {
    frame(out, kind::SENDTO_REPLY, |out| {
        put_name(out, from);
        put_text(out, text);
    });
}

/// Appends a frame of type `kind` whose body `body` writes, filling in the
/// length afterwards.
fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(kind);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = u32::try_from(out.len() - len_at - 4).unwrap_or(u32::MAX);
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary, so that a cut string is still UTF-8.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let name = clip(name, MAX_NAME);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    let text = clip(text, MAX_TEXT);
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Decodes a client's byte stream (the server's side): each whole frame
/// yields its [`Request`] or why its body could not be read; a body length
/// over [`MAX_REQUEST_BODY`] is fatal.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestDecoder;

impl Decoder for RequestDecoder {
    type Item = Parsed<Request>;
    type Error = FrameError;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Parsed<Request>>, FrameError> {
        Ok(match split_frame(buf, MAX_REQUEST_BODY)? {
            Some(f) => Decoded::Item(Request::parse(f.kind, f.body), f.used),
            None => Decoded::Incomplete,
        })
    }
}

/// Decodes the server's byte stream (the client's side): each whole frame
/// yields its [`Reply`] or why its body could not be read; a body length
/// over [`MAX_REPLY_BODY`] is fatal.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyDecoder;

impl Decoder for ReplyDecoder {
    type Item = Parsed<Reply>;
    type Error = FrameError;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Parsed<Reply>>, FrameError> {
        Ok(match split_frame(buf, MAX_REPLY_BODY)? {
            Some(f) => Decoded::Item(Reply::parse(f.kind, f.body), f.used),
            None => Decoded::Incomplete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(name: &str) -> Request {
        Request::Login(name.into())
    }

    fn sendto(to: &str, text: &str) -> Request {
        Request::SendTo {
            to: to.into(),
            text: text.into(),
        }
    }

    fn relay(from: &str, text: &str) -> Reply {
        Reply::SendTo {
            from: from.into(),
            text: text.into(),
        }
    }

    fn list(names: &[&str]) -> Reply {
        Reply::List(names.iter().map(|n| n.to_string()).collect())
    }

    /// Every request with its exact bytes.
    fn request_rows() -> Vec<(Request, Vec<u8>)> {
        let long = "t".repeat(MAX_TEXT);
        // Body: 1 + 1 + 2 + 65,535 = 65,539 = 0x00010003 bytes.
        let mut long_bytes = b"\x03\x00\x01\x00\x03\x01b\xff\xff".to_vec();
        long_bytes.extend(long.as_bytes());
        vec![
            (login("Alice"), b"\x01\x00\x00\x00\x06\x05Alice".to_vec()),
            (login(""), b"\x01\x00\x00\x00\x01\x00".to_vec()),
            (login("Zoë"), b"\x01\x00\x00\x00\x05\x04Zo\xc3\xab".to_vec()),
            (Request::List, b"\x02\x00\x00\x00\x00".to_vec()),
            (
                sendto("Bob", "hi"),
                b"\x03\x00\x00\x00\x08\x03Bob\x00\x02hi".to_vec(),
            ),
            (sendto("b", &long), long_bytes),
            (Request::Logout, b"\x04\x00\x00\x00\x00".to_vec()),
        ]
    }

    /// Every reply with its exact bytes.
    fn reply_rows() -> Vec<(Reply, Vec<u8>)> {
        vec![
            (list(&[]), b"\x81\x00\x00\x00\x02\x00\x00".to_vec()),
            (
                list(&["Alice", "Bob"]),
                b"\x81\x00\x00\x00\x0c\x00\x02\x05Alice\x03Bob".to_vec(),
            ),
            (
                Reply::Response(Outcome::Ok),
                b"\x82\x00\x00\x00\x01\x00".to_vec(),
            ),
            (
                Reply::Response(Outcome::Failure),
                b"\x82\x00\x00\x00\x01\x01".to_vec(),
            ),
            (
                Reply::Response(Outcome::Malformed),
                b"\x82\x00\x00\x00\x01\x02".to_vec(),
            ),
            (
                relay("Alice", "hi there"),
                b"\x83\x00\x00\x00\x10\x05Alice\x00\x08hi there".to_vec(),
            ),
            (
                relay("a", ""),
                b"\x83\x00\x00\x00\x04\x01a\x00\x00".to_vec(),
            ),
        ]
    }

    fn decode_requests(input: &[u8], step: usize) -> Result<Vec<Parsed<Request>>, FrameError> {
        let (items, error) = crate::buffer::decode_in_pieces(RequestDecoder, input, step);
        error.map_or(Ok(items), Err)
    }

    fn decode_replies(input: &[u8], step: usize) -> Result<Vec<Parsed<Reply>>, FrameError> {
        let (items, error) = crate::buffer::decode_in_pieces(ReplyDecoder, input, step);
        error.map_or(Ok(items), Err)
    }

    #[test]
    fn requests_encode_to_exact_bytes_and_round_trip() {
        for (request, bytes) in request_rows() {
            assert_eq!(request.to_bytes(), bytes, "{request:?}");
            let used = bytes.len();
            assert_eq!(
                RequestDecoder.decode(&bytes),
                Ok(Decoded::Item(Ok(request.clone()), used)),
                "{request:?}"
            );
        }
    }

    #[test]
    fn replies_encode_to_exact_bytes_and_round_trip() {
        for (reply, bytes) in reply_rows() {
            assert_eq!(reply.to_bytes(), bytes, "{reply:?}");
            let used = bytes.len();
            assert_eq!(
                ReplyDecoder.decode(&bytes),
                Ok(Decoded::Item(Ok(reply.clone()), used)),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn every_strict_prefix_of_every_frame_is_incomplete() {
        for (request, bytes) in request_rows() {
            for cut in 0..bytes.len() {
                assert_eq!(
                    RequestDecoder.decode(&bytes[..cut]),
                    Ok(Decoded::Incomplete),
                    "{request:?} cut at {cut}"
                );
            }
        }
        for (reply, bytes) in reply_rows() {
            for cut in 0..bytes.len() {
                assert_eq!(
                    ReplyDecoder.decode(&bytes[..cut]),
                    Ok(Decoded::Incomplete),
                    "{reply:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn split_at_every_byte_decodes_the_same() {
        let (requests, bytes): (Vec<_>, Vec<_>) = request_rows().into_iter().unzip();
        let stream = bytes.concat();
        let want: Vec<_> = requests.into_iter().map(Ok).collect();
        assert_eq!(decode_requests(&stream, stream.len()), Ok(want.clone()));
        for step in [1, 2, 3, 4, 5, 6, 7, 4096, 65_540] {
            assert_eq!(
                decode_requests(&stream, step),
                Ok(want.clone()),
                "step {step}"
            );
        }
        // Two frames whose boundary falls at every position of a read.
        let short = [login("Al").to_bytes(), sendto("Bo", "yo").to_bytes()].concat();
        for at in 0..=short.len() {
            let mut frames = crate::FrameBuffer::new(RequestDecoder);
            let mut got = Vec::new();
            for piece in [&short[..at], &short[at..]] {
                frames.extend(piece);
                while let Some(item) = frames.next_item().unwrap() {
                    got.push(item);
                }
            }
            assert_eq!(
                got,
                vec![Ok(login("Al")), Ok(sendto("Bo", "yo"))],
                "at {at}"
            );
        }

        let (replies, bytes): (Vec<_>, Vec<_>) = reply_rows().into_iter().unzip();
        let stream = bytes.concat();
        let want: Vec<_> = replies.into_iter().map(Ok).collect();
        for step in [1, 2, 3, 5, 7, stream.len()] {
            assert_eq!(
                decode_replies(&stream, step),
                Ok(want.clone()),
                "step {step}"
            );
        }
    }

    #[test]
    fn bodies_that_do_not_parse_are_skipped_exactly() {
        #[rustfmt::skip]
        let cases: Vec<(&[u8], BodyError)> = vec![
            (b"\x01\x00\x00\x00\x00", BodyError::Overrun),
            (b"\x01\x00\x00\x00\x03\x05ab", BodyError::Overrun),
            (b"\x01\x00\x00\x00\x02\x01\xff", BodyError::NotUtf8),
            (b"\x01\x00\x00\x00\x03\x01ab", BodyError::TrailingBytes),
            (b"\x02\x00\x00\x00\x01x", BodyError::TrailingBytes),
            (b"\x04\x00\x00\x00\x02xy", BodyError::TrailingBytes),
            (b"\x03\x00\x00\x00\x02\x01b", BodyError::Overrun),
            (b"\x03\x00\x00\x00\x03\x01b\x00", BodyError::Overrun),
            (b"\x03\x00\x00\x00\x06\x01b\x00\x05hi", BodyError::Overrun),
            (b"\x03\x00\x00\x00\x06\x01b\x00\x02h\xc3", BodyError::NotUtf8),
            (b"\x03\x00\x00\x00\x07\x01b\x00\x02hi!", BodyError::TrailingBytes),
            (b"\x00\x00\x00\x00\x00", BodyError::UnknownType(0)),
            (b"\x05\x00\x00\x00\x03abc", BodyError::UnknownType(5)),
            (b"\x81\x00\x00\x00\x02\x00\x00", BodyError::UnknownType(0x81)),
        ];
        for (frame, error) in cases {
            let mut input = frame.to_vec();
            input.extend(Request::List.to_bytes());
            let got = decode_requests(&input, input.len());
            assert_eq!(got, Ok(vec![Err(error), Ok(Request::List)]), "{frame:?}");
            assert_eq!(decode_requests(&input, 1), got, "{frame:?} byte by byte");
        }
        #[rustfmt::skip]
        let cases: Vec<(&[u8], BodyError)> = vec![
            (b"\x81\x00\x00\x00\x01\x00", BodyError::Overrun),
            (b"\x81\x00\x00\x00\x04\x00\x01\x00\x00", BodyError::TrailingBytes),
            (b"\x81\x00\x00\x00\x04\x00\x02\x01a", BodyError::Overrun),
            (b"\x82\x00\x00\x00\x01\x03", BodyError::UnknownOutcome(3)),
            (b"\x82\x00\x00\x00\x00", BodyError::Overrun),
            (b"\x83\x00\x00\x00\x05\x01a\x00\x01\xff", BodyError::NotUtf8),
            (b"\x01\x00\x00\x00\x01\x00", BodyError::UnknownType(1)),
        ];
        for (frame, error) in cases {
            let mut input = frame.to_vec();
            input.extend(Reply::Response(Outcome::Ok).to_bytes());
            let got = decode_replies(&input, 1);
            assert_eq!(
                got,
                Ok(vec![Err(error), Ok(Reply::Response(Outcome::Ok))]),
                "{frame:?}"
            );
        }
    }

    #[test]
    fn length_limit_is_decided_by_the_header() {
        // 70,000 is a body the server reads (and finds malformed) ...
        let mut at_limit = vec![0x05];
        at_limit.extend(MAX_REQUEST_BODY.to_be_bytes());
        assert_eq!(RequestDecoder.decode(&at_limit), Ok(Decoded::Incomplete));
        at_limit.resize(HEADER + MAX_REQUEST_BODY as usize, b'x');
        assert_eq!(
            RequestDecoder.decode(&at_limit),
            Ok(Decoded::Item(
                Err(BodyError::UnknownType(5)),
                at_limit.len()
            ))
        );
        // ... one more is fatal on the header alone, whatever the type.
        for kind in [kind::LOGIN, kind::SENDTO, 0x7f] {
            let mut over = vec![kind];
            over.extend((MAX_REQUEST_BODY + 1).to_be_bytes());
            assert_eq!(
                RequestDecoder.decode(&over),
                Err(FrameError::TooLong(MAX_REQUEST_BODY + 1))
            );
        }
        assert_eq!(
            RequestDecoder.decode(b"\x03\xff\xff\xff\xff"),
            Err(FrameError::TooLong(u32::MAX))
        );
        assert_eq!(
            ReplyDecoder.decode(b"\x81\xff\xff\xff\xff"),
            Err(FrameError::TooLong(u32::MAX))
        );
        // A LIST far over the request limit is fine for the client.
        let names: Vec<String> = (0..5000).map(|i| format!("user{i:016}")).collect();
        let reply = Reply::List(names);
        let bytes = reply.to_bytes();
        assert!(bytes.len() > MAX_REQUEST_BODY as usize);
        assert_eq!(decode_replies(&bytes, 1000), Ok(vec![Ok(reply)]));
    }

    #[test]
    fn encoders_cut_what_does_not_fit_on_a_char_boundary() {
        let name = "é".repeat(200); // 400 bytes
        let text = "x".repeat(MAX_TEXT + 10);
        let bytes = sendto(&name, &text).to_bytes();
        let cut = sendto(&"é".repeat(127), &"x".repeat(MAX_TEXT));
        assert_eq!(bytes, cut.to_bytes());
        assert_eq!(decode_requests(&bytes, bytes.len()), Ok(vec![Ok(cut)]));
    }

    #[test]
    fn errors_read_as_lowercase_phrases() {
        #[rustfmt::skip]
        let cases: Vec<(String, &str)> = vec![
            (BodyError::UnknownType(0x7f).to_string(), "unknown frame type 0x7f"),
            (BodyError::Overrun.to_string(), "a length runs past the end of the body"),
            (BodyError::NotUtf8.to_string(), "a string is not utf-8"),
            (BodyError::TrailingBytes.to_string(), "bytes left over after the body"),
            (BodyError::UnknownOutcome(9).to_string(), "unknown response result 9"),
            (FrameError::TooLong(70_001).to_string(), "body length 70001 is over the limit"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
