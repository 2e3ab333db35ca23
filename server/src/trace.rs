//! `-v`/`--trace`: every message sent and received on every connection, as
//! it is on the wire, on stderr, one or more lines per message prefixed with
//! the connection's fd and `<` (received) or `>` (sent). This is how
//! students learn a protocol, so it shows bytes, not what was understood.
//!
//! The core calls a dialect's formatter ([`Dialect::trace`]) with the bytes
//! of one message: the reader with what one decoded request used, the
//! connection table with what it queued. The formatters here are the
//! dialects' shapes: text lines (lobby, room headers, bridge), 200-byte
//! records with their padding made visible (channels), and frames in hex
//! with their decoded meaning beside them (direct). Everything shown is
//! terminal-safe; a long message shows its first bytes and how many more.
//!
//! [`Dialect::trace`]: crate::dispatch::Dialect::trace

use std::fmt::Write;

use chat_protocol::channels::{strip, RECORD};
use chat_protocol::safe;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// From the peer to the server.
    Received,
    /// From the server to the peer.
    Sent,
}

impl Way {
    fn mark(self) -> char {
        match self {
            Way::Received => '<',
            Way::Sent => '>',
        }
    }
}

/// A dialect's formatter: the trace lines for one message's bytes.
pub type Formatter = fn(Way, &[u8], &mut Vec<String>);

/// At most this many bytes of one message are shown.
const SHOW: usize = 1024;
/// At most this many bytes of a direct frame are shown in hex.
const HEX: usize = 48;

/// Prints the trace lines of one message on stderr (through the output
/// thread, so a stderr nobody reads never holds the server up).
pub fn print(fd: i32, way: Way, bytes: &[u8], formatter: Formatter) {
    let mut lines = Vec::new();
    formatter(way, bytes, &mut lines);
    for line in lines {
        crate::status::trace(format_args!("fd {fd} {} {line}", way.mark()));
    }
}

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
pub fn lines(_: Way, bytes: &[u8], out: &mut Vec<String>) {
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
pub fn records(_: Way, bytes: &[u8], out: &mut Vec<String>) {
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
pub fn frames(way: Way, bytes: &[u8], out: &mut Vec<String>) {
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
            match way {
                Way::Received => match chat_protocol::direct::Request::parse(kind, body) {
                    Ok(request) => format!("{request:?}"),
                    Err(e) => format!("type 0x{kind:02x}: {e}"),
                },
                Way::Sent => match chat_protocol::direct::Reply::parse(kind, body) {
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

    fn run(f: Formatter, way: Way, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        f(way, bytes, &mut out);
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
            assert_eq!(run(lines, Way::Received, bytes), want, "{bytes:?}");
        }
        let long = vec![b'x'; SHOW + 10];
        let got = run(lines, Way::Sent, &long);
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
        assert_eq!(
            run(records, Way::Received, &rec),
            ["\"Hi!\" + \"^J\" + 196 spaces"]
        );
        assert_eq!(
            run(records, Way::Sent, &two),
            [
                "\"[Kay] Hi!\" + 191 spaces".to_owned(),
                format!("\"{}\"", "x".repeat(RECORD))
            ]
        );
    }

    #[test]
    fn frames_show_hex_and_meaning() {
        assert_eq!(
            run(frames, Way::Received, b"\x01\x00\x00\x00\x06\x05Alice"),
            ["01 00000006 05416c696365  Login(\"Alice\")"]
        );
        assert_eq!(
            run(
                frames,
                Way::Sent,
                b"\x82\x00\x00\x00\x01\x00\x82\x00\x00\x00\x01\x01"
            ),
            [
                "82 00000001 00  Response(Ok)",
                "82 00000001 01  Response(Failure)"
            ]
        );
        assert_eq!(
            run(frames, Way::Received, b"\x02\x00\x00\x00\x00"),
            ["02 00000000  List"]
        );
        let got = run(frames, Way::Received, b"\x09\x00\x00\x00\x01\x1b");
        assert!(got[0].starts_with("09 00000001 1b  type 0x09"), "{got:?}");
    }
}
