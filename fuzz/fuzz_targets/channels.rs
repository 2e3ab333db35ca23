//! The channels decoder on any input: the properties of
//! `protocol/tests/properties/channels.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/channels.rs"]
mod channels;

libfuzzer_sys::fuzz_target!(|data: &[u8]| channels::properties(data));
