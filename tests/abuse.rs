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

// The seeded generator of the property tests, shared with the soak.
#[path = "../protocol/tests/properties/check.rs"]
pub(crate) mod check;
use check::Rng;

/// What the scenarios need to know about one dialect.
trait Subject {
    /// The server's arguments with port 0, before `extra`.
    fn args() -> Vec<String>;
    /// Connects and registers `name`, returning once the server confirms.
    fn join(server: &Server, name: &str) -> Peer;
    /// Whatever Alice and Bob must do, once registered, to reach each
    /// other (channels: be in one channel).
    fn meet(_alice: &mut Peer, _bob: &mut Peer) {}
    /// Sends `text` from the registered user `from` to the registered `to`.
    fn message(peer: &mut Peer, from: &str, to: &str, text: &str);
    /// The next message this user receives, as (sender, text), skipping
    /// join and leave announcements.
    fn next_message(peer: &mut Peer) -> (String, String);
    /// What a fresh connection sends to register as `name` and use the
    /// service, and what checks the server's answer, with `present` the
    /// users already registered (in order).
    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Expect);
    /// What the user `name` of [`session`](Self::session) sends to leave,
    /// and the answer, after which the server closes; `None` where the
    /// dialect has no such request (the client then closes its sending
    /// half, and the server closes).
    fn quit(name: &str) -> Option<(Vec<u8>, Vec<u8>)>;
    /// Proves that the registered user `name` is still served: a request
    /// and its answer, whatever announcements came before it.
    fn served(peer: &mut Peer, name: &str) {
        Self::message(peer, name, name, "served");
        assert_eq!(Self::next_message(peer), (name.into(), "served".into()));
    }
    /// A request from the registered user `name` whose answer, to `name`
    /// alone, carries `len` bytes of text; and that answer.
    fn echo(name: &str, len: usize) -> (Vec<u8>, Vec<u8>);
    /// The start of a frame that never ends; `None` where frames have a
    /// fixed size.
    fn endless() -> Option<Endless>;
    /// A frame cut short.
    fn partial() -> Vec<u8>;
}

/// A frame that grows without end, and what the server does about it.
struct Endless {
    head: Vec<u8>,
    fill: u8,
    /// The server's answer once the frame passes the limit.
    answer: Vec<u8>,
    /// When the connection survives: the bytes that end the frame, then a
    /// request and its exact answer.
    resume: Option<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Checks what the server sent a peer.
type Expect = Box<dyn FnOnce(&mut Peer)>;

/// Expects exactly `bytes`.
fn exact(bytes: Vec<u8>) -> Expect {
    Box::new(move |peer: &mut Peer| peer.expect(bytes))
}

/// Runs the session of `name` on `peer` (after `present` registered), ends
/// it and checks every answer and the close.
fn whole_session<D: Subject>(mut peer: Peer, name: &str, present: &[&str], one_byte: bool) {
    let (mut send, expect) = D::session(name, present);
    let quit = D::quit(name);
    if let Some((bye, _)) = &quit {
        send.extend(bye);
    }
    if one_byte {
        for byte in send {
            peer.send([byte]);
        }
    } else {
        peer.send(send);
    }
    if quit.is_none() {
        peer.finish();
    }
    expect(&mut peer);
    if let Some((_, answer)) = quit {
        peer.expect(answer);
    }
    peer.expect_closed();
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
        let mut alice = D::join(server, ALICE);
        let mut bob = D::join(server, BOB);
        D::meet(&mut alice, &mut bob);
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
    whole_session::<D>(server.connect(), "AbFresh", &[ALICE, BOB], false);
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

/// Everything the server sends until it closes or resets the connection.
fn read_until_closed(peer: &mut Peer) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match peer.stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close: {e}"),
        }
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
            whole_session::<D>(server.connect(), &name, &[ALICE, BOB], true);
            pair.talk::<D>();
        }
    });
}

/// Megabytes sent in one frame that never ends.
const ENDLESS_MIB: usize = 32;
/// How much the server's memory may grow while it receives them.
const ENDLESS_GROWTH_KIB: usize = 8 * 1024;

fn endless_frame<D: Subject>() {
    let Some(endless) = D::endless() else {
        return;
    };
    scenario::<D>(&[], |server, pair| {
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
        eprintln!("endless frame: {sent} bytes sent, VmRSS {before} KiB -> {after} KiB");
        pair.talk::<D>();
        assert!(
            after < before + ENDLESS_GROWTH_KIB,
            "VmRSS grew from {before} KiB to {after} KiB over {sent} bytes"
        );
        match endless.resume {
            Some((end, probe, answer)) => {
                assert_eq!(sent, ENDLESS_MIB << 20, "the server stopped reading");
                peer.expect(&endless.answer);
                peer.send(end);
                peer.send(probe);
                peer.expect(answer);
            }
            None => {
                // The server stopped reading and closed; what it had not
                // read may make its close a reset, which can overtake the
                // answer.
                let got = read_until_closed(&mut peer);
                assert!(
                    endless.answer.starts_with(&got)
                        && (got.len() == endless.answer.len() || sent < ENDLESS_MIB << 20),
                    "got {got:?}, want {:?}",
                    endless.answer
                );
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
            let (send, expect) = D::session(&format!("AbHalf{i}"), &[ALICE, BOB]);
            let mut peer = server.connect();
            peer.send(send);
            peer.finish();
            expect(&mut peer);
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
        let mut held: Vec<(String, Peer)> = (2..MAX_CONNECTIONS)
            .map(|i| {
                let name = format!("AbHeld{i}");
                let peer = D::join(server, &name);
                (name, peer)
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
        for (name, peer) in &mut held {
            D::served(peer, name);
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
        sink.stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
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
            match D::quit("AbHold") {
                Some((bye, _)) => holder.send(bye),
                None => holder.finish(),
            }
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
abuse_tests!(direct, super::Direct);
abuse_tests!(channels, super::Channels);

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

    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Expect) {
        let send = format!("JOIN {name}\r\nLIST\nMESG {name} to myself\n\n");
        let mut want = format!("{name} joined!\n");
        for other in present.iter().chain([&name]) {
            want += &format!("{other}\n");
        }
        want += &format!("{name}: to myself\n");
        (send.into_bytes(), exact(want.into_bytes()))
    }

    fn quit(name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let answer = format!("{name} is quitting the chat server\n");
        Some((b"QUIT\n".to_vec(), answer.into_bytes()))
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
        let text = "e".repeat(len);
        let request = format!("MESG {name} {text}\n");
        (
            request.into_bytes(),
            format!("{name}: {text}\n").into_bytes(),
        )
    }

    fn endless() -> Option<Endless> {
        let unregistered = "Unregistered User. Use JOIN <username> to register.\n";
        Some(Endless {
            head: b"BCST ".to_vec(),
            fill: b'a',
            answer: b"Message Too Long\n".to_vec(),
            resume: Some((
                b"\n".to_vec(),
                b"LIST\n".to_vec(),
                unregistered.as_bytes().to_vec(),
            )),
        })
    }

    fn partial() -> Vec<u8> {
        b"JOIN AbPart".to_vec()
    }
}

/// direct: binary type-length-value frames.
struct Direct;

const OK: &[u8] = b"\x82\x00\x00\x00\x01\x00";
const MALFORMED: &[u8] = b"\x82\x00\x00\x00\x01\x02";

fn tlv(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

fn name_and_text(name: &str, text: &str) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend(name.as_bytes());
    body.extend((text.len() as u16).to_be_bytes());
    body.extend(text.as_bytes());
    body
}

impl Subject for Direct {
    fn args() -> Vec<String> {
        vec!["direct".into(), "0".into()]
    }

    fn join(server: &Server, name: &str) -> Peer {
        let mut peer = server.connect();
        peer.send(tlv(0x01, &[&[name.len() as u8], name.as_bytes()].concat()));
        peer.expect(OK);
        peer
    }

    fn message(peer: &mut Peer, _from: &str, to: &str, text: &str) {
        peer.send(tlv(0x03, &name_and_text(to, text)));
    }

    fn next_message(peer: &mut Peer) -> (String, String) {
        loop {
            let head = peer.read_exact(5);
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let body = peer.read_exact(len);
            match head[0] {
                // The answers to this user's own messages.
                0x82 if body == [0] => continue,
                0x83 => {
                    let n = body[0] as usize;
                    let from = String::from_utf8_lossy(&body[1..1 + n]).into_owned();
                    let text = String::from_utf8_lossy(&body[3 + n..]).into_owned();
                    return (from, text);
                }
                other => panic!("unexpected frame 0x{other:02x} {body:?}"),
            }
        }
    }

    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Expect) {
        let mut send = tlv(0x01, &[&[name.len() as u8], name.as_bytes()].concat());
        send.extend(tlv(0x02, b""));
        send.extend(tlv(0x03, &name_and_text(name, "to myself")));
        let mut list = ((present.len() + 1) as u16).to_be_bytes().to_vec();
        for who in present.iter().chain([&name]) {
            list.push(who.len() as u8);
            list.extend(who.as_bytes());
        }
        let mut want = OK.to_vec();
        want.extend(tlv(0x81, &list));
        want.extend(tlv(0x83, &name_and_text(name, "to myself")));
        want.extend(OK);
        (send, exact(want))
    }

    fn quit(_name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        // direct has no request that ends a connection but a body length
        // over 70,000.
        Some((b"\x02\x00\x01\x11\x71".to_vec(), MALFORMED.to_vec()))
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
        let text = "e".repeat(len);
        let mut answer = tlv(0x83, &name_and_text(name, &text));
        answer.extend(OK);
        (tlv(0x03, &name_and_text(name, &text)), answer)
    }

    fn endless() -> Option<Endless> {
        Some(Endless {
            head: b"\x03\xff\xff\xff\xff".to_vec(),
            fill: 0,
            answer: MALFORMED.to_vec(),
            resume: None,
        })
    }

    fn partial() -> Vec<u8> {
        b"\x01\x00\x00\x00\x07\x06AbPa".to_vec()
    }
}

/// channels: fixed 200-byte records.
struct Channels;

const JOIN_USAGE: &str = "/join command must be followed by the name of a channel to join.";
const NOT_IN_CHANNEL: &str =
    "Not currently in any channel. Must join a channel before sending messages.";

fn records(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    chat_protocol::channels::encode(text, &mut out);
    out
}

/// The next record's text, without its padding.
fn record(peer: &mut Peer) -> String {
    let record = peer.read_exact(200);
    String::from_utf8_lossy(&record)
        .trim_end_matches(' ')
        .to_owned()
}

impl Subject for Channels {
    fn args() -> Vec<String> {
        vec!["channels".into(), "0".into()]
    }

    fn join(server: &Server, name: &str) -> Peer {
        let mut peer = server.connect();
        peer.send(records(name));
        // A name is answered only when refused: prove it was taken.
        peer.send(records("/join"));
        peer.expect(records(JOIN_USAGE));
        peer
    }

    fn meet(alice: &mut Peer, bob: &mut Peer) {
        alice.send(records("/create AbRoom"));
        Self::served(alice, ALICE);
        bob.send(records("/join AbRoom"));
        bob.send(records("/join"));
        bob.expect(records(JOIN_USAGE));
    }

    fn served(peer: &mut Peer, _name: &str) {
        peer.send(records("/join"));
        peer.expect(records(JOIN_USAGE));
    }

    fn message(peer: &mut Peer, _from: &str, _to: &str, text: &str) {
        peer.send(records(text));
    }

    fn next_message(peer: &mut Peer) -> (String, String) {
        loop {
            let text = record(peer);
            if let Some((from, text)) = text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
                return (from.into(), text.into());
            }
            assert!(
                text.ends_with(" has joined") || text.ends_with(" has left"),
                "unexpected record {text:?}"
            );
        }
    }

    fn session(name: &str, _present: &[&str]) -> (Vec<u8>, Expect) {
        let mut send = records(name);
        send.extend(records("/join"));
        send.extend(records("hello"));
        let mut want = records(JOIN_USAGE);
        want.extend(records(NOT_IN_CHANNEL));
        (send, exact(want))
    }

    fn quit(_name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        None
    }

    fn echo(_name: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
        // An unknown command is repeated in its error: the longest answer
        // one record can ask for.
        let word = format!("/{}", "x".repeat(len.clamp(1, 199)));
        let answer = format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        );
        (records(&word), records(&answer))
    }

    fn endless() -> Option<Endless> {
        // Records have a fixed size: no frame can grow.
        None
    }

    fn partial() -> Vec<u8> {
        b"AbPart".to_vec()
    }
}

/// The threads of a server with no connection: main (the acceptor), the
/// dispatcher and the signal watcher.
const IDLE_THREADS: usize = 3;

/// room and bridge have no [`Subject`] yet; their login timeout is tested
/// on its own: idle connections and half a request are closed, a finished
/// request is answered.
#[test]
fn room_unregistered_connections_time_out() {
    let dir = crate::util::TempDir::new("abuse-room");
    let args = [
        "room",
        "0",
        "--login-timeout",
        "1",
        "--downloads",
        &dir.arg("d"),
    ];
    let Some(server) = Server::own(&args) else {
        return;
    };
    let mut idle = vec![server.connect(), server.connect()];
    let mut half = server.connect();
    half.send("JOIN_REQUEST_FLAG: 1\nUSERNAME: Ha");
    idle.push(half);
    for peer in &mut idle {
        peer.expect_closed();
    }
    server.expect_status("for the timeout", |l| l.ends_with("login timeout, closing"));
    drop(idle);
    server.await_threads(IDLE_THREADS);
}

#[test]
fn bridge_unfinished_requests_time_out() {
    let dir = crate::util::TempDir::new("abuse-bridge");
    let args = [
        "bridge",
        "--port=0",
        "--login-timeout",
        "1",
        "--registry",
        &dir.arg("r.txt"),
    ];
    let Some(server) = Server::own(&args) else {
        return;
    };
    let mut idle = vec![server.connect(), server.connect()];
    let mut half = server.connect();
    half.send("REGISTER\r\nclientID: half\r\n");
    idle.push(half);
    for peer in &mut idle {
        peer.expect_closed();
    }
    server.expect_status("for the timeout", |l| l.ends_with("login timeout, closing"));
    drop(idle);
    server.await_threads(IDLE_THREADS);
    // A finished request is still answered.
    let mut peer = server.connect();
    peer.send("BRIDGE\r\nclientID: nobody\r\n\r\n");
    peer.expect("BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n");
}
