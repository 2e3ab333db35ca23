//! The server core's rules end to end that only our own server can show
//! (the wire rules themselves are `chat-check` cases, run by
//! `tests/check.rs`): status lines around a half-close and a discarded
//! tail, the server's own machinery (connection slots, signals, limits,
//! traces; status output nobody reads is an abuse scenario for every
//! dialect).
//!
//! Like every end-to-end test, these synchronise on replies; the lobby's
//! 200 ms pause is the one rule a test must wait for, and it waits for the
//! reply (bounded by the peer's read timeout), never a fixed time.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use chat_protocol::room::{Kind, Message as RoomMessage, MessageDecoder};
use chat_protocol::FrameBuffer;

use crate::util::{listening_addr, spawn_under, Peer, Server, TIMEOUT};

const RECORD: usize = 200;

/// `text` padded with spaces to one record, as a course client sends it.
fn rec(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    assert!(out.len() <= RECORD, "{text:?} does not fit in a record");
    out.resize(RECORD, b' ');
    out
}

/// A channels client that has sent its name record.
fn named(server: &Server, name: &str) -> Peer {
    let mut peer = server.connect();
    peer.send(rec(name));
    peer
}

/// A half-close ends a pending line as a pause does: `QUIT` and FIN.
#[test]
fn lobby_a_half_close_ends_a_pending_line() {
    let server = Server::start(&["lobby", "0"]);
    let mut carol = server.connect();
    carol.send("JOIN Carol");
    carol.finish();
    carol.expect("Carol joined!\n");
    carol.expect_closed();
    server.expect_status("JOIN Carol", |l| l.ends_with(": JOIN Carol"));
    server.expect_status("Carol left", |l| l.ends_with(": Carol left"));
}

/// The tail of an over-long line is discarded up to its LF, and a pause
/// in it does not turn the rest into a command.
#[test]
fn lobby_a_pause_does_not_end_a_discarded_tail() {
    let server = Server::start(&["lobby", "0"]);
    let mut dave = server.connect();
    dave.send("x".repeat(5000));
    dave.expect("Message Too Long\n");
    // Still inside the discarded line: a pause does not make it a JOIN.
    // Nothing may come back in well over 200 ms (a bounded wait for the
    // reply that a wrong server would send).
    dave.send("JOIN Dave");
    dave.stream
        .set_read_timeout(Some(Duration::from_millis(600)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    match dave.stream.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a pause ended a discarded tail: {other:?} {:?}", &buf[..8]),
    }
    dave.stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    dave.send("\nJOIN\n");
    dave.expect("Invalid Username\n");
}

/// After QUIT the server logs the departure like any other, and Ctrl-C
/// says how many clients it told.
#[test]
fn lobby_quit_logs_connection_closed_and_shutdown_counts_clients() {
    let mut server = Server::start(&["lobby", "0"]);
    let mut erin = server.connect();
    erin.send("JOIN Erin\n");
    erin.expect("Erin joined!\n");
    let mut frank = server.connect();
    frank.send("QUIT\n");
    frank.expect("Goodbye\n");
    let fd = server
        .expect_status("QUIT", |l| l.ends_with("QUIT (unregistered)"))
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    server.expect_status("connection closed", |l| {
        l == format!("{fd}: connection closed")
    });
    server.signal(2);
    erin.expect("Server Shutting Down\n");
    server.expect_status("shutting down", |l| l == "shutting down, 1 clients told");
    let (status, _) = server.wait();
    assert!(status.success());
}

/// Connection slots: at `--max-connections`, the oldest connection that
/// has not registered and has been open for the slot age makes room for
/// the newcomer; when there is none, the newcomer is accepted and closed.
/// (`--slot-age 0`, a hidden option, stands in for the contract's 10 s.)
#[test]
fn lobby_slots_go_to_newcomers_before_idle_unregistered_connections() {
    let server = Server::start(&["lobby", "0", "--max-connections", "3", "--slot-age", "0"]);
    let mut alice = server.connect();
    alice.send("JOIN Alice\n");
    alice.expect("Alice joined!\n");
    let mut idle = [server.connect(), server.connect()];
    // Both idle connections are in the table once their status lines are.
    for _ in 0..2 {
        server.expect_status("an idle connection", |l| l.contains("connection from"));
    }
    let mut newcomers = Vec::new();
    for (i, name) in ["Bob", "Carol"].into_iter().enumerate() {
        let mut newcomer = server.connect();
        newcomer.send(format!("JOIN {name}\n"));
        newcomer.expect(format!("{name} joined!\n"));
        idle[i].expect_closed();
        server.expect_status("the cut", |l| {
            l.ends_with("every slot taken, cutting the oldest unregistered connection to make room")
        });
        alice.expect(format!("{name} joined!\n"));
        // The newcomer stays: it holds its slot as a registered user.
        newcomers.push(newcomer);
    }
    // Only registered users now: the next newcomer is closed at once.
    let mut late = server.connect();
    late.expect_closed();
    server.expect_status("the refusal", |l| {
        l.ends_with("too many connections (3), closing")
    });
    alice.send("LIST\n");
    alice.expect("Alice\nBob\nCarol\n");
}

/// Starts `chat-server ARGS` through `sh -c` after `prefix` (a `ulimit`),
/// and returns the child, its address and a thread collecting its stderr.
fn start_under(
    prefix: &str,
    args: &[&str],
) -> (
    std::process::Child,
    std::net::SocketAddr,
    std::thread::JoinHandle<String>,
) {
    let mut child = spawn_under(prefix, args);
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let addr = listening_addr(&first);
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    (child, addr, stderr)
}

/// The soft and hard `Max open files` of process `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[3].to_owned(), words[4].to_owned())
}

/// `ulimit -n 1024` (a common default) with `--max-connections 1024`
/// cannot work: the server raises its soft limit to the hard one, and
/// when that is still too low says so at start and serves what it can.
#[test]
fn the_open_file_limit_is_raised_and_a_cap_it_cannot_reach_is_reported() {
    // A low soft limit under a higher hard one: raised, no warning.
    let (mut child, addr, stderr) = start_under("ulimit -Sn 64", &["lobby", "0"]);
    let (soft, hard) = open_file_limits(child.id());
    assert_eq!(soft, hard, "the soft limit was not raised to the hard one");
    let mut peer = Peer::connect(addr);
    peer.send("JOIN Al\n");
    peer.expect("Al joined!\n");
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr.join().expect("stderr");
    assert!(!stderr.contains("cannot be reached"), "{stderr}");

    // A hard limit of 64: at most 32 connections, said at start.
    let (mut child, addr, stderr) =
        start_under("ulimit -n 64", &["lobby", "0", "--max-connections", "1024"]);
    let mut peer = Peer::connect(addr);
    peer.send("JOIN Al\n");
    peer.expect("Al joined!\n");
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr.join().expect("stderr");
    assert!(
        stderr.contains("--max-connections 1024 cannot be reached with 64 file descriptors")
            && stderr.contains("serving at most 32 connections"),
        "{stderr}"
    );
}

/// Status lines show network text terminal-safe: an ESC in a channel
/// name reaches the operator's terminal as `^[`, never as a control
/// sequence (`/create <raw>`).
#[test]
fn status_lines_show_network_text_terminal_safe() {
    let server = Server::start(&["channels", "0"]);
    let mut kay = named(&server, "Kay");
    kay.send(rec("/create \x1b]0;pwned\x07\x1b[2J"));
    kay.send(rec("/join"));
    kay.expect(rec(
        "/join command must be followed by the name of a channel to join.",
    ));
    let line = server.expect_status("/create", |l| l.contains("/create"));
    assert!(
        line.ends_with(": Kay: /create ^[]0;pwned^G^[[2J"),
        "{line:?}"
    );
    assert!(!line.contains('\x1b') && !line.contains('\x07'), "{line:?}");
}

/// Ends `child` with SIGTERM (so that it writes out what it holds) and
/// waits for it, boundedly.
fn terminate(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-15", &pid]).status();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `-v`/`--trace` shows every message on stderr as it is on the wire:
/// direct frames in hex with their meaning, channels records with their
/// padding, lobby lines; each prefixed with the fd and `<` or `>`.
#[test]
fn trace_shows_each_message_as_on_the_wire() {
    let (mut child, addr, stderr) = start_under("true", &["direct", "0", "-v"]);
    let mut peer = Peer::connect(addr);
    peer.send(b"\x01\x00\x00\x00\x06\x05Alice");
    peer.expect(b"\x82\x00\x00\x00\x01\x00");
    terminate(&mut child);
    let stderr = stderr.join().expect("stderr");
    assert!(
        stderr.contains(" < 01 00000006 05416c696365  Login(\"Alice\")"),
        "{stderr}"
    );
    assert!(
        stderr.contains(" > 82 00000001 00  Response(Ok)"),
        "{stderr}"
    );

    let (mut child, addr, stderr) = start_under("true", &["channels", "0", "--trace"]);
    let mut kay = Peer::connect(addr);
    kay.send(rec("Kay"));
    kay.send(rec("Hi!\n"));
    kay.expect(rec(
        "Not currently in any channel. Must join a channel before sending messages.",
    ));
    terminate(&mut child);
    let stderr = stderr.join().expect("stderr");
    assert!(stderr.contains(" < \"Kay\" + 197 spaces"), "{stderr}");
    assert!(
        stderr.contains(" < \"Hi!\" + \"^J\" + 196 spaces"),
        "{stderr}"
    );

    let (mut child, addr, stderr) = start_under("true", &["lobby", "0", "-v"]);
    let mut al = Peer::connect(addr);
    al.send("JOIN \x1bAl\n");
    al.expect("Invalid Username\n");
    terminate(&mut child);
    let stderr = stderr.join().expect("stderr");
    assert!(stderr.contains(" < JOIN ^[Al\n"), "{stderr}");
    assert!(stderr.contains(" > Invalid Username\n"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");

    // room: header lines as on the wire, then one payload line with its
    // byte count, the shape the client's `-v` prints too.
    let (mut child, addr, stderr) = start_under("true", &["room", "0", "-v"]);
    let mut ann = Peer::connect(addr);
    ann.send(RoomMessage::new(Kind::JoinRequest).user("Ann").to_bytes());
    let joined = room_messages(&mut ann, 2);
    assert!(joined.iter().any(|m| m.kind == Kind::NewUser), "{joined:?}");
    terminate(&mut child);
    let stderr = stderr.join().expect("stderr");
    assert!(stderr.contains(" < USERNAME: Ann\n"), "{stderr}");
    assert!(stderr.contains(" < [payload, 0 bytes]\n"), "{stderr}");
    let announced = stderr
        .lines()
        .find(|l| l.contains("Ann joined the chatroom."))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        announced.ends_with(" > [payload, 24 bytes] Ann joined the chatroom."),
        "{stderr}"
    );
}

/// All room messages `peer` is sent until `n` have arrived.
fn room_messages(peer: &mut Peer, n: usize) -> Vec<RoomMessage> {
    let mut frames = FrameBuffer::new(MessageDecoder::new(u64::MAX));
    let mut out = Vec::new();
    loop {
        while let Some(message) = frames.next_item().expect("a room message") {
            out.push(message);
        }
        if out.len() >= n {
            return out;
        }
        let read = peer.stream.read(frames.space());
        match read {
            Ok(k) if k > 0 => frames.filled(k),
            other => panic!("connection ended after {} messages: {other:?}", out.len()),
        }
    }
}

/// The listen backlog is the system's largest (`net.core.somaxconn`), not
/// std's 128: a thousand back-to-back connects no longer lose SYNs. `ss`
/// shows a listening socket's backlog as its Send-Q.
#[test]
fn the_listen_backlog_is_the_systems_largest() {
    let server = Server::start(&["lobby", "0"]);
    let Ok(somaxconn) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else {
        eprintln!("no /proc/sys/net/core/somaxconn: skipped");
        return;
    };
    let filter = format!("sport = :{}", server.addr.port());
    let Ok(out) = Command::new("ss").args(["-ltnH", &filter]).output() else {
        eprintln!("no ss on this machine: skipped");
        return;
    };
    let out = String::from_utf8_lossy(&out.stdout);
    let backlog = out.split_whitespace().nth(2).unwrap_or_default();
    assert_eq!(backlog, somaxconn.trim(), "{out}");
}

/// Room: before joining, at most 64 KiB of payload, exactly. The server
/// answers each JOIN_REQUEST before its reader decodes the next header, so
/// a refused joiner (name taken) keeps the limit even when its text comes
/// in the same write as its JOIN, and an accepted one may send a large
/// attachment at once.
#[test]
fn room_a_refused_joiner_keeps_the_pre_join_limit_and_a_joined_user_does_not() {
    let dir = crate::util::TempDir::new("core-prejoin");
    let downloads = dir.arg("downloads");
    let server = Server::start(&["room", "0", "--downloads", &downloads]);
    let join = |name: &str| RoomMessage::new(Kind::JoinRequest).user(name).to_bytes();
    let mut amy = server.connect();
    amy.send(join("Amy"));
    assert_eq!(room_messages(&mut amy, 2)[1].kind, Kind::NewUser);

    // The name is taken: refused, and the 1 MiB text after it is cut as
    // malformed (before: taken as a long text and dropped, the stream read).
    let mut ben = server.connect();
    let mut burst = join("Amy");
    burst.extend(RoomMessage::text("Amy", vec![b't'; 1 << 20]).to_bytes());
    let _ = ben.stream.write_all(&burst);
    let got = room_messages(&mut ben, 2);
    assert_eq!(got[0].kind, Kind::JoinReject);
    assert_eq!(
        (got[1].kind, String::from_utf8_lossy(&got[1].payload)),
        (
            Kind::Text,
            "Malformed message: payload length 1048576 is over the limit of 65536 bytes".into()
        )
    );
    ben.expect_closed();

    // Joined in the same write as its attachment: the attachment is taken.
    let mut cal = server.connect();
    let file = RoomMessage::new(Kind::Attachment)
        .file("big.bin")
        .payload(vec![0u8; 1 << 20]);
    let mut burst = join("Cal");
    burst.extend(file.to_bytes());
    cal.send(burst);
    let got = room_messages(&mut cal, 3);
    assert_eq!(
        (got[0].kind, got[1].kind, got[2].kind),
        (Kind::JoinAccept, Kind::NewUser, Kind::Attachment)
    );
    assert_eq!(got[2].payload.len(), 1 << 20);
    let got = room_messages(&mut amy, 2);
    assert_eq!(
        (got[0].kind, got[1].payload.len()),
        (Kind::NewUser, 1 << 20)
    );
}

/// Every departure, in every dialect and whoever ends it, is logged alike:
/// `fd N: connection closed` right after the line that says why (issue 16
/// item 7), and before the dialect says who left.
#[test]
fn every_dialect_logs_connection_closed_for_every_departure() {
    /// The server's arguments, the peers that make one of them leave (the
    /// leaver last, the others kept open), and the end of the line that
    /// says why it leaves.
    type Scenario = (Vec<String>, fn(&Server) -> Vec<Peer>, &'static str);
    let room_quit: fn(&Server) -> Vec<Peer> = |server| {
        let mut ann = server.connect();
        ann.send(RoomMessage::new(Kind::JoinRequest).user("Ann").to_bytes());
        room_messages(&mut ann, 2);
        ann.send(RoomMessage::new(Kind::QuitRequest).user("Ann").to_bytes());
        room_messages(&mut ann, 1);
        vec![ann]
    };
    let lobby_full: fn(&Server) -> Vec<Peer> = |server| {
        let mut al = server.connect();
        al.send("JOIN Al\n");
        al.expect("Al joined!\n");
        let mut bo = server.connect();
        bo.send("JOIN Bo\n");
        bo.expect("Too Many Users\n");
        vec![al, bo]
    };
    let channels_taken: fn(&Server) -> Vec<Peer> = |server| {
        let mut kay = server.connect();
        kay.send(rec("Kay"));
        server.expect_status("NAME Kay", |l| l.ends_with(": NAME Kay"));
        let mut again = server.connect();
        again.send(rec("Kay"));
        again.read_exact(RECORD);
        vec![kay, again]
    };
    let direct_too_long: fn(&Server) -> Vec<Peer> = |server| {
        let mut eve = server.connect();
        eve.send(b"\x01\xff\xff\xff\xff");
        eve.read_exact(6);
        vec![eve]
    };
    let bridge_chat: fn(&Server) -> Vec<Peer> = |server| {
        let mut eve = server.connect();
        eve.send("CHAT\r\nclientID: Eve\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n");
        vec![eve]
    };
    let dir = crate::util::TempDir::new("core-departures");
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let scenarios: [Scenario; 5] = [
        (words(&["room", "0"]), room_quit, ": QUIT Ann"),
        (
            words(&["lobby", "0", "--max-users", "1"]),
            lobby_full,
            "refused: Too Many Users, closing",
        ),
        (
            words(&["channels", "0"]),
            channels_taken,
            "refused, closing",
        ),
        (words(&["direct", "0"]), direct_too_long, ", closing"),
        (
            words(&["bridge", "--port=0", "--registry", &dir.arg("registry.txt")]),
            bridge_chat,
            "unexpected CHAT, closing",
        ),
    ];
    for (args, depart, why) in scenarios {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start(&args);
        let mut peers = depart(&server);
        if let Some(leaver) = peers.last_mut() {
            leaver.expect_closed();
        }
        let line = server.expect_status(why, |l| l.ends_with(why));
        let fd = line.split(':').next().unwrap_or_default().to_owned();
        let next = server.expect_status("of the same fd", |l| l.starts_with(&format!("{fd}:")));
        assert_eq!(
            next,
            format!("{fd}: connection closed"),
            "{args:?} after {line:?}"
        );
    }
}
