//! direct end to end: every rule of the contract with exact bytes, and the
//! client driven through pipes for every line it prints.
//!
//! Frames are written out by hand here (see [`frame`]) rather than with the
//! codec under test. Each test uses names with a prefix of its own, so that
//! in conformance mode (one shared server) tests never meet; a LIST there
//! may hold other tests' names, so LIST checks compare exact bytes on a
//! server of our own and only this test's names otherwise.

use std::io::Write;
use std::net::TcpListener;

use crate::util::{Peer, Program, Server};

const OK: &[u8] = b"\x82\x00\x00\x00\x01\x00";
const FAILURE: &[u8] = b"\x82\x00\x00\x00\x01\x01";
const MALFORMED: &[u8] = b"\x82\x00\x00\x00\x01\x02";
const LIST: &[u8] = b"\x02\x00\x00\x00\x00";
const LOGOUT: &[u8] = b"\x04\x00\x00\x00\x00";

/// A frame: type, 4-byte big-endian body length, body.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

fn name(name: &str) -> Vec<u8> {
    [&[name.len() as u8][..], name.as_bytes()].concat()
}

fn text(text: &str) -> Vec<u8> {
    [&(text.len() as u16).to_be_bytes()[..], text.as_bytes()].concat()
}

fn login(who: &str) -> Vec<u8> {
    frame(0x01, &name(who))
}

fn sendto(to: &str, body: &str) -> Vec<u8> {
    frame(0x03, &[name(to), text(body)].concat())
}

/// The SENDTO the server relays.
fn relayed(from: &str, body: &str) -> Vec<u8> {
    frame(0x83, &[name(from), text(body)].concat())
}

fn list_reply(names: &[&str]) -> Vec<u8> {
    let mut body = (names.len() as u16).to_be_bytes().to_vec();
    for n in names {
        body.extend(name(n));
    }
    frame(0x81, &body)
}

fn own_server() -> bool {
    Server::external().is_none()
}

/// A connection that has logged in as `who`.
fn logged_in(server: &Server, who: &str) -> Peer {
    let mut peer = server.connect();
    peer.send(login(who));
    peer.expect(OK);
    peer
}

/// Sends `list` and checks the LIST: exactly `want` on a server of our own,
/// and `want` among the names starting with `prefix` on any other.
fn expect_list(peer: &mut Peer, prefix: &str, want: &[&str]) {
    peer.send(LIST);
    if own_server() {
        return peer.expect(list_reply(want));
    }
    let head = peer.read_exact(5);
    assert_eq!(head[0], 0x81, "LIST type");
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let body = peer.read_exact(len);
    let mut names = Vec::new();
    let mut at = 2;
    while at < body.len() {
        let n = body[at] as usize;
        names.push(String::from_utf8_lossy(&body[at + 1..at + 1 + n]).into_owned());
        at += 1 + n;
    }
    let ours: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert_eq!(ours, want, "this test's names in the LIST");
}

#[test]
fn handout_session_two_users_list_message_and_log_out() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = server.connect();
    let mut bob = server.connect();
    // list works before login.
    expect_list(&mut alice, "hs", &[]);
    alice.send(b"\x01\x00\x00\x00\x08\x07hsAlice");
    alice.expect(b"\x82\x00\x00\x00\x01\x00");
    bob.send(login("hsBob"));
    bob.expect(OK);
    expect_list(&mut bob, "hs", &["hsAlice", "hsBob"]);

    alice.send(b"\x03\x00\x00\x00\x17\x05hsBob\x00\x0fHi how are you?");
    bob.expect(b"\x83\x00\x00\x00\x19\x07hsAlice\x00\x0fHi how are you?");
    alice.expect(OK);
    bob.send(sendto("hsAlice", "Fine, thanks"));
    alice.expect(relayed("hsBob", "Fine, thanks"));
    bob.expect(OK);

    alice.send(LOGOUT);
    alice.expect(OK);
    expect_list(&mut bob, "hs", &["hsBob"]);
    bob.send(LOGOUT);
    bob.expect(OK);
    expect_list(&mut alice, "hs", &[]);
}

#[test]
fn login_rules_each_refused_with_failure() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "lrAlice");
    let mut other = server.connect();
    let n20 = format!("lr{}", "x".repeat(18));
    let n21 = format!("lr{}", "x".repeat(19));
    // Already logged in on this connection, as another name or the same.
    for again in ["lrOther", "lrAlice"] {
        alice.send(login(again));
        alice.expect(FAILURE);
    }
    for bad in [
        login("lrAlice"), // in use
        login(""),        // empty
        login(&n21),      // 21 bytes
        login("lr a"),    // whitespace
        login("lr\ta"),
        login("lr\u{2003}a"), // Unicode whitespace
        login("lr\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}a"), // 21 bytes, 11 chars
    ] {
        other.send(bad);
        other.expect(FAILURE);
    }
    expect_list(&mut other, "lr", &["lrAlice"]);
    // Nothing else broke: a good name still logs in, 20 bytes is allowed.
    other.send(login(&n20));
    other.expect(OK);
    expect_list(&mut alice, "lr", &["lrAlice", n20.as_str()]);
}

#[test]
fn sendto_rules_and_a_message_to_oneself() {
    let server = Server::start(&["direct", "0"]);
    let mut anon = server.connect();
    let mut alice = logged_in(&server, "stAlice");
    let mut bob = logged_in(&server, "stBob");
    anon.send(sendto("stBob", "hi"));
    anon.expect(FAILURE);
    alice.send(sendto("stNobody", "hi"));
    alice.expect(FAILURE);
    // To oneself: the SENDTO arrives before its RESPONSE.
    alice.send(sendto("stAlice", "note to self"));
    alice.expect([relayed("stAlice", "note to self"), OK.to_vec()].concat());
    // Bob was sent nothing: his next reply is the one to his own request.
    alice.send(sendto("stBob", "only this"));
    alice.expect(OK);
    bob.send(sendto("stBob", "mark"));
    bob.expect(
        [
            relayed("stAlice", "only this"),
            relayed("stBob", "mark"),
            OK.to_vec(),
        ]
        .concat(),
    );
}

#[test]
fn logout_keeps_the_connection_and_allows_a_new_login() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "loAlice");
    let mut bob = logged_in(&server, "loBob");
    alice.send(LOGOUT);
    alice.expect(OK);
    alice.send(LOGOUT);
    alice.expect(FAILURE);
    alice.send(sendto("loBob", "after logout"));
    alice.expect(FAILURE);
    bob.send(sendto("loAlice", "are you there?"));
    bob.expect(FAILURE);
    expect_list(&mut alice, "lo", &["loBob"]);
    alice.send(login("loCarol"));
    alice.expect(OK);
    bob.send(sendto("loCarol", "hello Carol"));
    alice.expect(relayed("loBob", "hello Carol"));
    bob.expect(OK);
    // The freed name is anyone's.
    let _alice2 = logged_in(&server, "loAlice");
    expect_list(&mut bob, "lo", &["loBob", "loCarol", "loAlice"]);
}

#[test]
fn malformed_bodies_and_unknown_types_get_response_2_and_go_on() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "mbAlice");
    let mut unknown_at_limit = vec![0x7f];
    unknown_at_limit.extend(70_000u32.to_be_bytes());
    unknown_at_limit.resize(5 + 70_000, b'z');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("login: no name", b"\x01\x00\x00\x00\x00".to_vec()),
        (
            "login: name overruns",
            b"\x01\x00\x00\x00\x03\x09ab".to_vec(),
        ),
        (
            "login: bad utf-8",
            b"\x01\x00\x00\x00\x03\x02\xc3\x28".to_vec(),
        ),
        ("login: bytes left", b"\x01\x00\x00\x00\x04\x02abX".to_vec()),
        ("list: body", b"\x02\x00\x00\x00\x01X".to_vec()),
        ("logout: body", b"\x04\x00\x00\x00\x02XY".to_vec()),
        ("sendto: no text", b"\x03\x00\x00\x00\x02\x01a".to_vec()),
        (
            "sendto: text overruns",
            b"\x03\x00\x00\x00\x06\x01a\x00\x09hi".to_vec(),
        ),
        (
            "sendto: bad utf-8",
            b"\x03\x00\x00\x00\x05\x01a\x00\x01\xff".to_vec(),
        ),
        (
            "sendto: bytes left",
            b"\x03\x00\x00\x00\x06\x01a\x00\x01hi".to_vec(),
        ),
        ("type 0x00", b"\x00\x00\x00\x00\x00".to_vec()),
        ("type 0x05 with body", b"\x05\x00\x00\x00\x03abc".to_vec()),
        ("a server type", b"\x82\x00\x00\x00\x01\x00".to_vec()),
        ("unknown type, 70,000 bytes", unknown_at_limit),
    ];
    for (what, bad) in &cases {
        alice.send(bad);
        alice.expect(MALFORMED);
        // Exactly that frame was skipped: the next one is read as sent.
        alice.send(sendto("mbAlice", what));
        alice.expect([relayed("mbAlice", what), OK.to_vec()].concat());
    }
    // Many at once, in one write: one reply each, in order.
    let burst: Vec<u8> = cases.iter().flat_map(|(_, bad)| bad.clone()).collect();
    alice.send(&burst);
    alice.expect(MALFORMED.repeat(cases.len()));
    expect_list(&mut alice, "mb", &["mbAlice"]);
}

#[test]
fn an_oversized_length_gets_response_2_and_close() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "olAlice");
    let mut bob = logged_in(&server, "olBob");
    // The header alone decides: no body follows, yet the answer comes.
    bob.send(b"\x03\x00\x01\x11\x71");
    bob.expect(MALFORMED);
    bob.expect_closed();
    let mut carol = server.connect();
    carol.send(b"\x7f\xff\xff\xff\xff");
    carol.expect(MALFORMED);
    carol.expect_closed();
    // Bob was logged out; the others carry on.
    alice.send(sendto("olBob", "gone?"));
    alice.expect(FAILURE);
    expect_list(&mut alice, "ol", &["olAlice"]);
    let _bob2 = logged_in(&server, "olBob");
}

/// Asks `peer`'s server until `who` is no longer logged in (its
/// departure is handled when the server sees the connection end).
fn wait_logged_out(peer: &mut Peer, who: &str) {
    let deadline = std::time::Instant::now() + crate::util::TIMEOUT;
    loop {
        peer.send(sendto(who, "ping"));
        let reply = peer.read_exact(6);
        if reply == FAILURE {
            return;
        }
        // Still there: the ping was delivered and answered with OK.
        assert_eq!(reply, OK);
        assert!(
            std::time::Instant::now() < deadline,
            "{who} still logged in"
        );
    }
}

#[test]
fn a_client_that_vanishes_is_logged_out() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "vaAlice");
    let bob = logged_in(&server, "vaBob");
    bob.finish();
    wait_logged_out(&mut alice, "vaBob");
    let carol = logged_in(&server, "vaCarol");
    carol.reset();
    wait_logged_out(&mut alice, "vaCarol");
    expect_list(&mut alice, "va", &["vaAlice"]);
    // Both names are free again.
    let _bob = logged_in(&server, "vaBob");
    let _carol = logged_in(&server, "vaCarol");
}

#[test]
fn text_of_65535_bytes_is_delivered_intact() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = logged_in(&server, "tlAlice");
    let mut bob = logged_in(&server, "tlBob");
    let long: String = "0123456789abcdef".chars().cycle().take(65_535).collect();
    alice.send(sendto("tlBob", &long));
    let mut want = b"\x83\x00\x01\x00\x09\x07tlAlice\xff\xff".to_vec();
    want.extend(long.as_bytes());
    bob.expect(want);
    alice.expect(OK);
}

#[test]
fn frames_sent_one_byte_at_a_time_are_answered_the_same() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = server.connect();
    let script = [
        login("bbAlice"),
        sendto("bbAlice", "bytewise"),
        b"\x03\x00\x00\x00\x01\x09".to_vec(),
        LOGOUT.to_vec(),
    ]
    .concat();
    for b in &script {
        alice.send([*b]);
        alice.stream.flush().unwrap();
    }
    alice.expect([OK, &relayed("bbAlice", "bytewise"), OK, MALFORMED, OK].concat());
}

// The client, driven through pipes.

fn client(server: &Server) -> Program {
    let port = server.port();
    Program::start(&["direct", &server.addr.ip().to_string(), &port])
}

/// Types `list` and checks what the client prints, as [`expect_list`];
/// `me` is logged in and sends itself a marker to find the end of the list.
fn client_list(program: &mut Program, me: &str, prefix: &str, want: &[&str]) {
    if own_server() {
        program.type_in("list\n");
        let lines: String = want.iter().map(|n| format!("{n}\n")).collect();
        return program.expect(&lines);
    }
    program.type_in(&format!("list\nsendto {me} end of list\n"));
    let mut ours = Vec::new();
    loop {
        let line = program.expect_line();
        if line == format!("{me}: end of list") {
            break;
        }
        if line.starts_with(prefix) {
            ours.push(line);
        }
    }
    program.expect("Success\n");
    assert_eq!(ours, want, "this test's names in the LIST");
}

#[test]
fn client_handout_session_two_users() {
    let server = Server::start(&["direct", "0"]);
    let mut john = client(&server);
    let mut bob = client(&server);
    john.type_in("login csJohn\n");
    john.expect("Success\n");
    bob.type_in("login csBob\n");
    bob.expect("Success\n");
    client_list(&mut john, "csJohn", "cs", &["csJohn", "csBob"]);
    bob.type_in("sendto csJohn Hi how are you?\n");
    john.expect("csBob: Hi how are you?\n");
    bob.expect("Success\n");
    john.type_in("sendto csBob Hello, how are you?\n");
    bob.expect("csJohn: Hello, how are you?\n");
    john.expect("Success\n");
    john.type_in("sendto csNobody hi\n");
    john.expect("Failure\n");
    john.type_in("logout\n");
    john.expect("Success\n");
    // After logout, list and login still work on the same connection.
    client_list(&mut bob, "csBob", "cs", &["csBob"]);
    john.type_in("login csJohn\n");
    john.expect("Success\n");
    john.type_in("exit\n");
    assert_eq!(john.expect_exit(), 0);
    bob.type_in("exit\n");
    assert_eq!(bob.expect_exit(), 0);
}

#[test]
fn client_prints_every_error_and_sends_nothing() {
    let server = Server::start(&["direct", "0"]);
    let mut program = client(&server);
    let over = format!("sendto ceBob {}\n", "m".repeat(65_536));
    let login21 = format!("login {}\n", "a".repeat(21));
    let sendto21 = format!("sendto {} hi\n", "a".repeat(21));
    let cases = [
        ("login\n", "Bad username"),
        ("login \n", "Bad username"),
        ("login John Doe\n", "Bad username"),
        (&login21, "Bad username"),
        ("sendto JohnHello\n", "Bad username"),
        ("sendto\n", "Bad username"),
        ("sendto ceBob \n", "Bad username"),
        (&sendto21, "Bad username"),
        (&over, "Bad message"),
        ("list bob\n", "Invalid command"),
        ("logout Joe\n", "Invalid command"),
        ("exit client\n", "Invalid command"),
        ("hello\n", "Invalid command"),
        ("LIST\n", "Invalid command"),
    ];
    for (line, error) in cases {
        program.type_in(line);
        program.expect(&format!("{error}\n"));
    }
    // Blank lines are ignored; the one request that is sent gets the one
    // reply, and at end of input nothing else arrives before the server
    // closes: none of the refused lines reached it.
    program.type_in("\n  \nlogout\n");
    program.expect("Failure\n");
    program.close_stdin();
    assert_eq!(program.expect_exit(), 0);
}

#[test]
fn client_sends_65535_bytes_and_refuses_65536_with_bad_message() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = client(&server);
    let mut bob = client(&server);
    alice.type_in("login c6Alice\n");
    alice.expect("Success\n");
    bob.type_in("login c6Bob\n");
    bob.expect("Success\n");
    let long: String = "The quick brown fox. "
        .chars()
        .cycle()
        .take(65_535)
        .collect();
    alice.type_in(&format!("sendto c6Bob {long}\n"));
    bob.expect(&format!("c6Alice: {long}\n"));
    alice.expect("Success\n");
    alice.type_in(&format!("sendto c6Bob {long}!\n"));
    alice.expect("Bad message\n");
    // Nothing was sent: Bob's next line is the answer to his own request.
    alice.type_in("sendto c6Bob after\n");
    bob.expect("c6Alice: after\n");
    alice.expect("Success\n");
}

#[test]
fn client_prints_messages_while_the_user_is_typing() {
    let server = Server::start(&["direct", "0"]);
    let mut alice = client(&server);
    let mut bob = logged_in(&server, "ctBob");
    alice.type_in("login ctAlice\n");
    alice.expect("Success\n");
    // Half a command is typed, not yet ended: incoming text shows at once.
    alice.type_in("sendto ctB");
    bob.send(sendto("ctAlice", "ping"));
    bob.expect(OK);
    alice.expect("ctBob: ping\n");
    alice.type_in("ob pong\n");
    bob.expect(relayed("ctAlice", "pong"));
    alice.expect("Success\n");
}

#[test]
fn client_at_end_of_input_prints_every_reply_then_exits_0() {
    let server = Server::start(&["direct", "0"]);
    let mut program = client(&server);
    program.type_in("login eiAl\nsendto eiAl hi\nlogout\nlogout\n");
    program.close_stdin();
    program.expect("Success\neiAl: hi\nSuccess\nSuccess\nFailure\n");
    assert_eq!(program.expect_exit(), 0);
}

#[test]
fn client_prints_malformed_packet_lists_and_ends_when_the_server_closes() {
    // A stand-in server that answers the first request with every kind of
    // frame, one byte at a time, and then closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut program = Program::start(&["direct", "127.0.0.1", &port]);
    let (mut socket, _) = listener.accept().unwrap();
    program.type_in("list\n");
    let mut request = [0u8; 5];
    std::io::Read::read_exact(&mut socket, &mut request).unwrap();
    assert_eq!(request, LIST);
    let frames = [
        MALFORMED.to_vec(),
        list_reply(&["Alice", "Bob"]),
        list_reply(&[]),
        b"\x82\x00\x00\x00\x01\x07".to_vec(), // not a result: skipped
        b"\x99\x00\x00\x00\x02hi".to_vec(),   // not a type: skipped
        relayed("Bob", "Hi how are you?"),
        FAILURE.to_vec(),
    ]
    .concat();
    for b in frames {
        socket.write_all(&[b]).unwrap();
    }
    drop(socket);
    program.expect("Malformed packet\nAlice\nBob\nBob: Hi how are you?\nFailure\n");
    assert_eq!(program.expect_exit(), 0);
}

#[test]
fn client_that_cannot_connect_says_so_and_exits_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    drop(listener);
    let mut program = Program::start(&["direct", "127.0.0.1", &port]);
    program.expect(&format!("Unable to connect to 127.0.0.1:{port}\n"));
    assert_eq!(program.expect_exit(), 1);
}
