//! The receive buffer that sits between a socket and a [`Decoder`].

use crate::{Decoded, Decoder};

/// The free space [`FrameBuffer::space`] hands out for one read grows with
/// the buffer from `FIRST_CHUNK` to `READ_CHUNK`: most connections are idle
/// and send short lines, and every resident kilobyte counts thousands of
/// times over, while a busy stream soon reads in large chunks.
const FIRST_CHUNK: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;

/// A buffer that grew past this for one large message is given back once
/// that message is consumed: no connection keeps more memory than the
/// message it is reading.
const SHRINK_ABOVE: usize = 4 * READ_CHUNK;

/// Bytes received but not yet decoded, and the decoder that eats them.
///
/// The owner reads from its socket straight into [`space`](Self::space), tells
/// the buffer how much arrived with [`filled`](Self::filled), then calls
/// [`next_item`](Self::next_item) until it returns `Ok(None)`. The buffer only
/// grows as far as the decoder makes it wait for bytes, so a decoder with a
/// size limit bounds the memory of its stream.
#[derive(Debug)]
pub struct FrameBuffer<D> {
    decoder: D,
    /// Always initialised up to its length; `start..end` is the undecoded data.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<D: Decoder> FrameBuffer<D> {
    /// An empty buffer feeding `decoder`.
    pub fn new(decoder: D) -> Self {
        FrameBuffer {
            decoder,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Free space to read into: a kilobyte at first, growing with use to
    /// 16 KiB. Follow a read with [`filled`](Self::filled).
    pub fn space(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let chunk = self.buf.len().clamp(FIRST_CHUNK, READ_CHUNK);
        if self.buf.len() - self.end < chunk {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < chunk {
                let want = (self.end + chunk).max(self.buf.len() * 2);
                self.buf.resize(want, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the slice [`space`](Self::space)
    /// returned.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends bytes that arrived by other means.
    pub fn extend(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let space = self.space();
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            self.filled(n);
            rest = &rest[n..];
        }
    }

    /// The next whole item, `Ok(None)` when more bytes are needed, or the
    /// decoder's fatal error.
    pub fn next_item(&mut self) -> Result<Option<D::Item>, D::Error> {
        loop {
            match self.decoder.decode(&self.buf[self.start..self.end])? {
                Decoded::Item(item, used) => {
                    self.consume(used);
                    return Ok(Some(item));
                }
                Decoded::Skip(used) => self.consume(used),
                Decoded::Incomplete => return Ok(None),
            }
        }
    }

    /// The sender paused (or closed its sending half): hands the decoder
    /// what is pending so that a framing ended by a pause can end it (see
    /// [`Decoder::idle`]). `None` when nothing is pending or the framing
    /// keeps waiting.
    pub fn idle(&mut self) -> Option<D::Item> {
        loop {
            if self.start == self.end {
                return None;
            }
            match self.decoder.idle(&self.buf[self.start..self.end]) {
                Decoded::Item(item, used) => {
                    self.consume(used);
                    return Some(item);
                }
                Decoded::Skip(used) if used > 0 => self.consume(used),
                Decoded::Skip(_) | Decoded::Incomplete => return None,
            }
        }
    }

    /// The bytes received and not yet decoded.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The decoder, to tell it what only its owner knows (room: whether the
    /// client has joined) between two items.
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// The bytes of memory the buffer holds now.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn consume(&mut self, used: usize) {
        // A decoder never reports more than it was given; clamp all the same so
        // that a decoder bug cannot turn into a slice panic on peer input.
        debug_assert!(used <= self.end - self.start);
        self.start = (self.start + used).min(self.end);
        let pending = self.end - self.start;
        // Each shrink at least quarters the buffer and copies at most a
        // quarter of it, so the copying costs no more than the growing did.
        if self.buf.len() > SHRINK_ABOVE && pending <= self.buf.len() / 4 {
            let mut small = vec![0; pending.max(READ_CHUNK)];
            small[..pending].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = small;
            self.start = 0;
            self.end = pending;
        }
    }
}

/// Feeds `input` to `decoder` in pieces of `step` bytes, as reads of that
/// size would, and collects the items up to the first fatal error. Every
/// codec's tests use it to show that any split of a stream decodes alike.
#[cfg(test)]
pub(crate) fn decode_in_pieces<D: Decoder>(
    decoder: D,
    input: &[u8],
    step: usize,
) -> (Vec<D::Item>, Option<D::Error>) {
    let mut frames = FrameBuffer::new(decoder);
    let mut items = Vec::new();
    for piece in input.chunks(step.max(1)) {
        frames.extend(piece);
        loop {
            match frames.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => return (items, Some(e)),
            }
        }
    }
    (items, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LineDecoder;

    fn drain(frames: &mut FrameBuffer<LineDecoder>) -> Vec<crate::line::Line> {
        let mut out = Vec::new();
        while let Some(item) = frames.next_item().unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn reads_into_space_and_decodes() {
        let mut frames = FrameBuffer::new(LineDecoder::new(10));
        let space = frames.space();
        space[..6].copy_from_slice(b"ab\ncd\n");
        frames.filled(6);
        assert_eq!(
            drain(&mut frames),
            vec![
                crate::line::Line::Text(b"ab".to_vec()),
                crate::line::Line::Text(b"cd".to_vec())
            ]
        );
        assert!(frames.pending().is_empty());
    }

    #[test]
    fn space_starts_small_and_grows_with_use() {
        let mut frames = FrameBuffer::new(LineDecoder::new(100_000));
        assert_eq!(frames.space().len(), FIRST_CHUNK);
        let mut sizes = Vec::new();
        for _ in 0..8 {
            let n = frames.space().len();
            sizes.push(n);
            frames.filled(n);
        }
        assert!(sizes.windows(2).all(|w| w[1] >= w[0]));
        assert!(frames.space().len() >= READ_CHUNK);
    }

    #[test]
    fn shrinks_back_after_a_large_message() {
        let mut frames = FrameBuffer::new(LineDecoder::new(1 << 24));
        let mut line = vec![b'x'; 1 << 20];
        line.push(b'\n');
        frames.extend(&line);
        frames.extend(b"next");
        assert!(frames.capacity() > 1 << 20);
        assert_eq!(drain(&mut frames).len(), 1);
        assert!(frames.capacity() <= READ_CHUNK, "{}", frames.capacity());
        assert_eq!(frames.pending(), b"next");
        // Small messages never trigger it.
        let mut frames = FrameBuffer::new(LineDecoder::new(1 << 24));
        for _ in 0..1000 {
            frames.extend(b"short line\n");
            assert_eq!(drain(&mut frames).len(), 1);
        }
        assert!(frames.capacity() <= READ_CHUNK);
    }

    #[test]
    fn keeps_partial_items_across_many_refills() {
        let mut frames = FrameBuffer::new(LineDecoder::new(100_000));
        let line = vec![b'x'; 50_000];
        for chunk in line.chunks(999) {
            frames.extend(chunk);
            assert!(drain(&mut frames).is_empty());
        }
        frames.extend(b"\n");
        assert_eq!(drain(&mut frames), vec![crate::line::Line::Text(line)]);
    }
}
