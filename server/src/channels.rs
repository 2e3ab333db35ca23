//! channels: named users in named channels, speaking fixed 200-byte records.
//!
//! A connection's first record is its name; after that, every row of the
//! contract's table is one arm of [`Channels::request`]. The strings and the
//! splitting of long messages into records live in
//! [`chat_protocol::channels`]. A channel lives as long as the server; there
//! is nothing to tell clients at shutdown.

use std::collections::HashMap;
use std::sync::Arc;

use chat_protocol::channels::{encode_list, RecordDecoder, Reply, Request};
use chat_protocol::name;

use crate::conns::{ConnId, Conns, IdMap};
use crate::dispatch::Dialect;
use crate::outbox::Bytes;
use crate::trace::{self, Way};

/// Index of a channel in [`Channels::channels`]; channels are never removed,
/// so an index stays valid.
type ChannelIx = usize;

#[derive(Debug)]
struct Channel {
    name: Arc<str>,
    /// In join order, which is the order relays go out in.
    members: Vec<ConnId>,
}

#[derive(Debug)]
struct User {
    name: Arc<str>,
    channel: Option<ChannelIx>,
}

/// The dialect's state: who is named what, and who is in which channel.
#[derive(Debug)]
pub struct Channels {
    users: IdMap<User>,
    taken: HashMap<Arc<str>, ConnId>,
    /// In creation order, which is the order `/list` answers in.
    channels: Vec<Channel>,
    by_name: HashMap<Arc<str>, ChannelIx>,
    /// `--max-channels`: channels are never removed, so without a bound a
    /// script could fill memory with them (and make every `/list` huge).
    max_channels: usize,
    /// The `/list` answer, encoded once per change of the channel list and
    /// shared by every asker, so that a `/list` costs a reference, not a
    /// walk over up to `max_channels` names.
    list: Option<Bytes>,
}

impl Channels {
    /// A server that lets at most `max_channels` channels exist.
    pub fn new(max_channels: usize) -> Channels {
        Channels {
            users: IdMap::default(),
            taken: HashMap::new(),
            channels: Vec::new(),
            by_name: HashMap::new(),
            max_channels,
            list: None,
        }
    }

    /// The `/list` answer (empty when there are no channels).
    fn list(&mut self) -> Bytes {
        let channels = &self.channels;
        self.list
            .get_or_insert_with(|| {
                let mut out = Vec::new();
                encode_list(channels.iter().map(|c| &*c.name), &mut out);
                Bytes::from(out)
            })
            .clone()
    }

    fn reply(conns: &mut Conns, id: ConnId, reply: Reply<'_>) {
        conns.reply(id, reply.to_bytes());
    }

    /// Sends `reply`, encoded once, to every member of `ix` but `except`.
    fn announce(&self, conns: &mut Conns, ix: ChannelIx, reply: Reply<'_>, except: ConnId) {
        let bytes = Bytes::from(reply.to_bytes());
        for &to in &self.channels[ix].members {
            if to != except {
                conns.send(to, &bytes);
            }
        }
    }

    /// The first record: a name, or the error record and the end.
    fn name(&mut self, conns: &mut Conns, id: ConnId, name: String) {
        if !name::CHANNELS.accepts(&name) || self.taken.contains_key(name.as_str()) {
            conns.status(id, format_args!("NAME {name:?} refused, closing"));
            Self::reply(conns, id, Reply::BadName(&name));
            return conns.close(id);
        }
        conns.status(id, format_args!("NAME {name}"));
        let name: Arc<str> = name.into();
        self.taken.insert(name.clone(), id);
        self.users.insert(
            id,
            User {
                name,
                channel: None,
            },
        );
        conns.set_registered(id);
    }

    /// Takes `id` out of its channel, if any, and tells those left there.
    fn leave(&mut self, conns: &mut Conns, id: ConnId) {
        let Some(user) = self.users.get_mut(&id) else {
            return;
        };
        let Some(ix) = user.channel.take() else {
            return;
        };
        let name = user.name.clone();
        self.channels[ix].members.retain(|&m| m != id);
        self.announce(conns, ix, Reply::Left(&name), id);
    }

    /// Puts `id`, in no channel now, into `ix` and tells those already there.
    fn enter(&mut self, conns: &mut Conns, id: ConnId, ix: ChannelIx, name: &str) {
        self.announce(conns, ix, Reply::Joined(name), id);
        self.channels[ix].members.push(id);
        if let Some(user) = self.users.get_mut(&id) {
            user.channel = Some(ix);
        }
    }

    fn create(&mut self, conns: &mut Conns, id: ConnId, me: &str, channel: Option<String>) {
        let Some(channel) = channel else {
            conns.status(id, format_args!("{me}: /create refused: no name"));
            return Self::reply(conns, id, Reply::CreateWithoutName);
        };
        if self.by_name.contains_key(channel.as_str()) {
            conns.status(id, format_args!("{me}: /create {channel} refused: exists"));
            return Self::reply(conns, id, Reply::ChannelExists(&channel));
        }
        if self.channels.len() >= self.max_channels {
            conns.status(
                id,
                format_args!("{me}: /create {channel} refused: too many channels"),
            );
            return Self::reply(conns, id, Reply::TooManyChannels(&channel));
        }
        conns.status(id, format_args!("{me}: /create {channel}"));
        self.list = None;
        self.leave(conns, id);
        let name: Arc<str> = channel.into();
        let ix = self.channels.len();
        self.channels.push(Channel {
            name: name.clone(),
            members: Vec::new(),
        });
        self.by_name.insert(name, ix);
        self.enter(conns, id, ix, me);
    }

    fn join(&mut self, conns: &mut Conns, id: ConnId, me: &str, channel: Option<String>) {
        let Some(channel) = channel else {
            conns.status(id, format_args!("{me}: /join refused: no name"));
            return Self::reply(conns, id, Reply::JoinWithoutName);
        };
        let Some(&ix) = self.by_name.get(channel.as_str()) else {
            conns.status(
                id,
                format_args!("{me}: /join {channel} refused: no such channel"),
            );
            return Self::reply(conns, id, Reply::NoSuchChannel(&channel));
        };
        if self.users.get(&id).and_then(|u| u.channel) == Some(ix) {
            conns.status(id, format_args!("{me}: /join {channel}: already there"));
            return;
        }
        conns.status(id, format_args!("{me}: /join {channel}"));
        self.leave(conns, id);
        self.enter(conns, id, ix, me);
    }

    fn text(&mut self, conns: &mut Conns, id: ConnId, me: &str, text: &str) {
        match self.users.get(&id).and_then(|u| u.channel) {
            Some(ix) => {
                conns.status(id, format_args!("{me}: text to {}", self.channels[ix].name));
                self.announce(conns, ix, Reply::Relay { from: me, text }, id);
            }
            None => {
                conns.status(id, format_args!("{me}: text refused: in no channel"));
                Self::reply(conns, id, Reply::NotInChannel);
            }
        }
    }
}

impl Dialect for Channels {
    type Decoder = RecordDecoder;

    /// `--trace` shows each 200-byte record with its padding counted.
    fn trace(way: Way, bytes: &[u8], lines: &mut Vec<String>) {
        trace::records(way, bytes, lines);
    }

    fn decoder(&self) -> RecordDecoder {
        RecordDecoder
    }

    fn request(&mut self, conns: &mut Conns, id: ConnId, record: String) {
        let Some(me) = self.users.get(&id).map(|u| u.name.clone()) else {
            return self.name(conns, id, record);
        };
        let Some(request) = Request::parse(&record) else {
            return;
        };
        match request {
            Request::Create(channel) => self.create(conns, id, &me, channel),
            Request::Join(channel) => self.join(conns, id, &me, channel),
            Request::List => {
                conns.status(id, format_args!("{me}: /list"));
                let list = self.list();
                if !list.is_empty() {
                    conns.send(id, &list);
                }
            }
            Request::Invalid(word) => {
                conns.status(
                    id,
                    format_args!("{me}: {word:?} refused: not a control message"),
                );
                Self::reply(conns, id, Reply::InvalidControl(&word));
            }
            Request::Text(text) => self.text(conns, id, &me, &text),
        }
    }

    fn disconnected(&mut self, conns: &mut Conns, id: ConnId) {
        self.leave(conns, id);
        if let Some(user) = self.users.remove(&id) {
            self.taken.remove(&user.name);
            conns.status(id, format_args!("{} left", user.name));
        }
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use chat_protocol::channels::RECORD;

    use crate::dispatch::testing::Harness;

    /// `id`'s records since the last look, each stripped of its padding.
    pub fn take(h: &mut Harness<Channels>, id: ConnId) -> Vec<String> {
        let bytes = h.take_bytes(id);
        assert_eq!(bytes.len() % RECORD, 0, "whole records only");
        bytes
            .chunks(RECORD)
            .map(|r| chat_protocol::channels::strip(&String::from_utf8_lossy(r)).to_owned())
            .collect()
    }

    pub fn named(h: &mut Harness<Channels>, name: &str) -> ConnId {
        let id = h.connect();
        h.request(id, name.into());
        id
    }

    pub fn say(h: &mut Harness<Channels>, id: ConnId, text: &str) {
        h.request(id, text.into());
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use chat_protocol::channels::RECORD;

    use crate::dispatch::testing::Harness;

    #[test]
    fn names_are_checked_then_closed() {
        let mut h = Harness::new(Channels::new(1000));
        let alice = named(&mut h, "Alice");
        assert!(take(&mut h, alice).is_empty());
        assert!(!h.is_closed(alice));
        let long = "x".repeat(33);
        for bad in ["Alice", "", "Al ice", "tab\t", &long] {
            let id = named(&mut h, bad);
            assert_eq!(
                take(&mut h, id),
                [format!("Name {bad} is not valid or is already in use.")]
            );
            assert!(h.is_closed(id), "{bad:?}");
        }
        // A name is free again once its user is gone.
        h.hang_up(alice);
        let again = named(&mut h, "Alice");
        assert!(!h.is_closed(again));
    }

    #[test]
    fn handout_scenario() {
        let mut h = Harness::new(Channels::new(1000));
        let alice = named(&mut h, "Alice");
        let kay = named(&mut h, "Kay");
        say(&mut h, alice, "/create tas");
        say(&mut h, kay, "/join tas");
        assert_eq!(take(&mut h, alice), ["Kay has joined"]);
        say(&mut h, kay, "Hi!");
        assert_eq!(take(&mut h, alice), ["[Kay] Hi!"]);
        say(&mut h, alice, "Hello!");
        assert_eq!(take(&mut h, kay), ["[Alice] Hello!"]);
        assert!(take(&mut h, alice).is_empty());
    }

    #[test]
    fn every_error_and_nothing_changes() {
        let mut h = Harness::new(Channels::new(1000));
        let a = named(&mut h, "A");
        let b = named(&mut h, "B");
        say(&mut h, a, "hello");
        say(&mut h, a, "/list");
        say(&mut h, a, "/create");
        say(&mut h, a, "/join");
        say(&mut h, a, "/join nope");
        say(&mut h, a, "/JOIN x");
        say(&mut h, a, "/create aa");
        say(&mut h, b, "/join aa");
        say(&mut h, b, "/create aa");
        say(&mut h, b, "/join zz");
        say(&mut h, b, "");
        assert_eq!(
            take(&mut h, a),
            [
                "Not currently in any channel. Must join a channel before sending messages.",
                "/create command must be followed by the name of a channel to create",
                "/join command must be followed by the name of a channel to join.",
                "No channel named nope exists. Try '/create nope'?",
                "/JOIN is not a valid control message. Valid messages are /create, /list, and /join.",
                "B has joined",
            ]
        );
        assert_eq!(
            take(&mut h, b),
            [
                "Room aa already exists, so cannot be created.",
                "No channel named zz exists. Try '/create zz'?",
            ]
        );
        // B is still in aa after its failed commands.
        say(&mut h, b, "still here");
        assert_eq!(take(&mut h, a), ["[B] still here"]);
    }

    #[test]
    fn switching_announces_to_the_right_channels() {
        let mut h = Harness::new(Channels::new(1000));
        let a = named(&mut h, "A");
        let b = named(&mut h, "B");
        let c = named(&mut h, "C");
        say(&mut h, b, "/create one");
        say(&mut h, c, "/create two");
        say(&mut h, a, "/join one");
        assert_eq!(take(&mut h, b), ["A has joined"]);
        say(&mut h, a, "/join one");
        say(&mut h, a, "/join two");
        assert_eq!(take(&mut h, b), ["A has left"]);
        assert_eq!(take(&mut h, c), ["A has joined"]);
        say(&mut h, a, "/create three");
        assert_eq!(take(&mut h, c), ["A has left"]);
        assert!(take(&mut h, b).is_empty());
        assert!(take(&mut h, a).is_empty());
        say(&mut h, a, "/list");
        assert_eq!(take(&mut h, a), ["one\ntwo\nthree"]);
        h.hang_up(c);
        say(&mut h, b, "/join two");
        h.hang_up(b);
        assert!(take(&mut h, a).is_empty());
        say(&mut h, a, "/join two");
        say(&mut h, a, "/list");
        assert_eq!(take(&mut h, a), ["one\ntwo\nthree"]);
    }

    #[test]
    fn disconnect_is_announced_to_the_channel() {
        let mut h = Harness::new(Channels::new(1000));
        let a = named(&mut h, "A");
        let b = named(&mut h, "B");
        say(&mut h, a, "/create x");
        say(&mut h, b, "/join x");
        take(&mut h, a);
        h.hang_up(b);
        assert_eq!(take(&mut h, a), ["B has left"]);
    }

    #[test]
    fn long_relay_is_one_message_of_several_records() {
        let mut h = Harness::new(Channels::new(1000));
        let a = named(&mut h, "Alice");
        let b = named(&mut h, "B");
        say(&mut h, a, "/create x");
        say(&mut h, b, "/join x");
        take(&mut h, a);
        let text = "y".repeat(200);
        say(&mut h, b, &text);
        assert_eq!(
            take(&mut h, a),
            [format!("[B] {}", "y".repeat(196)), "yyyy".into()]
        );
    }

    #[test]
    fn a_long_relay_counts_as_one_message_against_the_queue() {
        // An empty queue takes any one message, however many records.
        let mut h = Harness::with_sendq(Channels::new(1000), RECORD + 1);
        let a = named(&mut h, "A");
        let b = named(&mut h, "B");
        say(&mut h, a, "/create x");
        say(&mut h, b, "/join x");
        take(&mut h, a);
        say(&mut h, b, &"z".repeat(RECORD));
        assert_eq!(take(&mut h, a).len(), 2);
        assert!(!h.is_closed(a));
        // A second one while the first is unread is over the bound.
        say(&mut h, b, "one");
        say(&mut h, b, "two");
        assert!(h.is_closed(a));
        assert_eq!(take(&mut h, b), ["A has left"]);
        say(&mut h, b, "/join");
        assert_eq!(
            take(&mut h, b),
            ["/join command must be followed by the name of a channel to join."]
        );
    }

    #[test]
    fn list_with_no_channels_sends_nothing() {
        let mut h = Harness::new(Channels::new(1000));
        let a = named(&mut h, "A");
        say(&mut h, a, "/list");
        say(&mut h, a, "/join");
        assert_eq!(
            take(&mut h, a),
            ["/join command must be followed by the name of a channel to join."]
        );
    }
}

#[cfg(test)]
mod max_channels {
    use super::tests_support::*;
    use super::*;
    use crate::dispatch::testing::Harness;

    #[test]
    fn create_past_max_channels_is_refused_and_changes_nothing() {
        let mut h = Harness::new(Channels::new(2));
        let a = named(&mut h, "A");
        say(&mut h, a, "/create one");
        say(&mut h, a, "/create two");
        say(&mut h, a, "/create three");
        assert_eq!(
            take(&mut h, a),
            ["Too many channels, so three cannot be created."]
        );
        // A failed /create leaves the user where it was and lists nothing new.
        let b = named(&mut h, "B");
        say(&mut h, b, "/join two");
        assert_eq!(take(&mut h, a), ["B has joined"]);
        say(&mut h, b, "/list");
        assert_eq!(take(&mut h, b), ["one\ntwo"]);
        say(&mut h, b, "/join three");
        assert_eq!(
            take(&mut h, b),
            ["No channel named three exists. Try '/create three'?"]
        );
    }

    #[test]
    fn the_list_follows_every_create() {
        let mut h = Harness::new(Channels::new(10));
        let a = named(&mut h, "A");
        say(&mut h, a, "/create one");
        say(&mut h, a, "/list");
        assert_eq!(take(&mut h, a), ["one"]);
        say(&mut h, a, "/create two");
        say(&mut h, a, "/list");
        assert_eq!(take(&mut h, a), ["one\ntwo"]);
    }
}
