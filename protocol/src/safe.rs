//! Network text made safe for a terminal: the one printer rule that every
//! client's output and every server status line goes through.
//!
//! No byte received from the network may reach a terminal as a control
//! sequence (`ESC ] 0 ; pwned BEL` retitles a window, `ESC [ 2 J` clears it).
//! So every control character but LF and TAB is shown in caret notation
//! (ESC as `^[`, BEL as `^G`, DEL as `^?`, CR as `^M`), the C1 controls
//! (U+0080 to U+009F) and the bidirectional overrides and isolates
//! (U+202A to U+202E, U+2066 to U+2069) as `<U+XXXX>`, and a CR right
//! before an LF is dropped. Bytes that are not UTF-8 show as U+FFFD.
//!
//! Only what is printed changes: bytes on the wire and files on disk never
//! pass through here. [`escape`] takes a whole text; [`Stream`] takes text
//! that arrives in pieces (a lobby reply printed as it arrives), holding
//! back a trailing CR or the first bytes of a split character until the
//! next piece says what they are.

/// `bytes` as text safe to print on a terminal.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut stream = Stream::default();
    stream.push(bytes, &mut out);
    stream.finish(&mut out);
    out
}

/// `text` safe to print on a terminal (as [`escape`], for text that is
/// already a `str`).
pub fn escape_str(text: &str) -> String {
    escape(text.as_bytes())
}

/// Escapes text that arrives in pieces, with the same result as [`escape`]
/// on the pieces put together.
#[derive(Debug, Default, Clone)]
pub struct Stream {
    /// Bytes at the end of the last piece whose meaning depends on the
    /// next one: a CR (dropped before an LF) or the start of a character.
    held: Vec<u8>,
}

impl Stream {
    /// Appends the safe form of `piece` to `out`, holding back at most a
    /// few bytes at its end.
    pub fn push(&mut self, piece: &[u8], out: &mut String) {
        let joined;
        let mut bytes = piece;
        if !self.held.is_empty() {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(piece);
            joined = held;
            bytes = &joined;
        }
        let keep = undecided_tail(bytes);
        let (now, later) = bytes.split_at(bytes.len() - keep);
        for chunk in now.utf8_chunks() {
            push_str(chunk.valid(), out);
            if !chunk.invalid().is_empty() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
        self.held = later.to_vec();
    }

    /// Appends whatever is still held back (the stream ended).
    pub fn finish(&mut self, out: &mut String) {
        let held = std::mem::take(&mut self.held);
        for chunk in held.utf8_chunks() {
            push_str(chunk.valid(), out);
            if !chunk.invalid().is_empty() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
}

/// How many bytes at the end of `bytes` cannot be printed yet: a final CR
/// (an LF may follow), or the first bytes of a character cut short.
fn undecided_tail(bytes: &[u8]) -> usize {
    if bytes.last() == Some(&b'\r') {
        return 1;
    }
    // A character is at most 4 bytes: look back up to 3 for its lead byte.
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: keep looking for the lead
        }
        let width = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if width > back { back } else { 0 };
    }
    0
}

/// Appends the safe form of valid text. A CR at its very end is shown as
/// `^M`: [`Stream::push`] holds such a CR back until it knows whether an
/// LF follows.
fn push_str(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(c as u8 ^ 0x40));
            }
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("<U+{:04X}>", c as u32));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&[u8], &str)] = &[
            (b"hello", "hello"),
            (b"a\tb\nc", "a\tb\nc"),
            (b"\x1b]0;pwned\x07\x1b[2J", "^[]0;pwned^G^[[2J"),
            (b"a\x7fb", "a^?b"),
            (b"\x00\x01\x1f", "^@^A^_"),
            (b"line\r\n", "line\n"),
            (b"a\rb", "a^Mb"),
            (b"end\r", "end^M"),
            (b"\r\r\n", "^M\n"),
            ("x\u{85}y".as_bytes(), "x<U+0085>y"),
            ("\u{9b}2J".as_bytes(), "<U+009B>2J"),
            ("evil\u{202e}txt.exe".as_bytes(), "evil<U+202E>txt.exe"),
            ("\u{2066}a\u{2069}".as_bytes(), "<U+2066>a<U+2069>"),
            ("héllo ünïcode ✓".as_bytes(), "héllo ünïcode ✓"),
            (b"\xff\xfeok", "\u{fffd}\u{fffd}ok"),
            (b"cut\xe2\x9c", "cut\u{fffd}"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn any_split_of_the_stream_prints_alike() {
        let input = "a\r\nb\x1b[1m✓\u{202e}é\r\rc\r".as_bytes();
        let whole = escape(input);
        for cut in 0..=input.len() {
            for cut2 in cut..=input.len() {
                let mut stream = Stream::default();
                let mut out = String::new();
                stream.push(&input[..cut], &mut out);
                stream.push(&input[cut..cut2], &mut out);
                stream.push(&input[cut2..], &mut out);
                stream.finish(&mut out);
                assert_eq!(out, whole, "cut at {cut} and {cut2}");
            }
        }
    }

    #[test]
    fn nothing_printed_is_a_control_sequence() {
        let all: Vec<u8> = (0..=255u8).collect();
        let out = escape(&all);
        assert!(out
            .chars()
            .all(|c| c == '\n' || c == '\t' || !(c.is_control())));
    }
}
