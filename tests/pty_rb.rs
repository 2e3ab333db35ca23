//! The room and bridge clients as a person sees them, in a real
//! pseudo-terminal through the harness of `pty.rs`: a message arriving
//! while the user types is shown above the line being edited, and the
//! prompt (room: `Your choice:`, the file-path prompt) and the partial input
//! stay intact below it; Enter then sends the line whole. The servers and
//! peers are fakes on loopback; every wait is bounded.

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;

use chat_protocol::room::{Kind, Message};

use crate::fake::{listen, next, read_block, read_message, room_frames};
use crate::pty::{above_and_below, last_row, Terminal};
use crate::util::TIMEOUT;

#[test]
fn room_prints_above_the_line_being_typed_and_redraws_its_prompts() {
    let (port, rx) = listen();
    let mut term = Terminal::start(&["room", "127.0.0.1", &port.to_string()]);
    term.wait_for("the menu", |rows| {
        above_and_below(rows, "3. Quit the program.", "Your choice:")
    });
    term.type_in("5\r");
    term.wait_for("the menu again, with a word on the bad choice", |rows| {
        rows.iter()
            .any(|r| r.contains("\"5\" is not one of the options"))
            && last_row(rows) == "Your choice:"
    });
    // The choice and the name pasted in one write.
    term.type_in("2\rAnn\r");
    let mut server = next(&rx);
    let mut frames = room_frames();
    let join = read_message(&mut server, &mut frames).expect("a message");
    assert_eq!(
        (join.kind, join.username.as_str()),
        (Kind::JoinRequest, "Ann")
    );
    server
        .write_all(&Message::new(Kind::JoinAccept).user("Ann").to_bytes())
        .unwrap();
    let joined = Message::new(Kind::NewUser)
        .user("Ann")
        .payload("Ann joined the chatroom.")
        .at("12:00:00");
    server.write_all(&joined.to_bytes()).unwrap();
    term.wait_for("the welcome", |rows| {
        rows.iter()
            .any(|r| r == "[12:00:00] Server: Ann joined the chatroom.")
    });

    term.type_in("hello wor");
    term.wait_for("the partial line", |rows| last_row(rows) == "hello wor");
    let bob = Message::text("Bob", "interrupt!").at("12:00:01");
    server.write_all(&bob.to_bytes()).unwrap();
    term.wait_for("the text above the partial line", |rows| {
        above_and_below(rows, "[12:00:01] Bob: interrupt!", "hello wor")
    });
    println!("room, a text arriving while typing:\n{}", term.capture());
    term.type_in("ld\r");
    let sent = read_message(&mut server, &mut frames).expect("a message");
    assert_eq!(
        (sent.kind, &sent.payload[..]),
        (Kind::Text, &b"hello world"[..])
    );

    // The file-path prompt is redrawn under what arrives.
    term.type_in("a\r");
    term.wait_for("the path prompt", |rows| {
        last_row(rows) == "Please enter the file path and name:"
    });
    term.type_in("/no/such");
    let eve = Message::text("Eve", "\x1b]0;pwned\x07 look").at("12:00:02");
    server.write_all(&eve.to_bytes()).unwrap();
    term.wait_for("the text above the path prompt", |rows| {
        above_and_below(
            rows,
            "[12:00:02] Eve: ^[]0;pwned^G look",
            "Please enter the file path and name: /no/such",
        )
    });
    println!(
        "room, a text arriving at the path prompt:\n{}",
        term.capture()
    );
    assert_eq!(term.title(), "");
    term.type_in("\r");
    term.wait_for("the missing file", |rows| {
        rows.iter().any(|r| r.starts_with("Cannot read /no/such: "))
    });

    term.type_in("q\r");
    let quit = read_message(&mut server, &mut frames).expect("a message");
    assert_eq!(quit.kind, Kind::QuitRequest);
    let left = Message::new(Kind::QuitAccept)
        .user("Ann")
        .payload("Ann left the chatroom.")
        .at("12:00:03");
    server.write_all(&left.to_bytes()).unwrap();
    drop(server);
    term.wait_for("the menu after leaving", |rows| {
        last_row(rows) == "Your choice:"
    });
    term.type_in("3\r");
    assert_eq!(term.expect_exit(), 0);
}

#[test]
fn bridge_prints_above_the_line_being_typed() {
    // The rendezvous server: registers Alice and has no peer for her.
    let (server_port, requests) = listen();
    let (asked, got) = mpsc::channel();
    thread::spawn(move || {
        while let Ok(mut stream) = requests.recv() {
            let request = String::from_utf8_lossy(&read_block(&mut stream)).into_owned();
            let _ = asked.send(request.clone());
            let answer = if request.starts_with("REGISTER") {
                request
                    .replacen("REGISTER", "REGACK", 1)
                    .replace("\r\n\r\n", "\r\nStatus: registered\r\n\r\n")
            } else {
                "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n".to_owned()
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    let server = format!("--server=127.0.0.1:{server_port}");
    let mut term = Terminal::start(&["bridge", "--id=Alice", "--port=0", &server]);
    let rows = term.wait_for("running on", |rows| {
        rows.iter()
            .any(|r| r.starts_with("Alice running on 127.0.0.1:"))
    });
    let port: u16 = rows
        .iter()
        .find_map(|r| r.strip_prefix("Alice running on 127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .expect("a port");
    // Both commands pasted in one write: the editor reads ahead of the
    // first line's end and keeps the rest for the next line.
    term.type_in("/register\r/bridge\r");
    let request = got.recv_timeout(TIMEOUT).expect("the REGISTER");
    assert!(request.starts_with("REGISTER\r\nclientID: Alice\r\n"));
    term.wait_for("waiting", |rows| {
        rows.iter().any(|r| r.starts_with("No peer yet"))
    });

    let mut bob = TcpStream::connect(("127.0.0.1", port)).expect("call Alice");
    bob.set_read_timeout(Some(TIMEOUT)).unwrap();
    bob.write_all(b"CHAT\r\nclientID: Bob\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n")
        .unwrap();
    term.wait_for("the call", |rows| {
        rows.iter()
            .any(|r| r == "Incoming chat request from Bob 127.0.0.1:7000")
    });
    term.type_in("I am typ");
    term.wait_for("the partial line", |rows| last_row(rows) == "I am typ");
    bob.write_all(b"Bob speaks again\r\n").unwrap();
    let rows = term.wait_for("the line above the partial line", |rows| {
        above_and_below(rows, "Bob speaks again", "I am typ")
    });
    assert!(!rows.iter().any(|r| r.contains("typBob")));
    println!("bridge, a line arriving while typing:\n{}", term.capture());
    term.type_in("ing\r");
    assert_eq!(
        read_block(&mut bob),
        b"CHAT\r\nclientID: Alice\r\nMessage: I am typing\r\n\r\n"
    );
    bob.write_all(b"\x1b]0;pwned\x07\x1b[2J\n").unwrap();
    term.wait_for("the escapes as text", |rows| {
        rows.iter().any(|r| r == "^[]0;pwned^G^[[2J")
    });
    assert_eq!(term.title(), "");
    term.type_in("/quit\r");
    assert_eq!(read_block(&mut bob), b"QUIT\r\n\r\n");
    assert_eq!(term.expect_exit(), 0);
}
