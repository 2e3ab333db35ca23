//! The `-v`/`--trace` shapes of every dialect's messages, as they are on
//! the wire: one function per framing, turning one message's bytes into
//! the lines a trace prints (without the `<`/`>` mark, which the caller
//! adds with whatever else it names: the server an fd, the client
//! nothing). Shared by the server and the client, so that a student sees
//! the same shapes on both sides.
//!
//! Text lines (lobby, room headers, bridge) show each line without its
//! line end (LF, or CR LF: a CR right before the LF is dropped, as the
//! terminal-safety rule drops it, so that a bridge block's closing empty
//! line is a bare mark, as the contract shows it), any other CR as `^M`;
//! a room payload shows on one line with its byte count,
//! 200-byte records (channels) their text in quotes and
//! their padding counted, frames (direct) their bytes in hex with their
//! meaning beside them. Everything is terminal-safe; a long line or
//! payload shows its first bytes and how many more. The streamed shapes
//! (lines, room) have one implementation, [`Stream`]: the client feeds it
//! what each read carried, the server one whole message.

use std::fmt::Write;

use crate::channels::{strip, RECORD};
use crate::safe;

/// Who sent the bytes (a direct frame means something else each way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// At most this many bytes of one message are shown.
const SHOW: usize = 1024;
/// At most this many bytes of a direct frame are shown in hex.
const HEX: usize = 48;

/// Terminal-safe text on one line: LF shows as `^J` too.
fn one_line(bytes: &[u8]) -> String {
    safe::escape(bytes).replace('\n', "^J")
}

/// Text lines, as lobby and bridge send them: one trace line per line,
/// without its LF or CR LF (any other CR shown as `^M`), an empty line as nothing
/// after the mark, and a last line without LF marked `(no line end)`; at
/// most the first [`SHOW`] bytes of a line shown, then how many more (a
/// [`Stream`] of [`Framing::Lines`] fed `bytes` whole).
pub fn lines(bytes: &[u8], out: &mut Vec<String>) {
    let mut stream = Stream::new(Framing::Lines);
    stream.push(bytes, out);
    stream.end(out);
}

/// A line's text with every CR visible (`safe::escape` drops a CR right
/// before an LF; here the LF is already gone, so a CR shows as `^M`).
fn caret_cr(line: &[u8]) -> String {
    safe::escape(line)
}

/// One line as a trace shows it: `kept`, the first bytes of the line (with
/// its LF when the line was short enough for the LF to be kept), without
/// its LF and a CR right before it, every other CR as `^M`, then
/// ` … (N more bytes)` for the `more` bytes not kept.
fn held_line(kept: &[u8], more: u64) -> String {
    let text = match kept.strip_suffix(b"\n") {
        Some(line) => crate::line::strip_cr(line),
        None => kept,
    };
    let mut line = wire_text(text);
    if more > 0 {
        let _ = write!(line, " … ({more} more bytes)");
    }
    line
}

/// Bytes on one line as they are on the wire, terminal-safe: every CR as
/// `^M` and every LF as `^J` (`safe::escape` on its own drops a CR right
/// before an LF).
fn wire_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for (i, piece) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push_str("^J");
        }
        out.push_str(&caret_cr(piece));
    }
    out
}

/// How a [`Stream`] cuts what it is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Text lines, each shown once its LF is in (bridge blocks).
    Lines,
    /// room messages: header lines, then `PAYLOAD_LENGTH` bytes of payload
    /// shown on one line with its byte count.
    Room,
}

/// The trace of one direction of one connection, fed its bytes in any
/// pieces: the client feeds what each read or write carried, the server
/// one whole message at a time ([`room`]). It holds at most the first
/// [`SHOW`] bytes of one line or payload and counts the rest.
///
/// - [`Framing::Lines`]: each line once whole, as [`lines`] shows it
///   (without its line end, an empty line as nothing); [`Stream::end`] shows a last line
///   that never got its LF, marked `(no line end)`.
/// - [`Framing::Room`]: each header line likewise, then the payload on one
///   line with its length: `[payload, 22 bytes] line one^Jline two`, at
///   most its first 1 KiB shown, then `… (N more bytes)`; a payload the end
///   of the stream cut short is marked `(cut short)`.
#[derive(Debug, Clone)]
pub struct Stream {
    framing: Framing,
    /// The first bytes of the line or payload being read.
    pending: Vec<u8>,
    /// How many more bytes of it went by unkept.
    more: u64,
    /// room: the PAYLOAD_LENGTH of the header block being read.
    length: u64,
    /// room: payload bytes still to come, and the payload's length.
    payload_left: u64,
    payload_total: u64,
}

impl Stream {
    pub fn new(framing: Framing) -> Stream {
        Stream {
            framing,
            pending: Vec::new(),
            more: 0,
            length: 0,
            payload_left: 0,
            payload_total: 0,
        }
    }

    /// Appends the trace lines that `bytes` completes to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<String>) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.hold(&bytes[..n]);
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                if self.payload_left == 0 {
                    out.push(self.payload());
                }
                continue;
            }
            let (piece, rest) = match bytes.iter().position(|&b| b == b'\n') {
                Some(lf) => bytes.split_at(lf + 1),
                None => (bytes, &[][..]),
            };
            bytes = rest;
            self.hold(piece);
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.pending);
                let more = std::mem::take(&mut self.more);
                out.push(held_line(&line, more));
                if self.framing == Framing::Room && self.header(&line, more) {
                    // An empty payload shows too: every message ends
                    // with its payload line.
                    out.push(self.payload());
                }
            }
        }
    }

    /// The stream ended: appends what it left unfinished, a line without
    /// its LF or a payload cut short.
    pub fn end(&mut self, out: &mut Vec<String>) {
        if self.payload_left > 0 {
            self.payload_left = 0;
            let mut text = self.payload();
            text.push_str(" (cut short)");
            out.push(text);
        } else if !self.pending.is_empty() || self.more > 0 {
            let line = std::mem::take(&mut self.pending);
            let more = std::mem::take(&mut self.more);
            let mut text = held_line(&line, more);
            text.push_str(" (no line end)");
            out.push(text);
        }
    }

    /// room: takes note of a header line (`line` is what was kept of it,
    /// `more` how much was not); whether it began an empty payload.
    fn header(&mut self, line: &[u8], more: u64) -> bool {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if more > 0 {
            return false;
        }
        if let Some(value) = line.strip_prefix(b"PAYLOAD_LENGTH:") {
            self.length = String::from_utf8_lossy(value).trim().parse().unwrap_or(0);
        } else if line.is_empty() {
            self.payload_left = std::mem::take(&mut self.length);
            self.payload_total = self.payload_left;
            return self.payload_left == 0;
        }
        false
    }

    /// Keeps the first [`SHOW`] bytes of a line or payload, counts the rest.
    fn hold(&mut self, bytes: &[u8]) {
        let room = SHOW.saturating_sub(self.pending.len()).min(bytes.len());
        self.pending.extend_from_slice(&bytes[..room]);
        self.more += (bytes.len() - room) as u64;
    }

    /// The room payload just ended, on one line.
    fn payload(&mut self) -> String {
        let sample = std::mem::take(&mut self.pending);
        let more = std::mem::take(&mut self.more);
        let mut text = format!("[payload, {} bytes]", self.payload_total);
        if !sample.is_empty() {
            text.push(' ');
            text.push_str(&wire_text(&sample));
        }
        if more > 0 {
            let _ = write!(text, " … ({more} more bytes)");
        }
        text
    }
}

/// room: the header lines of each message as they are on the wire, then
/// its payload on one line with its byte count (see [`Stream`]), the one
/// shape both the server's and the client's `-v` print.
pub fn room(bytes: &[u8], out: &mut Vec<String>) {
    let mut stream = Stream::new(Framing::Room);
    stream.push(bytes, out);
    stream.end(out);
}

/// channels: one trace line per 200-byte record, its text (LF as `^J`)
/// in quotes and its padding counted: `"Hi!" + 197 spaces`.
pub fn records(bytes: &[u8], out: &mut Vec<String>) {
    for record in bytes.chunks(RECORD) {
        let text = String::from_utf8_lossy(record);
        let kept = strip(&text);
        let mut line = format!("\"{}\"", one_line(kept.as_bytes()));
        let tail = &text[kept.len()..];
        let spaces = tail.len() - tail.trim_end_matches(' ').len();
        let other = &tail[..tail.len() - spaces];
        if !other.is_empty() {
            // Whitespace other than padding at the end (a course client's
            // `Hi!\n`): stripped by the receiver, but on the wire.
            let _ = write!(line, " + \"{}\"", one_line(other.as_bytes()));
        }
        if spaces > 0 {
            let _ = write!(line, " + {spaces} spaces");
        }
        if record.len() < RECORD {
            let _ = write!(line, " (a partial record, {} bytes)", record.len());
        }
        out.push(line);
    }
}

/// direct: one trace line per frame, its bytes in hex (type, length, body)
/// and its meaning beside them.
pub fn frames(from: Sender, bytes: &[u8], out: &mut Vec<String>) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(header) = rest.get(..5) else {
            out.push(format!("{}  (a partial frame header)", hex(rest)));
            return;
        };
        let kind = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let body_end = rest.len().min(5usize.saturating_add(len));
        let frame = &rest[..body_end];
        let body = &frame[5..];
        let meaning = if body.len() < len {
            format!("type 0x{kind:02x}, {} of {len} body bytes", body.len())
        } else {
            match from {
                Sender::Client => match crate::direct::Request::parse(kind, body) {
                    Ok(request) => format!("{request:?}"),
                    Err(e) => format!("type 0x{kind:02x}: {e}"),
                },
                Sender::Server => match crate::direct::Reply::parse(kind, body) {
                    Ok(reply) => format!("{reply:?}"),
                    Err(e) => format!("type 0x{kind:02x}: {e}"),
                },
            }
        };
        out.push(format!(
            "{:02x} {}{}  {}",
            kind,
            hex(&header[1..5]),
            if body.is_empty() {
                String::new()
            } else {
                format!(" {}", hex(body))
            },
            one_line(meaning.as_bytes())
        ));
        rest = &rest[body_end..];
    }
}

/// Bytes in hex, the first [`HEX`] of them, and how many more.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(HEX) * 2 + 16);
    for b in bytes.iter().take(HEX) {
        let _ = write!(out, "{b:02x}");
    }
    if bytes.len() > HEX {
        let _ = write!(out, "… (+{} bytes)", bytes.len() - HEX);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[u8], &mut Vec<String>), bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        f(bytes, &mut out);
        out
    }

    fn run_frames(from: Sender, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        frames(from, bytes, &mut out);
        out
    }

    #[test]
    fn lines_show_the_wire() {
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Vec<&str>)> = vec![
            (b"JOIN Alice\n", vec!["JOIN Alice"]),
            (b"JOIN Alice", vec!["JOIN Alice (no line end)"]),
            (b"Alice\nBob\n", vec!["Alice", "Bob"]),
            (b"REGISTER\r\nclientID: A\r\n\r\n", vec!["REGISTER", "clientID: A", ""]),
            (b"a\rb\r\r\n", vec!["a^Mb^M"]),
            (b"BCST \x1b]0;pwned\x07\n", vec!["BCST ^[]0;pwned^G"]),
        ];
        for (bytes, want) in cases {
            assert_eq!(run(lines, bytes), want, "{bytes:?}");
        }
        let long = vec![b'x'; SHOW + 10];
        let got = run(lines, &long);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].ends_with("x … (10 more bytes) (no line end)"),
            "{:?}",
            got[0]
        );
    }

    /// Fed in one piece or byte by byte, a stream shows the same lines.
    fn streamed(framing: Framing, wire: &[u8]) -> (Vec<String>, Vec<String>) {
        let mut whole = Vec::new();
        let mut stream = Stream::new(framing);
        stream.push(wire, &mut whole);
        stream.end(&mut whole);
        let mut bytewise = Vec::new();
        let mut stream = Stream::new(framing);
        for b in wire {
            stream.push(&[*b], &mut bytewise);
        }
        stream.end(&mut bytewise);
        assert_eq!(bytewise, whole, "{wire:?}");
        (whole, bytewise)
    }

    #[test]
    fn bridge_lines_drop_the_cr_of_crlf_in_any_pieces() {
        let wire = b"REGACK\r\nclientID: A\r\n\r\nhi \x1b[2J\nlast";
        let (whole, _) = streamed(Framing::Lines, wire);
        assert_eq!(
            whole,
            [
                "REGACK",
                "clientID: A",
                "",
                "hi ^[[2J",
                "last (no line end)"
            ]
        );
        assert_eq!(run(lines, wire), whole);

        let mut long = vec![b'x'; SHOW + 10];
        long.extend(b"\r\n");
        let shown = run(lines, &long);
        assert_eq!(shown.len(), 1);
        assert!(shown[0].ends_with("x … (12 more bytes)"), "{shown:?}");
    }

    #[test]
    fn room_messages_show_header_lines_and_a_payload_line() {
        let mut wire = crate::room::Message::text("Bob", "one\ntwo\r\n \x1b[2J")
            .at("12:00:00")
            .to_bytes();
        wire.extend(crate::room::Message::text("Eve", "x").to_bytes());
        let (whole, _) = streamed(Framing::Room, &wire);
        assert_eq!(run(room, &wire), whole);
        assert_eq!(whole.len(), 2 * 16, "{whole:?}");
        assert_eq!(
            &whole[12..16],
            [
                "PAYLOAD_LENGTH: 14",
                "TIMESTAMP: 12:00:00",
                "",
                "[payload, 14 bytes] one^Jtwo^M^J ^[[2J"
            ]
        );
        assert_eq!(whole[31], "[payload, 1 bytes] x");

        let empty = crate::room::Message::text("Bob", "").to_bytes();
        assert_eq!(run(room, &empty).last().unwrap(), "[payload, 0 bytes]");

        let mut big = crate::room::Message::text("Bob", "y".repeat(SHOW + 5)).to_bytes();
        big.truncate(big.len() - 2);
        let shown = run(room, &big);
        assert_eq!(shown.len(), 16);
        let end = &shown[15];
        assert!(
            end.starts_with(&format!("[payload, {} bytes] yyy", SHOW + 5))
                && end.ends_with("y … (3 more bytes) (cut short)"),
            "{end:?}"
        );
    }

    #[test]
    fn records_show_their_padding() {
        let mut rec = b"Hi!\n".to_vec();
        rec.resize(RECORD, b' ');
        let mut two = b"[Kay] Hi!".to_vec();
        two.resize(RECORD, b' ');
        two.extend_from_slice(&[b'x'; RECORD]);
        assert_eq!(run(records, &rec), ["\"Hi!\" + \"^J\" + 196 spaces"]);
        assert_eq!(
            run(records, &two),
            [
                "\"[Kay] Hi!\" + 191 spaces".to_owned(),
                format!("\"{}\"", "x".repeat(RECORD))
            ]
        );
    }

    #[test]
    fn frames_show_hex_and_meaning() {
        assert_eq!(
            run_frames(Sender::Client, b"\x01\x00\x00\x00\x06\x05Alice"),
            ["01 00000006 05416c696365  Login(\"Alice\")"]
        );
        assert_eq!(
            run_frames(
                Sender::Server,
                b"\x82\x00\x00\x00\x01\x00\x82\x00\x00\x00\x01\x01"
            ),
            [
                "82 00000001 00  Response(Ok)",
                "82 00000001 01  Response(Failure)"
            ]
        );
        assert_eq!(
            run_frames(Sender::Client, b"\x02\x00\x00\x00\x00"),
            ["02 00000000  List"]
        );
        let got = run_frames(Sender::Client, b"\x09\x00\x00\x00\x01\x1b");
        assert!(got[0].starts_with("09 00000001 1b  type 0x09"), "{got:?}");
    }
}
