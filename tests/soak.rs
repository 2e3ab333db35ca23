//! The state-consistency soak: many clients join, leave, message and get
//! killed at random, and throughout the server's own view (its list, or
//! what stands for one) must equal the users really connected and
//! registered, and every message sent to a live recipient must arrive
//! exactly once, in the order its sender sent it. One test per dialect:
//! `soak_lobby`, `soak_direct`, `soak_room`, `soak_channels`, `soak_bridge`.
//!
//! Not part of the normal run: each returns at once unless `CHAT_SOAK` is
//! set. One command (the seconds, per dialect, default to 120):
//!
//! ```text
//! CHAT_SOAK=120 cargo test --workspace -- soak --nocapture
//! ```
//!
//! Rounds are synchronised on replies, never on sleeps: a user sends a
//! request whose answer comes to it alone (a message to itself; in channels
//! a bare `/join`, whose usage error does) and reads until it is back (so
//! the server has handled everything it sent, and every relay is queued),
//! then does so again (so every relay queued for it has been read).
//!
//! - lobby: LIST, once every departure's `left` is read, is the model's
//!   users in join order.
//! - direct and room (written once, over the abuse suite's [`Subject`]): a
//!   kill shows in no reply, so the list (LIST; REPORT) is asked for until
//!   the killed are gone; every answer must list every live user, in order,
//!   and nobody but live or just-killed users.
//! - channels: `/list` lists channels, so membership is checked through
//!   relays and announcements (see [`soak_channels`]).
//! - bridge: no connections to list; the registry file, `/info` and every
//!   BRIDGEACK are checked against a model (see [`soak_bridge`]).

use std::time::{Duration, Instant};

use crate::abuse::check::Rng;
use crate::abuse::{record, records, room_message, tlv, Direct, Room, Subject, JOIN_USAGE};
use crate::util::{Peer, Server};
use chat_protocol::bridge::{Contact, Message as BridgeMessage, REGISTERED};
use chat_protocol::room::{Kind, Message as RoomMessage};

/// The soak's length in seconds, or `None` when it is not asked for.
fn soak_seconds() -> Option<u64> {
    let value = std::env::var("CHAT_SOAK").ok()?;
    Some(value.parse().unwrap_or(120))
}

struct User {
    name: String,
    peer: Peer,
    /// Relays read and not yet checked, as "from: text".
    got: Vec<String>,
    /// Relays sent to this user this round, in the order they were sent.
    want: Vec<String>,
}

impl User {
    /// Reads lines until `stop`, keeping the relays and dropping
    /// announcements; returns the bare lines (a LIST's names) seen.
    fn read_until(&mut self, stop: &str) -> Vec<String> {
        let mut names = Vec::new();
        loop {
            let line = self.peer.read_line();
            if line == stop {
                return names;
            }
            if line.contains(": ") {
                self.got.push(line);
            } else if !line.ends_with(" joined!") && !line.ends_with(" left") {
                names.push(line);
            }
        }
    }

    /// Sends a MESG to itself and reads until it is back.
    fn sync(&mut self, tag: &str) -> Vec<String> {
        let marker = format!("sync-{tag}");
        self.peer.send(format!("MESG {} {marker}\n", self.name));
        self.read_until(&format!("{}: {marker}", self.name))
    }
}

#[test]
fn soak_lobby() {
    let Some(seconds) = soak_seconds() else {
        return;
    };
    let server = Server::start(&["lobby", "0", "--max-users", "1000"]);
    let mut rng = Rng::new(seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut users: Vec<User> = Vec::new();
    let mut next_name = 0;
    let (mut rounds, mut sent, mut joins, mut quits, mut kills) = (0u64, 0u64, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        rounds += 1;
        // Joins.
        for _ in 0..rng.below(4) {
            if users.len() >= 40 {
                break;
            }
            next_name += 1;
            let name = format!("S{next_name}");
            let mut peer = server.connect();
            peer.send(format!("JOIN {name}\n"));
            let mut user = User {
                name: name.clone(),
                peer,
                got: Vec::new(),
                want: Vec::new(),
            };
            user.read_until(&format!("{name} joined!"));
            users.push(user);
            joins += 1;
        }
        // Departures: a clean QUIT or a kill, whichever; the others are
        // told either way.
        let mut gone = Vec::new();
        for _ in 0..rng.below(3) {
            if users.len() <= 2 {
                break;
            }
            let mut user = users.remove(rng.below(users.len()));
            if rng.one_in(2) {
                user.peer.send("QUIT\n");
                user.read_until(&format!("{} is quitting the chat server", user.name));
                user.peer.expect_closed();
                quits += 1;
            } else {
                user.peer.reset();
                kills += 1;
            }
            gone.push(user.name);
        }
        // Wait until the first user has seen every departure, so that the
        // server has handled them all.
        if let Some(first) = users.first_mut() {
            let mut left: Vec<String> = gone.iter().map(|n| format!("{n} left")).collect();
            while !left.is_empty() {
                let line = first.peer.read_line();
                if line.contains(": ") {
                    first.got.push(line);
                } else {
                    left.retain(|l| *l != line);
                }
            }
        }
        // Messages between live users.
        let count = users.len();
        for from in 0..count {
            for _ in 0..rng.below(4) {
                let to = rng.below(count);
                sent += 1;
                let text = format!("m{sent}");
                let (from_name, to_name) = (users[from].name.clone(), users[to].name.clone());
                users[from].peer.send(format!("MESG {to_name} {text}\n"));
                users[to].want.push(format!("{from_name}: {text}"));
            }
        }
        // Every user's MESGs handled, then every relay read.
        for user in &mut users {
            user.sync("a");
        }
        for user in &mut users {
            user.sync("b");
            let mut got = std::mem::take(&mut user.got);
            got.retain(|l| !l.starts_with(&format!("{}: sync-", user.name)));
            let mut want = std::mem::take(&mut user.want);
            // Order holds per sender; senders on different connections race.
            let sender = |l: &String| l.split(':').next().unwrap_or_default().to_owned();
            got.sort_by_key(sender);
            want.sort_by_key(sender);
            assert_eq!(got, want, "round {rounds}: what {} received", user.name);
        }
        // LIST is the model, in join order.
        if let Some(user) = users.get_mut(rng.below(count.max(1))) {
            user.peer.send("LIST\n");
            let listed = user.sync("list");
            let model: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
            assert_eq!(listed, model, "round {rounds}: LIST");
        }
    }
    eprintln!(
        "soak lobby: {seconds} s, {rounds} rounds, {joins} joins, {quits} quits, {kills} kills, {sent} messages, all delivered once and in order, LIST always right"
    );
}

/// What the soak needs of a dialect beyond what the abuse suite's
/// [`Subject`] says: its list equivalent and a clean leave.
trait Listed: Subject {
    /// Asks for the registered users, in order, and returns them. Nothing
    /// is pending for `me` but announcements and what it may skip.
    fn list(peer: &mut Peer, me: &str) -> Vec<String>;
    /// Leaves cleanly, returning once the server has handled it.
    fn leave(peer: Peer, me: &str);
}

impl Listed for Direct {
    fn list(peer: &mut Peer, _me: &str) -> Vec<String> {
        peer.send(tlv(0x02, b""));
        loop {
            let head = peer.read_exact(5);
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let body = peer.read_exact(len);
            match head[0] {
                // The answer to the last MESG of a sync.
                0x82 if body == [0] => continue,
                0x81 => return direct_names(&body),
                other => panic!("unexpected frame 0x{other:02x} {body:?}"),
            }
        }
    }

    fn leave(mut peer: Peer, me: &str) {
        // A logout, proved handled by a list without `me`; the connection
        // then closes with nobody logged in on it.
        peer.send(tlv(0x04, b""));
        let listed = Self::list(&mut peer, me);
        assert!(!listed.iter().any(|n| n == me), "{me} listed after logout");
    }
}

/// The names of a direct LIST body.
fn direct_names(body: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 2;
    while let Some(&n) = body.get(at) {
        let name = &body[at + 1..at + 1 + n as usize];
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 1 + n as usize;
    }
    assert_eq!(names.len(), u16::from_be_bytes([body[0], body[1]]) as usize);
    names
}

impl Listed for Room {
    fn list(peer: &mut Peer, me: &str) -> Vec<String> {
        peer.send("REPORT_REQUEST_FLAG: 1\n\n");
        let to_me = format!("@{me} ");
        loop {
            let message = room_message(peer);
            match message.kind {
                Kind::NewUser | Kind::QuitAccept => {}
                // Others' sync markers reach everyone.
                Kind::Text => assert!(!message.payload.starts_with(to_me.as_bytes())),
                Kind::ReportResponse => {
                    let text = String::from_utf8_lossy(&message.payload).into_owned();
                    let names: Vec<String> = text
                        .lines()
                        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
                        .collect();
                    assert_eq!(message.number, names.len() as u64);
                    return names;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn leave(mut peer: Peer, me: &str) {
        peer.send(RoomMessage::new(Kind::QuitRequest).to_bytes());
        loop {
            let message = room_message(&mut peer);
            if message.kind == Kind::QuitAccept && message.username == me {
                break;
            }
        }
        peer.expect_closed();
    }
}

/// A user of the generic soak, with what it was sent and what it read.
struct Member {
    name: String,
    peer: Peer,
    got: Vec<(String, String)>,
    want: Vec<(String, String)>,
}

impl Member {
    /// Sends a message to itself and reads until it is back.
    fn sync<D: Listed>(&mut self, tag: &str) {
        let marker = format!("sync{tag}");
        D::message(&mut self.peer, &self.name, &self.name, &marker);
        loop {
            let got = D::next_message(&mut self.peer, &self.name);
            if got == (self.name.clone(), marker.clone()) {
                return;
            }
            self.got.push(got);
        }
    }
}

/// The soak for a dialect that lists its users: rounds of joins, clean
/// leaves, kills and messages. After the departures the list is asked for
/// until it no longer shows the departed (a kill is seen by the server when
/// it reads the reset, at a moment no reply shows); every answer must list
/// every live user and nobody but live or just departed ones, and the last
/// must be the live users exactly, in order. Then messages, the two syncs,
/// and every user must have read exactly what was sent to it.
fn soak_listed<D: Listed>(dialect: &str) {
    let Some(seconds) = soak_seconds() else {
        return;
    };
    let dir = crate::util::TempDir::new("soak");
    // The abuse suite's arguments (room's allow 100 users; the soak keeps
    // at most 40).
    let args = D::args(&dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let mut rng = Rng::new(seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut users: Vec<Member> = Vec::new();
    let mut next_name = 0;
    let mut f = Figures::default();
    while Instant::now() < deadline {
        f.rounds += 1;
        for _ in 0..rng.below(4) {
            if users.len() >= 40 {
                break;
            }
            next_name += 1;
            let name = format!("S{next_name}");
            let peer = D::join(&server, &name);
            users.push(Member {
                name,
                peer,
                got: Vec::new(),
                want: Vec::new(),
            });
            f.joins += 1;
        }
        let mut gone = Vec::new();
        for _ in 0..rng.below(3) {
            if users.len() <= 2 {
                break;
            }
            let user = users.remove(rng.below(users.len()));
            assert!(user.got.is_empty() && user.want.is_empty());
            if rng.one_in(2) {
                D::leave(user.peer, &user.name);
                f.quits += 1;
            } else {
                user.peer.reset();
                gone.push(user.name.clone());
                f.kills += 1;
            }
        }
        // The list: never wrong, and right once the kills are handled.
        let live: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
        let lister = rng.below(users.len());
        let poll_until = Instant::now() + crate::util::TIMEOUT;
        loop {
            let me = users[lister].name.clone();
            let listed = D::list(&mut users[lister].peer, &me);
            f.lists += 1;
            let in_order: Vec<&String> = listed.iter().filter(|n| live.contains(n)).collect();
            assert!(
                in_order.iter().copied().eq(live.iter())
                    && listed.iter().all(|n| live.contains(n) || gone.contains(n)),
                "round {}: listed {listed:?}, live {live:?}, just killed {gone:?}",
                f.rounds
            );
            if listed == live {
                break;
            }
            assert!(Instant::now() < poll_until, "killed users still listed");
        }
        let count = users.len();
        for from in 0..count {
            for _ in 0..rng.below(4) {
                let to = rng.below(count);
                f.sent += 1;
                let text = format!("m{}", f.sent);
                let (from_name, to_name) = (users[from].name.clone(), users[to].name.clone());
                D::message(&mut users[from].peer, &from_name, &to_name, &text);
                users[to].want.push((from_name, text));
            }
        }
        for user in &mut users {
            user.sync::<D>("a");
        }
        for user in &mut users {
            user.sync::<D>("b");
            let mut got = std::mem::take(&mut user.got);
            got.retain(|(from, text)| !(*from == user.name && text.starts_with("sync")));
            let mut want = std::mem::take(&mut user.want);
            // Order holds per sender; senders on different connections race.
            got.sort_by(|a, b| a.0.cmp(&b.0));
            want.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "round {}: what {} received", f.rounds, user.name);
        }
    }
    eprintln!(
        "soak {dialect}: {seconds} s, {} rounds, {} joins, {} clean leaves, {} kills, {} messages, {} lists; all delivered once and in order, every list right",
        f.rounds, f.joins, f.quits, f.kills, f.sent, f.lists
    );
}

#[derive(Default)]
struct Figures {
    rounds: u64,
    joins: u64,
    quits: u64,
    kills: u64,
    sent: u64,
    lists: u64,
}

#[test]
fn soak_direct() {
    soak_listed::<Direct>("direct");
}

#[test]
fn soak_room() {
    soak_listed::<Room>("room");
}

/// The channels the channels soak moves users between.
const CHANNELS: [&str; 3] = ["Soak0", "Soak1", "Soak2"];

/// A channels user: where the model has it, what it read, what it is owed.
struct Chatter {
    name: String,
    peer: Peer,
    channel: usize,
    got: Vec<String>,
    want: Vec<String>,
}

impl Chatter {
    /// Sends `/join` alone, whose usage error comes back to this user only
    /// once everything it sent before is handled, and reads up to it.
    fn sync(&mut self) {
        self.peer.send(records("/join"));
        self.read_until(JOIN_USAGE);
    }

    /// Reads records into `got` until `stop`, which is kept too unless it
    /// is the usage error.
    fn read_until(&mut self, stop: &str) {
        loop {
            let text = record(&mut self.peer);
            let done = text == stop;
            if text != JOIN_USAGE {
                self.got.push(text);
            }
            if done {
                return;
            }
        }
    }
}

/// Who a record is about: the sender of a relay, the subject of an
/// announcement. Records about one user reach each reader in order.
fn about(record: &str) -> &str {
    match record.strip_prefix('[') {
        Some(relay) => relay.split(']').next().unwrap_or_default(),
        None => record.split(' ').next().unwrap_or_default(),
    }
}

/// Owes `text` to every user in `channel` but `except`.
fn owe(users: &mut [Chatter], channel: usize, except: &str, text: &str) {
    for user in users.iter_mut() {
        if user.channel == channel && user.name != except {
            user.want.push(text.to_owned());
        }
    }
}

/// channels has no user list: `/list` lists channels. What is checked is
/// membership, through what the server relays: every text reaches exactly
/// the other users the model has in the sender's channel, once and in
/// order, and every join, move and departure is announced exactly to the
/// users of the channels concerned. A departure is made only from a channel
/// with someone else in it, who reads up to its announcement, so that the
/// server has handled it before anything else happens. `/list` must always
/// be the three channels.
#[test]
fn soak_channels() {
    let Some(seconds) = soak_seconds() else {
        return;
    };
    let server = Server::start(&["channels", "0"]);
    let mut setup = server.connect();
    setup.send(records("SoakSetup"));
    for channel in CHANNELS {
        setup.send(records(&format!("/create {channel}")));
    }
    setup.send(records("/join"));
    setup.expect(records(JOIN_USAGE));
    drop(setup);
    let mut rng = Rng::new(seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut users: Vec<Chatter> = Vec::new();
    let mut next_name = 0;
    let mut f = Figures::default();
    let mut moves = 0u64;
    while Instant::now() < deadline {
        f.rounds += 1;
        for _ in 0..rng.below(4) {
            if users.len() >= 40 {
                break;
            }
            next_name += 1;
            let name = format!("S{next_name}");
            let channel = rng.below(CHANNELS.len());
            owe(&mut users, channel, &name, &format!("{name} has joined"));
            let mut peer = server.connect();
            peer.send(records(&name));
            peer.send(records(&format!("/join {}", CHANNELS[channel])));
            let mut user = Chatter {
                name,
                peer,
                channel,
                got: Vec::new(),
                want: Vec::new(),
            };
            user.sync();
            users.push(user);
            f.joins += 1;
        }
        for _ in 0..rng.below(3) {
            if users.is_empty() {
                break;
            }
            let at = rng.below(users.len());
            let to = (users[at].channel + 1 + rng.below(CHANNELS.len() - 1)) % CHANNELS.len();
            let (name, from) = (users[at].name.clone(), users[at].channel);
            owe(&mut users, from, &name, &format!("{name} has left"));
            users[at].channel = to;
            owe(&mut users, to, &name, &format!("{name} has joined"));
            let user = &mut users[at];
            user.peer.send(records(&format!("/join {}", CHANNELS[to])));
            user.sync();
            moves += 1;
        }
        for _ in 0..rng.below(3) {
            let shared: Vec<usize> = (0..users.len())
                .filter(|&i| {
                    let c = users[i].channel;
                    users.iter().filter(|u| u.channel == c).count() > 1
                })
                .collect();
            if shared.len() <= 2 {
                break;
            }
            let mut user = users.remove(shared[rng.below(shared.len())]);
            if rng.one_in(2) {
                // A clean end: FIN, then the server closes.
                user.peer.finish();
                let mut buf = [0u8; 4096];
                while matches!(std::io::Read::read(&mut user.peer.stream, &mut buf), Ok(n) if n > 0)
                {
                }
                f.quits += 1;
            } else {
                user.peer.reset();
                f.kills += 1;
            }
            let left = format!("{} has left", user.name);
            owe(&mut users, user.channel, &user.name, &left);
            if let Some(witness) = users.iter_mut().find(|u| u.channel == user.channel) {
                witness.read_until(&left);
            }
        }
        let count = users.len();
        for from in 0..count {
            for _ in 0..rng.below(4) {
                f.sent += 1;
                let text = format!("m{}", f.sent);
                let (name, channel) = (users[from].name.clone(), users[from].channel);
                users[from].peer.send(records(&text));
                owe(&mut users, channel, &name, &format!("[{name}] {text}"));
            }
        }
        for user in &mut users {
            user.sync();
        }
        for user in &mut users {
            user.sync();
            let mut got = std::mem::take(&mut user.got);
            let mut want = std::mem::take(&mut user.want);
            got.sort_by(|a, b| about(a).cmp(about(b)));
            want.sort_by(|a, b| about(a).cmp(about(b)));
            assert_eq!(got, want, "round {}: what {} received", f.rounds, user.name);
        }
        if let Some(user) = users.get_mut(rng.below(count.max(1))) {
            user.peer.send(records("/list"));
            user.peer.expect(records(&CHANNELS.join("\n")));
            f.lists += 1;
        }
    }
    eprintln!(
        "soak channels: {seconds} s, {} rounds, {} joins, {moves} moves, {} clean leaves, {} kills, {} texts, {} lists; every relay and announcement reached exactly the channel's members, once and in order",
        f.rounds, f.joins, f.quits, f.kills, f.sent, f.lists
    );
}

/// bridge keeps no connections, so its consistency is the registry's and
/// the pairing's: rounds of registrations (new ids and moves to new ports,
/// each on a connection of its own, as a client makes them), requests cut
/// by a reset halfway (which must change nothing), and BRIDGE requests,
/// each answered exactly as a model of the registry and of who is waiting
/// says. Every round the registry file is the model's lines; every tenth,
/// `/info` on the server's stdin prints exactly the model.
/// The contacts an append-only registry log says: one line per id, in
/// order of first registration, each id's last line being its contact.
fn registry_contacts(file: &str) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut last: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for line in file.lines() {
        let id = line.split(' ').next().unwrap_or("");
        if last.insert(id, line).is_none() {
            order.push(id);
        }
    }
    order.iter().map(|id| format!("{}\n", last[id])).collect()
}

#[test]
fn soak_bridge() {
    let Some(seconds) = soak_seconds() else {
        return;
    };
    let dir = crate::util::TempDir::new("soak-bridge");
    let registry = dir.join("registry.txt");
    let path = dir.arg("registry.txt");
    let mut server = Server::start_with_stdin(&["bridge", "--port=0", "--registry", &path]);
    let mut rng = Rng::new(seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    // (id, port) in order of first registration, and the pairing state:
    // each one's partner, and who bridged and waits for one.
    let mut model: Vec<(String, u16)> = Vec::new();
    let mut partner: Vec<Option<usize>> = Vec::new();
    let mut waiting: Vec<bool> = Vec::new();
    let mut f = Figures::default();
    let (mut moves, mut cut, mut pairs, mut infos) = (0u64, 0u64, 0u64, 0u64);
    let contact = |id: &str, port: u16| Contact::new(id, "127.0.0.1", port.to_string());
    let ask = |server: &Server, request: BridgeMessage, answer: BridgeMessage| {
        let mut peer = server.connect();
        peer.send(request.to_bytes());
        peer.expect(answer.to_bytes());
    };
    while Instant::now() < deadline {
        f.rounds += 1;
        for _ in 0..1 + rng.below(4) {
            let port = 1 + rng.below(65535) as u16;
            let at = match rng.below(3) {
                0 if !model.is_empty() => rng.below(model.len()),
                _ => {
                    model.push((format!("B{}", model.len() + 1), 0));
                    partner.push(None);
                    waiting.push(false);
                    model.len() - 1
                }
            };
            if model[at].1 != 0 {
                moves += 1;
            }
            model[at].1 = port;
            // Registering (again) starts afresh: unpaired, not waiting, and
            // the old partner is free again.
            if let Some(old) = partner[at].take() {
                partner[old] = None;
            }
            waiting[at] = false;
            let c = contact(&model[at].0, port);
            let answer = BridgeMessage::RegAck {
                contact: c.clone(),
                status: REGISTERED.into(),
            };
            ask(&server, BridgeMessage::Register(c), answer);
            f.joins += 1;
        }
        for _ in 0..rng.below(2) {
            let mut request = BridgeMessage::Register(contact("Cut", 1)).to_bytes();
            request.truncate(1 + rng.below(request.len() - 1));
            let mut peer = server.connect();
            peer.send(request);
            peer.reset();
            cut += 1;
        }
        for _ in 0..rng.below(4) {
            let me = rng.below(model.len());
            // The contract's rule: the partner; else the earliest waiting
            // client; else the earliest other client without a partner;
            // else nobody, and the requester waits.
            let others =
                |pick: &dyn Fn(usize) -> bool| (0..model.len()).find(|&k| k != me && pick(k));
            let peer = partner[me]
                .or_else(|| others(&|k| waiting[k]))
                .or_else(|| others(&|k| partner[k].is_none()));
            let answer = match peer {
                Some(other) => {
                    if partner[me] != Some(other) {
                        pairs += 1;
                    }
                    partner[me] = Some(other);
                    partner[other] = Some(me);
                    waiting[me] = false;
                    waiting[other] = false;
                    contact(&model[other].0, model[other].1)
                }
                None => {
                    waiting[me] = true;
                    Contact::default()
                }
            };
            let request = BridgeMessage::Bridge {
                client_id: model[me].0.clone(),
            };
            ask(&server, request, BridgeMessage::BridgeAck(answer));
            f.sent += 1;
        }
        let want: String = model
            .iter()
            .map(|(id, port)| format!("{id} 127.0.0.1 {port}\n"))
            .collect();
        let file = std::fs::read_to_string(&registry).expect("read the registry");
        assert_eq!(
            registry_contacts(&file),
            want,
            "round {}: the registry file",
            f.rounds
        );
        f.lists += 1;
        if f.rounds % 10 == 0 {
            server.type_in("/info\n");
            for (id, port) in &model {
                let line = format!("{id} 127.0.0.1:{port}");
                let got = server
                    .expect_status("from /info", |l| !l.starts_with("fd ") && !l.contains(": "));
                assert_eq!(got, line, "round {}: /info", f.rounds);
            }
            infos += 1;
        }
    }
    eprintln!(
        "soak bridge: {seconds} s, {} rounds, {} registrations ({} ids, {moves} moves), {cut} requests cut by a reset, {} BRIDGEs ({pairs} paired), {} registry files and {infos} /info checked; all exact",
        f.rounds, f.joins, model.len(), f.sent, f.lists
    );
}
