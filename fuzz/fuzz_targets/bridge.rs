//! The bridge decoder on any input: the properties of
//! `protocol/tests/properties/bridge.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/bridge.rs"]
mod bridge;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bridge::properties(data));
