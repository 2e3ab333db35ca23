//! The direct decoder on any input: the properties of
//! `protocol/tests/properties/direct.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/direct.rs"]
mod direct;

libfuzzer_sys::fuzz_target!(|data: &[u8]| direct::properties(data));
