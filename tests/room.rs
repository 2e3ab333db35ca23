//! room end to end: the handout's eight-step test plan with real clients,
//! attachments byte-exact on every side, file names that try to leave the
//! downloads folder, every join reject, acting before joining, malformed
//! input, and the history file across a restart.
//!
//! Raw peers check every message twice: it must be exactly the strict
//! encoding of what it decodes to (all fourteen fields, in order), and it
//! must equal the expected message, the server's `HH:MM:SS` checked by
//! shape. In conformance mode the room may already have a history: tests
//! read it from the first JOIN_ACCEPT and expect it to grow from there.

use std::fs;
use std::path::Path;

use chat_protocol::room::{Kind, Message, MessageDecoder};
use chat_protocol::{Decoded, Decoder};

use crate::util::{like, Peer, Program, Server, TempDir, TIME};

const MENU: &str = "Please select one of the following options:\n\
    1. Get a report of the chatroom from the server.\n\
    2. Request to join the chatroom.\n\
    3. Quit the program.\n\
    Your choice: ";
const ASK_NAME: &str = "Please enter a username: ";
const WELCOME: &str = "The server welcomes you to the chatroom.\n\
    Type lowercase 'q' and press enter at any time to quit the chatroom.\n\
    Type lowercase 'a' and press enter at any time to upload an attachment to the chatroom.\n\
    Here is a history of the chatroom.\n";
const ASK_PATH: &str = "Please enter the file path and name: ";
const REJECT_JOINED: &str = "The server rejects the join request. You have already joined.";
const REJECT_INVALID: &str = "The server rejects the join request. The username is not valid.";
const REJECT_FULL: &str =
    "The server rejects the join request. The chatroom has reached its maximum capacity.";
const REJECT_TAKEN: &str =
    "The server rejects the join request. Another user is using this username.";
const JOIN_FIRST: &str = "You must join the chatroom first.";
const COOLFILE: &str = "I am on a light diet: I eat in daylight, I eat in moonlight, \
    and sometimes, I eat in refrigerator light!";

/// A room server whose downloads folder is `dir/downloads` (ignored in
/// conformance mode).
fn start(dir: &TempDir) -> Server {
    Server::start(&["room", "0", "--downloads", &dir.arg("downloads")])
}

/// The words a user wrote, as the server stamps them into the history.
fn entry(user: &str, text: &str) -> String {
    format!("[{TIME}] {user}: {text}\n")
}

/// A raw connection that reads whole messages.
struct RoomPeer {
    peer: Peer,
    decoder: MessageDecoder,
    buf: Vec<u8>,
}

impl RoomPeer {
    fn connect(server: &Server) -> RoomPeer {
        RoomPeer {
            peer: server.connect(),
            decoder: MessageDecoder::new(u64::MAX),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, message: &Message) {
        self.peer.send(message.to_bytes());
    }

    /// The next message, checked to be strictly encoded.
    fn recv(&mut self) -> Message {
        loop {
            match self.decoder.decode(&self.buf) {
                Ok(Decoded::Item(message, used)) => {
                    let raw: Vec<u8> = self.buf.drain(..used).collect();
                    assert_eq!(
                        String::from_utf8_lossy(&raw),
                        String::from_utf8_lossy(&message.to_bytes()),
                        "not the strict encoding"
                    );
                    return message;
                }
                Ok(Decoded::Skip(used)) => {
                    self.buf.drain(..used);
                }
                Ok(Decoded::Incomplete) => {
                    let mut chunk = [0u8; 64 * 1024];
                    let n = std::io::Read::read(&mut self.peer.stream, &mut chunk)
                        .expect("read from the server");
                    assert!(
                        n > 0,
                        "server closed; pending {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) => panic!("server sent a malformed message: {e}"),
            }
        }
    }

    /// Checks the next message is `want` (its `HH:MM:SS` parts by shape).
    fn expect(&mut self, want: &Message) {
        let got = self.recv();
        let ok = got.kind == want.kind
            && got.number == want.number
            && got.username == want.username
            && got.filename == want.filename
            && like(got.timestamp.as_bytes(), want.timestamp.as_bytes())
            && like(&got.payload, &want.payload);
        assert!(ok, "got {}\nwant {}", show(&got), show(want));
    }

    fn expect_closed(&mut self) {
        assert!(self.buf.is_empty(), "unread bytes before the close");
        self.peer.expect_closed();
    }

    /// Joins as `name`: returns the history the server sent.
    fn join(&mut self, name: &str) -> Vec<u8> {
        self.send(&Message::new(Kind::JoinRequest).user(name));
        let accept = self.recv();
        assert_eq!((accept.kind, &*accept.username), (Kind::JoinAccept, name));
        self.expect(&new_user(name));
        accept.payload
    }

    fn quit(mut self, name: &str) {
        self.send(&Message::new(Kind::QuitRequest));
        self.expect(&left(name));
        self.expect_closed();
    }
}

fn show(m: &Message) -> String {
    format!(
        "{:?} number={} user={:?} file={:?} time={:?} payload={:?}",
        m.kind,
        m.number,
        m.username,
        m.filename,
        m.timestamp,
        String::from_utf8_lossy(&m.payload)
    )
}

fn new_user(name: &str) -> Message {
    Message::new(Kind::NewUser)
        .user(name)
        .at(TIME)
        .payload(format!("{name} joined the chatroom."))
}

fn left(name: &str) -> Message {
    Message::new(Kind::QuitAccept)
        .user(name)
        .at(TIME)
        .payload(format!("{name} left the chatroom."))
}

fn reject(reason: &str) -> Message {
    Message::new(Kind::JoinReject).payload(reason)
}

fn server_text(text: &str) -> Message {
    Message::text("Server", text)
}

/// A chat client started in `dir`, talking to `server`, at its menu.
fn client(server: &Server, dir: &TempDir) -> Program {
    let port = server.port();
    let host = server.addr.ip().to_string();
    let mut client = Program::start_in(&["room", &host, &port], Some(&dir.path));
    client.expect(MENU);
    client
}

/// The history the next joiner will get, as a pattern for [`like`]: empty
/// on a fresh server of our own; in conformance mode whatever the server
/// has kept, learnt by a probe that joins and leaves (and so adds two
/// entries of its own).
fn history_so_far(server: &Server) -> String {
    if Server::external().is_none() {
        return String::new();
    }
    let name = format!("Probe{}", std::process::id());
    let mut probe = RoomPeer::connect(server);
    let kept = probe.join(&name);
    probe.quit(&name);
    String::from_utf8_lossy(&kept).into_owned()
        + &entry("Server", &format!("{name} joined the chatroom."))
        + &entry("Server", &format!("{name} left the chatroom."))
}

/// From the menu, joins as `name`, and checks the client shows the welcome,
/// `history` and its own arrival; returns the history now.
fn join(client: &mut Program, name: &str, history: &str) -> String {
    client.type_in("2\n");
    client.expect(ASK_NAME);
    client.type_in(&format!("{name}\n"));
    let joined = entry("Server", &format!("{name} joined the chatroom."));
    client.expect_like(&format!("{WELCOME}{history}{joined}"));
    format!("{history}{joined}")
}

/// Every client in `all` prints `line` next.
fn all_see(all: &mut [&mut Program], line: &str) {
    for client in all.iter_mut() {
        client.expect_like(line);
    }
}

/// The one file in `dir`, by name and content.
fn only_file(dir: &Path) -> (String, Vec<u8>) {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let path = files.remove(0);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (name, fs::read(&path).expect("read the stored file"))
}

#[test]
fn the_handouts_eight_step_test_plan() {
    // Step 1: the server, with its own downloads folder.
    let server_dir = TempDir::new("room-plan-server");
    let server = start(&server_dir);
    let dirs: Vec<TempDir> = ["cool", "fun", "fire", "sad"]
        .iter()
        .map(|n| TempDir::new(&format!("room-plan-{n}")))
        .collect();
    fs::create_dir_all(dirs[2].join("attachments")).unwrap();
    let original = format!("{COOLFILE}\n");
    fs::write(dirs[2].join("attachments/coolfile1.txt"), &original).unwrap();

    // Step 2: Cool joins and says Hi.
    let mut cool = client(&server, &dirs[0]);
    let mut history = join(&mut cool, "Cool", &history_so_far(&server));
    cool.type_in("Hi\n");
    cool.expect_like(&entry("Cool", "Hi"));
    history += &entry("Cool", "Hi");

    // Step 3: Fun joins, sees Hi, and they talk.
    let mut fun = client(&server, &dirs[1]);
    fun.type_in("2\n");
    fun.expect(ASK_NAME);
    fun.type_in("Fun\n");
    fun.expect_like(&format!("{WELCOME}{history}"));
    let joined = entry("Server", "Fun joined the chatroom.");
    all_see(&mut [&mut fun, &mut cool], &joined);
    history += &joined;
    let talk = [
        (1, "Hi Cool, are you there?"),
        (0, "Hey Fun, glad that you joined. We can chat now."),
        (1, "Let's wait for Fire. He wanted to join."),
        (0, "Ok"),
    ];
    for (who, text) in talk {
        let (name, sender) = if who == 0 {
            ("Cool", &mut cool)
        } else {
            ("Fun", &mut fun)
        };
        sender.type_in(&format!("{text}\n"));
        all_see(&mut [&mut cool, &mut fun], &entry(name, text));
        history += &entry(name, text);
    }

    // Step 4: a third client asks for Fun (taken), then joins as Fire.
    let mut fire = client(&server, &dirs[2]);
    fire.type_in("2\nFun\n");
    fire.expect(&format!("{ASK_NAME}{REJECT_TAKEN}\n{MENU}"));
    fire.type_in("2\n");
    fire.expect(ASK_NAME);
    fire.type_in("Fire\n");
    fire.expect_like(&format!("{WELCOME}{history}"));
    let joined = entry("Server", "Fire joined the chatroom.");
    all_see(&mut [&mut fire, &mut cool, &mut fun], &joined);
    history += &joined;

    // Step 5: Sad finds the room full, gets the report, and exits.
    let mut sad = client(&server, &dirs[3]);
    sad.type_in("2\nSad\n");
    sad.expect(&format!("{ASK_NAME}{REJECT_FULL}\n{MENU}"));
    sad.type_in("1\n");
    sad.expect("There are 3 active users in the chatroom.\n");
    for (k, name) in ["Cool", "Fun", "Fire"].iter().enumerate() {
        let line = sad.read_until("\n");
        let prefix = format!("{}. {name} at IP: ", k + 1);
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line:?}"));
        let (ip, port) = rest
            .strip_suffix(".\n")
            .and_then(|r| r.split_once(" and port: "))
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{line:?}");
        assert!(port.parse::<u16>().is_ok(), "{line:?}");
    }
    sad.expect(MENU);
    sad.type_in("3\n");
    assert_eq!(sad.expect_exit(), 0);

    // Step 6: chat, then Fire uploads coolfile1.txt to everyone.
    let talk = [
        (2, "Hey guys! I just joined."),
        (0, "What's up Fire?"),
        (1, "Hey Fire."),
        (2, "Guys, I want to attach a cool file!"),
    ];
    for (who, text) in talk {
        let name = ["Cool", "Fun", "Fire"][who];
        [&mut cool, &mut fun, &mut fire][who].type_in(&format!("{text}\n"));
        all_see(&mut [&mut cool, &mut fun, &mut fire], &entry(name, text));
        history += &entry(name, text);
    }
    for dir in &dirs[..3] {
        assert!(
            !dir.join("downloads").exists(),
            "downloads before the upload"
        );
    }
    fire.type_in("a\n");
    fire.expect(ASK_PATH);
    fire.type_in("attachments/coolfile1.txt\n");
    all_see(
        &mut [&mut cool, &mut fun, &mut fire],
        &entry("Fire", COOLFILE),
    );
    history += &entry("Fire", COOLFILE);
    for dir in &dirs[..3] {
        let (name, bytes) = only_file(&dir.join("downloads"));
        assert_eq!(
            bytes,
            original.as_bytes(),
            "{name} in {}",
            dir.path.display()
        );
    }
    if Server::external().is_none() {
        let stored = fs::read(server_dir.join("downloads/coolfile1.txt")).unwrap();
        assert_eq!(stored, original.as_bytes());
    }

    // Step 7: more chat, then Fire says goodbye and quits.
    let talk = [
        (1, "Hahaha"),
        (0, "That was cool! :)"),
        (2, "Alright guys. I should leave now. Buy."),
    ];
    for (who, text) in talk {
        let name = ["Cool", "Fun", "Fire"][who];
        [&mut cool, &mut fun, &mut fire][who].type_in(&format!("{text}\n"));
        all_see(&mut [&mut cool, &mut fun, &mut fire], &entry(name, text));
        history += &entry(name, text);
    }
    fire.type_in("q\n");
    fire.expect(MENU);
    let gone = entry("Server", "Fire left the chatroom.");
    all_see(&mut [&mut cool, &mut fun], &gone);
    history += &gone;

    // Step 8: Cool says Buy Fire.; Fire rejoins and gets the whole history.
    cool.type_in("Buy Fire.\n");
    all_see(&mut [&mut cool, &mut fun], &entry("Cool", "Buy Fire."));
    history += &entry("Cool", "Buy Fire.");
    fire.type_in("2\n");
    fire.expect(ASK_NAME);
    fire.type_in("Fire\n");
    fire.expect_like(&format!("{WELCOME}{history}"));
    all_see(
        &mut [&mut fire, &mut cool, &mut fun],
        &entry("Server", "Fire joined the chatroom."),
    );

    // End of input quits the chatroom and exits 0; the others are told.
    fire.close_stdin();
    assert_eq!(fire.expect_exit(), 0);
    all_see(
        &mut [&mut cool, &mut fun],
        &entry("Server", "Fire left the chatroom."),
    );
    cool.close_stdin();
    assert_eq!(cool.expect_exit(), 0);
    fun.expect_like(&entry("Server", "Cool left the chatroom."));
    fun.close_stdin();
    assert_eq!(fun.expect_exit(), 0);
}

/// Bytes that are not UTF-8, from a fixed xorshift sequence.
fn binary(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    out[0] = 0xff;
    out
}

/// A file name no earlier run has used, for servers that keep their folder.
fn unique(stem: &str, ext: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{stem}-{}-{nanos}.{ext}", std::process::id())
}

#[test]
fn a_five_mib_binary_attachment_arrives_byte_exact_everywhere() {
    let server_dir = TempDir::new("room-big-server");
    let server = start(&server_dir);
    let (ann_dir, bob_dir) = (TempDir::new("room-big-ann"), TempDir::new("room-big-bob"));
    let big = binary(5 << 20);
    let name = unique("big", "bin");
    fs::write(ann_dir.join(&name), &big).unwrap();

    let mut ann = client(&server, &ann_dir);
    let history = join(&mut ann, "Ann", &history_so_far(&server));
    let mut bob = client(&server, &bob_dir);
    join(&mut bob, "Bob", &history);
    ann.expect_like(&entry("Server", "Bob joined the chatroom."));

    // A file that cannot be read leaves Ann in the chatroom.
    ann.type_in("a\nno-such-file\n");
    ann.expect(ASK_PATH);
    let line = ann.read_until("\n");
    assert!(line.starts_with("Cannot read no-such-file: "), "{line:?}");

    ann.type_in(&format!("a\n{name}\n"));
    ann.expect(ASK_PATH);
    let shown = format!(
        "Ann sent {name} ({} bytes), saved to downloads/{name}",
        big.len()
    );
    all_see(&mut [&mut ann, &mut bob], &entry("Ann", &shown));
    for dir in [&ann_dir, &bob_dir] {
        let (stored, bytes) = only_file(&dir.join("downloads"));
        assert_eq!(stored, name);
        assert!(bytes == big, "{stored} differs from the original");
    }
    if Server::external().is_none() {
        assert!(fs::read(server_dir.join("downloads").join(&name)).unwrap() == big);
    }
    ann.type_in("q\n");
    ann.expect(MENU);
    bob.expect_like(&entry("Server", "Ann left the chatroom."));
    bob.type_in("q\n");
    bob.expect(MENU);
}

#[test]
fn filenames_never_escape_the_downloads_folder() {
    let server_dir = TempDir::new("room-escape");
    let server = start(&server_dir);
    let tag = unique("x", "txt");
    let mut peer = RoomPeer::connect(&server);
    peer.join("Escaper");
    let cases = [
        (format!("../../escape-{tag}"), format!("escape-{tag}")),
        (format!("/tmp/abs-{tag}"), format!("abs-{tag}")),
        (format!("..\\..\\win-{tag}"), format!("win-{tag}")),
        (format!("a/\u{1}ctl\u{7f}-{tag}"), format!("ctl-{tag}")),
    ];
    for (sent, stored) in &cases {
        peer.send(&Message::new(Kind::Attachment).file(sent).payload("x"));
        peer.expect(
            &Message::new(Kind::Attachment)
                .user("Escaper")
                .file(stored)
                .at(TIME)
                .payload("x"),
        );
    }
    let mut fallback = Vec::new();
    for sent in ["..", "dir/", ""] {
        peer.send(&Message::new(Kind::Attachment).file(sent).payload("y"));
        let relay = peer.recv();
        assert!(relay.filename.starts_with("attachment"), "{}", show(&relay));
        fallback.push(relay.filename);
    }
    peer.quit("Escaper");
    assert!(!Path::new(&format!("/tmp/abs-{tag}")).exists());
    if Server::external().is_none() {
        assert_eq!(fallback, ["attachment", "attachment-2", "attachment-3"]);
        let mut inside: Vec<String> = fs::read_dir(server_dir.join("downloads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        inside.sort();
        let mut want: Vec<String> = cases.iter().map(|(_, s)| s.clone()).collect();
        want.extend(fallback);
        want.sort();
        assert_eq!(inside, want);
        let outside: Vec<_> = fs::read_dir(&server_dir.path).unwrap().collect();
        assert_eq!(outside.len(), 1, "only the downloads folder: {outside:?}");
    }
}

#[test]
fn the_four_join_rejects_in_table_order() {
    let dir = TempDir::new("room-rejects");
    let server = start(&dir);
    let mut cool = RoomPeer::connect(&server);
    cool.join("Cool");
    cool.send(&Message::new(Kind::JoinRequest).user("Again"));
    cool.expect(&reject(REJECT_JOINED));

    let mut other = RoomPeer::connect(&server);
    for name in ["", "two words", "Server", "tab\there", &"x".repeat(33)] {
        other.send(&Message::new(Kind::JoinRequest).user(name));
        other.expect(&reject(REJECT_INVALID));
    }
    other.send(&Message::new(Kind::JoinRequest).user("Cool"));
    other.expect(&reject(REJECT_TAKEN));
    other.join("Fun");
    cool.expect(&new_user("Fun"));
    let mut fire = RoomPeer::connect(&server);
    fire.join("Fire");
    cool.expect(&new_user("Fire"));
    other.expect(&new_user("Fire"));

    let mut sad = RoomPeer::connect(&server);
    sad.send(&Message::new(Kind::JoinRequest).user("bad name"));
    sad.expect(&reject(REJECT_INVALID));
    for name in ["Sad", "Cool"] {
        sad.send(&Message::new(Kind::JoinRequest).user(name));
        sad.expect(&reject(REJECT_FULL));
    }
    // Still open and served: the report shows the three.
    sad.send(&Message::new(Kind::ReportRequest));
    assert_eq!(sad.recv().number, 3);

    fire.quit("Fire");
    cool.expect(&left("Fire"));
    other.expect(&left("Fire"));
    sad.join("Sad");
    for peer in [&mut cool, &mut other] {
        peer.expect(&new_user("Sad"));
    }
    sad.quit("Sad");
    other.expect(&left("Sad"));
    other.quit("Fun");
    cool.expect(&left("Sad"));
    cool.expect(&left("Fun"));
    cool.quit("Cool");
}

#[test]
fn acting_before_joining_gets_a_server_text() {
    let dir = TempDir::new("room-before");
    let server = start(&dir);
    let mut peer = RoomPeer::connect(&server);
    peer.send(&Message::text("Ghost", "hello"));
    peer.send(&Message::new(Kind::Attachment).file("a.txt").payload("x"));
    peer.send(&Message::new(Kind::QuitRequest));
    for _ in 0..3 {
        peer.expect(&server_text(JOIN_FIRST));
    }
    peer.send(&Message::new(Kind::ReportRequest));
    let report = peer.recv();
    assert_eq!(report.kind, Kind::ReportResponse);
    peer.join("Late");
    peer.quit("Late");
    if Server::external().is_none() {
        assert!(!dir.join("downloads/a.txt").exists());
    }
}

#[test]
fn report_names_each_user_with_the_address_it_joined_from() {
    let dir = TempDir::new("room-report");
    let server = start(&dir);
    let mut cool = RoomPeer::connect(&server);
    cool.join("Cool");
    let mut fun = RoomPeer::connect(&server);
    fun.join("Fun");
    cool.expect(&new_user("Fun"));
    let mut asker = RoomPeer::connect(&server);
    asker.send(&Message::new(Kind::ReportRequest));
    let addr = |p: &RoomPeer| p.peer.stream.local_addr().unwrap();
    let (a, b) = (addr(&cool), addr(&fun));
    let payload = format!(
        "Cool {} {}\nFun {} {}\n",
        a.ip(),
        a.port(),
        b.ip(),
        b.port()
    );
    asker.expect(
        &Message::new(Kind::ReportResponse)
            .number(2)
            .payload(payload),
    );
    fun.quit("Fun");
    cool.expect(&left("Fun"));
    cool.quit("Cool");
}

#[test]
fn departures_without_quit_are_announced_like_a_quit() {
    let dir = TempDir::new("room-vanish");
    let server = start(&dir);
    let mut cool = RoomPeer::connect(&server);
    cool.join("Cool");
    let mut fin = RoomPeer::connect(&server);
    fin.join("Fin");
    cool.expect(&new_user("Fin"));
    let mut rst = RoomPeer::connect(&server);
    rst.join("Rst");
    cool.expect(&new_user("Rst"));
    fin.expect(&new_user("Rst"));
    fin.peer.finish();
    cool.expect(&left("Fin"));
    rst.peer.reset();
    cool.expect(&left("Rst"));
    // An empty text is ignored: the next reply is the report.
    cool.send(&Message::text("Cool", ""));
    cool.send(&Message::new(Kind::ReportRequest));
    assert_eq!(cool.recv().number, 1);
    cool.quit("Cool");
}

#[test]
fn malformed_messages_are_named_and_close_the_connection() {
    let dir = TempDir::new("room-malformed");
    let server = start(&dir);
    let own = Server::external().is_none();
    let mut watcher = RoomPeer::connect(&server);
    watcher.join("Watcher");
    let long = "x".repeat(8192);
    let cases: Vec<(&[u8], &str)> = vec![
        (long.as_bytes(), "header block longer than 8192 bytes"),
        (b"COLOR: red\n\n", "unknown field COLOR"),
        (b"USERNAME: a\nUSERNAME: b\n\n", "repeated field USERNAME"),
        (
            b"QUIT_REQUEST_FLAG: 2\n\n",
            "QUIT_REQUEST_FLAG is not 0 or 1",
        ),
        (b"NUMBER: many\n\n", "NUMBER is not a number"),
        (b"PAYLOAD_LENGTH: -1\n\n", "PAYLOAD_LENGTH is not a number"),
        (
            b"JOIN_REQUEST_FLAG: 1\nREPORT_REQUEST_FLAG: 1\n\n",
            "both JOIN_REQUEST_FLAG and REPORT_REQUEST_FLAG are set",
        ),
        (
            b"ATTACHMENT_FLAG: 1\nPAYLOAD_LENGTH: 16777217\n\n",
            "payload length 16777217 is over the limit of 16777216 bytes",
        ),
    ];
    for (i, (input, reason)) in cases.into_iter().enumerate() {
        let mut bad = RoomPeer::connect(&server);
        // The first one also shows a member is announced as leaving.
        let name = format!("Bad{i}");
        if i == 0 {
            bad.join(&name);
            watcher.expect(&new_user(&name));
        }
        // No closing of our side: the header limit is found without waiting.
        bad.peer.send(input);
        let text = bad.recv();
        let payload = String::from_utf8_lossy(&text.payload).into_owned();
        assert_eq!((text.kind, &*text.username), (Kind::Text, "Server"));
        if own {
            assert_eq!(payload, format!("Malformed message: {reason}"));
        } else {
            assert!(payload.starts_with("Malformed message: "), "{payload:?}");
        }
        bad.expect_closed();
        if i == 0 {
            watcher.expect(&left(&name));
        }
    }
    // Nothing else broke.
    watcher.send(&Message::text("Watcher", "still here"));
    watcher.expect(&Message::text("Watcher", "still here").at(TIME));
    watcher.quit("Watcher");
}

#[test]
fn max_attachment_is_enforced() {
    let dir = TempDir::new("room-max");
    let downloads = dir.arg("downloads");
    let Some(server) = Server::own(&[
        "room",
        "0",
        "--downloads",
        &downloads,
        "--max-attachment",
        "10",
    ]) else {
        return;
    };
    let mut peer = RoomPeer::connect(&server);
    peer.join("Up");
    peer.send(
        &Message::new(Kind::Attachment)
            .file("ten")
            .payload("0123456789"),
    );
    peer.expect(
        &Message::new(Kind::Attachment)
            .user("Up")
            .file("ten")
            .at(TIME)
            .payload("0123456789"),
    );
    peer.peer
        .send(b"ATTACHMENT_FLAG: 1\nFILENAME: eleven\nPAYLOAD_LENGTH: 11\n\n");
    peer.expect(&server_text(
        "Malformed message: payload length 11 is over the limit of 10 bytes",
    ));
    peer.expect_closed();
    assert_eq!(only_file(&dir.join("downloads")).0, "ten");
}

#[test]
fn history_file_survives_a_restart() {
    let dir = TempDir::new("room-history");
    let args = [
        "room",
        "0",
        "--downloads",
        &dir.arg("downloads"),
        "--history",
        &dir.arg("history.txt"),
    ];
    let Some(mut server) = Server::own(&args) else {
        return;
    };
    let mut keeper = RoomPeer::connect(&server);
    assert_eq!(keeper.join("Keeper"), b"");
    keeper.send(&Message::text("Keeper", "remember\nme\n"));
    keeper.expect(&Message::text("Keeper", "remember\nme\n").at(TIME));
    keeper.quit("Keeper");
    // Prove the quit was recorded before the server goes away.
    let mut asker = RoomPeer::connect(&server);
    asker.send(&Message::new(Kind::ReportRequest));
    assert_eq!(asker.recv().number, 0);
    server.signal(15);
    let (status, _) = server.wait();
    assert!(status.success());
    // A crash in the middle of an entry leaves a torn last line.
    let mut torn = fs::read(dir.join("history.txt")).unwrap();
    torn.extend_from_slice(b"[12:00:00] Torn: hal");
    fs::write(dir.join("history.txt"), &torn).unwrap();

    let server = Server::own(&args).expect("own server");
    let mut keeper = RoomPeer::connect(&server);
    let history = keeper.join("Keeper");
    let want = entry("Server", "Keeper joined the chatroom.")
        + &entry("Keeper", "remember\nme")
        + &entry("Server", "Keeper left the chatroom.");
    assert!(
        like(&history, want.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&history)
    );
    keeper.quit("Keeper");
    let mut asker = RoomPeer::connect(&server);
    asker.send(&Message::new(Kind::ReportRequest));
    asker.recv();
    let file = fs::read(dir.join("history.txt")).unwrap();
    let want = want
        + &entry("Server", "Keeper joined the chatroom.")
        + &entry("Server", "Keeper left the chatroom.");
    assert!(
        like(&file, want.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&file)
    );
}

#[test]
fn client_shows_the_menu_without_a_server_and_connects_only_when_needed() {
    let dir = TempDir::new("room-noserver");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let mut quitter = Program::start_in(&["room", "127.0.0.1", &port], Some(&dir.path));
    quitter.expect(MENU);
    quitter.type_in("3\n");
    assert_eq!(quitter.expect_exit(), 0);
    let mut asker = Program::start_in(&["room", "127.0.0.1", &port], Some(&dir.path));
    asker.expect(MENU);
    asker.type_in("1\n");
    asker.expect(&format!("Unable to connect to 127.0.0.1:{port}\n"));
    assert_eq!(asker.expect_exit(), 1);
}
