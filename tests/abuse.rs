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
//! - `--login-timeout`: idle and half-registered connections are closed;
//! - one message as large as the dialect allows, answered whole, a
//!   non-reader sending such messages cut at `--sendq` with memory
//!   bounded, then one past the limit;
//! - a server whose stdout and stderr nobody reads keeps serving and ends
//!   on SIGTERM within 2 s.
//!
//! Each dialect describes itself once (a [`Subject`]); the scenarios are
//! written once for all, for lobby, direct, channels, room and bridge. Two
//! dialects bend the words "message" and "user" without bending a scenario:
//!
//! - room relays every text to every joined user, its sender included, with
//!   a TIMESTAMP: a text is addressed by starting it `@<recipient> `, a
//!   reader skips texts addressed to others, and the server's clock is
//!   compared by shape ([`like`]). A non-reading client floods with reports
//!   (a text would flood everyone).
//! - bridge relays nothing and answers each request on its connection:
//!   Alice and Bob keep a connection each and their "messages" are
//!   REGISTERs whose exact REGACKs come back to them
//!   ([`Subject::ANSWERED_TO_SENDER`]); no message lost means every such
//!   request answered exactly. An endless block is closed with nothing
//!   sent, as the contract says of anything else.
//!
//! A connection the server cuts (send queue, login timeout, closed but not
//! reading) ends with a reset, so that a flooder's writes fail at once;
//! `a_client_that_does_not_read_is_cut_off` checks it.

use crate::util::{like, Peer, Server, TempDir, TIME, TIMEOUT};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

// The seeded generator of the property tests, shared with the soak.
#[path = "../protocol/tests/properties/check.rs"]
pub(crate) mod check;
use check::Rng;

use chat_protocol::bridge::{
    Contact, Message as BridgeMessage, MessageDecoder as BridgeDecoder, REGISTERED,
};
use chat_protocol::room::{Kind, Message as RoomMessage, MessageDecoder};
use chat_protocol::{Decoded, Decoder};

/// What the scenarios need to know about one dialect.
pub(crate) trait Subject {
    /// Whether the answer to a message goes back to its sender rather than
    /// to its recipient: bridge relays nothing, it answers requests.
    const ANSWERED_TO_SENDER: bool = false;
    /// The server's arguments with port 0, before `extra`; the dialect's
    /// files (downloads, registry) go in `dir`.
    fn args(dir: &TempDir) -> Vec<String>;
    /// Connects and registers `name`, returning once the server confirms.
    fn join(server: &Server, name: &str) -> Peer;
    /// Whatever Alice and Bob must do, once registered, to reach each
    /// other (channels: be in one channel).
    fn meet(_alice: &mut Peer, _bob: &mut Peer) {}
    /// Sends `text` from the registered user `from` to the registered `to`.
    fn message(peer: &mut Peer, from: &str, to: &str, text: &str);
    /// The next message for the user `me`, as (sender, text), skipping
    /// join and leave announcements (and, in room, where every text reaches
    /// everyone, texts addressed to others).
    fn next_message(peer: &mut Peer, me: &str) -> (String, String);
    /// What a fresh connection sends to register as `name` and use the
    /// service, and what checks the server's answer, with `present` the
    /// users already registered (in order).
    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Expect);
    /// What the user `name` of [`session`](Self::session) sends to leave,
    /// and what checks the answer, after which the server closes; `None`
    /// where the dialect has no such request (the client then closes its
    /// sending half, and the server closes).
    fn quit(name: &str) -> Option<(Vec<u8>, Expect)>;
    /// Proves that the registered user `name` is still served: a request
    /// and its answer, whatever announcements came before it.
    fn served(peer: &mut Peer, name: &str) {
        Self::message(peer, name, name, "served");
        assert_eq!(
            Self::next_message(peer, name),
            (name.into(), "served".into())
        );
    }
    /// A request from the registered user `name` whose answer goes to
    /// `name` alone and carries about `len` bytes of text (where the
    /// dialect lets a request choose), and at most how long that answer is.
    fn echo(name: &str, len: usize) -> (Vec<u8>, usize);
    /// The largest request the registered user `name` may send whose
    /// answer comes back to `name` (in room, a text, which reaches everyone
    /// and which the others skip), what checks that answer, and about how
    /// many bytes the answer puts in `name`'s queue.
    fn largest(name: &str) -> (Vec<u8>, Expect, usize);
    /// The same request one byte past the dialect's limit, what checks the
    /// server's answer, and whether the connection is kept; `None` where
    /// frames have a fixed size.
    fn past_limit(name: &str) -> Option<(Vec<u8>, Expect, bool)>;
    /// Whether every message reaches every user (room): then a flood of
    /// large messages fills Alice's and Bob's queues too, and only the
    /// step rule's one message is tried against a small `--sendq`.
    const BROADCASTS: bool = false;
    /// The start of a frame that never ends; `None` where frames have a
    /// fixed size.
    fn endless() -> Option<Endless>;
    /// A frame cut short.
    fn partial() -> Vec<u8>;
}

/// A frame that grows without end, and what the server does about it.
pub(crate) struct Endless {
    head: Vec<u8>,
    fill: u8,
    /// The server's answer once the frame passes the limit.
    answer: Vec<u8>,
    /// When the connection survives: the bytes that end the frame, then a
    /// request and its exact answer.
    resume: Option<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Checks what the server sent a peer.
pub(crate) type Expect = Box<dyn FnOnce(&mut Peer)>;

/// Expects exactly `bytes`.
fn exact(bytes: Vec<u8>) -> Expect {
    Box::new(move |peer: &mut Peer| peer.expect(bytes))
}

/// Runs the session of `name` on `peer` (after `present` registered), ends
/// it and checks every answer and the close.
fn whole_session<D: Subject>(mut peer: Peer, name: &str, present: &[&str], one_byte: bool) {
    let (mut send, expect) = D::session(name, present);
    let (bye, answer) = D::quit(name).unzip();
    send.extend(bye.iter().flatten());
    if one_byte {
        for byte in send {
            peer.send([byte]);
        }
    } else {
        peer.send(send);
    }
    if answer.is_none() {
        peer.finish();
    }
    expect(&mut peer);
    if let Some(answer) = answer {
        answer(&mut peer);
    }
    peer.expect_closed();
}

/// The two well-behaved users and the messages they sent each other.
struct Pair {
    alice: Peer,
    bob: Peer,
    /// Every message sent, as (from, to, text), not yet checked.
    sent: Vec<(&'static str, &'static str, String)>,
    talks: usize,
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
            sent: Vec::new(),
            talks: 0,
            held: Vec::new(),
        }
    }

    fn peer(&mut self, who: &str) -> &mut Peer {
        if who == ALICE {
            &mut self.alice
        } else {
            &mut self.bob
        }
    }

    /// One message each way.
    fn talk<D: Subject>(&mut self) {
        let n = self.talks;
        self.talks += 1;
        for (from, to, text) in [(ALICE, BOB, format!("a{n}")), (BOB, ALICE, format!("b{n}"))] {
            D::message(self.peer(from), from, to, &text);
            self.sent.push((from, to, text));
        }
    }

    /// Every message arrived once and in order, and nothing else did: the
    /// last one is a fresh one, sent now, that must come right after.
    fn check<D: Subject>(&mut self) {
        self.talk::<D>();
        for (from, to, text) in std::mem::take(&mut self.sent) {
            let reader = if D::ANSWERED_TO_SENDER { from } else { to };
            let got = D::next_message(self.peer(reader), reader);
            assert_eq!(
                got,
                (from.into(), text.clone()),
                "{reader}'s message {text}"
            );
        }
    }
}

/// Runs `abuse` on a server of its own (started with `extra` options)
/// between Alice and Bob, then checks what every scenario promises.
fn scenario<D: Subject>(extra: &[&str], abuse: impl FnOnce(&Server, &mut Pair)) {
    let dir = TempDir::new("abuse");
    let mut args = D::args(&dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    scenario_on::<D>(&server, abuse);
}

/// What [`scenario`] does once its server runs.
fn scenario_on<D: Subject>(server: &Server, abuse: impl FnOnce(&Server, &mut Pair)) {
    let mut pair = Pair::new::<D>(server);
    pair.talk::<D>();
    let threads = server.threads();
    abuse(server, &mut pair);
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
            // Let every message Alice and Bob sent arrive first: where every
            // text goes to everyone (room), a text still in flight would
            // reach the new user too, in the middle of its expected replies.
            pair.check::<D>();
            whole_session::<D>(server.connect(), &name, &[ALICE, BOB], true);
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
            // Alice's and Bob's messages arrive first: where every text
            // goes to everyone (room), one still in flight would reach the
            // new user too, between its answers (its reader waits for the
            // JOIN's verdict before the next request, so the dispatcher
            // may relay it in between).
            pair.check::<D>();
            let (send, expect) = D::session(&format!("AbHalf{i}"), &[ALICE, BOB]);
            let mut peer = server.connect();
            peer.send(send);
            peer.finish();
            expect(&mut peer);
            peer.expect_closed();
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
    request.repeat(bytes / answer + 1)
}

/// The registered user `AbSink` sends `requests`, whose answers come back
/// to it, and reads none: the server cuts it at `--sendq` (SENDQ), with
/// the status line.
fn flood_unread<D: Subject>(server: &Server, requests: &[u8]) {
    let mut sink = D::join(server, "AbSink");
    sink.stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("write timeout");
    // The server may cut the client before it has sent everything, and
    // then the client must learn of it at once (a reset), not hang on a
    // window that never opens until its write times out.
    if let Err(e) = sink.stream.write_all(requests) {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
        assert!(
            matches!(e.kind(), BrokenPipe | ConnectionReset),
            "the flooder was not told of its cut: {e}"
        );
    }
    server.expect_status("for the overflow", |l| {
        l.ends_with(&format!(
            ": send queue exceeded ({SENDQ} bytes), disconnecting"
        ))
    });
}

fn non_reading_client<D: Subject>() {
    let sendq = SENDQ.to_string();
    scenario::<D>(&["--sendq", &sendq], |server, pair| {
        flood_unread::<D>(server, &echoes::<D>("AbSink", FLOOD));
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

/// One message as large as the dialect allows, then one past it: the
/// first is answered whole however much larger than `--sendq` it is (one
/// step into an empty queue); a client that does not read and sends such
/// messages is cut at its bound, the server's memory staying within a few
/// of them; the second gets the contract's answer.
fn one_large_message<D: Subject>() {
    let sendq = SENDQ.to_string();
    let extra: &[&str] = if D::BROADCASTS {
        &[]
    } else {
        &["--sendq", &sendq]
    };
    scenario::<D>(extra, |server, pair| {
        let mut big = D::join(server, "AbBig");
        let (request, answer, _) = D::largest("AbBig");
        big.send(request);
        answer(&mut big);
        pair.talk::<D>();
        if !D::BROADCASTS {
            let before = server.rss_kib();
            let (request, _, len) = D::largest("AbSink");
            flood_unread::<D>(server, &request.repeat(FLOOD / len + 1));
            let after = server.rss_kib();
            eprintln!(
                "largest messages of {len} bytes to a non-reader: VmRSS {before} KiB -> {after} KiB"
            );
            assert!(
                after < before + ENDLESS_GROWTH_KIB,
                "VmRSS grew from {before} KiB to {after} KiB"
            );
            pair.talk::<D>();
        }
        if let Some((request, answer, kept)) = D::past_limit("AbBig") {
            big.send(request);
            answer(&mut big);
            if kept {
                D::served(&mut big, "AbBig");
            } else {
                big.expect_closed();
            }
        }
    });
}

/// A server whose stdout and stderr are pipes nobody reads (a paused
/// terminal, `chat-server ... | sleep 40`), with `-v` so that every
/// message is a line on stderr: far more lines than the pipes (64 KiB
/// each) and the server's backlogs (1 MiB each) hold. It keeps serving,
/// and SIGTERM ends it within 2 s.
fn stdout_not_read<D: Subject>() {
    let dir = TempDir::new("abuse-unread");
    let mut args = D::args(&dir);
    args.extend(["-v".to_string(), "--sendq".into(), (4 * FLOOD).to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::unread(&args);
    scenario_on::<D>(&server, |server, pair| {
        // Requests whose answers total 8 MiB, each traced both ways; the
        // answers are read once all are sent (the queue holds them).
        let mut loud = D::join(server, "AbLoud");
        loud.send(echoes::<D>("AbLoud", FLOOD));
        match D::quit("AbLoud") {
            Some((bye, _)) => loud.send(bye),
            None => loud.finish(),
        }
        let got = read_until_closed(&mut loud);
        assert!(got.len() >= FLOOD, "{} bytes of answers", got.len());
        pair.talk::<D>();
    });
    let started = std::time::Instant::now();
    server.signal(15);
    let (status, took) = server.wait();
    eprintln!("unread stdout and stderr: SIGTERM to exit {took:?}");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "SIGTERM took {took:?}"
    );
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
            #[test]
            fn one_large_message_then_one_past_the_limit() {
                super::one_large_message::<$subject>();
            }
            #[test]
            fn stdout_and_stderr_that_nobody_reads() {
                super::stdout_not_read::<$subject>();
            }
        }
    };
}

abuse_tests!(lobby, super::Lobby);
abuse_tests!(direct, super::Direct);
abuse_tests!(channels, super::Channels);
abuse_tests!(room, super::Room);
abuse_tests!(bridge, super::Bridge);

/// lobby: text lines.
pub(crate) struct Lobby;

impl Subject for Lobby {
    fn args(_dir: &TempDir) -> Vec<String> {
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

    fn next_message(peer: &mut Peer, _me: &str) -> (String, String) {
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

    fn quit(name: &str) -> Option<(Vec<u8>, Expect)> {
        let answer = format!("{name} is quitting the chat server\n");
        Some((b"QUIT\n".to_vec(), exact(answer.into_bytes())))
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, usize) {
        let text = "e".repeat(len);
        let request = format!("MESG {name} {text}\n");
        (request.into_bytes(), format!("{name}: {text}\n").len())
    }

    fn largest(name: &str) -> (Vec<u8>, Expect, usize) {
        // A line of MAX_LINE bytes before its LF.
        let head = format!("MESG {name} ");
        let text = "L".repeat(chat_protocol::lobby::MAX_LINE - head.len());
        let request = format!("{head}{text}\n").into_bytes();
        let (name, len) = (name.to_owned(), name.len() + 3 + text.len());
        let answer = move |peer: &mut Peer| {
            assert_eq!(Self::next_message(peer, &name), (name.clone(), text));
        };
        (request, Box::new(answer), len)
    }

    fn past_limit(name: &str) -> Option<(Vec<u8>, Expect, bool)> {
        let head = format!("MESG {name} ");
        let text = "L".repeat(chat_protocol::lobby::MAX_LINE - head.len() + 1);
        let answer = |peer: &mut Peer| loop {
            let line = peer.read_line();
            if line.ends_with(" joined!") || line.ends_with(" left") {
                continue;
            }
            assert_eq!(line, "Message Too Long");
            return;
        };
        Some((
            format!("{head}{text}\n").into_bytes(),
            Box::new(answer),
            true,
        ))
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
        // A pause or a half-close now ends a line without LF (contract,
        // lobby: `JOIN AbPart` alone is a JOIN), so the one frame still
        // cut short is a CR that may start a CR LF: ended, it is a blank
        // line, which gets no answer.
        b"\r".to_vec()
    }
}

/// direct: binary type-length-value frames.
pub(crate) struct Direct;

const OK: &[u8] = b"\x82\x00\x00\x00\x01\x00";
const MALFORMED: &[u8] = b"\x82\x00\x00\x00\x01\x02";

pub(crate) fn tlv(kind: u8, body: &[u8]) -> Vec<u8> {
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
    fn args(_dir: &TempDir) -> Vec<String> {
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

    fn next_message(peer: &mut Peer, _me: &str) -> (String, String) {
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

    fn quit(_name: &str) -> Option<(Vec<u8>, Expect)> {
        // direct has no request that ends a connection but a body length
        // over 70,000.
        Some((b"\x02\x00\x01\x11\x71".to_vec(), exact(MALFORMED.to_vec())))
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, usize) {
        let text = "e".repeat(len);
        let answer = tlv(0x83, &name_and_text(name, &text)).len() + OK.len();
        (tlv(0x03, &name_and_text(name, &text)), answer)
    }

    fn largest(name: &str) -> (Vec<u8>, Expect, usize) {
        // The longest text a SENDTO can carry (its length is a u16).
        let text = "D".repeat(chat_protocol::direct::MAX_TEXT);
        let mut want = tlv(0x83, &name_and_text(name, &text));
        want.extend(OK);
        let len = want.len();
        (tlv(0x03, &name_and_text(name, &text)), exact(want), len)
    }

    fn past_limit(_name: &str) -> Option<(Vec<u8>, Expect, bool)> {
        // A body length one past 70,000: refused at its header.
        let mut head = vec![0x03];
        head.extend((chat_protocol::direct::MAX_REQUEST_BODY + 1).to_be_bytes());
        Some((head, exact(MALFORMED.to_vec()), false))
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
pub(crate) struct Channels;

pub(crate) const JOIN_USAGE: &str =
    "/join command must be followed by the name of a channel to join.";
const NOT_IN_CHANNEL: &str =
    "Not currently in any channel. Must join a channel before sending messages.";

pub(crate) fn records(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    chat_protocol::channels::encode(text, &mut out);
    out
}

/// The next record's text, without its padding.
pub(crate) fn record(peer: &mut Peer) -> String {
    let record = peer.read_exact(200);
    String::from_utf8_lossy(&record)
        .trim_end_matches(' ')
        .to_owned()
}

impl Subject for Channels {
    fn args(_dir: &TempDir) -> Vec<String> {
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

    fn next_message(peer: &mut Peer, _me: &str) -> (String, String) {
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

    fn quit(_name: &str) -> Option<(Vec<u8>, Expect)> {
        None
    }

    fn echo(_name: &str, len: usize) -> (Vec<u8>, usize) {
        // An unknown command is repeated in its error: the longest answer
        // one record can ask for.
        let word = format!("/{}", "x".repeat(len.clamp(1, 199)));
        let answer = format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        );
        (records(&word), records(&answer).len())
    }

    fn largest(name: &str) -> (Vec<u8>, Expect, usize) {
        // Every record is 200 bytes; the longest answer one can ask for.
        let (request, len) = Self::echo(name, 199);
        let word = format!("/{}", "x".repeat(199));
        let answer = format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        );
        (request, exact(records(&answer)), len)
    }

    fn past_limit(_name: &str) -> Option<(Vec<u8>, Expect, bool)> {
        None
    }

    fn endless() -> Option<Endless> {
        // Records have a fixed size: no frame can grow.
        None
    }

    fn partial() -> Vec<u8> {
        b"AbPart".to_vec()
    }
}

/// room: header blocks and payloads; every text reaches every joined user,
/// its sender included, so a text is addressed by starting it with
/// `@<recipient> `, and a reader skips texts addressed to others.
pub(crate) struct Room;

/// Reads one whole room message from `peer` and checks that it is the strict
/// encoding of what it decodes to.
pub(crate) fn room_message(peer: &mut Peer) -> RoomMessage {
    let mut raw = Vec::new();
    let mut length = 0;
    loop {
        let line = peer.read_line();
        if let Some(n) = line.strip_prefix("PAYLOAD_LENGTH: ") {
            length = n.parse().expect("a PAYLOAD_LENGTH");
        }
        raw.extend(line.as_bytes());
        raw.push(b'\n');
        if line.is_empty() {
            break;
        }
    }
    raw.extend(peer.read_exact(length));
    let mut decoder = MessageDecoder::new(u64::MAX);
    let message = match decoder.decode(&raw) {
        Ok(Decoded::Item(message, used)) if used == raw.len() => message,
        other => panic!("not one room message: {other:?} from {raw:?}"),
    };
    assert_eq!(message.to_bytes(), raw, "not the strict encoding");
    message
}

/// Reads a message and checks it is [`like`] `want`.
fn expect_room(peer: &mut Peer, want: RoomMessage) {
    let got = room_message(peer);
    assert!(
        like(&got.to_bytes(), &want.to_bytes()),
        "got {got:?}, want {want:?}"
    );
}

fn room_announcement(kind: Kind, name: &str, what: &str) -> RoomMessage {
    RoomMessage::new(kind)
        .user(name)
        .at(TIME)
        .payload(format!("{name} {what} the chatroom."))
}

/// Reads JOIN_ACCEPT (whatever history it carries) and the joiner's own
/// NEW_USER.
fn room_accepted(peer: &mut Peer, name: &str) {
    let accept = room_message(peer);
    assert_eq!((accept.kind, &*accept.username), (Kind::JoinAccept, name));
    assert!(accept.payload.is_empty() || accept.payload.ends_with(b"\n"));
    expect_room(peer, room_announcement(Kind::NewUser, name, "joined"));
}

fn room_join(name: &str) -> Vec<u8> {
    RoomMessage::new(Kind::JoinRequest).user(name).to_bytes()
}

impl Subject for Room {
    fn args(dir: &TempDir) -> Vec<String> {
        ["room", "0", "--max-users", "100", "--downloads"]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.arg("downloads")])
            .collect()
    }

    fn join(server: &Server, name: &str) -> Peer {
        let mut peer = server.connect();
        peer.send(room_join(name));
        room_accepted(&mut peer, name);
        peer
    }

    fn message(peer: &mut Peer, from: &str, to: &str, text: &str) {
        peer.send(RoomMessage::text(from, format!("@{to} {text}")).to_bytes());
    }

    fn next_message(peer: &mut Peer, me: &str) -> (String, String) {
        let to_me = format!("@{me} ");
        loop {
            let message = room_message(peer);
            match message.kind {
                // Announcements, and the largest message's attachments.
                Kind::NewUser | Kind::QuitAccept | Kind::Attachment => continue,
                Kind::Text => {}
                other => panic!("unexpected {other:?}: {message:?}"),
            }
            assert!(like(message.timestamp.as_bytes(), TIME.as_bytes()));
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            if let Some(text) = text.strip_prefix(&to_me) {
                return (message.username, text.into());
            }
        }
    }

    fn session(name: &str, present: &[&str]) -> (Vec<u8>, Expect) {
        let mut send = room_join(name);
        send.extend(b"REPORT_REQUEST_FLAG: 1\n\n");
        send.extend(RoomMessage::text(name, format!("@{name} to myself")).to_bytes());
        let (name, present) = (name.to_owned(), present.join(" "));
        let expect = move |peer: &mut Peer| {
            room_accepted(peer, &name);
            // The report: who is in, in join order, each at the address it
            // joined from (the others' ports are theirs to know).
            let report = room_message(peer);
            let me = peer.stream.local_addr().expect("local address").port();
            let want: Vec<String> = present
                .split_whitespace()
                .map(|who| format!("{who} 127.0.0.1 "))
                .chain([format!("{name} 127.0.0.1 {me}")])
                .collect();
            let text = String::from_utf8_lossy(&report.payload).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let ok = report.kind == Kind::ReportResponse
                && report.number == want.len() as u64
                && text.ends_with('\n')
                && lines.len() == want.len()
                && lines.iter().zip(&want).all(|(line, want)| {
                    line.strip_prefix(want.as_str())
                        .is_some_and(|port| port.is_empty() || port.parse::<u16>().is_ok())
                });
            assert!(ok, "report {report:?}, want {want:?}");
            let relay = RoomMessage::text(&name, format!("@{name} to myself")).at(TIME);
            expect_room(peer, relay);
        };
        (send, Box::new(expect))
    }

    fn quit(name: &str) -> Option<(Vec<u8>, Expect)> {
        let name = name.to_owned();
        let answer = move |peer: &mut Peer| {
            expect_room(peer, room_announcement(Kind::QuitAccept, &name, "left"));
        };
        let bye = RoomMessage::new(Kind::QuitRequest).to_bytes();
        Some((bye, Box::new(answer)))
    }

    fn echo(name: &str, _len: usize) -> (Vec<u8>, usize) {
        // Texts go to everyone; a report is the answer to its asker alone.
        // Its length grows with the users listed: one is the least.
        let least = RoomMessage::new(Kind::ReportResponse)
            .number(1)
            .payload(format!("{name} 127.0.0.1 1\n"));
        (
            b"REPORT_REQUEST_FLAG: 1\n\n".to_vec(),
            least.to_bytes().len(),
        )
    }

    const BROADCASTS: bool = true;

    fn largest(name: &str) -> (Vec<u8>, Expect, usize) {
        // An attachment of the default --max-attachment (16 MiB), then a
        // text of 64 KiB addressed to its sender; everyone gets both.
        const MAX_ATTACHMENT: usize = 16 << 20;
        let mut request = RoomMessage::new(Kind::Attachment)
            .file("big.bin")
            .payload(vec![b'A'; MAX_ATTACHMENT])
            .to_bytes();
        let head = format!("@{name} ");
        let text = "R".repeat(chat_protocol::room::MAX_TEXT as usize - head.len());
        request.extend(RoomMessage::text(name, format!("{head}{text}")).to_bytes());
        let len = request.len();
        let name = name.to_owned();
        let answer = move |peer: &mut Peer| {
            let relay = loop {
                let message = room_message(peer);
                if message.kind == Kind::Attachment {
                    break message;
                }
            };
            assert_eq!(
                (
                    relay.username.as_str(),
                    relay.filename.as_str(),
                    relay.payload.len()
                ),
                (name.as_str(), "big.bin", MAX_ATTACHMENT)
            );
            assert_eq!(Self::next_message(peer, &name), (name.clone(), text));
        };
        (request, Box::new(answer), len)
    }

    fn past_limit(name: &str) -> Option<(Vec<u8>, Expect, bool)> {
        let text = format!(
            "@{name} {}",
            "R".repeat(chat_protocol::room::MAX_TEXT as usize)
        );
        let request = RoomMessage::text(name, text).to_bytes();
        let answer = |peer: &mut Peer| loop {
            let message = room_message(peer);
            if message.kind == Kind::Text && message.username == "Server" {
                assert_eq!(
                    String::from_utf8_lossy(&message.payload),
                    "Text too long (at most 65536 bytes)."
                );
                return;
            }
        };
        Some((request, Box::new(answer), true))
    }

    fn endless() -> Option<Endless> {
        let answer = RoomMessage::text(
            "Server",
            "Malformed message: header block longer than 8192 bytes",
        );
        Some(Endless {
            head: b"JOIN_REQUEST_FLAG: 1\nUSERNAME: ".to_vec(),
            fill: b'a',
            answer: answer.to_bytes(),
            resume: None,
        })
    }

    fn partial() -> Vec<u8> {
        b"JOIN_REQUEST_FLAG: 1\nUSERNAME: AbPa".to_vec()
    }
}

/// bridge: the server relays nothing; it answers REGISTER and BRIDGE on the
/// connection they came on. A well-behaved user here keeps its connection
/// and makes requests whose answers are exact: its "message" is a REGISTER
/// of a fresh clientID made of its name and the text (both letters and
/// digits), and the message arrived when the REGACK names that id.
pub(crate) struct Bridge;

/// The port every well-behaved contact registers.
const BRIDGE_PORT: &str = "5000";

fn bridge_register(id: &str) -> Vec<u8> {
    BridgeMessage::Register(Contact::new(id, "127.0.0.1", BRIDGE_PORT)).to_bytes()
}

fn bridge_regack(id: &str) -> Vec<u8> {
    BridgeMessage::RegAck {
        contact: Contact::new(id, "127.0.0.1", BRIDGE_PORT),
        status: REGISTERED.into(),
    }
    .to_bytes()
}

fn bridge_ask(id: &str) -> Vec<u8> {
    BridgeMessage::Bridge {
        client_id: id.into(),
    }
    .to_bytes()
}

/// Reads one whole block (up to its empty line) from `peer`.
fn bridge_block(peer: &mut Peer) -> Vec<u8> {
    let mut block = Vec::new();
    loop {
        let line = peer.read_line();
        block.extend(line.as_bytes());
        block.push(b'\n');
        if line == "\r" {
            return block;
        }
    }
}

impl Subject for Bridge {
    const ANSWERED_TO_SENDER: bool = true;

    fn args(dir: &TempDir) -> Vec<String> {
        vec![
            "bridge".into(),
            "--port=0".into(),
            "--registry".into(),
            dir.arg("registry.txt"),
        ]
    }

    fn join(server: &Server, name: &str) -> Peer {
        let mut peer = server.connect();
        peer.send(bridge_register(name));
        peer.expect(bridge_regack(name));
        peer
    }

    fn message(peer: &mut Peer, from: &str, _to: &str, text: &str) {
        peer.send(bridge_register(&format!("{from}{text}")));
    }

    fn next_message(peer: &mut Peer, me: &str) -> (String, String) {
        let block = bridge_block(peer);
        let mut decoder = BridgeDecoder::default();
        let id = match decoder.decode(&block) {
            Ok(Decoded::Item(BridgeMessage::RegAck { contact, .. }, used))
                if used == block.len() =>
            {
                contact.client_id
            }
            other => panic!("not a REGACK: {other:?} from {block:?}"),
        };
        assert_eq!(block, bridge_regack(&id), "not an exact REGACK");
        let text = id
            .strip_prefix(me)
            .unwrap_or_else(|| panic!("{me} got the REGACK of {id}"));
        (me.into(), text.into())
    }

    fn session(name: &str, _present: &[&str]) -> (Vec<u8>, Expect) {
        // Who is paired with whom is state no registration shows: the first
        // BRIDGE gets any other registered client or nobody. The second
        // gets the same partner again, or, when the first found nobody,
        // whoever the answer rule gives now.
        let mut send = bridge_register(name);
        send.extend(bridge_ask(name));
        send.extend(bridge_ask(name));
        let name = name.to_owned();
        let expect = move |peer: &mut Peer| {
            peer.expect(bridge_regack(&name));
            let answer = |peer: &mut Peer| {
                let block = bridge_block(peer);
                let mut decoder = BridgeDecoder::default();
                match decoder.decode(&block) {
                    Ok(Decoded::Item(BridgeMessage::BridgeAck(contact), used))
                        if used == block.len() =>
                    {
                        let canonical = BridgeMessage::BridgeAck(contact.clone()).to_bytes();
                        assert!(
                            block == canonical
                                && (contact.is_empty()
                                    || (contact.check().is_ok() && contact.client_id != name)),
                            "BRIDGEACK {block:?}"
                        );
                        contact
                    }
                    other => panic!("not a BRIDGEACK: {other:?} from {block:?}"),
                }
            };
            let first = answer(peer);
            let second = answer(peer);
            assert!(
                first.is_empty() || second == first,
                "partner changed: {first:?} then {second:?}"
            );
        };
        (send, Box::new(expect))
    }

    fn quit(_name: &str) -> Option<(Vec<u8>, Expect)> {
        None
    }

    fn echo(name: &str, len: usize) -> (Vec<u8>, usize) {
        // A REGACK repeats what the REGISTER carried, even a refused one: an
        // IP of `len` bytes gives an answer that long.
        let carried = Contact::new(name, "x".repeat(len), BRIDGE_PORT);
        let answer = BridgeMessage::RegAck {
            contact: carried.clone(),
            status: "rejected (bad IP)".into(),
        };
        let request = BridgeMessage::Register(carried).to_bytes();
        (request, answer.to_bytes().len())
    }

    fn largest(name: &str) -> (Vec<u8>, Expect, usize) {
        // A REGISTER block of exactly MAX_BLOCK bytes, repeated in its REGACK.
        let (shortest, _) = Self::echo(name, 0);
        let ip = chat_protocol::bridge::MAX_BLOCK - shortest.len();
        let (request, len) = Self::echo(name, ip);
        assert_eq!(request.len(), chat_protocol::bridge::MAX_BLOCK);
        let answer = BridgeMessage::RegAck {
            contact: Contact::new(name, "x".repeat(ip), BRIDGE_PORT),
            status: "rejected (bad IP)".into(),
        };
        (request, exact(answer.to_bytes()), len)
    }

    fn past_limit(name: &str) -> Option<(Vec<u8>, Expect, bool)> {
        // One byte more: closed with nothing sent.
        let (shortest, _) = Self::echo(name, 0);
        let ip = chat_protocol::bridge::MAX_BLOCK - shortest.len() + 1;
        let (request, _) = Self::echo(name, ip);
        Some((request, Box::new(|_: &mut Peer| {}), false))
    }

    fn endless() -> Option<Endless> {
        // A block past 64 KiB is logged and the connection closed, with
        // nothing sent.
        Some(Endless {
            head: b"REGISTER\r\nclientID: ".to_vec(),
            fill: b'a',
            answer: Vec::new(),
            resume: None,
        })
    }

    fn partial() -> Vec<u8> {
        b"REGISTER\r\nclientID: AbPa".to_vec()
    }
}
