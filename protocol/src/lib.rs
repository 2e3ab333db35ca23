//! Pure codecs for the five course chat dialects: lobby, room, channels, direct
//! and bridge.
//!
//! This crate turns bytes into frames and frames into bytes, and nothing else:
//! it never touches a socket or a file, never reads the clock (a timestamp is
//! passed in as text) and never starts a thread. The server and the client own
//! all I/O; they feed received bytes to a [`FrameBuffer`] and write what the
//! `encode` functions put in a `Vec<u8>`.
//!
//! Every decoder implements [`Decoder`], which has three outcomes: a whole item
//! and the bytes it used, bytes to skip, or "need more bytes". Needing more bytes
//! is never an error. An `Err` is fatal for the stream (the dialect closes the
//! connection); input that is wrong but survivable (an over-long lobby line, a
//! malformed direct body) decodes to an item that says so, because the dialect
//! answers it and carries on.
//!
//! Shared pieces, used by all five dialects: [`line`] (LF framing with an
//! optional CR, and the end of a line by a pause), [`name`] (username
//! rules), [`safe`] (network text made safe for a terminal) and
//! [`FrameBuffer`] (the receive buffer every reader uses).

pub mod bridge;
pub mod channels;
pub mod direct;
pub mod line;
pub mod lobby;
pub mod name;
pub mod room;
pub mod safe;
pub mod trace;

mod buffer;

pub use buffer::FrameBuffer;

/// The outcome of one decoding step on the bytes at the front of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole item, and how many bytes from the front of the input it used.
    Item(T, usize),
    /// Bytes at the front of the input that carry no item (a blank line, the
    /// discarded tail of an over-long line) and can be dropped.
    Skip(usize),
    /// No whole item yet: read more, then call again with the same bytes still
    /// in front (and the new ones after them).
    Incomplete,
}

/// A stateful decoder for one direction of one dialect.
///
/// A decoder may remember how far it has looked into an incomplete item, so
/// after [`Decoded::Incomplete`] it must be called again with the same bytes in
/// front. One decoder serves one stream.
pub trait Decoder {
    /// What one decoding step yields.
    type Item;
    /// A fault after which the stream cannot be followed any further.
    type Error: std::error::Error + Send + 'static;

    /// Decodes at most one item from the front of `buf`.
    fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Self::Item>, Self::Error>;

    /// The sender went quiet, or closed its sending half, with `buf` still
    /// undecoded (after [`decode`](Self::decode) said `Incomplete` on it).
    /// A framing in which a pause ends what is pending (lobby: a command
    /// sent with no line end) returns that item here; every other framing
    /// keeps waiting, which is the default. The decoder never measures the
    /// pause itself: the reader, which owns the clock, decides when one
    /// happened and calls this.
    fn idle(&mut self, buf: &[u8]) -> Decoded<Self::Item> {
        let _ = buf;
        Decoded::Incomplete
    }
}

/// An error that cannot happen: the error type of decoders for which every
/// input is survivable (lobby, channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}
