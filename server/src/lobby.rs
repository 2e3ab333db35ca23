//! lobby: one room of at most `--max-users` registered users, speaking
//! JOIN/LIST/MESG/BCST/QUIT in text lines.
//!
//! Every row of the contract's table is one arm of [`Lobby::request`]; the
//! strings live in [`chat_protocol::lobby::Reply`].

use std::sync::Arc;
use std::time::Duration;

use chat_protocol::lobby::{encode_list, Reply, Request, RequestDecoder};

use crate::conns::{ConnId, Conns};
use crate::dispatch::Dialect;
use crate::outbox::Bytes;
use crate::roster::Roster;

/// The lobby's state: who is registered, under which name, in join order.
#[derive(Debug)]
pub struct Lobby {
    max_users: usize,
    roster: Roster,
}

impl Lobby {
    pub fn new(max_users: usize) -> Lobby {
        Lobby {
            max_users,
            roster: Roster::default(),
        }
    }

    /// Sends `reply` to `id` alone.
    fn reply(conns: &mut Conns, id: ConnId, reply: Reply<'_>) {
        conns.reply(id, reply.to_bytes());
    }

    /// Sends `reply`, encoded once, to every registered user but `except`.
    fn announce(&self, conns: &mut Conns, reply: Reply<'_>, except: Option<ConnId>) {
        let bytes = Bytes::from(reply.to_bytes());
        for &to in self.roster.ids() {
            if Some(to) != except {
                conns.send(to, &bytes);
            }
        }
    }

    fn join(&mut self, conns: &mut Conns, id: ConnId, name: Option<String>) {
        let Some(name) = name else {
            conns.status(id, format_args!("JOIN refused: Invalid Username"));
            return Self::reply(conns, id, Reply::InvalidUsername);
        };
        if self.roster.len() >= self.max_users {
            conns.status(
                id,
                format_args!("JOIN {name} refused: Too Many Users, closing"),
            );
            Self::reply(conns, id, Reply::TooManyUsers);
            return conns.close(id);
        }
        if self.roster.id(&name).is_some() {
            conns.status(id, format_args!("JOIN {name} refused: Username Taken"));
            return Self::reply(conns, id, Reply::UsernameTaken);
        }
        conns.status(id, format_args!("JOIN {name}"));
        let name: Arc<str> = name.into();
        self.roster.add(id, name.clone());
        conns.set_registered(id);
        self.announce(conns, Reply::Joined(&name), None);
    }

    /// Forgets `id`'s registration; its name, if it had one.
    fn unregister(&mut self, id: ConnId) -> Option<Arc<str>> {
        self.roster.remove(id)
    }
}

impl Dialect for Lobby {
    type Decoder = RequestDecoder;

    /// Course clients send `JOIN Alice` with no line end and wait for the
    /// answer: a pause of 200 ms ends the line (contract, lobby).
    const IDLE_AFTER: Option<Duration> = Some(Duration::from_millis(200));

    fn decoder(&self) -> RequestDecoder {
        RequestDecoder::default()
    }

    fn request(&mut self, conns: &mut Conns, id: ConnId, request: Request) {
        let me = self.roster.name(id);
        match (request, me) {
            (Request::TooLong, _) => {
                conns.status(id, format_args!("line too long"));
                Self::reply(conns, id, Reply::TooLong);
            }
            (Request::Join(_), Some(me)) => {
                conns.status(id, format_args!("JOIN refused: already registered as {me}"));
                Self::reply(conns, id, Reply::AlreadyRegistered(&me));
            }
            (Request::Join(name), None) => self.join(conns, id, name),
            (Request::List, Some(_)) => {
                conns.status(id, format_args!("LIST"));
                let mut out = Vec::new();
                encode_list(self.roster.names(), &mut out);
                conns.reply(id, out);
            }
            (Request::Mesg { to, text }, Some(me)) => match self.roster.id(&to) {
                Some(recipient) => {
                    conns.status(id, format_args!("MESG {me} -> {to}"));
                    let relay = Reply::Relay {
                        from: &me,
                        text: &text,
                    };
                    conns.reply(recipient, relay.to_bytes());
                }
                None => {
                    conns.status(id, format_args!("MESG {me} -> {to}: Unknown Recipient"));
                    Self::reply(conns, id, Reply::UnknownRecipient);
                }
            },
            (Request::Bcst { text }, Some(me)) => {
                conns.status(id, format_args!("BCST {me}"));
                Self::reply(conns, id, Reply::Broadcasting(&me));
                self.announce(
                    conns,
                    Reply::Relay {
                        from: &me,
                        text: &text,
                    },
                    Some(id),
                );
            }
            (Request::Quit, Some(me)) => {
                conns.status(id, format_args!("QUIT {me}"));
                Self::reply(conns, id, Reply::Quitting(&me));
                self.unregister(id);
                conns.close(id);
                self.announce(conns, Reply::Left(&me), None);
            }
            (Request::Quit, None) => {
                conns.status(id, format_args!("QUIT (unregistered)"));
                Self::reply(conns, id, Reply::Goodbye);
                conns.close(id);
            }
            (
                Request::List | Request::Mesg { .. } | Request::Bcst { .. } | Request::BadService,
                None,
            ) => {
                conns.status(id, format_args!("request refused: Unregistered User"));
                Self::reply(conns, id, Reply::Unregistered);
            }
            (Request::BadService | Request::Unknown, _) => {
                conns.status(id, format_args!("Unknown Message"));
                Self::reply(conns, id, Reply::UnknownMessage);
            }
        }
    }

    fn disconnected(&mut self, conns: &mut Conns, id: ConnId) {
        if let Some(name) = self.unregister(id) {
            conns.status(id, format_args!("{name} left"));
            self.announce(conns, Reply::Left(&name), None);
        }
    }

    fn shutdown(&mut self, conns: &mut Conns) {
        let bytes = Bytes::from(Reply::ShuttingDown.to_bytes());
        for id in conns.ids() {
            conns.send(id, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::testing::Harness;
    use crate::dispatch::Event;

    fn join(h: &mut Harness<Lobby>, name: &str) -> ConnId {
        let id = h.connect();
        h.request(id, Request::Join(Some(name.into())));
        id
    }

    #[test]
    fn join_announces_to_everyone_registered_only() {
        let mut h = Harness::new(Lobby::new(10));
        let lurker = h.connect();
        let alice = join(&mut h, "Alice");
        assert_eq!(h.take(alice), "Alice joined!\n");
        let bob = join(&mut h, "Bob");
        assert_eq!(h.take(alice), "Bob joined!\n");
        assert_eq!(h.take(bob), "Bob joined!\n");
        assert_eq!(h.take(lurker), "");
        h.request(bob, Request::List);
        assert_eq!(h.take(bob), "Alice\nBob\n");
    }

    #[test]
    fn rows_in_table_order() {
        let mut h = Harness::new(Lobby::new(2));
        let alice = join(&mut h, "Alice");
        h.request(alice, Request::Join(None));
        h.request(alice, Request::Join(Some("Other".into())));
        let anon = h.connect();
        h.request(anon, Request::Join(None));
        h.request(anon, Request::Join(Some("Alice".into())));
        h.request(anon, Request::List);
        h.request(anon, Request::BadService);
        h.request(anon, Request::Unknown);
        h.request(anon, Request::TooLong);
        assert_eq!(
            h.take(alice),
            "Alice joined!\nAlready Registered as Alice\nAlready Registered as Alice\n"
        );
        assert_eq!(
            h.take(anon),
            "Invalid Username\nUsername Taken\n\
             Unregistered User. Use JOIN <username> to register.\n\
             Unregistered User. Use JOIN <username> to register.\n\
             Unknown Message\nMessage Too Long\n"
        );
        let _bob = join(&mut h, "Bob");
        h.take(alice);
        h.request(anon, Request::Join(Some("Carol".into())));
        assert_eq!(h.take(anon), "Too Many Users\n");
        assert!(h.is_closed(anon));
        assert_eq!(h.take(alice), "");
    }

    #[test]
    fn mesg_bcst_quit_and_vanishing() {
        let mut h = Harness::new(Lobby::new(10));
        let alice = join(&mut h, "Alice");
        let bob = join(&mut h, "Bob");
        let carol = join(&mut h, "Carol");
        for id in [alice, bob, carol] {
            h.take(id);
        }
        h.request(
            alice,
            Request::Mesg {
                to: "Bob".into(),
                text: "hi".into(),
            },
        );
        h.request(
            alice,
            Request::Mesg {
                to: "Alice".into(),
                text: "me".into(),
            },
        );
        h.request(
            alice,
            Request::Mesg {
                to: "Zed".into(),
                text: "x".into(),
            },
        );
        assert_eq!(h.take(alice), "Alice: me\nUnknown Recipient\n");
        assert_eq!(h.take(bob), "Alice: hi\n");
        assert_eq!(h.take(carol), "");
        h.request(bob, Request::Bcst { text: "all".into() });
        assert_eq!(h.take(bob), "Bob is sending a broadcast\n");
        assert_eq!(h.take(alice), "Bob: all\n");
        assert_eq!(h.take(carol), "Bob: all\n");
        h.request(bob, Request::Quit);
        assert_eq!(h.take(bob), "Bob is quitting the chat server\n");
        assert!(h.is_closed(bob));
        assert_eq!(h.take(alice), "Bob left\n");
        h.hang_up(carol);
        assert_eq!(h.take(alice), "Carol left\n");
        h.request(alice, Request::List);
        assert_eq!(h.take(alice), "Alice\n");
        // The names are free again.
        let bob2 = join(&mut h, "Bob");
        assert_eq!(h.take(bob2), "Bob joined!\n");
    }

    #[test]
    fn unregistered_quit_says_goodbye() {
        let mut h = Harness::new(Lobby::new(10));
        let anon = h.connect();
        h.request(anon, Request::Quit);
        assert_eq!(h.take(anon), "Goodbye\n");
        assert!(h.is_closed(anon));
    }

    #[test]
    fn overflow_cuts_only_the_slow_client_and_announces_it() {
        let mut h = Harness::with_sendq(Lobby::new(10), 100);
        let slow = join(&mut h, "Slow");
        let fast = join(&mut h, "Fast");
        h.take(fast);
        let text = "x".repeat(40);
        for _ in 0..3 {
            h.request(fast, Request::Bcst { text: text.clone() });
            // The fast client reads everything it is sent.
            h.take(fast);
        }
        assert!(h.is_closed(slow));
        h.request(fast, Request::List);
        assert_eq!(h.take(fast), "Fast\n");
    }

    #[test]
    fn shutdown_tells_every_connection() {
        let mut h = Harness::new(Lobby::new(10));
        let alice = join(&mut h, "Alice");
        let anon = h.connect();
        h.take(alice);
        h.dispatcher.handle(Event::Shutdown);
        assert_eq!(h.take(alice), "Server Shutting Down\n");
        assert_eq!(h.take(anon), "Server Shutting Down\n");
    }

    #[test]
    fn a_full_server_cuts_the_oldest_unregistered_connection_and_announces_nobody() {
        let mut h = Harness::new(Lobby::new(10));
        h.dispatcher.conns.set_slot_age(std::time::Duration::ZERO);
        let lurker = h.connect();
        let alice = join(&mut h, "Alice");
        assert_eq!(h.take(alice), "Alice joined!\n");
        let (answer, freed) = crossbeam_channel::bounded(1);
        h.dispatcher.handle(Event::Full(answer));
        assert_eq!(freed.try_recv(), Ok(true));
        assert!(h.is_closed(lurker));
        assert!(!h.is_closed(alice));
        assert_eq!(h.take(alice), "");
        // Only a registered user is left: no slot is freed.
        let (answer, freed) = crossbeam_channel::bounded(1);
        h.dispatcher.handle(Event::Full(answer));
        assert_eq!(freed.try_recv(), Ok(false));
        assert!(!h.is_closed(alice));
    }
}
