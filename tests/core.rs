//! The server core's rules end to end, those the dialect files do not
//! pin: lobby lines ended by a pause or a half-close, channels records
//! stripped as Python's `str.rstrip()` strips them, and the server's own
//! machinery (status output nobody reads, connection slots, signals).
//!
//! Like every end-to-end test, these synchronise on replies; the lobby's
//! 200 ms pause is the one rule a test must wait for, and it waits for the
//! reply (bounded by the peer's read timeout), never a fixed time.

use crate::util::{Peer, Server};

const RECORD: usize = 200;

/// `text` padded with spaces to one record, as a course client sends it.
fn rec(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    assert!(out.len() <= RECORD, "{text:?} does not fit in a record");
    out.resize(RECORD, b' ');
    out
}

/// A channels client that has sent its name record.
fn named(server: &Server, name: &str) -> Peer {
    let mut peer = server.connect();
    peer.send(rec(name));
    peer
}

/// A channels client that reads stdin with `readline()` sends `Hi!\n`
/// padded to a record; every course server relays `[Kay] Hi!`, and so must
/// ours (any of space, TAB, LF, VT, FF, CR at the end is stripped).
#[test]
fn channels_strips_trailing_whitespace_like_rstrip() {
    let server = Server::start(&["channels", "0"]);
    let room = format!("rstrip.{}", std::process::id());
    let mut kay = named(&server, "Kay");
    let mut lee = named(&server, "Lee");
    kay.send(rec(&format!("/create {room}")));
    lee.send(rec(&format!("/join {room}\n")));
    lee.send(rec("/join"));
    lee.expect(rec(
        "/join command must be followed by the name of a channel to join.",
    ));
    kay.send(rec("Hi!\n"));
    lee.expect(rec("[Kay] Hi!"));
    kay.send(rec("tabs\t\r\n\x0b\x0c \t"));
    lee.expect(rec("[Kay] tabs"));
    kay.send(rec("inner\ttab kept"));
    lee.expect(rec("[Kay] inner\ttab kept"));
}
