//! The abuse suite: every dialect's server under hostile input, faults and
//! floods, each scenario on a server of its own.
//!
//! Every scenario runs between two well-behaved users, Alice and Bob, who
//! message each other before, during and after it. Afterwards: every message
//! they sent arrived once and in order, the server's thread count is back to
//! what it was before the scenario (read from /proc), and a fresh session
//! still gets exactly the expected replies. The scenarios, one test each per
//! dialect (`abuse::<dialect>::<scenario>`):
//!
//! - garbage bytes, random and mutated sessions, from many fresh connections;
//! - valid sessions sent one byte per write;
//! - a line, record or header block that never ends: the contract's limit
//!   holds and the server's memory (VmRSS) stays bounded;
//! - RST in the middle of a frame, from registered and fresh connections;
//! - half-closed connections: requests then FIN are all answered, then closed;
//! - a flood of connections past `--max-connections`;
//! - clients that do not read: cut off at `--sendq`, and cut off after the
//!   login timeout when the server has closed them but they hold on;
//! - `--login-timeout`: idle and half-registered connections are closed.
//!
//! Each dialect describes itself once (a [`Subject`]); the scenarios are
//! written once for all.

use crate::util::{Peer, Server, TIMEOUT};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

#[path = "../protocol/tests/properties/check.rs"]
mod check;
use check::Rng;

/// What the scenarios need to know about one dialect.
trait Subject {
    /// The server's arguments with port 0, before `extra`.
    fn args() -> Vec<String>;
    /// Connects and registers `name`, returning once the server confirms.
    fn join(server: &Server, name: &str) -> Peer;
    /// Sends `text` from the registered user `from` to the registered `to`.
    fn message(peer: &mut Peer, from: &str, to: &str, text: &str);
    /// The next message this user receives, as (sender, text), skipping
    /// join and leave announcements.
    fn next_message(peer: &mut Peer) -> (String, String);
    /// What a fresh connection sends to register as `name` and use the
    /// service, and exactly what the server answers, with `present` the
    /// users already registered (in order).
    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Vec<u8>);
    /// What the user `name` of [`session`](Self::session) sends to leave,
    /// and the answer, after which the server closes.
    fn quit(name: &str) -> (Vec<u8>, Vec<u8>);
    /// A request from the registered user `name` whose answer, to `name`
    /// alone, carries `len` bytes of text; and that answer.
    fn echo(name: &str, len: usize) -> (Vec<u8>, Vec<u8>);
    /// A request any fresh connection may send, and its exact answer; the
    /// connection stays open.
    fn probe() -> (Vec<u8>, Vec<u8>);
    /// The start of a frame that never ends.
    fn endless() -> Endless;
    /// A frame cut short.
    fn partial() -> Vec<u8>;
}

/// A frame that grows without end, and what the server does about it.
struct Endless {
    head: Vec<u8>,
    fill: u8,
    /// The server's answer once the frame passes the limit.
    answer: Vec<u8>,
    /// `Some(bytes that end the frame)` when the connection survives.
    resume: Option<Vec<u8>>,
}

/// The two well-behaved users and the messages they sent each other.
struct Pair {
    alice: Peer,
    bob: Peer,
    sent: usize,
    /// Abusers' connections kept open to the end of the scenario.
    held: Vec<Peer>,
}

const ALICE: &str = "AbAlice";
const BOB: &str = "AbBob";

impl Pair {
    fn new<D: Subject>(server: &Server) -> Pair {
        let alice = D::join(server, ALICE);
        let bob = D::join(server, BOB);
        Pair {
            alice,
            bob,
            sent: 0,
            held: Vec::new(),
        }
    }

    /// One message each way.
    fn talk<D: Subject>(&mut self) {
        let n = self.sent;
        D::message(&mut self.alice, ALICE, BOB, &format!("a{n}"));
        D::message(&mut self.bob, BOB, ALICE, &format!("b{n}"));
        self.sent += 1;
    }

    /// Every message arrived once and in order, and nothing else did: the
    /// last one is a fresh one, sent now, that must come right after.
    fn check<D: Subject>(&mut self) {
        self.talk::<D>();
        for i in 0..self.sent {
            let got = D::next_message(&mut self.bob);
            assert_eq!(got, (ALICE.into(), format!("a{i}")), "Bob's message {i}");
            let got = D::next_message(&mut self.alice);
            assert_eq!(got, (BOB.into(), format!("b{i}")), "Alice's message {i}");
        }
    }
}

/// Runs `abuse` on a server of its own (started with `extra` options)
/// between Alice and Bob, then checks what every scenario promises.
fn scenario<D: Subject>(extra: &[&str], abuse: impl FnOnce(&Server, &mut Pair)) {
    let mut args = D::args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(server) = Server::own(&args) else {
        return;
    };
    let mut pair = Pair::new::<D>(&server);
    pair.talk::<D>();
    let threads = server.threads();
    abuse(&server, &mut pair);
    pair.talk::<D>();
    server.await_threads(threads);
    pair.check::<D>();
    // A fresh session gets exactly its replies.
    let mut fresh = server.connect();
    let (mut send, mut want) = D::session("AbFresh", &[ALICE, BOB]);
    let (bye, answer) = D::quit("AbFresh");
    send.extend(bye);
    want.extend(answer);
    fresh.send(send);
    fresh.expect(want);
    fresh.expect_closed();
}

/// Connects, sends `bytes` (the server may close before it has them all),
/// closes the sending half and reads until the server closes.
fn blast(server: &Server, bytes: &[u8]) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server did not close after {} bytes: {e}", bytes.len()),
    }
}

fn garbage<D: Subject>() {
    scenario::<D>(&[], |server, pair| {
        let mut rng = Rng::new(8);
        for i in 0..60 {
            let bytes = if i % 2 == 0 {
                let len = rng.below(4000);
                rng.bytes(len)
            } else {
                // A session with a few bytes changed or cut: close to valid.
                let (mut bytes, _) = D::session(&format!("AbG{i}"), &[]);
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next_u64() as u8;
                }
                bytes.truncate(rng.below(bytes.len() + 1));
                bytes
            };
            blast(server, &bytes);
            if i % 20 == 0 {
                pair.talk::<D>();
            }
        }
    });
}

fn one_byte_at_a_time<D: Subject>() {
    scenario::<D>(&[], |server, pair| {
        for i in 0..3 {
            let name = format!("AbSlow{i}");
            let (mut send, mut want) = D::session(&name, &[ALICE, BOB]);
            let (bye, answer) = D::quit(&name);
            send.extend(bye);
            want.extend(answer);
            let mut peer = server.connect();
            for byte in send {
                peer.send([byte]);
            }
            peer.expect(want);
            peer.expect_closed();
            pair.talk::<D>();
        }
    });
}

/// Megabytes sent in one frame that never ends.
const ENDLESS_MIB: usize = 32;
/// How much the server's memory may grow while it receives them.
const ENDLESS_GROWTH_KIB: usize = 8 * 1024;

fn endless_frame<D: Subject>() {
    scenario::<D>(&[], |server, pair| {
        let endless = D::endless();
        let before = server.rss_kib();
        let mut peer = server.connect();
        peer.send(&endless.head);
        let chunk = vec![endless.fill; 64 * 1024];
        let mut sent = 0;
        for _ in 0..ENDLESS_MIB * 16 {
            if peer.stream.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let after = server.rss_kib();
        pair.talk::<D>();
        assert!(
            after < before + ENDLESS_GROWTH_KIB,
            "VmRSS grew from {before} KiB to {after} KiB over {sent} bytes"
        );
        match endless.resume {
            Some(end) => {
                assert_eq!(sent, ENDLESS_MIB << 20, "the server stopped reading");
                peer.expect(&endless.answer);
                let (probe, answer) = D::probe();
                peer.send(end);
                peer.send(probe);
                peer.expect(answer);
            }
            None => {
                peer.expect(&endless.answer);
                peer.expect_closed();
            }
        }
    });
}

fn reset_mid_frame<D: Subject>() {
    scenario::<D>(&[], |server, pair| {
        for i in 0..20 {
            let mut peer = if i % 2 == 0 {
                D::join(server, &format!("AbRst{i}"))
            } else {
                server.connect()
            };
            peer.send(D::partial());
            peer.reset();
            if i % 5 == 0 {
                pair.talk::<D>();
            }
        }
    });
}

fn half_closed<D: Subject>() {
    scenario::<D>(&[], |server, pair| {
        // Requests then FIN: all answered, then closed.
        for i in 0..5 {
            let (send, want) = D::session(&format!("AbHalf{i}"), &[ALICE, BOB]);
            let mut peer = server.connect();
            peer.send(send);
            peer.finish();
            peer.expect(want);
            peer.expect_closed();
            pair.talk::<D>();
        }
        // FIN with nothing sent, and FIN in the middle of a frame.
        for partial in [Vec::new(), D::partial()] {
            let mut peer = server.connect();
            peer.send(partial);
            peer.finish();
            peer.expect_closed();
        }
    });
}

const MAX_CONNECTIONS: usize = 10;

fn connection_flood<D: Subject>() {
    let max = MAX_CONNECTIONS.to_string();
    scenario::<D>(&["--max-connections", &max], |server, pair| {
        // Alice and Bob hold two slots; fill the rest, and prove each is
        // served.
        let (probe, answer) = D::probe();
        let mut held: Vec<Peer> = (2..MAX_CONNECTIONS)
            .map(|_| {
                let mut peer = server.connect();
                peer.send(&probe);
                peer.expect(&answer);
                peer
            })
            .collect();
        let flood: Vec<Peer> = (0..100).map(|_| server.connect()).collect();
        for mut peer in flood {
            peer.expect_closed();
        }
        server.expect_status("for a refused connection", |l| {
            l.ends_with(&format!(
                "too many connections ({MAX_CONNECTIONS}), closing"
            ))
        });
        pair.talk::<D>();
        // The held connections are still served.
        for peer in &mut held {
            peer.send(&probe);
            peer.expect(&answer);
        }
    });
}

const SENDQ: usize = 64 * 1024;
/// More than loopback socket buffers hold for a client that does not read
/// (about 4 MB on Linux), so that the server's queue must take the rest.
const FLOOD: usize = 8 << 20;

/// The registered user `name` asks for `bytes` of answers to itself, in
/// requests whose answers are about 4 KB each.
fn echoes<D: Subject>(name: &str, bytes: usize) -> Vec<u8> {
    let (request, answer) = D::echo(name, 4000);
    request.repeat(bytes / answer.len() + 1)
}

fn non_reading_client<D: Subject>() {
    let sendq = SENDQ.to_string();
    scenario::<D>(&["--sendq", &sendq], |server, pair| {
        let mut sink = D::join(server, "AbSink");
        // The server may cut the client before it has sent everything.
        let _ = sink.stream.write_all(&echoes::<D>("AbSink", FLOOD));
        server.expect_status("for the overflow", |l| {
            l.ends_with(&format!(
                ": send queue exceeded ({SENDQ} bytes), disconnecting"
            ))
        });
        pair.talk::<D>();
    });
}

fn closed_but_not_reading<D: Subject>() {
    // Answers that fill the socket buffers but not the queue, then a
    // request after which the server closes; the client never reads and
    // never closes. The server must not wait for it for ever: it gives it
    // as long as a login (1 s here), then cuts it.
    let sendq = (2 * FLOOD).to_string();
    scenario::<D>(
        &["--login-timeout", "1", "--sendq", &sendq],
        |server, pair| {
            let mut holder = D::join(server, "AbHold");
            holder.send(echoes::<D>("AbHold", FLOOD));
            holder.send(D::quit("AbHold").0);
            pair.talk::<D>();
            // `scenario` waits for the server to end the holder's threads, with
            // the holder's socket still open.
            pair.held.push(holder);
        },
    );
}

fn login_timeout<D: Subject>() {
    scenario::<D>(&["--login-timeout", "1"], |server, pair| {
        let mut idle: Vec<Peer> = (0..5).map(|_| server.connect()).collect();
        for _ in 0..5 {
            let mut peer = server.connect();
            peer.send(D::partial());
            idle.push(peer);
        }
        for peer in &mut idle {
            peer.expect_closed();
        }
        server.expect_status("for the timeout", |l| l.ends_with("login timeout, closing"));
        pair.talk::<D>();
    });
}

macro_rules! abuse_tests {
    ($module:ident, $subject:ty) => {
        mod $module {
            #[test]
            fn garbage_from_many_fresh_connections() {
                super::garbage::<$subject>();
            }
            #[test]
            fn valid_sessions_one_byte_at_a_time() {
                super::one_byte_at_a_time::<$subject>();
            }
            #[test]
            fn a_frame_that_never_ends_keeps_the_limit_and_memory_bounded() {
                super::endless_frame::<$subject>();
            }
            #[test]
            fn rst_in_the_middle_of_a_frame() {
                super::reset_mid_frame::<$subject>();
            }
            #[test]
            fn half_closed_connections_are_answered_then_closed() {
                super::half_closed::<$subject>();
            }
            #[test]
            fn a_flood_past_max_connections() {
                super::connection_flood::<$subject>();
            }
            #[test]
            fn a_client_that_does_not_read_is_cut_off() {
                super::non_reading_client::<$subject>();
            }
            #[test]
            fn a_closed_client_that_does_not_read_is_cut_off_in_time() {
                super::closed_but_not_reading::<$subject>();
            }
            #[test]
            fn unregistered_connections_time_out() {
                super::login_timeout::<$subject>();
            }
        }
    };
}

abuse_tests!(lobby, super::Lobby);

/// lobby: text lines.
struct Lobby;

impl Subject for Lobby {
    fn args() -> Vec<String> {
        vec!["lobby".into(), "0".into()]
    }

    fn join(server: &Server, name: &str) -> Peer {
        let mut peer = server.connect();
        peer.send(format!("JOIN {name}\n"));
        peer.expect(format!("{name} joined!\n"));
        peer
    }

    fn message(peer: &mut Peer, _from: &str, to: &str, text: &str) {
        peer.send(format!("MESG {to} {text}\n"));
    }

    fn next_message(peer: &mut Peer) -> (String, String) {
        loop {
            let line = peer.read_line();
            if let Some((from, text)) = line.split_once(": ") {
                return (from.into(), text.into());
            }
            assert!(
                line.ends_with(" joined!") || line.ends_with(" left"),
                "unexpected line {line:?}"
            );
        }
    }

    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let send = format!("JOIN {name}\r\nLIST\nMESG {name} to myself\n\n");
        let mut want = format!("{name} joined!\n");
        for other in present.iter().chain([&name]) {
            want += &format!("{other}\n");
        }
        want += &format!("{name}: to myself\n");
        (send.into_bytes(), want.into_bytes())
    }

    fn quit(name: &str) -> (Vec<u8>, Vec<u8>) {
        let answer = format!("{name} is quitting the chat server\n");
        (b"QUIT\n".to_vec(), answer.into_bytes())
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
        let text = "e".repeat(len);
        let request = format!("MESG {name} {text}\n");
        (
            request.into_bytes(),
            format!("{name}: {text}\n").into_bytes(),
        )
    }

    fn probe() -> (Vec<u8>, Vec<u8>) {
        let answer = "Unregistered User. Use JOIN <username> to register.\n";
        (b"LIST\n".to_vec(), answer.as_bytes().to_vec())
    }

    fn endless() -> Endless {
        Endless {
            head: b"BCST ".to_vec(),
            fill: b'a',
            answer: b"Message Too Long\n".to_vec(),
            resume: Some(b"\n".to_vec()),
        }
    }

    fn partial() -> Vec<u8> {
        b"JOIN AbPart".to_vec()
    }
}
