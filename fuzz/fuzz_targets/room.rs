//! The room decoder on any input: the properties of
//! `protocol/tests/properties/room.rs`.
#![no_main]

#[path = "../../protocol/tests/properties/check.rs"]
mod check;
#[path = "../../protocol/tests/properties/room.rs"]
mod room;

libfuzzer_sys::fuzz_target!(|data: &[u8]| room::properties(data));
