//! `-v` / `--trace`: every message sent and received, as it was on the wire,
//! on stderr (stdout stays scriptable), terminal-safe.
//!
//! A [`Trace`] follows one direction of one connection (`> ` sent, `< `
//! received) and is fed the raw bytes as they were written or read, in any
//! pieces. It cuts them into messages by the dialect's framing and prints
//! each in `chat_protocol::trace`'s shapes, the same as the server's `-v`:
//!
//! - text dialects ([`Trace::lines`]): each line as it was, without its LF
//!   or CR LF (any other CR shows as `^M`); what arrived without a line end is shown at once, marked
//!   `(no line end)` (that is what a learner of the lobby dialect needs to
//!   see); an empty line is a bare `> ` / `< `;
//! - channels ([`Trace::records`]): each 200-byte record, its text in quotes
//!   and its padding counted: `> "Hi!" + 197 spaces`;
//! - direct ([`Trace::frames`]): each frame's bytes in hex and what they
//!   mean: `> 01 00000005 044a6f686e  Login("John")`.
//!
//! - bridge ([`Trace::blocks`]): each line once its LF is in, without its
//!   CR LF as the server shows it, so a block's closing empty line is a
//!   bare `> `; [`Trace::end`] shows a last line that never got its LF,
//!   marked `(no line end)`;
//! - room ([`Trace::room`]): each header line likewise, then the payload
//!   on one line with its byte count: `< [payload, 22 bytes] line
//!   one^Jline two`, at most its first 1 KiB shown, then `… (N more
//!   bytes)`.
//!
//! Bridge and room are cut by `chat_protocol::trace::Stream`, the one
//! implementation the server's `-v` uses too. It never changes what is
//! sent, and holds at most one unfinished record, one frame of at most 64
//! KiB (a longer frame shows its header only), or the first 1 KiB of one
//! line or payload.

use chat_protocol::channels::RECORD;
use chat_protocol::direct::HEADER;
use chat_protocol::trace::{self as wire, Framing, Sender, Stream};

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

    /// Who sent bytes that went this way from a client's side.
    fn sender(self) -> Sender {
        match self {
            Dir::Sent => Sender::Client,
            Dir::Received => Sender::Server,
        }
    }
}

/// A direct frame with a longer body is shown by its header alone.
const MAX_PENDING: usize = 64 * 1024;

/// One direction's trace; it prints nothing when `-v` was not given.
pub struct Trace {
    out: Option<Printer>,
    dir: Dir,
    /// Bytes of an unfinished record or frame.
    pending: Vec<u8>,
    /// Direct: body bytes of a long frame still to pass unshown.
    skip: usize,
    /// Bridge and room: the shared cutter, made at the first bytes.
    stream: Option<Stream>,
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
            stream: None,
        }
    }

    /// Bridge blocks: CRLF (or LF) lines, each shown once it is whole.
    pub fn blocks(&mut self, bytes: &[u8]) {
        self.feed(bytes, Trace::cut_blocks);
    }

    /// Room messages: header lines, then PAYLOAD_LENGTH bytes of payload.
    pub fn room(&mut self, bytes: &[u8]) {
        self.feed(bytes, Trace::cut_room);
    }

    /// Shows a line that never got its LF (the connection ended).
    pub fn end(&mut self) {
        self.feed(&[], |trace, _| trace.cut_end());
    }

    /// Cuts `bytes` with `cut` and prints what it shows; nothing at all
    /// without `-v`.
    fn feed(&mut self, bytes: &[u8], cut: fn(&mut Trace, &[u8]) -> Vec<String>) {
        if self.out.is_some() {
            let shown = cut(self, bytes);
            self.emit(shown);
        }
    }

    fn cut_blocks(&mut self, bytes: &[u8]) -> Vec<String> {
        self.cut_stream(Framing::Lines, bytes)
    }

    fn cut_room(&mut self, bytes: &[u8]) -> Vec<String> {
        self.cut_stream(Framing::Room, bytes)
    }

    fn cut_stream(&mut self, framing: Framing, bytes: &[u8]) -> Vec<String> {
        let mut shown = Vec::new();
        self.stream
            .get_or_insert_with(|| Stream::new(framing))
            .push(bytes, &mut shown);
        shown
    }

    fn cut_end(&mut self) -> Vec<String> {
        let mut shown = Vec::new();
        if let Some(stream) = &mut self.stream {
            stream.end(&mut shown);
        }
        shown
    }

    /// Text lines ended by LF.
    pub fn lines(&mut self, bytes: &[u8]) {
        self.feed(bytes, Trace::cut_lines);
    }

    /// Channels' fixed 200-byte records.
    pub fn records(&mut self, bytes: &[u8]) {
        self.feed(bytes, Trace::cut_records);
    }

    /// Direct's type-length-value frames.
    pub fn frames(&mut self, bytes: &[u8]) {
        self.feed(bytes, Trace::cut_frames);
    }

    fn emit(&self, shown: Vec<String>) {
        if let (Some(out), false) = (&self.out, shown.is_empty()) {
            let mut text = String::new();
            for line in shown {
                text.push_str(self.dir.prefix());
                text.push_str(&line);
                text.push('\n');
            }
            out.note(text);
        }
    }

    /// Every line in `bytes`, and what follows the last LF as a line
    /// without one (nothing is held back: the reader does not wait either).
    fn cut_lines(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut shown = Vec::new();
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            wire::lines(line, &mut shown);
        }
        shown
    }

    fn cut_records(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let whole = self.pending.len() / RECORD * RECORD;
        let mut shown = Vec::new();
        for record in self.pending[..whole].chunks(RECORD) {
            wire::records(record, &mut shown);
        }
        self.pending.drain(..whole);
        shown
    }

    fn cut_frames(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut shown = Vec::new();
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
            }
            if bytes.is_empty() {
                return shown;
            }
            let need = match self.pending.get(..HEADER) {
                Some(header) => HEADER + body_len(header),
                None => HEADER,
            };
            let n = need.saturating_sub(self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            let Some(header) = self.pending.get(..HEADER) else {
                continue;
            };
            let len = body_len(header);
            if len > MAX_PENDING || self.pending.len() == HEADER + len {
                // A long frame: its header (the shapes say how much of the
                // body there was); then its body passes unshown.
                wire::frames(self.dir.sender(), &self.pending, &mut shown);
                self.skip = HEADER + len - self.pending.len();
                self.pending.clear();
            }
        }
    }
}

fn body_len(header: &[u8]) -> usize {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    usize::try_from(len).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::direct::Request;

    /// A trace with no printer, for its pure cutting.
    fn bare(dir: Dir) -> Trace {
        Trace {
            out: None,
            dir,
            pending: Vec::new(),
            skip: 0,
            stream: None,
        }
    }

    #[test]
    fn lines_are_shown_as_they_came() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &[&str])] = &[
            (b"JOIN Al\n", &["JOIN Al"]),
            (b"a\r\nb\n", &["a", "b"]),
            (b"a\rb\n", &["a^Mb"]),
            (b"\n", &[""]),
            (b"Alice joined!", &["Alice joined! (no line end)"]),
            (b"abc\ndef", &["abc", "def (no line end)"]),
            (b"\x1b]0;x\x07\n", &["^[]0;x^G"]),
        ];
        for (bytes, want) in cases {
            assert_eq!(bare(Dir::Sent).cut_lines(bytes), *want, "{bytes:?}");
        }
    }

    #[test]
    fn bridge_and_room_are_cut_by_the_shared_stream() {
        let wire = b"REGACK\r\nclientID: A\r\n\r\nlast";
        let mut trace = bare(Dir::Received);
        let bytewise: Vec<String> = wire.iter().flat_map(|b| trace.cut_blocks(&[*b])).collect();
        assert_eq!(bytewise, ["REGACK", "clientID: A", ""]);
        assert_eq!(trace.cut_end(), ["last (no line end)"]);
        assert!(trace.cut_end().is_empty());

        let wire = chat_protocol::room::Message::text("Bob", "hi").to_bytes();
        let mut want = Vec::new();
        wire::room(&wire, &mut want);
        assert_eq!(bare(Dir::Received).cut_room(&wire), want);
        assert_eq!(
            want.last().map(String::as_str),
            Some("[payload, 2 bytes] hi")
        );
    }

    #[test]
    fn records_in_any_pieces_show_alike() {
        let mut wire = Vec::new();
        chat_protocol::channels::encode("hi", &mut wire);
        chat_protocol::channels::encode("yo", &mut wire);
        let mut trace = bare(Dir::Received);
        let shown: Vec<String> = wire.chunks(7).flat_map(|c| trace.cut_records(c)).collect();
        assert_eq!(shown, ["\"hi\" + 198 spaces", "\"yo\" + 198 spaces"]);
    }

    #[test]
    fn frames_in_any_pieces_show_alike() {
        let mut wire = Request::Login("John".into()).to_bytes();
        wire.extend(Request::List.to_bytes());
        let whole = bare(Dir::Sent).cut_frames(&wire);
        assert_eq!(
            whole,
            [
                "01 00000005 044a6f686e  Login(\"John\")",
                "02 00000000  List"
            ]
        );
        let mut trace = bare(Dir::Sent);
        let bytewise: Vec<String> = wire.iter().flat_map(|b| trace.cut_frames(&[*b])).collect();
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn a_long_frame_shows_its_header_and_is_not_held() {
        let mut wire = vec![0x83, 0, 1, 0, 1];
        wire.resize(HEADER + 65537, b'x');
        let mut ok = Vec::new();
        chat_protocol::direct::encode_response(chat_protocol::direct::Outcome::Ok, &mut ok);
        wire.extend(&ok);
        let mut trace = bare(Dir::Received);
        let shown: Vec<String> = wire
            .chunks(1000)
            .flat_map(|c| trace.cut_frames(c))
            .collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("83 00010001  type 0x83, 0 of 65537"),
            "{shown:?}"
        );
        assert_eq!(shown[1], "82 00000001 00  Response(Ok)");
        assert!(trace.pending.is_empty());
    }
}
