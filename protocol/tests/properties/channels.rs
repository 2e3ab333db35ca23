//! channels: `channels::RecordDecoder`, fixed 200-byte records.

// The fuzz target includes this file and uses only `properties`.
#![allow(dead_code, unused_imports)]

use chat_protocol::channels::{encode_record, is_stripped, strip, RecordDecoder, RECORD};

use crate::check::{for_seeds, seed_of, split_invariant, Rng};

/// Text up to a record long, spaces included (trailing ones are padding to
/// the receiver), multi-byte characters included.
fn text(rng: &mut Rng) -> String {
    let pieces = ["a", "b", " ", "/", "é", "字", "🙂", "\t", "\n", "\r"];
    let mut text = String::new();
    let want = rng.below(RECORD + 1);
    loop {
        let piece = rng.pick(&pieces);
        if text.len() + piece.len() > want {
            return text;
        }
        text.push_str(piece);
    }
}

#[test]
fn records_round_trip_whole_and_split() {
    for_seeds(500, |rng| {
        let texts: Vec<String> = (0..rng.below(10)).map(|_| text(rng)).collect();
        let mut input = Vec::new();
        for text in &texts {
            encode_record(text, &mut input);
        }
        let cuts = rng.cuts(input.len());
        let got = split_invariant(RecordDecoder, &input, &cuts);
        let items: Vec<&str> = got.items.iter().map(|(t, _)| t.as_str()).collect();
        let want: Vec<&str> = texts.iter().map(|t| strip(t)).collect();
        assert_eq!(items, want);
        assert_eq!(got.rest, 0);
        properties(&input);
    });
}

/// The properties that hold for any input: the split invariance of
/// `check.rs`; every record is exactly 200 bytes and comes out without its
/// padding; a record that is UTF-8 is given back byte for byte by
/// `encode_record`. The garbage test and the fuzz target call this.
pub fn properties(data: &[u8]) {
    let cuts = Rng::new(seed_of(data)).cuts(data.len());
    let got = split_invariant(RecordDecoder, data, &cuts);
    for (text, raw) in &got.items {
        assert_eq!(raw.len(), RECORD);
        assert!(!text.ends_with(is_stripped), "padding left on {text:?}");
        if let Ok(raw) = std::str::from_utf8(raw) {
            // Encoding gives the record back, its trailing whitespace as
            // padding spaces.
            let mut again = Vec::new();
            encode_record(text, &mut again);
            let kept = strip(raw);
            let mut want = kept.as_bytes().to_vec();
            want.resize(RECORD, b' ');
            assert_eq!(again, want, "decode then encode changed a record");
        }
    }
    assert!(got.rest < RECORD);
}

#[test]
fn garbage_never_panics_or_overreads() {
    for_seeds(300, |rng| {
        let len = rng.below(2000);
        properties(&rng.bytes(len));
        let len = rng.below(2000);
        properties(&rng.text(b"ab \xc3\xa9\xf0\x9f\x99\x82", len));
    });
}
