//! bridge: `bridge::MessageDecoder`, CRLF header blocks, both sides.

// The fuzz target includes this file and uses only `properties`.
#![allow(dead_code, unused_imports)]

use chat_protocol::bridge::{Contact, Message, MessageDecoder, MAX_BLOCK};

use crate::check::{decode, for_seeds, seed_of, split_invariant, Rng};

/// A header value: one line's worth of text, without leading spaces (one
/// space after the colon is the separator) or a trailing CR.
fn value(rng: &mut Rng) -> String {
    let pieces = ["a", "Z", "0", " ", ":", "é", ".", "\t"];
    let value: String = (0..rng.below(20)).map(|_| rng.pick(&pieces)).collect();
    value.trim_start().to_owned()
}

fn contact(rng: &mut Rng) -> Contact {
    Contact::new(value(rng), value(rng), value(rng))
}

fn message(rng: &mut Rng) -> Message {
    match rng.below(7) {
        0 => Message::Register(contact(rng)),
        1 => Message::RegAck {
            contact: contact(rng),
            status: value(rng),
        },
        2 => Message::Bridge {
            client_id: value(rng),
        },
        3 => Message::BridgeAck(contact(rng)),
        4 => Message::ChatStart(contact(rng)),
        5 => Message::ChatLine {
            client_id: value(rng),
            message: value(rng),
        },
        _ => Message::Quit,
    }
}

#[test]
fn messages_round_trip_whole_and_split() {
    for_seeds(500, |rng| {
        let messages: Vec<Message> = (0..rng.below(8)).map(|_| message(rng)).collect();
        let input: Vec<u8> = messages.iter().flat_map(Message::to_bytes).collect();
        let cuts = rng.cuts(input.len());
        let got = split_invariant(MessageDecoder::default(), &input, &cuts);
        assert_eq!(got.error, None);
        let items: Vec<Message> = got.items.iter().map(|(m, _)| m.clone()).collect();
        assert_eq!(items, messages);
        for (message, raw) in &got.items {
            assert_eq!(&message.to_bytes(), raw, "not canonical");
        }
        properties(&input);
    });
}

/// The properties that hold for any input: the split invariance of
/// `check.rs`; a decoded message encodes to bytes that decode to the same
/// message; no block passes the limit. The garbage test and the fuzz target
/// call this.
pub fn properties(data: &[u8]) {
    let cuts = Rng::new(seed_of(data)).cuts(data.len());
    let got = split_invariant(MessageDecoder::default(), data, &cuts);
    for (message, raw) in &got.items {
        assert!(
            raw.len() <= MAX_BLOCK,
            "a {}-byte block got through",
            raw.len()
        );
        let again = message.to_bytes();
        let back = decode(MessageDecoder::default(), &again, &[]);
        let back: Vec<&Message> = back.items.iter().map(|(m, _)| m).collect();
        assert_eq!(back, [message], "encode then decode changed the message");
    }
}

/// Blocks built from the real words, so that garbage gets past the type
/// line often.
fn near_miss(rng: &mut Rng) -> Vec<u8> {
    let kinds = [
        "REGISTER",
        "REGACK",
        "BRIDGE",
        "BRIDGEACK",
        "CHAT",
        "QUIT",
        "HELLO",
        "",
    ];
    let names = [
        "clientID", "IP", "Port", "Status", "Message", "clientid", "X",
    ];
    let mut out = rng.pick(&kinds).as_bytes().to_vec();
    out.extend_from_slice(rng.pick::<&[u8]>(&[b"\r\n", b"\n"]));
    for _ in 0..rng.below(5) {
        out.extend(rng.pick(&names).bytes());
        out.extend_from_slice(rng.pick::<&[u8]>(&[b": ", b":", b" ", b":  "]));
        out.extend(value(rng).bytes());
        if rng.one_in(8) {
            let len = rng.below(4);
            out.extend(rng.bytes(len));
        }
        out.extend_from_slice(rng.pick::<&[u8]>(&[b"\r\n", b"\n", b"\r\r\n"]));
    }
    out.extend_from_slice(rng.pick::<&[u8]>(&[b"\r\n", b"\n", b""]));
    out
}

#[test]
fn garbage_never_panics_or_overreads() {
    for_seeds(500, |rng| {
        let input: Vec<u8> = (0..rng.below(5)).flat_map(|_| near_miss(rng)).collect();
        properties(&input);
        let len = rng.below(300);
        properties(&rng.bytes(len));
    });
}
