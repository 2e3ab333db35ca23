//! The properties every decoder must have, written once for the property
//! tests (`protocol/tests/properties/`) and the fuzz targets (`fuzz/`), which
//! include this file by path.
//!
//! - No step reports more bytes than it was given, and every `Item` or `Skip`
//!   takes at least one byte (a zero-byte step would loop forever).
//! - Splitting a stream anywhere changes nothing: the same items, then the
//!   same fatal error (or none), as decoding it whole.
//!
//! It also holds the tiny seeded generator the property tests use, so that a
//! failing case is reproduced by its seed, with no crate added.

// The fuzz targets use a subset of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;

use chat_protocol::{Decoded, Decoder};

/// SplitMix64: a seeded, well-mixed 64-bit generator in five lines.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True about once in `n` calls.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// `len` bytes drawn from `alphabet`.
    pub fn text(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len).map(|_| self.pick(alphabet)).collect()
    }

    /// Sorted cut points inside `0..=len`, from none to a few dozen.
    pub fn cuts(&mut self, len: usize) -> Vec<usize> {
        let count = match self.below(4) {
            0 => 0,
            1 => self.below(4),
            _ => self.below(40),
        };
        let mut cuts: Vec<usize> = (0..count).map(|_| self.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

/// What decoding a stream gave: every item with the bytes it used, and the
/// fatal error that ended the stream, if any, as its `Display` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    pub items: Vec<(T, Vec<u8>)>,
    pub error: Option<String>,
    /// Bytes left undecoded at the end (an incomplete item, or everything
    /// after a fatal error).
    pub rest: usize,
}

/// Decodes `input` as if it arrived in pieces ending at `cuts` (sorted
/// positions in `0..=input.len()`), checking on every step that the decoder
/// never reports more bytes than it was given and always makes progress.
///
/// The caller holds the received bytes, as `FrameBuffer` does, and calls
/// again after `Incomplete` with the same bytes in front and more after them.
pub fn decode<D: Decoder>(mut decoder: D, input: &[u8], cuts: &[usize]) -> Outcome<D::Item> {
    let mut items = Vec::new();
    let mut start = 0;
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c <= input.len())
        .chain([input.len()]);
    for end in ends {
        // The steps a valid decoder can take on `end - start` bytes: each
        // takes at least one byte; one more for the Incomplete.
        let mut budget = end - start + 1;
        loop {
            let buf = &input[start..end];
            assert!(budget > 0, "decoder loops at offset {start}");
            budget -= 1;
            match decoder.decode(buf) {
                Ok(Decoded::Item(item, used)) => {
                    assert!(used >= 1, "an item used no bytes at offset {start}");
                    assert!(used <= buf.len(), "used {used} of {} bytes", buf.len());
                    items.push((item, buf[..used].to_vec()));
                    start += used;
                }
                Ok(Decoded::Skip(used)) => {
                    assert!(used >= 1, "a skip of no bytes at offset {start}");
                    assert!(used <= buf.len(), "skipped {used} of {} bytes", buf.len());
                    start += used;
                }
                Ok(Decoded::Incomplete) => break,
                Err(error) => {
                    return Outcome {
                        items,
                        error: Some(error.to_string()),
                        rest: input.len() - start,
                    }
                }
            }
        }
    }
    Outcome {
        items,
        error: None,
        rest: input.len() - start,
    }
}

/// Decodes `input` whole and in the pieces `cuts` gives, checks that both
/// give the same outcome, and returns it.
pub fn split_invariant<D>(decoder: D, input: &[u8], cuts: &[usize]) -> Outcome<D::Item>
where
    D: Decoder + Clone,
    D::Item: PartialEq + Debug,
{
    let whole = decode(decoder.clone(), input, &[]);
    let split = decode(decoder, input, cuts);
    assert_eq!(
        split.items.len(),
        whole.items.len(),
        "item count differs when split at {cuts:?}"
    );
    // Items must agree; the bytes each used need not (an over-long line is
    // reported when it passes its limit, wherever the reads ended).
    for (i, (a, b)) in split.items.iter().zip(&whole.items).enumerate() {
        assert_eq!(a.0, b.0, "item {i} differs when split at {cuts:?}");
    }
    assert_eq!(
        split.error, whole.error,
        "error differs when split at {cuts:?}"
    );
    assert_eq!(
        split.rest, whole.rest,
        "rest differs when split at {cuts:?}"
    );
    whole
}

/// Runs `case` for `count` seeds; a failure names its seed, so that
/// `case(&mut Rng::new(seed))` reproduces it.
pub fn for_seeds(count: u64, mut case: impl FnMut(&mut Rng)) {
    for seed in 0..count {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            case(&mut Rng::new(seed));
        }));
        if let Err(panic) = outcome {
            eprintln!("property failed for seed {seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// A seed drawn from the input itself, so that a fuzz target splits each
/// input the same way every time it runs it.
pub fn seed_of(data: &[u8]) -> u64 {
    // FNV-1a.
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
