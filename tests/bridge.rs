//! bridge end to end: the server's answers byte for byte, pairing with four
//! clients, the registry across a kill -9 and a restart, and the real client
//! against the real server and against a raw test peer (the handout's
//! Example 1, Ctrl-C, a vanishing peer, end of stdin).
//!
//! Tests that use `Server::start` leave nobody waiting for a peer when they
//! pass, so that they can run one after another against one server in
//! conformance mode.

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc::channel;
use std::thread;

use crate::util::{Peer, Program, Server, TempDir, TIMEOUT};

const EMPTY_BRIDGEACK: &str = "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n";

/// A bridge server with a registry of its own (or the conformance server).
fn start(dir: &TempDir) -> Server {
    Server::start(&["bridge", "--port=0", "--registry", &dir.arg("registry.txt")])
}

fn register(id: &str, port: &str) -> String {
    format!("REGISTER\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n")
}

fn regack(id: &str, port: &str) -> String {
    format!(
        "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: registered\r\n\r\n"
    )
}

fn bridge(id: &str) -> String {
    format!("BRIDGE\r\nclientID: {id}\r\n\r\n")
}

fn bridgeack(id: &str, port: &str) -> String {
    format!("BRIDGEACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n")
}

/// One request on a connection of its own, as a client makes it.
fn ask(server: &Server, request: &str, want: &str) {
    let mut peer = server.connect();
    peer.send(request);
    peer.expect(want);
}

/// Reads one whole block (up to its empty line) from `peer`.
fn read_block(peer: &mut Peer) -> String {
    let mut block = Vec::new();
    while !block.ends_with(b"\r\n\r\n") {
        block.extend(peer.read_exact(1));
    }
    String::from_utf8_lossy(&block).into_owned()
}

/// Expects a REGACK that carries `headers` and rejects the registration.
/// The reason is this server's own words, so another server in conformance
/// mode is only held to the shape `rejected (<reason>)`.
fn expect_rejected(peer: &mut Peer, headers: &str, reason: &str) {
    let got = read_block(peer);
    let head = format!("REGACK\r\n{headers}Status: rejected (");
    assert!(
        got.starts_with(&head) && got.ends_with(")\r\n\r\n"),
        "{got:?}"
    );
    if Server::external().is_none() {
        assert_eq!(got, format!("{head}{reason})\r\n\r\n"));
    }
}

/// Sends a signal to a client process (SIGINT = 2).
fn signal(program: &Program, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(program.pid().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Starts `chat-client bridge` for `id` on a free port and returns it with
/// the port it printed in `<id> running on 127.0.0.1:<port>`.
fn client(id: &str, server: &Server, verbose: bool) -> (Program, String) {
    let id_arg = format!("--id={id}");
    let server_arg = format!("--server=127.0.0.1:{}", server.port());
    let mut args = vec!["bridge", &id_arg, "--port=0", &server_arg];
    if verbose {
        args.push("-v");
    }
    let mut program = Program::start(&args);
    let line = program.expect_line();
    let prefix = format!("{id} running on 127.0.0.1:");
    let port = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    (program, port.to_owned())
}

/// Registers `id` and has it ask for a peer, syncing on `/id` (commands run
/// in order, so its answer proves the others were done).
fn register_and_bridge(program: &mut Program, id: &str) {
    program.type_in("/register\n/bridge\n/id\n");
    program.expect(&format!("{id}\n"));
}

/// A raw peer that a client will call: a listener registered under `id`
/// and waiting for a peer at the server.
fn waiting_test_peer(server: &Server, id: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test peer");
    let port = listener.local_addr().unwrap().port().to_string();
    ask(server, &register(id, &port), &regack(id, &port));
    ask(server, &bridge(id), EMPTY_BRIDGEACK);
    (listener, port)
}

/// Takes the client's call on `listener`, within the test timeout.
fn accept(listener: TcpListener) -> Peer {
    let (tx, rx) = channel();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = tx.send(stream);
        }
    });
    let stream = rx.recv_timeout(TIMEOUT).expect("the client called");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    Peer { stream }
}

#[test]
fn register_and_bridge_answer_byte_for_byte() {
    let dir = TempDir::new("bridge-bytes");
    let server = start(&dir);
    let mut peer = server.connect();
    peer.send(register("Reg1", "5001"));
    peer.expect(regack("Reg1", "5001"));
    // Bare LF is accepted; the answer is CRLF all the same.
    peer.send(register("Reg2", "5002").replace("\r\n", "\n"));
    peer.expect(regack("Reg2", "5002"));
    peer.send(bridge("Reg1"));
    peer.expect(EMPTY_BRIDGEACK);
    peer.send(bridge("Reg2"));
    peer.expect(bridgeack("Reg1", "5001"));
}

#[test]
fn a_bad_register_is_rejected_with_what_it_carried() {
    let dir = TempDir::new("bridge-rejected");
    let server = start(&dir);
    let mut peer = server.connect();
    let n33 = "a".repeat(33);
    #[rustfmt::skip]
    let cases: Vec<(String, String, &str)> = vec![
        ("IP: 127.0.0.1\r\nPort: 5000\r\n".into(),
         "clientID: \r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into(), "missing clientID"),
        ("clientID: Bad1\r\nPort: 5000\r\n".into(),
         "clientID: Bad1\r\nIP: \r\nPort: 5000\r\n".into(), "missing IP"),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\n".into(),
         "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: \r\n".into(), "missing Port"),
        ("clientID: Bad 1\r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into(),
         "clientID: Bad 1\r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into(), "bad clientID"),
        (format!("clientID: {n33}\r\nIP: 127.0.0.1\r\nPort: 5000\r\n"),
         format!("clientID: {n33}\r\nIP: 127.0.0.1\r\nPort: 5000\r\n"), "bad clientID"),
        ("clientID: Bad1\r\nIP: localhost\r\nPort: 5000\r\n".into(),
         "clientID: Bad1\r\nIP: localhost\r\nPort: 5000\r\n".into(), "bad IP"),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 0\r\n".into(),
         "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 0\r\n".into(), "bad Port"),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 65536\r\n".into(),
         "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 65536\r\n".into(), "bad Port"),
    ];
    for (sent, echoed, reason) in cases {
        peer.send(format!("REGISTER\r\n{sent}\r\n"));
        expect_rejected(&mut peer, &echoed, reason);
    }
    // Nothing was registered, and the connection still works.
    peer.send(bridge("Bad1"));
    peer.expect(EMPTY_BRIDGEACK);
    peer.send(register("Bad1", "5000"));
    peer.expect(regack("Bad1", "5000"));
    // Leave nobody waiting.
    ask(&server, &bridge("Bad1"), EMPTY_BRIDGEACK);
    ask(&server, &register("Bad2", "5001"), &regack("Bad2", "5001"));
    ask(&server, &bridge("Bad2"), &bridgeack("Bad1", "5000"));
}

#[test]
fn a_bridge_from_an_unregistered_client_gets_the_empty_bridgeack() {
    let dir = TempDir::new("bridge-unregistered");
    let server = start(&dir);
    let mut peer = server.connect();
    peer.send(bridge("NeverRegistered"));
    peer.expect(EMPTY_BRIDGEACK);
    peer.send("BRIDGE\r\n\r\n");
    peer.expect(EMPTY_BRIDGEACK);
    // It did not become the one waiting: the next two pair with each other.
    ask(&server, &register("Un1", "5001"), &regack("Un1", "5001"));
    ask(&server, &register("Un2", "5002"), &regack("Un2", "5002"));
    ask(&server, &bridge("Un1"), EMPTY_BRIDGEACK);
    ask(&server, &bridge("Un2"), &bridgeack("Un1", "5001"));
}

#[test]
fn four_clients_pair_in_order() {
    let dir = TempDir::new("bridge-four");
    let server = start(&dir);
    for (id, port) in [
        ("Four1", "6001"),
        ("Four2", "6002"),
        ("Four3", "6003"),
        ("Four4", "6004"),
    ] {
        ask(&server, &register(id, port), &regack(id, port));
    }
    ask(&server, &bridge("Four1"), EMPTY_BRIDGEACK);
    // Asking again while waiting: still waiting.
    ask(&server, &bridge("Four1"), EMPTY_BRIDGEACK);
    ask(&server, &bridge("Four2"), &bridgeack("Four1", "6001"));
    ask(&server, &bridge("Four3"), EMPTY_BRIDGEACK);
    ask(&server, &bridge("Four4"), &bridgeack("Four3", "6003"));
}

#[test]
fn anything_else_closes_the_connection_and_the_server_goes_on() {
    let dir = TempDir::new("bridge-else");
    let server = start(&dir);
    for junk in [
        "HELLO\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "QUIT\r\n\r\n",
        "CHAT\r\nclientID: X\r\nMessage: hi\r\n\r\n",
        "REGACK\r\nclientID: X\r\nIP: \r\nPort: \r\nStatus: registered\r\n\r\n",
        "BRIDGE\r\nclientID without colon\r\n\r\n",
    ] {
        let mut peer = server.connect();
        peer.send(junk);
        peer.expect_closed();
    }
    ask(
        &server,
        &register("Else1", "5001"),
        &regack("Else1", "5001"),
    );
}

#[test]
fn a_block_that_never_ends_is_cut_off() {
    let dir = TempDir::new("bridge-endless");
    let Some(server) = Server::own(&["bridge", "--port=0", "--registry", &dir.arg("r.txt")]) else {
        return;
    };
    let mut peer = server.connect();
    peer.send("REGISTER\r\nclientID: ");
    // The server closes once the block passes 64 KiB; a write after that
    // may fail, which is the point.
    let chunk = vec![b'x'; 8192];
    for _ in 0..9 {
        if std::io::Write::write_all(&mut peer.stream, &chunk).is_err() {
            break;
        }
    }
    peer.expect_closed();
    ask(
        &server,
        &register("Endless", "5001"),
        &regack("Endless", "5001"),
    );
}

#[test]
fn status_lines_and_info() {
    let dir = TempDir::new("bridge-info");
    let registry = dir.arg("registry.txt");
    let Some(mut server) = Server::own_with_stdin(&["bridge", "--port=0", "--registry", &registry])
    else {
        return;
    };
    let handout_line = |line: &str| !line.starts_with("fd ");
    ask(
        &server,
        &register("Alice", "8000"),
        &regack("Alice", "8000"),
    );
    assert_eq!(
        server.expect_status("REGISTER", handout_line),
        "REGISTER: Alice from 127.0.0.1:8000 received"
    );
    ask(&server, &register("Bob", "9000"), &regack("Bob", "9000"));
    ask(&server, &bridge("Alice"), EMPTY_BRIDGEACK);
    ask(&server, &bridge("Bob"), &bridgeack("Alice", "8000"));
    assert_eq!(
        server.expect_status("REGISTER", handout_line),
        "REGISTER: Bob from 127.0.0.1:9000 received"
    );
    assert_eq!(
        server.expect_status("BRIDGE", handout_line),
        "BRIDGE: Bob 127.0.0.1:9000 Alice 127.0.0.1:8000"
    );
    server.type_in("/info\n");
    assert_eq!(
        server.expect_status("/info", handout_line),
        "Alice 127.0.0.1:8000"
    );
    assert_eq!(
        server.expect_status("/info", handout_line),
        "Bob 127.0.0.1:9000"
    );
}

#[test]
fn the_registry_survives_a_kill_9_and_a_restart() {
    let dir = TempDir::new("bridge-restart");
    let registry = dir.arg("registry.txt");
    let args = ["bridge", "--port=0", "--registry", &registry];
    let Some(server) = Server::own(&args) else {
        return;
    };
    ask(
        &server,
        &register("Alice", "8000"),
        &regack("Alice", "8000"),
    );
    ask(&server, &register("Bob", "9000"), &regack("Bob", "9000"));
    ask(
        &server,
        &register("Alice", "8001"),
        &regack("Alice", "8001"),
    );
    // The REGACK came after the file was replaced.
    assert_eq!(
        std::fs::read_to_string(&registry).unwrap(),
        "Alice 127.0.0.1 8001\nBob 127.0.0.1 9000\n"
    );
    drop(server); // SIGKILL
    let server = Server::own(&args).expect("own server");
    ask(&server, &bridge("Bob"), EMPTY_BRIDGEACK);
    ask(&server, &bridge("Alice"), &bridgeack("Bob", "9000"));
}

#[test]
fn handout_example_1_alice_waits_bob_calls_alice_quits() {
    let dir = TempDir::new("bridge-example-1");
    let server = start(&dir);
    let (mut alice, _) = client("Alice", &server, false);
    alice.type_in("/id\n");
    alice.expect("Alice\n");
    register_and_bridge(&mut alice, "Alice");

    let (mut bob, bob_port) = client("Bob", &server, false);
    bob.type_in("/id\n");
    bob.expect("Bob\n");
    register_and_bridge(&mut bob, "Bob");
    bob.type_in("/chat\nHello Alice\n");
    alice.expect(&format!(
        "Incoming chat request from Bob 127.0.0.1:{bob_port}\nHello Alice\n"
    ));
    alice.type_in("How are you doing, Bob?\n");
    bob.expect("How are you doing, Bob?\n");
    bob.type_in("Doing well, Alice. Time for coffee?\n");
    alice.expect("Doing well, Alice. Time for coffee?\n");
    alice.type_in("Sorry Bob, I'm too busy.\n");
    bob.expect("Sorry Bob, I'm too busy.\n");
    bob.type_in("Okay Alice, another time.\n");
    alice.expect("Okay Alice, another time.\n");
    alice.type_in("/quit\n");
    assert_eq!(alice.expect_exit(), 0);
    assert_eq!(bob.expect_exit(), 0);
}

#[test]
fn verbose_shows_every_message_sent_and_received() {
    let dir = TempDir::new("bridge-verbose");
    let server = start(&dir);
    let (mut carol, port) = client("Carol", &server, true);
    carol.type_in("/register\n");
    carol.expect(&format!(
        "> REGISTER\n> clientID: Carol\n> IP: 127.0.0.1\n> Port: {port}\n> \n\
         < REGACK\n< clientID: Carol\n< IP: 127.0.0.1\n< Port: {port}\n< Status: registered\n< \n"
    ));
    carol.type_in("/bridge\n");
    carol.expect(
        "> BRIDGE\n> clientID: Carol\n> \n< BRIDGEACK\n< clientID: \n< IP: \n< Port: \n< \n",
    );
    // A raw peer calls Carol, says one line and quits.
    let mut peer = Peer::connect(format!("127.0.0.1:{port}").parse().unwrap());
    peer.send("CHAT\r\nclientID: Dan\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n");
    carol.expect(
        "< CHAT\n< clientID: Dan\n< IP: 127.0.0.1\n< Port: 7000\n< \n\
         Incoming chat request from Dan 127.0.0.1:7000\n",
    );
    carol.type_in("hi Dan\n");
    peer.expect("CHAT\r\nclientID: Carol\r\nMessage: hi Dan\r\n\r\n");
    carol.expect("> CHAT\n> clientID: Carol\n> Message: hi Dan\n> \n");
    peer.send("QUIT\r\n\r\n");
    carol.expect("< QUIT\n< \n");
    assert_eq!(carol.expect_exit(), 0);
    peer.expect_closed();
    // Carol waited at the server; pair her off so nobody is left waiting.
    ask(&server, &register("Dan", "7000"), &regack("Dan", "7000"));
    ask(&server, &bridge("Dan"), &bridgeack("Carol", &port));
}

#[test]
fn ctrl_c_in_a_chat_sends_quit() {
    let dir = TempDir::new("bridge-ctrl-c");
    let server = start(&dir);
    let (listener, _) = waiting_test_peer(&server, "Erin");
    let (mut frank, port) = client("Frank", &server, false);
    register_and_bridge(&mut frank, "Frank");
    frank.type_in("/chat\nhello Erin\n");
    let mut erin = accept(listener);
    erin.expect(format!(
        "CHAT\r\nclientID: Frank\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n"
    ));
    erin.expect("CHAT\r\nclientID: Frank\r\nMessage: hello Erin\r\n\r\n");
    erin.send("CHAT\r\nclientID: Erin\r\nMessage: hi Frank\r\n\r\n");
    frank.expect("hi Frank\n");
    signal(&frank, 2);
    erin.expect("QUIT\r\n\r\n");
    erin.expect_closed();
    assert_eq!(frank.expect_exit(), 0);
}

#[test]
fn handout_example_2_ctrl_c_outside_a_chat_just_ends() {
    let dir = TempDir::new("bridge-example-2");
    let server = start(&dir);
    let (mut gina, _) = client("Gina", &server, false);
    gina.type_in("/id\n");
    gina.expect("Gina\n");
    signal(&gina, 2);
    assert_eq!(gina.expect_exit(), 0);
}

#[test]
fn a_vanishing_peer_ends_the_program_with_a_line() {
    let dir = TempDir::new("bridge-vanish");
    let server = start(&dir);
    let (listener, erin_port) = waiting_test_peer(&server, "Hank");
    let (mut ivy, _) = client("Ivy", &server, false);
    register_and_bridge(&mut ivy, "Ivy");
    ivy.type_in("/chat\n");
    let mut hank = accept(listener);
    read_block(&mut hank);
    hank.reset();
    ivy.expect(&format!(
        "Peer Hank at 127.0.0.1:{erin_port} has disconnected\n"
    ));
    assert_eq!(ivy.expect_exit(), 0);
}

#[test]
fn at_end_of_stdin_an_idle_client_exits_and_a_waiting_one_waits() {
    let dir = TempDir::new("bridge-eof");
    let server = start(&dir);
    let (mut idle, _) = client("Jack", &server, false);
    idle.type_in("/register\n/unknown\nsome text\n/id\n");
    idle.expect("Jack\n");
    idle.close_stdin();
    assert_eq!(idle.expect_exit(), 0);

    let (mut kim, kim_port) = client("Kim", &server, false);
    register_and_bridge(&mut kim, "Kim");
    kim.close_stdin();
    // Still there: a peer can call and chat until it quits.
    let mut lee = Peer::connect(format!("127.0.0.1:{kim_port}").parse().unwrap());
    lee.send("CHAT\r\nclientID: Lee\r\nIP: 127.0.0.1\r\nPort: 7001\r\n\r\n");
    lee.send("CHAT\r\nclientID: Lee\r\nMessage: anyone there?\r\n\r\n");
    kim.expect("Incoming chat request from Lee 127.0.0.1:7001\nanyone there?\n");
    lee.send("QUIT\r\n\r\n");
    assert_eq!(kim.expect_exit(), 0);
    // Kim waited at the server; pair her off so nobody is left waiting.
    ask(&server, &register("Lee", "7001"), &regack("Lee", "7001"));
    ask(&server, &bridge("Lee"), &bridgeack("Kim", &kim_port));
}

#[test]
fn an_unreachable_server_means_exit_1() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = format!("--server=127.0.0.1:{port}");
    let mut program = Program::start(&["bridge", "--id=Max", "--port=0", &server]);
    program.expect(&format!("Unable to connect to 127.0.0.1:{port}\n"));
    assert_eq!(program.expect_exit(), 1);
}
