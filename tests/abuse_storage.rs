//! One large message, full disks and big files against the servers that
//! keep state on disk (room, bridge): issue 15's items 1, 3, 7, 8 and 9.
//! Loopback only, bounded in time and in what they send; every wait is on a
//! reply (or a status or stderr line), never a sleep.
//!
//! - room: a text over 64 KiB is refused with a text from Server, its
//!   payload read and dropped, and the connection goes on.
//! - room: 40 connections that never joined, each starting a 16 MiB text,
//!   are cut as malformed at the header, before their payload is read.
//! - room: `--join-history` bounds every JOIN_ACCEPT, and a restart reads
//!   back only the newest entries of a large `--history` file; with
//!   `--sendq 1048576` and 1,100 lines of 1 KB the room stays joinable.
//! - room: an append to `--history` that fails (the file-size limit, as on
//!   a full disk) leaves no partial entry, is reported on stderr, and the
//!   next entry starts on a line of its own.
//! - bridge: a registry file with a line that is not UTF-8 starts the
//!   server, the line named by number on stderr and kept in the file.
//! - bridge: the course server's status lines for a BRIDGE, with a peer and
//!   without one (issue 14).
//! - room and bridge: status lines that show network text show it
//!   terminal-safe (issue 15 item 11).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Child;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use chat_protocol::room::{Kind, Message};

use crate::abuse::room_message;
use crate::util::{listening_addr, spawn_under, Peer, Server, TempDir, TIMEOUT};

const TEXT_TOO_LONG: &str = "Text too long (at most 65536 bytes).";

/// Joins `name` and reads the JOIN_ACCEPT (returned) and its NEW_USER.
fn join(peer: &mut Peer, name: &str) -> Message {
    peer.send(Message::new(Kind::JoinRequest).user(name).to_bytes());
    let accept = room_message(peer);
    assert_eq!(accept.kind, Kind::JoinAccept, "{accept:?}");
    assert_eq!(room_message(peer).kind, Kind::NewUser);
    accept
}

/// Sends a text and reads its relay back (proof that it was handled).
fn say(peer: &mut Peer, text: &[u8]) -> Message {
    peer.send(Message::text("", text.to_vec()).to_bytes());
    let relay = room_message(peer);
    assert_eq!((relay.kind, &relay.payload[..]), (Kind::Text, text));
    relay
}

#[test]
fn room_text_over_64_kib_is_refused_and_the_connection_stays() {
    let dir = TempDir::new("storage-long-text");
    let server = Server::start(&["room", "0", "--downloads", &dir.arg("downloads")]);
    let mut ann = server.connect();
    let mut bob = server.connect();
    join(&mut ann, "Ann");
    join(&mut bob, "Bob");
    assert_eq!(room_message(&mut ann).kind, Kind::NewUser);
    // Exactly 64 KiB is a text; one byte more is refused.
    let most = vec![b'm'; 65536];
    say(&mut ann, &most);
    assert_eq!(room_message(&mut bob).payload, most);
    for size in [65537, 4 << 20] {
        ann.send(Message::text("", vec![b'x'; size]).to_bytes());
        let refused = room_message(&mut ann);
        assert_eq!(
            (refused.kind, &*refused.username, &refused.payload[..]),
            (Kind::Text, "Server", TEXT_TOO_LONG.as_bytes())
        );
    }
    // Nothing was relayed: Bob's next message is Ann's next text.
    say(&mut ann, b"after");
    assert_eq!(room_message(&mut bob).payload, b"after");
}

#[test]
fn room_forty_unjoined_16_mib_texts_are_cut_as_malformed() {
    let dir = TempDir::new("storage-unjoined");
    let server = Server::start(&["room", "0", "--downloads", &dir.arg("downloads")]);
    let body: Arc<Vec<u8>> = Arc::new(vec![b'z'; 16 << 20]);
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..40 {
        let mut peer = server.connect();
        let body = body.clone();
        senders.push(thread::spawn(move || {
            peer.send(b"PAYLOAD_LENGTH: 16777216\n\n");
            // The server may cut the connection while this is being written.
            let mut writer = peer.stream.try_clone().expect("clone");
            let _ = writer.write_all(&body);
            let reply = room_message(&mut peer);
            (reply, peer)
        }));
    }
    for sender in senders {
        let (reply, mut peer) = sender.join().expect("sender");
        assert_eq!(
            (
                reply.kind,
                &*reply.username,
                String::from_utf8_lossy(&reply.payload)
            ),
            (
                Kind::Text,
                "Server",
                "Malformed message: payload length 16777216 is over the limit of 65536 bytes"
                    .into()
            )
        );
        peer.expect_closed();
    }
    // Everyone else is served as before.
    let mut ann = server.connect();
    join(&mut ann, "Ann");
    say(&mut ann, b"still here");
    eprintln!(
        "40 unjoined 16 MiB texts cut in {:?}; server VmRSS {} KiB",
        started.elapsed(),
        server.rss_kib()
    );
}

#[test]
fn room_join_history_bounds_each_join_accept_and_the_restart() {
    let dir = TempDir::new("storage-join-history");
    let history = dir.arg("history.txt");
    let args = [
        "room",
        "0",
        "--downloads",
        &dir.arg("downloads"),
        "--history",
        &history,
        "--join-history",
        "2000",
    ];
    let mut texts = Vec::new();
    {
        let server = Server::start(&args);
        let mut ann = server.connect();
        join(&mut ann, "Ann");
        for n in 0..300 {
            let text = format!("message number {n:03} {}", "-".repeat(60));
            say(&mut ann, text.as_bytes());
            texts.push(text);
        }
        let mut bob = server.connect();
        let accept = join(&mut bob, "Bob");
        check_bounded(&accept.payload, &texts);
        // Killed while Ann and Bob are still connected: had they closed
        // first, the server might have recorded their departures.
        drop(server);
    }
    // Restarted, it reads back only the newest entries; the file kept all.
    let server = Server::start(&args);
    let kept = std::fs::read_to_string(dir.join("history.txt")).unwrap();
    // Two joins and 300 texts; a kill records no departure.
    assert_eq!(kept.lines().count(), 302, "every entry is in the file");
    let mut cy = server.connect();
    let accept = join(&mut cy, "Cy");
    check_bounded(&accept.payload, &texts);
}

/// A JOIN_ACCEPT payload within 2000 bytes: the note, then the newest
/// entries whole and in order, ending with the newest text or announcement.
fn check_bounded(payload: &[u8], texts: &[String]) {
    let payload = String::from_utf8_lossy(payload);
    assert!(payload.len() <= 2000, "{} bytes", payload.len());
    let mut lines = payload.lines();
    let note = lines.next().unwrap();
    assert!(
        note.ends_with("earlier messages are not shown.") && note.contains("] Server: "),
        "{note:?}"
    );
    let shown: Vec<&str> = lines
        .filter_map(|l| l.split_once("] Ann: ").map(|(_, t)| t))
        .collect();
    assert!(shown.len() > 10, "{payload}");
    let newest = &texts[texts.len() - shown.len()..];
    assert_eq!(shown, newest.iter().map(String::as_str).collect::<Vec<_>>());
}

/// A room server started through `sh` with a file-size limit (the
/// shell's `ulimit -f`, in blocks) and SIGXFSZ ignored, so that a write
/// past the limit fails with EFBIG as on a full disk. Its stderr is read
/// line by line.
struct Limited {
    child: Child,
    addr: SocketAddr,
    stderr: Receiver<String>,
}

impl Limited {
    fn start(blocks: u32, args: &[&str]) -> Limited {
        let mut child = spawn_under(&format!("ulimit -f {blocks} && trap '' XFSZ"), args);
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = stdout.next().and_then(Result::ok).unwrap_or_default();
        let addr = listening_addr(&first);
        thread::spawn(move || stdout.for_each(drop));
        let (tx, stderr) = channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("server: {line}");
                let _ = tx.send(line);
            }
        });
        Limited {
            child,
            addr,
            stderr,
        }
    }

    fn expect_stderr(&self, what: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(_) => panic!("no stderr line with {what:?} within {TIMEOUT:?}"),
            }
        }
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn room_history_append_on_a_full_disk_leaves_no_partial_entry() {
    let dir = TempDir::new("storage-full-disk");
    let path = dir.join("history.txt");
    // 8 blocks: 4096 bytes for sh's 512-byte blocks, 8192 for bash's.
    let server = Limited::start(
        8,
        &[
            "room",
            "0",
            "--downloads",
            &dir.arg("downloads"),
            "--history",
            &dir.arg("history.txt"),
        ],
    );
    let mut ann = Peer::connect(server.addr);
    join(&mut ann, "Ann");
    // Three 3000-byte texts pass either limit; the relays still go out.
    let texts: Vec<Vec<u8>> = (b'a'..=b'c').map(|c| vec![c; 3000]).collect();
    for text in &texts {
        say(&mut ann, text);
    }
    server.expect_stderr("cannot append to the history");
    say(&mut ann, b"AFTER");
    let file = std::fs::read(&path).unwrap();
    let file = String::from_utf8(file).unwrap();
    // Whole entries only: the join, the texts that fitted, then AFTER.
    let lines: Vec<&str> = file.lines().collect();
    assert!(
        lines[0].ends_with("] Server: Ann joined the chatroom."),
        "{file}"
    );
    assert!(lines.last().unwrap().ends_with("] Ann: AFTER"), "{file}");
    let middle = &lines[1..lines.len() - 1];
    assert!(
        !middle.is_empty() && middle.len() < 3,
        "{} texts",
        middle.len()
    );
    for (line, text) in middle.iter().zip(&texts) {
        let (_, got) = line.split_once("] Ann: ").expect("an entry");
        assert_eq!(got.as_bytes(), &text[..], "a partial entry");
    }
    assert!(file.ends_with('\n'));
}

#[test]
fn bridge_registry_with_a_non_utf8_line_starts_and_keeps_it() {
    let dir = TempDir::new("storage-registry-bytes");
    let path = dir.join("registry.txt");
    let start = b"Al 127.0.0.1 5000\n\xff\xfe not text\nBo 127.0.0.1 6000\n";
    std::fs::write(&path, start).unwrap();
    let server = Limited::start(
        1 << 20,
        &["bridge", "--port=0", "--registry", &dir.arg("registry.txt")],
    );
    server.expect_stderr(":2: not UTF-8");
    let mut peer = Peer::connect(server.addr);
    peer.send("BRIDGE\r\nclientID: Al\r\n\r\n");
    peer.expect("BRIDGEACK\r\nclientID: Bo\r\nIP: 127.0.0.1\r\nPort: 6000\r\n\r\n");
    let mut peer = Peer::connect(server.addr);
    peer.send("REGISTER\r\nclientID: Cy\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n");
    peer.expect(
        "REGACK\r\nclientID: Cy\r\nIP: 127.0.0.1\r\nPort: 7000\r\nStatus: registered\r\n\r\n",
    );
    let mut want = start.to_vec();
    want.extend_from_slice(b"Cy 127.0.0.1 7000\n");
    assert_eq!(std::fs::read(&path).unwrap(), want);
}

#[test]
fn status_lines_show_network_text_terminal_safe() {
    let dir = TempDir::new("storage-safe-status");
    let room = Server::start(&["room", "0", "--downloads", &dir.arg("downloads")]);
    let mut peer = room.connect();
    peer.send(
        Message::new(Kind::JoinRequest)
            .user("\u{1b}]0;pwned\u{7}")
            .to_bytes(),
    );
    assert_eq!(room_message(&mut peer).kind, Kind::JoinReject);
    let line = room.expect_status("for the JOIN", |l| l.contains("JOIN"));
    assert!(line.ends_with("JOIN \"^[]0;pwned^G\" refused: The server rejects the join request. The username is not valid."), "{line:?}");
    peer.send("\u{1b}[2J: x\n\n");
    assert_eq!(room_message(&mut peer).kind, Kind::Text);
    let line = room.expect_status("for the malformed block", |l| l.contains("malformed"));
    assert!(
        line.ends_with("malformed message: unknown field ^[[2J, closing"),
        "{line:?}"
    );

    let registry = dir.arg("registry.txt");
    let bridge = Server::start(&["bridge", "--port=0", "--registry", &registry]);
    let mut peer = bridge.connect();
    peer.send("BRIDGE\r\nclientID: \u{1b}[2J\u{202e}\r\n\r\n");
    peer.expect("BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n");
    let line = bridge.expect_status("for the BRIDGE", |l| l.contains("not registered"));
    assert!(
        line.ends_with("BRIDGE ^[[2J<U+202E>: not registered"),
        "{line:?}"
    );
}

#[test]
fn bridge_status_lines_follow_the_course_server() {
    let dir = TempDir::new("storage-bridge-status");
    let registry = dir.arg("registry.txt");
    let server = Server::start(&["bridge", "--port=0", "--registry", &registry]);
    for (id, port) in [("Al", 5000), ("Bo", 6000)] {
        let mut peer = server.connect();
        peer.send(format!(
            "REGISTER\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n"
        ));
        peer.expect(format!(
            "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: registered\r\n\r\n"
        ));
    }
    // A registers, B registers, A bridges: A gets B, and the line names both.
    let mut peer = server.connect();
    peer.send("BRIDGE\r\nclientID: Al\r\n\r\n");
    peer.expect("BRIDGEACK\r\nclientID: Bo\r\nIP: 127.0.0.1\r\nPort: 6000\r\n\r\n");
    let line = server.expect_status("for the pairing", |l| l.starts_with("BRIDGE: "));
    assert_eq!(line, "BRIDGE: Al 127.0.0.1:5000 Bo 127.0.0.1:6000");
    // A third client finds nobody free: the line names it alone.
    let mut peer = server.connect();
    peer.send("REGISTER\r\nclientID: Cy\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n");
    peer.expect(
        "REGACK\r\nclientID: Cy\r\nIP: 127.0.0.1\r\nPort: 7000\r\nStatus: registered\r\n\r\n",
    );
    let mut peer = server.connect();
    peer.send("BRIDGE\r\nclientID: Cy\r\n\r\n");
    peer.expect("BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n");
    let line = server.expect_status("for the empty answer", |l| l.starts_with("BRIDGE: "));
    assert_eq!(line, "BRIDGE: Cy 127.0.0.1:7000");
}

#[test]
fn room_stays_joinable_after_more_history_than_sendq() {
    // The issue: with --sendq 1048576, 1,100 lines of 1 KB made every later
    // JOIN cut. Now the JOIN_ACCEPT carries at most --join-history (1 MiB)
    // and is taken together with its NEW_USER.
    let dir = TempDir::new("storage-joinable");
    let args = [
        "room",
        "0",
        "--downloads",
        &dir.arg("downloads"),
        "--sendq",
        "1048576",
    ];
    let server = Server::start(&args);
    let mut ann = server.connect();
    join(&mut ann, "Ann");
    let line = vec![b'k'; 1000];
    for _ in 0..1100 {
        say(&mut ann, &line);
    }
    for name in ["Bob", "Cy"] {
        let mut late = server.connect();
        let accept = join(&mut late, name);
        assert!(accept.payload.len() <= 1 << 20, "{}", accept.payload.len());
        assert!(String::from_utf8_lossy(&accept.payload[..80])
            .contains("earlier messages are not shown."));
        assert_eq!(room_message(&mut ann).kind, Kind::NewUser);
        say(&mut late, b"hello");
        late.send(Message::new(Kind::QuitRequest).to_bytes());
        assert_eq!(room_message(&mut late).kind, Kind::QuitAccept);
        // Ann hears the hello and the leave.
        assert_eq!(room_message(&mut ann).payload, b"hello");
        assert_eq!(room_message(&mut ann).kind, Kind::QuitAccept);
    }
}
