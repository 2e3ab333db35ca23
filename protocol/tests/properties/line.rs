//! `line::LineDecoder`: the LF framing under lobby, room and bridge.

// The fuzz target includes this file and uses only `properties`.
#![allow(dead_code, unused_imports)]

use chat_protocol::line::{Line, LineDecoder};

use crate::check::{for_seeds, seed_of, split_invariant, Rng};

/// Bytes that make line framing interesting: LF, CR, a space, a multi-byte
/// character's bytes, a byte that is never UTF-8.
const ALPHABET: &[u8] = b"ab \r\r\n\n\xc3\xa9\xff";

/// The canonical bytes of one line: one CR is dropped before an LF, so a line
/// that itself ends in CR needs CR LF to survive.
fn encode_line(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(line);
    if line.ends_with(b"\r") {
        out.push(b'\r');
    }
    out.push(b'\n');
}

#[test]
fn lines_round_trip_whole_and_split() {
    for_seeds(1000, |rng| {
        let max = 1 + rng.below(40);
        let lines: Vec<Vec<u8>> = (0..rng.below(12))
            .map(|_| {
                let len = rng.below(max + 1);
                rng.text(b"ab \r\xc3\xa9\xff", len)
            })
            .collect();
        let mut input = Vec::new();
        for line in &lines {
            encode_line(line, &mut input);
        }
        let cuts = rng.cuts(input.len());
        let got = split_invariant(LineDecoder::new(max), &input, &cuts);
        let want: Vec<Line> = lines.iter().cloned().map(Line::Text).collect();
        let items: Vec<Line> = got.items.iter().map(|(l, _)| l.clone()).collect();
        assert_eq!(items, want);
        assert_eq!(got.rest, 0);
        // Decode then encode gives each line's bytes back.
        for (line, raw) in &got.items {
            let Line::Text(text) = line else {
                unreachable!()
            };
            let mut again = Vec::new();
            encode_line(text, &mut again);
            assert_eq!(&again, raw);
        }
    });
}

/// The properties that hold for any input and any limit: the split
/// invariance of `check.rs`, lines within the limit that are given back byte
/// for byte, over-long lines reported as such, and at most one unfinished
/// line held. The garbage tests and the fuzz target call this.
pub fn properties(max: usize, data: &[u8]) {
    let cuts = Rng::new(seed_of(data)).cuts(data.len());
    let got = split_invariant(LineDecoder::new(max), data, &cuts);
    for (line, raw) in &got.items {
        match line {
            Line::Text(text) => {
                assert!(text.len() <= max, "a line over {max} bytes got through");
                // The line's bytes come back, with LF or CR LF after them.
                let lf = [&text[..], b"\n"].concat();
                let crlf = [&text[..], b"\r\n"].concat();
                assert!(raw == &lf || raw == &crlf, "{raw:?} gave {text:?}");
            }
            Line::TooLong => assert!(raw.len() > max, "{raw:?} is not over {max}"),
        }
    }
    assert!(got.rest <= max + 1, "{} bytes held", got.rest);
}

#[test]
fn random_streams_obey_the_limit_whatever_the_splits() {
    for_seeds(1000, |rng| {
        let len = rng.below(200);
        properties(1 + rng.below(30), &rng.text(ALPHABET, len));
    });
}

#[test]
fn garbage_never_panics_or_overreads() {
    for_seeds(1000, |rng| {
        let len = rng.below(600);
        properties(1 + rng.below(100), &rng.bytes(len));
    });
}

#[test]
fn one_byte_at_a_time_equals_whole() {
    let mut rng = Rng::new(7);
    let input = rng.text(ALPHABET, 2000);
    let every: Vec<usize> = (0..=input.len()).collect();
    split_invariant(LineDecoder::new(16), &input, &every);
}
