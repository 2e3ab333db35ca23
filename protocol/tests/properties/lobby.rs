//! lobby: `lobby::RequestDecoder`, the server's side of the text lines.

// The fuzz target includes this file and uses only `properties`.
#![allow(dead_code, unused_imports)]

use chat_protocol::lobby::{Request, RequestDecoder, MAX_LINE};

use crate::check::{for_seeds, seed_of, split_invariant, Rng};

const NAME_CHARS: &[u8] = b"abcXYZ019";
/// Text may hold anything but LF; CR only where it is not the last byte.
const TEXT_CHARS: &[u8] = b"ab \t\r:\xc3\xa9";

fn name(rng: &mut Rng) -> String {
    let len = 1 + rng.below(32);
    String::from_utf8(rng.text(NAME_CHARS, len)).unwrap()
}

/// Non-empty UTF-8 text without LF, not ending in CR (a CR before the LF is
/// line framing, not text).
fn text(rng: &mut Rng) -> String {
    loop {
        let len = 1 + rng.below(60);
        let bytes = rng.text(TEXT_CHARS, len);
        if let Ok(text) = String::from_utf8(bytes) {
            if !text.ends_with('\r') {
                return text;
            }
        }
    }
}

/// A request the client can send, in its canonical form.
fn request(rng: &mut Rng) -> Request {
    match rng.below(5) {
        0 => Request::Join(Some(name(rng))),
        1 => Request::List,
        2 => Request::Mesg {
            to: name(rng),
            text: text(rng),
        },
        3 => Request::Bcst { text: text(rng) },
        _ => Request::Quit,
    }
}

/// The one line (without its end) that means `request`, for the requests
/// that have one.
fn canonical(request: &Request) -> Option<String> {
    Some(match request {
        Request::Join(Some(name)) => format!("JOIN {name}"),
        Request::List => "LIST".into(),
        Request::Mesg { to, text } => format!("MESG {to} {text}"),
        Request::Bcst { text } => format!("BCST {text}"),
        Request::Quit => "QUIT".into(),
        _ => return None,
    })
}

#[test]
fn requests_round_trip_whole_and_split() {
    for_seeds(1000, |rng| {
        let requests: Vec<Request> = (0..rng.below(15)).map(|_| request(rng)).collect();
        let mut input = Vec::new();
        for request in &requests {
            // Blank lines between requests are ignored.
            if rng.one_in(4) {
                input.extend_from_slice(rng.pick::<&[u8]>(&[b"\n", b"\r\n"]));
            }
            input.extend(canonical(request).unwrap().bytes());
            input.extend_from_slice(rng.pick::<&[u8]>(&[b"\n", b"\r\n"]));
        }
        let cuts = rng.cuts(input.len());
        let got = split_invariant(RequestDecoder::default(), &input, &cuts);
        let items: Vec<Request> = got.items.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(items, requests);
        assert_eq!(got.rest, 0);
    });
}

/// Lines built from the protocol's own words, so that most of them come
/// close to being valid.
fn near_miss(rng: &mut Rng) -> Vec<u8> {
    let mut line = Vec::new();
    for i in 0..rng.below(5) {
        if i > 0 || rng.one_in(8) {
            line.extend_from_slice(rng.pick::<&[u8]>(&[b" ", b"  ", b"\t"]));
        }
        let word: Vec<u8> = match rng.below(8) {
            0..=3 => rng
                .pick::<&[u8]>(&[b"JOIN", b"LIST", b"MESG", b"BCST", b"QUIT", b"join"])
                .to_vec(),
            4 => name(rng).into_bytes(),
            5 => rng.bytes(3),
            _ => text(rng).into_bytes(),
        };
        line.extend(word);
    }
    line.extend_from_slice(rng.pick::<&[u8]>(&[b"\n", b"\r\n", b"\r\r\n"]));
    line
}

/// The properties that hold for any input: the split invariance of
/// `check.rs`, decode then encode giving a valid request's line back, names
/// that pass the rule, and the line limit. The garbage tests and the fuzz
/// target call this.
pub fn properties(data: &[u8]) {
    let cuts = Rng::new(seed_of(data)).cuts(data.len());
    let got = split_invariant(RequestDecoder::default(), data, &cuts);
    for (request, raw) in &got.items {
        if let Some(line) = canonical(request) {
            let stripped = raw.strip_suffix(b"\n").expect("a request ends with LF");
            let stripped = stripped.strip_suffix(b"\r").unwrap_or(stripped);
            assert_eq!(
                String::from_utf8_lossy(stripped),
                line,
                "{request:?} decoded from a line that is not its canonical form"
            );
        }
        if let Request::Join(Some(name)) = request {
            assert!(
                chat_protocol::name::LOBBY.accepts(name),
                "{name:?} accepted"
            );
        }
        if *request != Request::TooLong {
            assert!(
                raw.len() <= MAX_LINE + 2,
                "a {}-byte line got through",
                raw.len()
            );
        }
    }
    assert!(got.rest <= MAX_LINE + 1, "{} bytes held", got.rest);
}

#[test]
fn near_misses_decode_then_encode_to_the_same_line() {
    for_seeds(1000, |rng| {
        let input: Vec<u8> = (0..rng.below(12)).flat_map(|_| near_miss(rng)).collect();
        properties(&input);
    });
}

#[test]
fn garbage_and_long_lines_never_panic_and_respect_the_limit() {
    for_seeds(100, |rng| {
        let mut input = Vec::new();
        for _ in 0..rng.below(6) {
            let len = match rng.below(3) {
                0 => rng.below(50),
                1 => MAX_LINE - 2 + rng.below(5),
                _ => rng.below(3 * MAX_LINE),
            };
            input.extend(rng.bytes(len));
            if rng.one_in(2) {
                input.push(b'\n');
            }
        }
        properties(&input);
    });
}
