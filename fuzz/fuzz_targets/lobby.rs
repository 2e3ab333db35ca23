//! `lobby::RequestDecoder` on any input: the properties of
//! `protocol/tests/properties/lobby.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/lobby.rs"]
mod lobby;

libfuzzer_sys::fuzz_target!(|data: &[u8]| lobby::properties(data));
