//! direct: login, logout, list and direct messages over binary frames.
//!
//! Every client frame gets exactly one reply, and every rule of the
//! contract is one arm of [`Direct::request`]: a successful `list` gets
//! LIST, everything else RESPONSE. The frames themselves live in
//! [`chat_protocol::direct`]. There is nothing to announce: nobody is told
//! when others log in or out, so a vanished client is simply logged out.

use std::sync::Arc;

use chat_protocol::direct::{
    encode_list, encode_response, encode_sendto, BodyError, FrameError, Outcome, Parsed, Request,
    RequestDecoder,
};
use chat_protocol::name;

use crate::conns::{ConnId, Conns};
use crate::dispatch::Dialect;
use crate::roster::Roster;
use crate::trace::{self, Way};

/// Who is logged in, under which name, in login order.
#[derive(Debug, Default)]
pub struct Direct {
    /// Logged-in connections in login order (LIST answers in this order).
    roster: Roster,
}

impl Direct {
    pub fn new() -> Direct {
        Direct::default()
    }

    fn respond(conns: &mut Conns, id: ConnId, outcome: Outcome) {
        let mut out = Vec::new();
        encode_response(outcome, &mut out);
        conns.reply(id, out);
    }

    /// Refuses a request with RESPONSE 1, saying why on the status line.
    fn refuse(conns: &mut Conns, id: ConnId, what: std::fmt::Arguments<'_>, why: &str) {
        conns.status(id, format_args!("{what}: Failure ({why})"));
        Self::respond(conns, id, Outcome::Failure);
    }

    fn login(&mut self, conns: &mut Conns, id: ConnId, name: String) {
        if let Some(me) = self.roster.name(id) {
            let why = format!("already logged in as {me}");
            return Self::refuse(conns, id, format_args!("LOGIN {name:?}"), &why);
        }
        if !name::DIRECT.accepts(&name) {
            return Self::refuse(conns, id, format_args!("LOGIN {name:?}"), "bad name");
        }
        if self.roster.id(&name).is_some() {
            return Self::refuse(conns, id, format_args!("LOGIN {name}"), "name in use");
        }
        conns.status(id, format_args!("LOGIN {name}"));
        let name: Arc<str> = name.into();
        self.roster.add(id, name);
        conns.set_registered(id);
        Self::respond(conns, id, Outcome::Ok);
    }

    fn sendto(&mut self, conns: &mut Conns, id: ConnId, to: &str, text: &str) {
        let Some(me) = self.roster.name(id) else {
            return Self::refuse(conns, id, format_args!("SENDTO {to:?}"), "not logged in");
        };
        let Some(recipient) = self.roster.id(to) else {
            let what = format_args!("SENDTO {me} -> {to:?}");
            return Self::refuse(conns, id, what, "no such user");
        };
        conns.status(id, format_args!("SENDTO {me} -> {to}"));
        let mut out = Vec::new();
        encode_sendto(&me, text, &mut out);
        conns.reply(recipient, out);
        // The recipient's queue may have overflowed on this very message:
        // then it was not delivered, and the sender is told so.
        let outcome = if conns.contains(recipient) {
            Outcome::Ok
        } else {
            Outcome::Failure
        };
        Self::respond(conns, id, outcome);
    }

    fn malformed_frame(conns: &mut Conns, id: ConnId, error: BodyError) {
        conns.status(id, format_args!("malformed frame: {error}"));
        Self::respond(conns, id, Outcome::Malformed);
    }

    /// Forgets `id`'s login; its name, if it had one.
    fn logout(&mut self, id: ConnId) -> Option<Arc<str>> {
        self.roster.remove(id)
    }
}

impl Dialect for Direct {
    type Decoder = RequestDecoder;

    /// `--trace` shows each frame in hex with its meaning beside it.
    fn trace(way: Way, bytes: &[u8], lines: &mut Vec<String>) {
        trace::frames(way, bytes, lines);
    }

    fn decoder(&self) -> RequestDecoder {
        RequestDecoder
    }

    fn request(&mut self, conns: &mut Conns, id: ConnId, request: Parsed<Request>) {
        match request {
            Ok(Request::Login(name)) => self.login(conns, id, name),
            Ok(Request::List) => {
                conns.status(id, format_args!("LIST"));
                let mut out = Vec::new();
                encode_list(self.roster.names(), &mut out);
                conns.reply(id, out);
            }
            Ok(Request::SendTo { to, text }) => self.sendto(conns, id, &to, &text),
            Ok(Request::Logout) => match self.logout(id) {
                Some(name) => {
                    conns.status(id, format_args!("LOGOUT {name}"));
                    Self::respond(conns, id, Outcome::Ok);
                }
                None => Self::refuse(conns, id, format_args!("LOGOUT"), "not logged in"),
            },
            Err(error) => Self::malformed_frame(conns, id, error),
        }
    }

    fn malformed(&mut self, conns: &mut Conns, id: ConnId, error: FrameError) {
        conns.status(id, format_args!("malformed frame: {error}, closing"));
        Self::respond(conns, id, Outcome::Malformed);
    }

    fn disconnected(&mut self, conns: &mut Conns, id: ConnId) {
        if let Some(name) = self.logout(id) {
            conns.status(id, format_args!("{name} logged out (connection ended)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::testing::Harness;
    use crate::dispatch::Event;
    use chat_protocol::direct::Reply;

    const OK: &[u8] = b"\x82\x00\x00\x00\x01\x00";
    const FAILURE: &[u8] = b"\x82\x00\x00\x00\x01\x01";
    const MALFORMED: &[u8] = b"\x82\x00\x00\x00\x01\x02";

    fn login(h: &mut Harness<Direct>, name: &str) -> ConnId {
        let id = h.connect();
        h.request(id, Ok(Request::Login(name.into())));
        assert_eq!(h.take_bytes(id), OK);
        id
    }

    fn list(names: &[&str]) -> Vec<u8> {
        Reply::List(names.iter().map(|n| n.to_string()).collect()).to_bytes()
    }

    fn sendto(to: &str, text: &str) -> Parsed<Request> {
        Ok(Request::SendTo {
            to: to.into(),
            text: text.into(),
        })
    }

    #[test]
    fn list_works_before_login_and_in_login_order() {
        let mut h = Harness::new(Direct::new());
        let anon = h.connect();
        h.request(anon, Ok(Request::List));
        assert_eq!(h.take_bytes(anon), list(&[]));
        let bob = login(&mut h, "Bob");
        let _alice = login(&mut h, "Alice");
        h.request(anon, Ok(Request::List));
        assert_eq!(h.take_bytes(anon), list(&["Bob", "Alice"]));
        h.request(bob, Ok(Request::List));
        assert_eq!(h.take_bytes(bob), list(&["Bob", "Alice"]));
    }

    #[test]
    fn login_rules() {
        let mut h = Harness::new(Direct::new());
        let alice = login(&mut h, "Alice");
        let other = h.connect();
        let n21 = "a".repeat(21);
        #[rustfmt::skip]
        let cases: Vec<(ConnId, &str, &[u8])> = vec![
            (alice, "Other", FAILURE),   // already logged in on this connection
            (alice, "Alice", FAILURE),
            (other, "Alice", FAILURE),   // in use
            (other, "", FAILURE),        // too short
            (other, &n21, FAILURE),      // too long
            (other, "a b", FAILURE),     // whitespace
            (other, "a\u{3000}", FAILURE),
            (other, "Zoë", OK),
        ];
        for (id, name, want) in cases {
            h.request(id, Ok(Request::Login(name.into())));
            assert_eq!(h.take_bytes(id), want, "{name:?}");
        }
        h.request(other, Ok(Request::List));
        assert_eq!(h.take_bytes(other), list(&["Alice", "Zoë"]));
    }

    #[test]
    fn sendto_delivers_before_answering_the_sender() {
        let mut h = Harness::new(Direct::new());
        let anon = h.connect();
        let alice = login(&mut h, "Alice");
        let bob = login(&mut h, "Bob");
        h.request(anon, sendto("Bob", "hi"));
        assert_eq!(h.take_bytes(anon), FAILURE);
        h.request(alice, sendto("Zed", "hi"));
        assert_eq!(h.take_bytes(alice), FAILURE);
        h.request(alice, sendto("Bob", "hi Bob"));
        assert_eq!(
            h.take_bytes(bob),
            b"\x83\x00\x00\x00\x0e\x05Alice\x00\x06hi Bob"
        );
        assert_eq!(h.take_bytes(alice), OK);
        h.request(alice, sendto("Alice", "me"));
        assert_eq!(
            h.take_bytes(alice),
            [&b"\x83\x00\x00\x00\x0a\x05Alice\x00\x02me"[..], OK].concat()
        );
        assert_eq!(h.take_bytes(bob), b"");
    }

    #[test]
    fn logout_keeps_the_connection_and_allows_a_new_login() {
        let mut h = Harness::new(Direct::new());
        let alice = login(&mut h, "Alice");
        let bob = login(&mut h, "Bob");
        h.request(alice, Ok(Request::Logout));
        assert_eq!(h.take_bytes(alice), OK);
        h.request(alice, Ok(Request::Logout));
        assert_eq!(h.take_bytes(alice), FAILURE);
        assert!(!h.is_closed(alice));
        h.request(bob, sendto("Alice", "there?"));
        assert_eq!(h.take_bytes(bob), FAILURE);
        h.request(alice, sendto("Bob", "x"));
        assert_eq!(h.take_bytes(alice), FAILURE);
        h.request(alice, Ok(Request::Login("Carol".into())));
        assert_eq!(h.take_bytes(alice), OK);
        h.request(bob, Ok(Request::List));
        assert_eq!(h.take_bytes(bob), list(&["Bob", "Carol"]));
        // The freed name can be taken by someone else.
        let _alice2 = login(&mut h, "Alice");
    }

    #[test]
    fn malformed_bodies_answer_and_go_on_oversized_lengths_close() {
        let mut h = Harness::new(Direct::new());
        let alice = login(&mut h, "Alice");
        h.request(alice, Err(BodyError::UnknownType(9)));
        h.request(alice, Err(BodyError::Overrun));
        assert_eq!(h.take_bytes(alice), [MALFORMED, MALFORMED].concat());
        assert!(!h.is_closed(alice));
        let bob = login(&mut h, "Bob");
        h.dispatcher
            .handle(Event::Malformed(bob, FrameError::TooLong(70_001)));
        assert_eq!(h.take_bytes(bob), MALFORMED);
        assert!(h.is_closed(bob));
        h.request(alice, Ok(Request::List));
        assert_eq!(h.take_bytes(alice), list(&["Alice"]));
    }

    #[test]
    fn a_vanished_client_is_logged_out() {
        let mut h = Harness::new(Direct::new());
        let alice = login(&mut h, "Alice");
        let bob = login(&mut h, "Bob");
        h.hang_up(bob);
        assert_eq!(h.take_bytes(alice), b"");
        h.request(alice, sendto("Bob", "x"));
        assert_eq!(h.take_bytes(alice), FAILURE);
        let _bob2 = login(&mut h, "Bob");
    }

    #[test]
    fn an_overflowing_recipient_is_cut_and_the_sender_told() {
        let mut h = Harness::with_sendq(Direct::new(), 100);
        let slow = login(&mut h, "Slow");
        let fast = login(&mut h, "Fast");
        let text = "x".repeat(60);
        h.request(fast, sendto("Slow", &text));
        assert_eq!(h.take_bytes(fast), OK);
        h.request(fast, sendto("Slow", &text));
        assert_eq!(h.take_bytes(fast), FAILURE);
        assert!(h.is_closed(slow));
        h.request(fast, Ok(Request::List));
        assert_eq!(h.take_bytes(fast), list(&["Fast"]));
    }
}
