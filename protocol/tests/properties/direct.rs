//! direct: `direct::RequestDecoder` (the server's side) and
//! `direct::ReplyDecoder` (the client's side), binary type-length-value.

// The fuzz target includes this file and uses only `properties`.
#![allow(dead_code, unused_imports)]

use chat_protocol::direct::{
    Outcome, Reply, ReplyDecoder, Request, RequestDecoder, HEADER, MAX_REQUEST_BODY,
};

use crate::check::{for_seeds, seed_of, split_invariant, Rng};

/// Any UTF-8 string up to `max` bytes: the codec carries names and texts
/// whatever the username rules say.
fn string(rng: &mut Rng, max: usize) -> String {
    let pieces = ["a", "Z", " ", "\n", "é", "字", "🙂", "\0"];
    let mut s = String::new();
    let want = rng.below(max + 1);
    loop {
        let piece = rng.pick(&pieces);
        if s.len() + piece.len() > want {
            return s;
        }
        s.push_str(piece);
    }
}

fn request(rng: &mut Rng) -> Request {
    match rng.below(4) {
        0 => Request::Login(string(rng, 255)),
        1 => Request::List,
        2 => {
            let max = if rng.one_in(20) { 65_535 } else { 300 };
            Request::SendTo {
                to: string(rng, 255),
                text: string(rng, max),
            }
        }
        _ => Request::Logout,
    }
}

fn reply(rng: &mut Rng) -> Reply {
    match rng.below(3) {
        0 => Reply::List((0..rng.below(5)).map(|_| string(rng, 40)).collect()),
        1 => Reply::Response(rng.pick(&[Outcome::Ok, Outcome::Failure, Outcome::Malformed])),
        _ => Reply::SendTo {
            from: string(rng, 255),
            text: string(rng, 300),
        },
    }
}

#[test]
fn requests_and_replies_round_trip_whole_and_split() {
    for_seeds(500, |rng| {
        let requests: Vec<Request> = (0..rng.below(10)).map(|_| request(rng)).collect();
        let input: Vec<u8> = requests.iter().flat_map(Request::to_bytes).collect();
        let cuts = rng.cuts(input.len());
        let got = split_invariant(RequestDecoder, &input, &cuts);
        let items: Vec<Request> = got.items.into_iter().map(|(r, _)| r.unwrap()).collect();
        assert_eq!(items, requests);
        properties(&input);

        let replies: Vec<Reply> = (0..rng.below(10)).map(|_| reply(rng)).collect();
        let input: Vec<u8> = replies.iter().flat_map(Reply::to_bytes).collect();
        let cuts = rng.cuts(input.len());
        let got = split_invariant(ReplyDecoder, &input, &cuts);
        let items: Vec<Reply> = got.items.into_iter().map(|(r, _)| r.unwrap()).collect();
        assert_eq!(items, replies);
        properties(&input);
    });
}

/// The properties that hold for any input, on both sides: the split
/// invariance of `check.rs`; a frame that parses is given back byte for
/// byte by its encoder (the format has one encoding per frame); a request
/// body over the limit ends the stream. The garbage test and the fuzz
/// target call this.
pub fn properties(data: &[u8]) {
    let cuts = Rng::new(seed_of(data)).cuts(data.len());
    let got = split_invariant(RequestDecoder, data, &cuts);
    for (request, raw) in &got.items {
        assert!(raw.len() <= HEADER + MAX_REQUEST_BODY as usize);
        if let Ok(request) = request {
            assert_eq!(
                &request.to_bytes(),
                raw,
                "decode then encode changed {request:?}"
            );
        }
    }
    let got = split_invariant(ReplyDecoder, data, &cuts);
    for (reply, raw) in &got.items {
        if let Ok(reply) = reply {
            assert_eq!(
                &reply.to_bytes(),
                raw,
                "decode then encode changed {reply:?}"
            );
        }
    }
}

#[test]
fn garbage_never_panics_or_overreads() {
    for_seeds(500, |rng| {
        // Small type bytes and lengths, so that frames often come whole.
        let mut input = Vec::new();
        for _ in 0..rng.below(8) {
            input.push(rng.pick(&[1u8, 2, 3, 4, 0x81, 0x82, 0x83, 0, 0xff]));
            let len = rng.below(40) as u32;
            input.extend(len.to_be_bytes());
            let extra = rng.below(3);
            let body = rng.bytes(len as usize + extra);
            input.extend(body);
        }
        properties(&input);
        let len = rng.below(300);
        properties(&rng.bytes(len));
    });
}
