//! `-v` / `--trace`: every message sent and received, as it was on the wire,
//! on stderr (stdout stays scriptable), terminal-safe.
//!
//! A [`Trace`] follows one direction of one connection (`> ` sent, `< `
//! received) and is fed the raw bytes as they were written or read, in any
//! pieces; it cuts them by the dialect's framing and prints one line per
//! wire line:
//!
//! - text dialects ([`Trace::lines`]): each line as it was, without its
//!   line end; a line that arrived without one is marked ` [no line end]`
//!   (the reader then goes on as the dialect's framing says); a block's
//!   closing empty line shows as a bare `> ` / `< `;
//! - channels ([`Trace::records`]): each 200-byte record with its padding
//!   made visible: `> Hi!␠×197` (an LF inside a record shows as `^J`);
//! - direct ([`Trace::frames`]): each frame's bytes in hex and, beside them,
//!   what they mean: `> 01 00 00 00 05 04 4a 6f 68 6e  LOGIN John`.
//!
//! It never changes what is sent, and holds at most one unfinished line,
//! record or frame header per direction (a frame's body is shown in part).

use chat_protocol::channels::RECORD;
use chat_protocol::direct::{Reply, Request, HEADER};
use chat_protocol::safe;

use crate::console::Printer;

/// Which way the bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Sent,
    Received,
}

impl Dir {
    fn prefix(self) -> &'static str {
        match self {
            Dir::Sent => "> ",
            Dir::Received => "< ",
        }
    }
}

/// The longest line the trace holds back waiting for its end; past it the
/// piece is shown as it is.
const MAX_PENDING: usize = 64 * 1024;
/// How many bytes of a frame are shown in hex.
const HEX_SHOWN: usize = 48;

/// One direction's trace; `None` inside when `-v` was not given.
pub struct Trace {
    out: Option<Printer>,
    dir: Dir,
    /// Bytes of an unfinished line, record or frame.
    pending: Vec<u8>,
    /// Direct: body bytes of a long frame still to pass unshown.
    skip: usize,
}

impl Trace {
    /// A trace of `dir` printing through `out`, or doing nothing when
    /// `enabled` is false.
    pub fn new(out: &Printer, dir: Dir, enabled: bool) -> Trace {
        Trace {
            out: enabled.then(|| out.clone()),
            dir,
            pending: Vec::new(),
            skip: 0,
        }
    }

    /// Text lines ended by LF (a CR before it is not shown).
    pub fn lines(&mut self, bytes: &[u8]) {
        if self.out.is_some() {
            let shown = self.cut_lines(bytes);
            self.emit(shown);
        }
    }

    /// Channels' fixed 200-byte records.
    pub fn records(&mut self, bytes: &[u8]) {
        if self.out.is_some() {
            let shown = self.cut_records(bytes);
            self.emit(shown);
        }
    }

    /// Direct's type-length-value frames.
    pub fn frames(&mut self, bytes: &[u8]) {
        if self.out.is_some() {
            let shown = self.cut_frames(bytes);
            self.emit(shown);
        }
    }

    fn emit(&self, shown: String) {
        if let Some(out) = &self.out {
            if !shown.is_empty() {
                out.note(shown);
            }
        }
    }

    fn cut_lines(&mut self, bytes: &[u8]) -> String {
        let mut shown = String::new();
        self.pending.extend_from_slice(bytes);
        let mut rest = &self.pending[..];
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            shown.push_str(&show_line(self.dir, &rest[..lf], ""));
            rest = &rest[lf + 1..];
        }
        if !rest.is_empty() {
            // Shown at once: what arrives without an LF is what learners
            // of the lobby dialect need to see.
            shown.push_str(&show_line(self.dir, rest, " [no line end]"));
            rest = &[];
        }
        let used = self.pending.len() - rest.len();
        self.pending.drain(..used);
        shown
    }

    fn cut_records(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut shown = String::new();
        let whole = self.pending.len() / RECORD * RECORD;
        for record in self.pending[..whole].chunks(RECORD) {
            shown.push_str(&show_record(self.dir, record));
        }
        self.pending.drain(..whole);
        shown
    }

    fn cut_frames(&mut self, mut bytes: &[u8]) -> String {
        let mut shown = String::new();
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
            }
            if bytes.is_empty() {
                break;
            }
            let need = match self.pending.get(..HEADER) {
                Some(header) => HEADER + body_len(header),
                None => HEADER,
            };
            let n = need.saturating_sub(self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() < HEADER {
                continue;
            }
            let len = body_len(&self.pending[..HEADER]);
            if len > MAX_PENDING && self.pending.len() == HEADER {
                // Too long to hold: show the header, pass the body unshown.
                shown.push_str(&format!(
                    "{}{}  type 0x{:02x}, a body of {len} bytes (not shown)\n",
                    self.dir.prefix(),
                    hex(&self.pending),
                    self.pending[0]
                ));
                self.pending.clear();
                self.skip = len;
                continue;
            }
            if self.pending.len() == HEADER + len {
                shown.push_str(&show_frame(self.dir, &self.pending));
                self.pending.clear();
            }
        }
        shown
    }
}

fn body_len(header: &[u8]) -> usize {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// One trace line: prefix, the line made safe (the CR of a CR LF dropped,
/// as the terminal-safety rule does), and `mark`.
fn show_line(dir: Dir, line: &[u8], mark: &str) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = safe::escape(line).replace('\n', "^J");
    format!("{}{text}{mark}\n", dir.prefix())
}

fn show_record(dir: Dir, record: &[u8]) -> String {
    let text_len = record.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let text = safe::escape(&record[..text_len])
        .replace('\n', "^J")
        .replace('\t', "^I");
    let padding = record.len() - text_len;
    if padding == 0 {
        format!("{}{text}\n", dir.prefix())
    } else {
        format!("{}{text}␠×{padding}\n", dir.prefix())
    }
}

fn show_frame(dir: Dir, frame: &[u8]) -> String {
    let (kind, body) = (frame[0], &frame[HEADER..]);
    let meaning = match dir {
        Dir::Sent => match Request::parse(kind, body) {
            Ok(Request::Login(name)) => format!("LOGIN {name}"),
            Ok(Request::List) => "LIST".into(),
            Ok(Request::SendTo { to, text }) => format!("SENDTO {to}: {text}"),
            Ok(Request::Logout) => "LOGOUT".into(),
            Err(e) => format!("unreadable: {e}"),
        },
        Dir::Received => match Reply::parse(kind, body) {
            Ok(Reply::List(names)) => format!("LIST reply: {}", names.join(", ")),
            Ok(Reply::Response(outcome)) => {
                format!("RESPONSE {} ({outcome:?})", outcome as u8)
            }
            Ok(Reply::SendTo { from, text }) => format!("SENDTO from {from}: {text}"),
            Err(e) => format!("unreadable: {e}"),
        },
    };
    let meaning = safe::escape_str(&meaning).replace('\n', "^J");
    format!("{}{}  {meaning}\n", dir.prefix(), hex(frame))
}

/// The first bytes in hex, and how many there were when not all are shown.
fn hex(bytes: &[u8]) -> String {
    let mut out: Vec<String> = bytes
        .iter()
        .take(HEX_SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    if bytes.len() > HEX_SHOWN {
        out.push(format!("… ({} bytes)", bytes.len()));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace with no printer, for its pure cutting.
    fn bare(dir: Dir) -> Trace {
        Trace {
            out: None,
            dir,
            pending: Vec::new(),
            skip: 0,
        }
    }

    #[test]
    fn frames_in_any_pieces_show_alike() {
        let mut wire = Request::Login("John".into()).to_bytes();
        wire.extend(Request::List.to_bytes());
        let whole = bare(Dir::Sent).cut_frames(&wire);
        assert_eq!(
            whole,
            "> 01 00 00 00 05 04 4a 6f 68 6e  LOGIN John\n> 02 00 00 00 00  LIST\n"
        );
        let mut trace = bare(Dir::Sent);
        let bytewise: String = wire.iter().map(|b| trace.cut_frames(&[*b])).collect();
        assert_eq!(bytewise, whole);
        // A huge body is not held: its header is shown, its bytes skipped.
        let mut big = vec![0x83, 0, 1, 0, 1];
        big.resize(5 + 65537, b'x');
        big.extend(Request::List.to_bytes());
        let shown = bare(Dir::Received).cut_frames(&big);
        assert!(
            shown.ends_with("not shown)\n< 02 00 00 00 00  unreadable: unknown frame type 0x02\n"),
            "{shown}"
        );
    }

    #[test]
    fn records_in_any_pieces_show_alike() {
        let mut wire = Vec::new();
        chat_protocol::channels::encode("hi", &mut wire);
        chat_protocol::channels::encode("yo", &mut wire);
        let mut trace = bare(Dir::Received);
        let shown: String = wire.chunks(7).map(|c| trace.cut_records(c)).collect();
        assert_eq!(shown, "< hi␠×198\n< yo␠×198\n");
    }

    #[test]
    fn lines_table() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &str)] = &[
            (b"JOIN Al\n", "> JOIN Al\n"),
            (b"a\r\nb\n", "> a\n> b\n"),
            (b"\r\n", "> \n"),
            (b"Alice joined!", "> Alice joined! [no line end]\n"),
            (b"\x1b]0;x\x07\n", "> ^[]0;x^G\n"),
        ];
        for (bytes, want) in cases {
            let mut got = String::new();
            let mut rest: &[u8] = bytes;
            while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
                got.push_str(&show_line(Dir::Sent, &rest[..lf], ""));
                rest = &rest[lf + 1..];
            }
            if !rest.is_empty() {
                got.push_str(&show_line(Dir::Sent, rest, " [no line end]"));
            }
            assert_eq!(got, *want, "{bytes:?}");
        }
    }

    #[test]
    fn records_show_their_padding() {
        let mut hi = b"Hi!".to_vec();
        hi.resize(RECORD, b' ');
        assert_eq!(show_record(Dir::Sent, &hi), "> Hi!␠×197\n");
        let mut padded = b"Hi!\n".to_vec();
        padded.resize(RECORD, b' ');
        assert_eq!(show_record(Dir::Received, &padded), "< Hi!^J␠×196\n");
        let full = vec![b'x'; RECORD];
        assert_eq!(
            show_record(Dir::Sent, &full),
            format!("> {}\n", "x".repeat(RECORD))
        );
    }

    #[test]
    fn frames_show_hex_and_meaning() {
        let login = Request::Login("John".into()).to_bytes();
        assert_eq!(
            show_frame(Dir::Sent, &login),
            "> 01 00 00 00 05 04 4a 6f 68 6e  LOGIN John\n"
        );
        let mut ok = Vec::new();
        chat_protocol::direct::encode_response(chat_protocol::direct::Outcome::Ok, &mut ok);
        assert_eq!(
            show_frame(Dir::Received, &ok),
            "< 82 00 00 00 01 00  RESPONSE 0 (Ok)\n"
        );
    }
}
