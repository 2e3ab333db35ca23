//! channels end to end: 200-byte records over real sockets, every error
//! string, announcements, records split at random, and the `[Me]` client.
//!
//! The expected records are written out here by hand, not produced by the
//! protocol crate, so that a splitter bug cannot hide behind itself. Tests
//! that use [`Server::start`] may share one server in conformance mode, where
//! channels live as long as that server: each test uses names of its own and
//! channel names of its own run ([`fresh`]).

use std::process::Command;

use crate::util::{bin, Peer, Program, Server};

const RECORD: usize = 200;
const WIPE: &str = "\r    \r";
const NOT_IN_CHANNEL: &str =
    "Not currently in any channel. Must join a channel before sending messages.";
const JOIN_USAGE: &str = "/join command must be followed by the name of a channel to join.";
const CREATE_USAGE: &str = "/create command must be followed by the name of a channel to create";

/// `text` padded with spaces to one record.
fn rec(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    assert!(out.len() <= RECORD, "{text:?} does not fit in a record");
    out.resize(RECORD, b' ');
    out
}

/// Several records, one after another.
fn recs<S: AsRef<str>>(texts: &[S]) -> Vec<u8> {
    texts.iter().flat_map(|t| rec(t.as_ref())).collect()
}

/// A channel name of this run: channels outlive their users, so a second
/// run against the same server (conformance mode) needs new ones.
fn fresh(base: &str) -> String {
    format!("{base}.{}", std::process::id())
}

/// A raw client that has sent its name record.
fn named(server: &Server, name: &str) -> Peer {
    let mut peer = server.connect();
    peer.send(rec(name));
    peer
}

/// Proves that everything `peer` sent before was handled and that nothing
/// else was sent to it meanwhile: `/join` alone has a fixed answer.
fn probe(peer: &mut Peer) {
    peer.send(rec("/join"));
    peer.expect(rec(JOIN_USAGE));
}

/// The course's two-client test: the joiner and the sender get nothing extra.
#[test]
fn handout_two_clients() {
    let server = Server::start(&["channels", "0"]);
    let tas = fresh("tas");
    let mut alice = named(&server, "Alice");
    alice.send(rec(&format!("/create {tas}")));
    probe(&mut alice);
    let mut kay = named(&server, "Kay");
    kay.send(rec(&format!("/join {tas}")));
    alice.expect(rec("Kay has joined"));
    kay.send(rec("Hi!"));
    alice.expect(rec("[Kay] Hi!"));
    alice.send(rec("Hello!"));
    kay.expect(rec("[Alice] Hello!"));
    probe(&mut kay);
    probe(&mut alice);
}

/// A small seeded PRNG (xorshift64*), so that a failing split can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    /// Sends `bytes` in pieces of 1 to 300 bytes, so that pieces end inside
    /// records and span record boundaries.
    fn send_in_pieces(&mut self, peer: &mut Peer, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = (1 + self.below(300)).min(rest.len());
            peer.send(&rest[..n]);
            rest = &rest[n..];
        }
    }
}

/// The course's split-message client: every record in random pieces, the
/// name record included; the reader gets every relay intact.
#[test]
fn records_split_at_random_relay_intact() {
    let server = Server::start(&["channels", "0"]);
    for seed in [1, 0x5eed, 0xdead_beef] {
        let mut rng = Rng(seed);
        let (writer_name, reader_name, channel) = (
            format!("Splitter{seed}"),
            format!("Reader{seed}"),
            fresh(&format!("split{seed}")),
        );
        let mut writer = server.connect();
        let hello = recs(&[
            writer_name.clone(),
            format!("/create {channel}"),
            "/join".into(),
        ]);
        rng.send_in_pieces(&mut writer, &hello);
        writer.expect(rec(JOIN_USAGE));

        let mut reader = named(&server, &reader_name);
        reader.send(rec(&format!("/join {channel}")));
        writer.expect(rec(&format!("{reader_name} has joined")));

        let lines: Vec<String> = (0..10)
            .map(|i| {
                let line = format!("line {i}: the quick brown fox jumps over the lazy dog {i}; ")
                    .repeat(3);
                line.chars().take(143).collect()
            })
            .collect();
        assert!(lines.iter().all(|l| l.chars().count() == 143));
        rng.send_in_pieces(&mut writer, &recs(&lines));
        for line in &lines {
            reader.expect(rec(&format!("[{writer_name}] {}", line.trim_end())));
        }
        probe(&mut writer);
        probe(&mut reader);
    }
}

/// Every error string of the contract, each followed by proof that the
/// connection still works and that a failed command changed nothing.
#[test]
fn every_error_string() {
    let server = Server::start(&["channels", "0"]);
    let errs = fresh("errs");
    let mut a = named(&server, "ErrA");
    probe(&mut a);

    // Bad names get their record, then the server closes.
    let long = "x".repeat(33);
    for bad in ["Err A", "", &long, "ErrA"] {
        let mut peer = named(&server, bad);
        peer.expect(rec(&format!(
            "Name {bad} is not valid or is already in use."
        )));
        peer.expect_closed();
    }

    a.send(rec("hello"));
    a.expect(rec(NOT_IN_CHANNEL));
    a.send(rec("/create"));
    a.expect(rec(CREATE_USAGE));
    a.send(rec("/join"));
    a.expect(rec(JOIN_USAGE));
    a.send(rec("/join errs-nowhere"));
    a.expect(rec(
        "No channel named errs-nowhere exists. Try '/create errs-nowhere'?",
    ));
    for word in ["/JOIN", "/lists", "/"] {
        a.send(rec(&format!("{word} errs")));
        a.expect(rec(&format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        )));
    }

    // The failed commands left ErrA in no channel.
    a.send(rec("still nowhere"));
    a.expect(rec(NOT_IN_CHANNEL));

    a.send(rec(&format!("/create {errs}")));
    probe(&mut a);
    let mut b = named(&server, "ErrB");
    b.send(rec(&format!("/join {errs}")));
    a.expect(rec("ErrB has joined"));
    b.send(rec(&format!("/create {errs}")));
    b.expect(rec(&format!(
        "Room {errs} already exists, so cannot be created."
    )));
    b.send(rec("/join errs-nowhere"));
    b.expect(rec(
        "No channel named errs-nowhere exists. Try '/create errs-nowhere'?",
    ));
    // ... and ErrB is still in errs.
    b.send(rec("after the errors"));
    a.expect(rec("[ErrB] after the errors"));

    // An error that repeats a long name continues in further records.
    let n = |k: usize| "n".repeat(k);
    b.send(rec(&format!("/join {}", n(190))));
    b.expect(recs(&[
        format!("No channel named {}", n(183)),
        format!("{} exists. Try '/create {}", n(7), n(171)),
        format!("{}'?", n(19)),
    ]));
    probe(&mut a);
    probe(&mut b);
}

#[test]
fn switching_channels_tells_the_right_people() {
    let server = Server::start(&["channels", "0"]);
    let (one, two) = (fresh("sw-one"), fresh("sw-two"));
    let mut a = named(&server, "SwA");
    let mut b = named(&server, "SwB");
    let mut c = named(&server, "SwC");
    b.send(rec(&format!("/create {one}")));
    c.send(rec(&format!("/create {two}")));
    probe(&mut b);
    probe(&mut c);

    a.send(rec(&format!("/join {one}")));
    b.expect(rec("SwA has joined"));
    // Joining the channel one is in changes nothing.
    a.send(rec(&format!("/join {one}")));
    probe(&mut a);
    a.send(rec(&format!("/join {two}")));
    b.expect(rec("SwA has left"));
    c.expect(rec("SwA has joined"));
    a.send(rec(&format!("/create {}", fresh("sw-three"))));
    c.expect(rec("SwA has left"));
    // Texts stay in their channel.
    a.send(rec("alone"));
    c.send(rec("to two"));
    probe(&mut a);
    probe(&mut b);
    probe(&mut c);
}

#[test]
fn reset_client_is_announced_as_left() {
    let server = Server::start(&["channels", "0"]);
    let rst = fresh("rst");
    let mut stay = named(&server, "RstStay");
    stay.send(rec(&format!("/create {rst}")));
    probe(&mut stay);
    let mut gone = named(&server, "RstGone");
    gone.send(rec(&format!("/join {rst}")));
    stay.expect(rec("RstGone has joined"));
    gone.reset();
    stay.expect(rec("RstGone has left"));
    probe(&mut stay);
    // Its name is free again.
    let mut again = named(&server, "RstGone");
    probe(&mut again);
}

/// Relays longer than a record go on in further records, split at character
/// boundaries, with spaces at the cut moved to the next record.
#[test]
fn long_relay_continues_in_records() {
    let server = Server::start(&["channels", "0"]);
    let wide = fresh("wide");
    let mut to = named(&server, "WideTo");
    to.send(rec(&format!("/create {wide}")));
    probe(&mut to);
    let mut from = named(&server, "Wide");
    from.send(rec(&format!("/join {wide}")));
    to.expect(rec("Wide has joined"));

    // "[Wide] " is 7 bytes; the 97th "é" would straddle byte 200.
    from.send(rec(&"é".repeat(97)));
    to.expect(recs(&[format!("[Wide] {}", "é".repeat(96)), "é".into()]));
    // Bytes 198 and 199 are spaces: they start the next record instead.
    from.send(rec(&format!("{}   b", "a".repeat(191))));
    to.expect(recs(&[
        format!("[Wide] {}", "a".repeat(191)),
        "   b".into(),
    ]));
    probe(&mut to);
    probe(&mut from);
}

/// `/list` shows every channel the server ever had, so it needs a server of
/// its own.
#[test]
fn list_is_empty_then_packed_in_creation_order() {
    let Some(server) = Server::own(&["channels", "0"]) else {
        return;
    };
    let mut a = named(&server, "Lister");
    a.send(rec("/list"));
    probe(&mut a);
    let names: Vec<String> = (0..10).map(|i| format!("{i:0>30}")).collect();
    for name in names.iter().rev() {
        a.send(rec(&format!("/create {name}")));
    }
    a.send(rec("/list extra words"));
    // Six 30-byte names and five LFs make 185 bytes; a seventh would not fit.
    let order: Vec<&str> = names.iter().rev().map(String::as_str).collect();
    a.expect(recs(&[order[..6].join("\n"), order[6..].join("\n")]));
    probe(&mut a);
}

fn client(server: &Server, name: &str) -> Program {
    let host = server.addr.ip().to_string();
    Program::start(&["channels", name, &host, &server.port()])
}

fn disconnected(server: &Server) -> String {
    format!(
        "{WIPE}Server at {}:{} has disconnected\n",
        server.addr.ip(),
        server.port()
    )
}

/// The handout's sample session, two `chat-client channels` through pipes.
/// Its first `/list` must show nothing, so it needs a server of its own.
#[test]
fn client_replays_the_handout_sample() {
    let Some(server) = Server::own(&["channels", "0"]) else {
        return;
    };
    let mut panda = client(&server, "Panda");
    panda.expect("[Me] ");
    panda.type_in("Hello world!\n");
    panda.expect(&format!("[Me] {WIPE}{NOT_IN_CHANNEL}\n[Me] "));
    panda.type_in("/list\n");
    panda.expect("[Me] ");
    panda.type_in("/create 168_tas\n");
    panda.expect("[Me] ");
    panda.type_in("/list\n");
    panda.expect(&format!("[Me] {WIPE}168_tas\n[Me] "));
    panda.type_in("Hello world!\n");
    panda.expect("[Me] ");
    // Alone in the channel, Panda's text goes nowhere; it must be handled
    // before Alice joins, or Alice would see it.
    server.expect_status("Panda's text", |l| l.ends_with("Panda: text to 168_tas"));

    let mut alice = client(&server, "Alice");
    alice.expect("[Me] ");
    alice.type_in("/list\n");
    alice.expect(&format!("[Me] {WIPE}168_tas\n[Me] "));
    alice.type_in("/join 168_tas\n");
    alice.expect("[Me] ");
    panda.expect(&format!("{WIPE}Alice has joined\n[Me] "));
    let hi = "Hi everyone! Does anyone know what we're doing on the first day of lecture?";
    alice.type_in(&format!("{hi}\n"));
    alice.expect("[Me] ");
    panda.expect(&format!("{WIPE}[Alice] {hi}\n[Me] "));

    // Panda stops; at end of input the server closes and Alice is told.
    panda.close_stdin();
    panda.expect(&disconnected(&server));
    assert_eq!(panda.expect_exit(), 0);
    alice.expect(&format!("{WIPE}Panda has left\n[Me] "));
    alice.close_stdin();
    alice.expect(&disconnected(&server));
    assert_eq!(alice.expect_exit(), 0);
}

/// A typed line over 200 bytes goes out as several records, split by the
/// same rule as the server's.
#[test]
fn client_sends_long_lines_as_several_records() {
    let server = Server::start(&["channels", "0"]);
    let channel = fresh("longline");
    let mut peer = named(&server, "LongPeer");
    peer.send(rec(&format!("/create {channel}")));
    probe(&mut peer);
    let mut long = client(&server, "LongC");
    long.expect("[Me] ");
    long.type_in(&format!("/join {channel}\n"));
    long.expect("[Me] ");
    peer.expect(rec("LongC has joined"));

    // The client sends "a"x199 and " " + "b"x100; the server's relay of the
    // first, "[LongC] " + 199 bytes, goes on in a second record.
    long.type_in(&format!("{} {}\n", "a".repeat(199), "b".repeat(100)));
    long.expect("[Me] ");
    // An empty line is not sent.
    long.type_in("\n");
    long.expect("[Me] ");
    long.type_in("tail\n");
    long.expect("[Me] ");
    peer.expect(recs(&[
        format!("[LongC] {}", "a".repeat(192)),
        "a".repeat(7),
        format!("[LongC]  {}", "b".repeat(100)),
        "[LongC] tail".into(),
    ]));
    peer.send(rec("back"));
    long.expect(&format!("{WIPE}[LongPeer] back\n[Me] "));

    long.close_stdin();
    long.expect(&disconnected(&server));
    assert_eq!(long.expect_exit(), 0);
    peer.expect(rec("LongC has left"));
    probe(&mut peer);
}

/// A refused name: the client prints the server's record over the prompt,
/// then that the server went away, and exits 0.
#[test]
fn client_with_a_bad_name_is_told_and_exits_0() {
    let server = Server::start(&["channels", "0"]);
    let mut bad = client(&server, "bad name");
    bad.expect("[Me] ");
    bad.expect(&format!(
        "{WIPE}Name bad name is not valid or is already in use.\n[Me] "
    ));
    bad.expect(&disconnected(&server));
    assert_eq!(bad.expect_exit(), 0);
}

#[test]
fn client_without_a_server_exits_1() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local addr").port()
    };
    let out = Command::new(bin("chat-client"))
        .args(["channels", "Nobody", "127.0.0.1", &port.to_string()])
        .output()
        .expect("run chat-client");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Unable to connect to 127.0.0.1:{port}\n")
    );
}
