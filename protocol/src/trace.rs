//! The `-v`/`--trace` shapes of every dialect's messages, as they are on
//! the wire: one function per framing, turning one message's bytes into
//! the lines a trace prints (without the `<`/`>` mark, which the caller
//! adds with whatever else it names: the server an fd, the client
//! nothing). Shared by the server and the client, so that a student sees
//! the same shapes on both sides.
//!
//! Text lines (lobby, room headers, bridge) show each line with its CR
//! visible (`^M`), 200-byte records (channels) their text in quotes and
//! their padding counted, frames (direct) their bytes in hex with their
//! meaning beside them. Everything is terminal-safe; a long message shows
//! its first bytes and how many more.

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

/// `bytes` cut to what is shown, and a note on the rest.
fn shown(bytes: &[u8]) -> (&[u8], String) {
    if bytes.len() <= SHOW {
        (bytes, String::new())
    } else {
        (
            &bytes[..SHOW],
            format!(" … ({} more bytes)", bytes.len() - SHOW),
        )
    }
}

/// Terminal-safe text on one line: LF shows as `^J` too.
fn one_line(bytes: &[u8]) -> String {
    safe::escape(bytes).replace('\n', "^J")
}

/// Text lines, as lobby, room (its header block) and bridge send them:
/// one trace line per line, its CR shown as `^M` (so that CRLF is seen),
/// an empty line as nothing after the mark, and a last line without LF
/// marked as such.
pub fn lines(bytes: &[u8], out: &mut Vec<String>) {
    let (bytes, more) = shown(bytes);
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                out.push(caret_cr(&rest[..lf]));
                rest = &rest[lf + 1..];
            }
            None => {
                if more.is_empty() {
                    out.push(format!("{} (no line end)", caret_cr(rest)));
                } else {
                    out.push(caret_cr(rest));
                }
                rest = &[];
            }
        }
    }
    if !more.is_empty() {
        match out.last_mut() {
            Some(last) => last.push_str(&more),
            None => out.push(more.trim_start().to_owned()),
        }
    }
}

/// A line's text with every CR visible (`safe::escape` drops a CR right
/// before an LF; here the LF is already gone, so a CR shows as `^M`).
fn caret_cr(line: &[u8]) -> String {
    safe::escape(line)
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
            (b"REGISTER\r\nclientID: A\r\n\r\n", vec!["REGISTER^M", "clientID: A^M", "^M"]),
            (b"BCST \x1b]0;pwned\x07\n", vec!["BCST ^[]0;pwned^G"]),
        ];
        for (bytes, want) in cases {
            assert_eq!(run(lines, bytes), want, "{bytes:?}");
        }
        let long = vec![b'x'; SHOW + 10];
        let got = run(lines, &long);
        assert_eq!(got.len(), 1);
        assert!(got[0].ends_with(" … (10 more bytes)"), "{:?}", got[0]);
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
