//! `line::LineDecoder` on any input, with a limit taken from the first byte:
//! the properties of `protocol/tests/properties/line.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/line.rs"]
mod line;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&max, rest)) = data.split_first() {
        line::properties(usize::from(max) + 1, rest);
    }
});
