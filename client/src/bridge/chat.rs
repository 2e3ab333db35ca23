//! What a chat peer sends, read the way real course clients send it. Pure:
//! bytes in, [`Said`] out; no sockets, no clock.
//!
//! The bridge handout leaves the chat message to each group, so students'
//! clients send any of: a `CHAT` block with a `Message` header (other
//! headers, such as `Type: message`, ignored), a block whose `Type` is
//! `quit`, a `QUIT` block or a bare `QUIT` line, and bare text lines
//! (`Hello Alice` with LF or CRLF). All of them are understood here. Nothing
//! a peer sends is fatal: what cannot be read is a [`Said::Unreadable`] item
//! (the client warns and the chat goes on), so the only end of a chat is a
//! QUIT or the connection ending.
//!
//! Memory is bounded by one line ([`MAX_LINE`]): a block keeps only the
//! first value of the five headers it knows, and a line that runs past the
//! bound is reported and discarded up to its LF.

use std::fmt;

use chat_protocol::bridge::Contact;
use chat_protocol::{Decoded, Decoder, Never};

/// The longest line kept, its line end excluded; as long as the longest
/// block the rendezvous codec takes, so every CHAT our own client sends fits.
pub const MAX_LINE: usize = chat_protocol::bridge::MAX_BLOCK;

/// One thing a peer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// A CHAT without a Message header: who calls and where it listens.
    Start(Contact),
    /// One line of chat, from a Message header or a bare line.
    Text(String),
    /// The chat is over: a QUIT block, a bare QUIT line or `Type: quit`.
    Quit,
    /// Something that could not be read; skipped.
    Unreadable(Problem),
}

/// Why input was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A line that is not UTF-8.
    NotUtf8,
    /// A line longer than [`MAX_LINE`] bytes.
    TooLong,
    /// A line inside a CHAT block that is not `Name: value`.
    NoColon,
    /// A CHAT block whose Type is neither `message` nor `quit` and that has
    /// no Message.
    UnknownType,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::NotUtf8 => "a line that is not utf-8",
            Problem::TooLong => "a line over 64 KiB",
            Problem::NoColon => "a header line without a colon in a chat block",
            Problem::UnknownType => "a chat block of an unknown type",
        })
    }
}

/// The headers of the CHAT block being read.
#[derive(Debug, Clone, Default)]
struct Block {
    client_id: Option<String>,
    ip: Option<String>,
    port: Option<String>,
    message: Option<String>,
    kind: Option<String>,
    /// The first problem seen in the block; reported when it ends.
    problem: Option<Problem>,
}

impl Block {
    fn add(&mut self, line: Result<&str, Problem>) {
        let line = match line {
            Ok(line) => line,
            Err(problem) => {
                self.problem.get_or_insert(problem);
                return;
            }
        };
        let Some((name, value)) = line.split_once(':') else {
            self.problem.get_or_insert(Problem::NoColon);
            return;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "clientid" => &mut self.client_id,
            "ip" => &mut self.ip,
            "port" => &mut self.port,
            "message" => &mut self.message,
            "type" => &mut self.kind,
            _ => return,
        };
        slot.get_or_insert_with(|| value.to_owned());
    }

    fn end(self) -> Said {
        let kind = self.kind.as_deref().map(|k| k.trim().to_ascii_lowercase());
        match (kind.as_deref(), self.message, self.problem) {
            (Some("quit"), _, _) => Said::Quit,
            (None | Some("message"), Some(text), _) => Said::Text(text),
            (_, _, Some(problem)) => Said::Unreadable(problem),
            (None, None, None) => Said::Start(Contact {
                client_id: self.client_id.unwrap_or_default(),
                ip: self.ip.unwrap_or_default(),
                port: self.port.unwrap_or_default(),
            }),
            _ => Said::Unreadable(Problem::UnknownType),
        }
    }
}

/// Decodes a peer's side of a chat.
#[derive(Debug, Clone, Default)]
pub struct ChatDecoder {
    /// The CHAT block being read, after its type line.
    block: Option<Block>,
    /// How many bytes at the front hold no LF (the search resumes there, so
    /// a trickled line is scanned once).
    scanned: usize,
    /// Discarding the rest of an over-long line up to its LF.
    discarding: bool,
}

impl Decoder for ChatDecoder {
    type Item = Said;
    type Error = Never;

    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Said>, Never> {
        let from = self.scanned.min(buf.len());
        let Some(at) = buf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| from + i)
        else {
            self.scanned = buf.len();
            if self.discarding && !buf.is_empty() {
                self.scanned = 0;
                return Ok(Decoded::Skip(buf.len()));
            }
            if buf.len() > MAX_LINE {
                self.scanned = 0;
                self.discarding = true;
                return Ok(self.problem(Problem::TooLong, buf.len()));
            }
            return Ok(Decoded::Incomplete);
        };
        self.scanned = 0;
        let used = at + 1;
        if std::mem::take(&mut self.discarding) {
            return Ok(Decoded::Skip(used));
        }
        let line = &buf[..at];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return Ok(self.problem(Problem::TooLong, used));
        }
        let text = std::str::from_utf8(line).map_err(|_| Problem::NotUtf8);
        if let Some(block) = &mut self.block {
            if line.is_empty() {
                let said = self.block.take().unwrap_or_default().end();
                return Ok(Decoded::Item(said, used));
            }
            block.add(text);
            return Ok(Decoded::Skip(used));
        }
        Ok(match text {
            Ok("") => Decoded::Skip(used),
            Ok("CHAT") => {
                self.block = Some(Block::default());
                Decoded::Skip(used)
            }
            // A QUIT ends the chat at its type line: a bare `QUIT` has no
            // block to wait for, and a QUIT block's empty line changes nothing.
            Ok("QUIT") => Decoded::Item(Said::Quit, used),
            Ok(text) => Decoded::Item(Said::Text(text.to_owned()), used),
            Err(problem) => Decoded::Item(Said::Unreadable(problem), used),
        })
    }
}

impl ChatDecoder {
    /// Reports `problem` for `used` bytes; inside a block it is reported
    /// when the block ends, so the block's other lines are not read as text.
    fn problem(&mut self, problem: Problem, used: usize) -> Decoded<Said> {
        match &mut self.block {
            Some(block) => {
                block.problem.get_or_insert(problem);
                Decoded::Skip(used)
            }
            None => Decoded::Item(Said::Unreadable(problem), used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::FrameBuffer;
    use Said::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn decode(input: &[u8], step: usize) -> Vec<Said> {
        let mut frames = FrameBuffer::new(ChatDecoder::default());
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            frames.extend(piece);
            while let Ok(Some(said)) = frames.next_item() {
                out.push(said);
            }
        }
        out
    }

    fn text(s: &str) -> Said {
        Text(s.into())
    }

    #[test]
    fn every_form_real_clients_send() {
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Vec<Said>)> = vec![
            (b"", vec![]),
            (b"CHAT\r\nclientID: Bob\r\nMessage: Hello Alice\r\n\r\n", vec![text("Hello Alice")]),
            (b"CHAT\nclientID: Bob\nMessage: Hello Alice\n\n", vec![text("Hello Alice")]),
            (b"CHAT\r\nType: message\r\nclientID: Bob\r\nMessage: hi: there\r\n\r\n", vec![text("hi: there")]),
            (b"CHAT\r\nmessage:no space\r\n\r\n", vec![text("no space")]),
            (b"CHAT\r\nMessage: \r\n\r\n", vec![text("")]),
            (b"CHAT\r\nType: quit\r\n\r\n", vec![Quit]),
            (b"CHAT\r\nType: QUIT\r\nclientID: Bob\r\n\r\n", vec![Quit]),
            (b"QUIT\r\n\r\n", vec![Quit]),
            (b"QUIT\n", vec![Quit]),
            (b"QUIT", vec![]),
            (b"Hello Alice\n", vec![text("Hello Alice")]),
            (b"Hello Alice\r\n", vec![text("Hello Alice")]),
            (b"Hello Alice", vec![]),
            (b"\r\n\nHi\n\nthere\r\n", vec![text("Hi"), text("there")]),
            (b"CHAT\r\nclientID: Bob\r\nIP: 127.0.0.1\r\nPort: 5000\r\n\r\n",
             vec![Start(Contact::new("Bob", "127.0.0.1", "5000"))]),
            (b"CHAT\r\nclientID: Bob\r\nIP: 1.2.3.4\r\nPort: 5\r\nX-Extra: y\r\nclientID: Eve\r\n\r\nhi\n",
             vec![Start(Contact::new("Bob", "1.2.3.4", "5")), text("hi")]),
            (b"CHAT\r\n\r\n", vec![Start(Contact::default())]),
            // What cannot be read is skipped and the chat goes on.
            (b"\xff\xfe\nafter\n", vec![Unreadable(Problem::NotUtf8), text("after")]),
            (b"CHAT\r\nno colon here\r\nMessage: x\r\n\r\nnext\n", vec![text("x"), text("next")]),
            (b"CHAT\r\nno colon here\r\n\r\nnext\n", vec![Unreadable(Problem::NoColon), text("next")]),
            (b"CHAT\r\nMessage: \xff\r\n\r\n", vec![Unreadable(Problem::NotUtf8)]),
            (b"CHAT\r\nType: wave\r\n\r\n", vec![Unreadable(Problem::UnknownType)]),
            (b"CHAT\r\nType: message\r\n\r\n", vec![Unreadable(Problem::UnknownType)]),
        ];
        for (input, want) in cases {
            for step in [usize::MAX, 1, 2, 3, 7] {
                assert_eq!(
                    decode(input, step),
                    want,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn no_strict_prefix_says_anything() {
        for whole in [
            &b"CHAT\r\nclientID: Bob\r\nType: message\r\nMessage: hi\r\n\r\n"[..],
            b"CHAT\r\nclientID: Bob\r\nIP: 1.2.3.4\r\nPort: 5\r\n\r\n",
            b"Hello Alice\r\n",
            b"QUIT\r\n",
        ] {
            for cut in 0..whole.len() {
                assert_eq!(decode(&whole[..cut], 1), vec![], "{:?}", &whole[..cut]);
            }
            assert_eq!(decode(whole, 1).len(), 1);
        }
    }

    #[test]
    fn a_line_too_long_is_skipped_whole_and_the_chat_goes_on() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nafter\n");
        for step in [usize::MAX, 4096, 1000] {
            assert_eq!(
                decode(&input, step),
                vec![Unreadable(Problem::TooLong), text("after")],
                "step {step}"
            );
        }
        let mut block = b"CHAT\r\nMessage: ".to_vec();
        block.extend(vec![b'y'; MAX_LINE]);
        block.extend_from_slice(b"\r\nclientID: A\r\n\r\nafter\n");
        assert_eq!(
            decode(&block, 4096),
            vec![Unreadable(Problem::TooLong), text("after")]
        );
        let fits = "z".repeat(MAX_LINE);
        assert_eq!(
            decode(format!("{fits}\r\n").as_bytes(), 4096),
            vec![text(&fits)]
        );
    }

    #[test]
    fn the_buffer_stays_bounded_on_a_line_that_never_ends() {
        let mut frames = FrameBuffer::new(ChatDecoder::default());
        let chunk = vec![b'x'; 16 * 1024];
        let mut said = Vec::new();
        for _ in 0..64 {
            frames.extend(&chunk);
            while let Ok(Some(s)) = frames.next_item() {
                said.push(s);
            }
            assert!(frames.pending().len() <= MAX_LINE + chunk.len());
        }
        assert_eq!(said, vec![Unreadable(Problem::TooLong)]);
    }
}
