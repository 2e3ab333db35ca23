//! `-v`/`--trace`: every message sent and received on every connection, as
//! it is on the wire, on stderr, one or more lines per message prefixed with
//! the connection's fd and `<` (received) or `>` (sent). This is how
//! students learn a protocol, so it shows bytes, not what was understood.
//!
//! The core calls a dialect's formatter ([`Dialect::trace`]) with the bytes
//! of one message: the reader with what one decoded request used, the
//! connection table with what it queued. The formatters here are the
//! dialects' shapes: text lines (lobby, bridge), room messages (header
//! lines, then the payload on one line with its byte count), 200-byte
//! records with their padding made visible (channels), and frames in hex
//! with their decoded meaning beside them (direct), all of them
//! `chat_protocol::trace`'s, which the client's `-v` uses too. Everything
//! shown is terminal-safe; a long message shows its first bytes and how
//! many more.
//!
//! [`Dialect::trace`]: crate::dispatch::Dialect::trace

use chat_protocol::trace::{self as wire, Sender};

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

    /// Who sent bytes that went this way.
    fn sender(self) -> Sender {
        match self {
            Way::Received => Sender::Client,
            Way::Sent => Sender::Server,
        }
    }
}

/// A dialect's formatter: the trace lines for one message's bytes.
pub type Formatter = fn(Way, &[u8], &mut Vec<String>);

/// Prints the trace lines of one message on stderr (through the output
/// thread, so a stderr nobody reads never holds the server up).
pub fn print(fd: i32, way: Way, bytes: &[u8], formatter: Formatter) {
    let mut lines = Vec::new();
    formatter(way, bytes, &mut lines);
    for line in lines {
        crate::status::trace(format_args!("fd {fd} {} {line}", way.mark()));
    }
}

/// Text lines (lobby, room headers, bridge).
pub fn lines(_: Way, bytes: &[u8], out: &mut Vec<String>) {
    wire::lines(bytes, out);
}

/// room's messages: header lines, then the payload on one line.
pub fn room(_: Way, bytes: &[u8], out: &mut Vec<String>) {
    wire::room(bytes, out);
}

/// channels' 200-byte records.
pub fn records(_: Way, bytes: &[u8], out: &mut Vec<String>) {
    wire::records(bytes, out);
}

/// direct's frames: requests when received, replies when sent.
pub fn frames(way: Way, bytes: &[u8], out: &mut Vec<String>) {
    wire::frames(way.sender(), bytes, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_frames_are_requests_received_and_replies_sent() {
        let mut out = Vec::new();
        frames(Way::Received, b"\x02\x00\x00\x00\x00", &mut out);
        frames(Way::Sent, b"\x82\x00\x00\x00\x01\x00", &mut out);
        assert_eq!(out, ["02 00000000  List", "82 00000001 00  Response(Ok)"]);
    }
}
