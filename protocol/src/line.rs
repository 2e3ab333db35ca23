//! LF line framing, shared by every dialect that speaks in lines.
//!
//! A line ends with LF; one CR right before the LF is dropped; nothing else is
//! trimmed. Many course clients send a command in one write with no line end
//! and expect an answer, so [`LineDecoder`] also ends a pending line when the
//! reader tells it the sender paused ([`Decoder::idle`]): those bytes are one
//! line, exactly as if an LF had followed. The tail of a line being discarded
//! for its length is not ended by a pause. [`split_line`] takes one line off a buffer (the room and bridge
//! header blocks are read with it); [`LineDecoder`] frames a whole stream of
//! lines with a length limit (lobby's requests and replies, the clients'
//! stdin).

use crate::{Decoded, Decoder, Never};

/// Splits the first LF-ended line off `buf`: the line without its LF and
/// without one CR before the LF, and the bytes used (the LF included).
/// `None` when `buf` holds no LF.
pub fn split_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let lf = buf.iter().position(|&b| b == b'\n')?;
    Some((strip_cr(&buf[..lf]), lf + 1))
}

/// `line` without one trailing CR.
pub fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One framed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A whole line, without its LF and without a CR before the LF. Blank
    /// lines come out as an empty `Text`.
    Text(Vec<u8>),
    /// The line passed the length limit. This is reported as soon as it
    /// passes; the rest of the line, up to and including its LF, is skipped.
    TooLong,
}

/// Frames LF-ended lines of at most `max` bytes (CR and LF not counted).
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max: usize,
    /// How many bytes of the current line were already searched for LF, so
    /// that a line arriving a byte at a time is scanned once, not once a byte.
    scanned: usize,
    /// Inside the tail of a line that was already reported as too long.
    discarding: bool,
}

impl LineDecoder {
    /// A decoder for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineDecoder {
            max,
            scanned: 0,
            discarding: false,
        }
    }
}

impl Decoder for LineDecoder {
    type Item = Line;
    type Error = Never;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Line>, Never> {
        let from = self.scanned.min(buf.len());
        match buf[from..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let lf = from + i;
                self.scanned = 0;
                if self.discarding {
                    self.discarding = false;
                    return Ok(Decoded::Skip(lf + 1));
                }
                let line = strip_cr(&buf[..lf]);
                if line.len() > self.max {
                    // Arrived whole in one read: report and skip it in one go.
                    return Ok(Decoded::Item(Line::TooLong, lf + 1));
                }
                Ok(Decoded::Item(Line::Text(line.to_vec()), lf + 1))
            }
            None if self.discarding => {
                self.scanned = 0;
                Ok(if buf.is_empty() {
                    Decoded::Incomplete
                } else {
                    Decoded::Skip(buf.len())
                })
            }
            None => {
                // Without an LF in sight, the line is too long once it holds
                // more than `max` bytes that cannot be the CR of a CR LF.
                let over = buf.len() > self.max + 1
                    || (buf.len() == self.max + 1 && buf[self.max] != b'\r');
                if over {
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Decoded::Item(Line::TooLong, buf.len()));
                }
                self.scanned = buf.len();
                Ok(Decoded::Incomplete)
            }
        }
    }

    fn idle(&mut self, buf: &[u8]) -> Decoded<Line> {
        if self.discarding || buf.is_empty() {
            return Decoded::Incomplete;
        }
        // `decode` has already reported anything longer than `max` (a line
        // of `max + 1` bytes may end in the CR of a CR LF, which goes).
        self.scanned = 0;
        let line = strip_cr(buf);
        if line.len() > self.max {
            return Decoded::Item(Line::TooLong, buf.len());
        }
        Decoded::Item(Line::Text(line.to_vec()), buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn lines(max: usize, input: &[u8], step: usize) -> Vec<Line> {
        crate::buffer::decode_in_pieces(LineDecoder::new(max), input, step).0
    }

    fn text(s: &str) -> Line {
        Line::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn table() {
        let long = "x".repeat(9);
        let cases: Vec<(&[u8], Vec<Line>)> = vec![
            (b"", vec![]),
            (b"abc", vec![]),
            (b"abc\n", vec![text("abc")]),
            (b"abc\r\n", vec![text("abc")]),
            (b"abc\r\r\n", vec![text("abc\r")]),
            (b"a\rb\n", vec![text("a\rb")]),
            (b"\n", vec![text("")]),
            (b"\r\n", vec![text("")]),
            (b" x \n", vec![text(" x ")]),
            (b"a\nb\n", vec![text("a"), text("b")]),
            (b"12345678\n", vec![text("12345678")]),
            (b"12345678\r\n", vec![text("12345678")]),
            (b"123456789\n", vec![Line::TooLong]),
            (b"123456789\r\nok\n", vec![Line::TooLong, text("ok")]),
            (long.as_bytes(), vec![Line::TooLong]),
            (b"123456789abcdef\nok\n", vec![Line::TooLong, text("ok")]),
            (b"\xff\xfe\n", vec![Line::Text(vec![0xff, 0xfe])]),
        ];
        for (input, want) in cases {
            for step in [usize::MAX, 1, 2, 3, 7] {
                assert_eq!(
                    lines(8, input, step),
                    want,
                    "input {:?} in pieces of {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    /// Feeds each burst, then the pause that follows it, collecting lines.
    fn lines_with_pauses(max: usize, bursts: &[&[u8]]) -> Vec<Line> {
        let mut frames = crate::FrameBuffer::new(LineDecoder::new(max));
        let mut out = Vec::new();
        for burst in bursts {
            frames.extend(burst);
            while let Some(line) = frames.next_item().unwrap() {
                out.push(line);
            }
            out.extend(frames.idle());
        }
        out
    }

    #[test]
    fn a_pause_ends_a_pending_line() {
        let cases: Vec<(&[&[u8]], Vec<Line>)> = vec![
            (&[b"JOIN Alice"], vec![text("JOIN Alice")]),
            (
                &[b"JOIN Alice", b"LIST"],
                vec![text("JOIN Alice"), text("LIST")],
            ),
            // One burst is never split, LF or not.
            (&[b"JOIN AliceLIST"], vec![text("JOIN AliceLIST")]),
            (&[b"a\nb"], vec![text("a"), text("b")]),
            // Exactly as if an LF had followed: a CR before the pause goes.
            (&[b"abc\r"], vec![text("abc")]),
            (&[b"1234567890123456\r"], vec![text("1234567890123456")]),
            // Nothing pending: a pause yields nothing, not a blank line.
            (&[b"abc\n"], vec![text("abc")]),
            (&[b""], vec![]),
            // The tail of an over-long line is not ended by a pause: it is
            // discarded up to its LF, and what follows is a new line.
            (
                &[b"12345678901234567", b"abc", b"def\nok"],
                vec![Line::TooLong, text("ok")],
            ),
        ];
        for (bursts, want) in cases {
            assert_eq!(lines_with_pauses(16, bursts), want, "bursts {bursts:?}");
        }
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let input = b"hello world\r\n";
        for cut in 0..input.len() {
            let mut dec = LineDecoder::new(4096);
            assert_eq!(dec.decode(&input[..cut]).unwrap(), Decoded::Incomplete);
        }
    }

    #[test]
    fn too_long_is_reported_as_soon_as_it_passes() {
        let mut dec = LineDecoder::new(4);
        assert_eq!(dec.decode(b"1234").unwrap(), Decoded::Incomplete);
        // A CR in fifth place may still be the CR of a CR LF.
        assert_eq!(dec.decode(b"1234\r").unwrap(), Decoded::Incomplete);
        let mut dec = LineDecoder::new(4);
        assert_eq!(
            dec.decode(b"12345").unwrap(),
            Decoded::Item(Line::TooLong, 5)
        );
        assert_eq!(dec.decode(b"678").unwrap(), Decoded::Skip(3));
        assert_eq!(dec.decode(b"9\nab\n").unwrap(), Decoded::Skip(2));
        assert_eq!(dec.decode(b"ab\n").unwrap(), Decoded::Item(text("ab"), 3));
    }

    #[test]
    fn split_line_drops_one_cr() {
        assert_eq!(split_line(b"ab\r\ncd"), Some((&b"ab"[..], 4)));
        assert_eq!(split_line(b"ab"), None);
        assert_eq!(split_line(b"\n"), Some((&b""[..], 1)));
    }
}
