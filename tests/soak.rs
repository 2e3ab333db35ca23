//! The state-consistency soak: many clients join, leave, message and get
//! killed at random, and throughout the server's own view (LIST) must equal
//! the users really connected and registered, and every message sent to a
//! live recipient must arrive exactly once, in the order its sender sent it.
//!
//! Not part of the normal run: it returns at once unless `CHAT_SOAK` is set.
//! One command (the seconds default to 120):
//!
//! ```text
//! CHAT_SOAK=120 cargo test --workspace -- soak --nocapture
//! ```
//!
//! It runs in rounds. In each, some users join, some quit, some are killed
//! (RST) and each live user sends a few MESGs to random live users. Then
//! the round is synchronised on replies, never on sleeps: each user sends a
//! MESG to itself and reads until it comes back (so the server has handled
//! all its MESGs, and every relay is queued), then does so again (so every
//! relay queued for it has been read). What each user read must be exactly
//! what was sent to it, in each sender's order; a LIST must be the model's users in join
//! order. Only lobby is soaked so far.

use std::time::{Duration, Instant};

use crate::abuse::check::Rng;
use crate::util::{Peer, Server};

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
    let Some(server) = Server::own(&["lobby", "0", "--max-users", "1000"]) else {
        return;
    };
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
