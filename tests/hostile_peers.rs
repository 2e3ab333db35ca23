//! The room and bridge clients against hostile servers and peers: fake
//! servers written here that trickle, stay silent, flood or announce a
//! gigabyte; peers that chat in every form real course clients use, call
//! uninvited, or hold the port. Each test checks what the user sees
//! (stdout, and stderr where the client explains itself) and that the client
//! stays bounded in memory and time. Loopback only; every wait is bounded,
//! and the waits that must pass a client's own deadline (10 s) are the few
//! tests about that deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::room::{Kind, Message};

use crate::fake::{read_block, read_message, room_frames, serve_each};
use crate::util::{bin, like, Server, TempDir, TIMEOUT};

/// A `chat-client` with stdin, stdout and stderr piped. Its stdout is read
/// into a channel of one chunk, so a test that stops asking for output
/// stops the reading soon after: the pipe fills and the client's writes
/// block, as on a paused terminal.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    seen: Vec<u8>,
    err: Receiver<Vec<u8>>,
    err_seen: Vec<u8>,
}

impl Client {
    fn start(args: &[&str], dir: Option<&Path>) -> Client {
        let mut command = Command::new(bin("chat-client"));
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().expect("start chat-client");
        let stdin = child.stdin.take();
        let (tx, out) = sync_channel(1);
        let mut stdout = child.stdout.take().expect("stdout");
        thread::spawn(move || pump(&mut stdout, |chunk| tx.send(chunk).is_ok()));
        let (tx, err) = channel();
        let mut stderr = child.stderr.take().expect("stderr");
        thread::spawn(move || pump(&mut stderr, |chunk| tx.send(chunk).is_ok()));
        Client {
            child,
            stdin,
            out,
            seen: Vec::new(),
            err,
            err_seen: Vec::new(),
        }
    }

    fn type_in(&mut self, text: impl AsRef<[u8]>) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_ref()).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits (bounded by `within`) until stdout holds `marker`; returns all
    /// up to and including it.
    fn out_until_within(&mut self, marker: &str, within: Duration) -> String {
        let found = until(&self.out, &mut self.seen, marker, within);
        found.unwrap_or_else(|| {
            panic!(
                "stdout {:?} does not hold {marker:?}; stderr {:?}",
                String::from_utf8_lossy(&self.seen),
                String::from_utf8_lossy(&self.err_seen)
            )
        })
    }

    fn out_until(&mut self, marker: &str) -> String {
        self.out_until_within(marker, TIMEOUT)
    }

    /// Checks the next stdout bytes are `want` ([`like`]: `HH:MM:SS` is any
    /// time).
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while self.seen.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(_) => break,
            }
        }
        let n = want.len().min(self.seen.len());
        let got: Vec<u8> = self.seen.drain(..n).collect();
        assert!(
            like(&got, want.as_bytes()),
            "stdout:\n got {:?}\nwant {want:?}\nstderr {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&self.err_seen)
        );
    }

    /// Waits until stderr holds `marker`.
    fn err_until(&mut self, marker: &str) -> String {
        until(&self.err, &mut self.err_seen, marker, TIMEOUT).unwrap_or_else(|| {
            panic!(
                "stderr {:?} does not hold {marker:?}",
                String::from_utf8_lossy(&self.err_seen)
            )
        })
    }

    /// Waits up to `within` for the client to exit; its code, with what it
    /// printed on stdout meanwhile (not yet consumed).
    fn exit_within(&mut self, within: Duration) -> (i32, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "client still running after {within:?}; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&self.seen),
                String::from_utf8_lossy(&self.err_seen)
            );
            thread::sleep(Duration::from_millis(10));
        };
        while let Ok(chunk) = self.out.recv_timeout(TIMEOUT) {
            self.seen.extend(chunk);
        }
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.seen)).into_owned();
        (status.code().unwrap_or(-1), rest)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGINT (Ctrl-C) to `client`.
fn interrupt(client: &Client) {
    let status = Command::new("kill")
        .args(["-INT", &client.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Reads `from` in chunks, handing each to `each` until it says stop.
fn pump(from: &mut impl Read, mut each: impl FnMut(Vec<u8>) -> bool) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || !each(buf[..n].to_vec()) {
            break;
        }
    }
}

/// Collects chunks into `seen` until it holds `marker`, for at most
/// `within`; drains and returns what led up to it.
fn until(
    chunks: &Receiver<Vec<u8>>,
    seen: &mut Vec<u8>,
    marker: &str,
    within: Duration,
) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(at) = seen
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())
        {
            let got: Vec<u8> = seen.drain(..at + marker.len()).collect();
            return Some(String::from_utf8_lossy(&got).into_owned());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => return None,
        }
    }
}

// ---------------------------------------------------------------- bridge

const EMPTY_BRIDGEACK: &str = "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n";

/// A rendezvous server that registers everyone and answers every BRIDGE
/// with `bridgeack`; every request it reads goes to `log`, one per
/// connection (an empty one for a connection that carried nothing).
fn rendezvous(bridgeack: &'static str, log: Sender<Vec<u8>>) -> SocketAddr {
    let log = std::sync::Mutex::new(log);
    serve_each(move |mut stream| {
        let request = read_block(&mut stream);
        let _ = log.lock().map(|log| log.send(request.clone()));
        let text = String::from_utf8_lossy(&request).into_owned();
        let mut lines = text.split_terminator("\r\n");
        let answer = match lines.next() {
            Some("REGISTER") => {
                let mut answer = String::from("REGACK\r\n");
                for header in lines.take_while(|l| !l.is_empty()) {
                    answer.push_str(header);
                    answer.push_str("\r\n");
                }
                answer + "Status: registered\r\n\r\n"
            }
            Some("BRIDGE") => bridgeack.to_owned(),
            _ => return,
        };
        let _ = stream.write_all(answer.as_bytes());
    })
}

/// Starts the bridge client for `id` against `server`, returns it and the
/// port it printed in `<id> running on 127.0.0.1:<port>`.
fn bridge_client(id: &str, server: SocketAddr, verbose: bool) -> (Client, u16) {
    let id_arg = format!("--id={id}");
    let server_arg = format!("--server={server}");
    let mut args = vec!["bridge", &id_arg, "--port=0", &server_arg];
    if verbose {
        args.push("-v");
    }
    let mut client = Client::start(&args, None);
    let line = client.out_until("\n");
    let prefix = format!("{id} running on 127.0.0.1:");
    let port = line
        .trim_end()
        .strip_prefix(&prefix)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    (client, port)
}

/// A client that has registered and bridged and is waiting for a call.
fn waiting_client(id: &str) -> (Client, u16) {
    let (log, _) = channel();
    let server = rendezvous(EMPTY_BRIDGEACK, log);
    let (mut client, port) = bridge_client(id, server, false);
    client.type_in("/register\n/bridge\n/id\n");
    client.expect(&format!("{id}\n"));
    (client, port)
}

fn call(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("call the client");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Whether the client closes `stream` (EOF or reset) within `within`,
/// having sent nothing.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

const BOB_CHAT: &str = "CHAT\r\nclientID: Bob\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n";

#[test]
fn bridge_opens_no_connection_that_carries_no_request() {
    let (log, requests) = channel();
    let server = rendezvous(EMPTY_BRIDGEACK, log);
    let (mut client, _) = bridge_client("Alice", server, false);
    client.type_in("/register\n/id\n");
    client.expect("Alice\n");
    let seen: Vec<String> = requests
        .try_iter()
        .map(|r| String::from_utf8_lossy(&r).into_owned())
        .collect();
    assert_eq!(seen.len(), 1, "connections to the server: {seen:?}");
    assert!(
        seen[0].starts_with("REGISTER\r\nclientID: Alice\r\nIP: 127.0.0.1\r\n"),
        "{seen:?}"
    );
}

#[test]
fn bridge_takes_every_chat_form_real_clients_send() {
    for quit in ["QUIT\n", "QUIT\r\n\r\n", "CHAT\r\nType: quit\r\n\r\n"] {
        let (mut alice, port) = waiting_client("Alice");
        let mut bob = call(port);
        bob.write_all(BOB_CHAT.as_bytes()).unwrap();
        bob.write_all(b"Hello Alice\r\n").unwrap();
        bob.write_all(b"bare LF\n").unwrap();
        bob.write_all(b"CHAT\r\nType: message\r\nclientID: Bob\r\nMessage: a block\r\n\r\n")
            .unwrap();
        bob.write_all(b"\xff\xfe not utf-8\r\n").unwrap();
        bob.write_all(b"\x1b]0;pwned\x07\x1b[2J\n").unwrap();
        bob.write_all(quit.as_bytes()).unwrap();
        alice.expect(
            "Incoming chat request from Bob 127.0.0.1:7000\n\
             Hello Alice\nbare LF\na block\n^[]0;pwned^G^[[2J\n",
        );
        alice.err_until("skipped a line that is not utf-8");
        alice.err_until("Bob ended the chat (QUIT).\n");
        let (code, rest) = alice.exit_within(TIMEOUT);
        assert_eq!((code, rest.as_str()), (0, ""), "after {quit:?}");
    }
}

/// `-v` is on stderr, as every trace is, so stdout stays what the
/// contract says (the checks of stdout below are exact).
#[test]
fn bridge_verbose_shows_the_wire_not_a_reencoding_on_stderr() {
    let (log, _) = channel();
    let server = rendezvous(EMPTY_BRIDGEACK, log);
    let (mut carol, port) = bridge_client("Carol", server, true);
    carol.type_in("/bridge\n/id\n");
    carol.expect("Carol\n");
    // Each line without its CR LF, as in the server's trace; the closing
    // empty line a bare mark.
    carol.err_until("> BRIDGE\n> clientID: Carol\n> \n");
    carol.err_until("< BRIDGEACK\n< clientID: \n< IP: \n< Port: \n< \n");
    let mut dan = call(port);
    dan.write_all(b"CHAT\r\nclientID: Dan\r\nIP: 127.0.0.1\r\nPort: 7000\r\n\r\n")
        .unwrap();
    carol.expect("Incoming chat request from Dan 127.0.0.1:7000\n");
    carol.err_until("< CHAT\n< clientID: Dan\n< IP: 127.0.0.1\n< Port: 7000\n< \n");
    dan.write_all(b"hi \x1b[2J\r\n").unwrap();
    carol.expect("hi ^[[2J\n");
    carol.err_until("< hi ^[[2J\n");
    carol.type_in("yo\n");
    carol.err_until("> CHAT\n> clientID: Carol\n> Message: yo\n> \n");
    dan.write_all(b"CHAT\r\nType: quit\r\n\r\n").unwrap();
    carol.err_until("< CHAT\n< Type: quit\n< \n");
    assert_eq!(carol.exit_within(TIMEOUT), (0, String::new()));
}

#[test]
fn bridge_a_trickling_caller_neither_holds_the_port_nor_stays() {
    let (mut alice, port) = waiting_client("Alice");
    let mut eve = call(port);
    let called = Instant::now();
    let mut trickle = eve.try_clone().unwrap();
    thread::spawn(move || {
        for byte in b"CHAT\r\nclientID: Eve\r\nIP: 127.0.0.1\r\nPort: 1\r\n"
            .iter()
            .take(30)
        {
            if trickle.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    let mut bob = call(port);
    bob.write_all(BOB_CHAT.as_bytes()).unwrap();
    bob.write_all(b"Hello Alice\n").unwrap();
    alice.expect("Incoming chat request from Bob 127.0.0.1:7000\nHello Alice\n");
    // Eve never completed her CHAT: she is cut at 10 s, chat or no chat.
    assert!(
        closed_within(&mut eve, Duration::from_secs(20)),
        "Eve was not closed"
    );
    let after = called.elapsed();
    assert!(
        after >= Duration::from_secs(9) && after < Duration::from_secs(20),
        "{after:?}"
    );
    bob.write_all(b"QUIT\n").unwrap();
    assert_eq!(alice.exit_within(TIMEOUT).0, 0);
}

#[test]
fn bridge_ctrl_c_ends_a_chat_while_stdout_is_not_read() {
    let (mut alice, port) = waiting_client("Alice");
    let mut bob = call(port);
    bob.write_all(BOB_CHAT.as_bytes()).unwrap();
    alice.expect("Incoming chat request from Bob 127.0.0.1:7000\n");
    // Bob floods; from here on nobody reads Alice's stdout.
    let mut flood = bob.try_clone().unwrap();
    flood
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (tx, flooded) = channel();
    thread::spawn(move || {
        let line = [b"spam ".repeat(200), b"\n".to_vec()].concat();
        while flood.write_all(&line).is_ok() {}
        let _ = tx.send(());
    });
    flooded
        .recv_timeout(Duration::from_secs(30))
        .expect("Alice stopped reading");
    interrupt(&alice);
    assert_eq!(alice.exit_within(Duration::from_secs(2)).0, 0);
    let mut quit = [0u8; 8];
    bob.read_exact(&mut quit).unwrap();
    assert_eq!(&quit, b"QUIT\r\n\r\n");
}

#[test]
fn bridge_a_call_during_a_chat_is_closed_at_once() {
    let (mut alice, port) = waiting_client("Alice");
    let mut bob = call(port);
    bob.write_all(BOB_CHAT.as_bytes()).unwrap();
    alice.expect("Incoming chat request from Bob 127.0.0.1:7000\n");
    let mut eve = call(port);
    assert!(
        closed_within(&mut eve, TIMEOUT),
        "Eve's call was not closed"
    );
    // Even with a whole CHAT ready to go.
    let mut mallory = call(port);
    let _ = mallory.write_all(b"CHAT\r\nclientID: Mallory\r\nIP: 127.0.0.1\r\nPort: 9\r\n\r\n");
    assert!(closed_within(&mut mallory, TIMEOUT));
    bob.write_all(b"still here\n").unwrap();
    alice.expect("still here\n");
    alice.type_in("/quit\n");
    let mut quit = [0u8; 8];
    bob.read_exact(&mut quit).unwrap();
    assert_eq!(&quit, b"QUIT\r\n\r\n");
    assert_eq!(alice.exit_within(TIMEOUT), (0, String::new()));
}

#[test]
fn bridge_an_uninvited_chat_before_a_bridge_is_refused() {
    let (log, _) = channel();
    let server = rendezvous(EMPTY_BRIDGEACK, log);
    let (mut alice, port) = bridge_client("Alice", server, false);
    alice.type_in("/register\n/id\n");
    alice.expect("Alice\n");
    let mut eve = call(port);
    eve.write_all(b"CHAT\r\nclientID: \x1b[31mEve\r\nIP: 127.0.0.1\r\nPort: 99999\r\n\r\n")
        .unwrap();
    assert!(
        closed_within(&mut eve, TIMEOUT),
        "Eve's call was not closed"
    );
    alice.err_until("Refused a chat request from ^[[31mEve 127.0.0.1:99999: /bridge first");
    alice.type_in("/id\n");
    alice.expect("Alice\n");
    alice.type_in("/quit\n");
    assert_eq!(alice.exit_within(TIMEOUT), (0, String::new()));
}

/// A rendezvous server that answers REGISTER one byte a second, telling
/// `got` when the request is in.
fn trickling_server(got: Sender<()>) -> SocketAddr {
    let got = std::sync::Mutex::new(got);
    serve_each(move |mut stream| {
        read_block(&mut stream);
        let _ = got.lock().map(|got| got.send(()));
        let answer =
            b"REGACK\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 1\r\nStatus: registered\r\n\r\n";
        for byte in answer {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_secs(1));
        }
    })
}

#[test]
fn bridge_a_trickling_server_does_not_hold_up_quit() {
    let (tx, got) = channel();
    let server = trickling_server(tx);
    let (mut alice, _) = bridge_client("Alice", server, false);
    alice.type_in("/register\n");
    got.recv_timeout(TIMEOUT).expect("the REGISTER arrived");
    alice.type_in("/quit\n");
    assert_eq!(
        alice.exit_within(Duration::from_secs(3)),
        (0, String::new())
    );
}

#[test]
fn bridge_a_trickling_server_is_given_up_on_after_10_seconds() {
    let (tx, got) = channel();
    let server = trickling_server(tx);
    let (mut alice, _) = bridge_client("Alice", server, false);
    let asked = Instant::now();
    alice.type_in("/register\n/id\n");
    got.recv_timeout(TIMEOUT).expect("the REGISTER arrived");
    alice.out_until_within("Alice\n", Duration::from_secs(20));
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    alice.err_until("within 10s; gave up");
}

#[test]
fn bridge_explains_on_stderr_why_nothing_happened() {
    let (log, _) = channel();
    let server = rendezvous(EMPTY_BRIDGEACK, log);
    let (mut alice, _) = bridge_client("Alice", server, false);
    alice.type_in("/chat\n");
    alice.err_until("/chat: no peer yet: /register, then /bridge");
    alice.type_in("/bridge\n");
    alice.err_until("/bridge before /register");
    alice.type_in("/register\n/bridge\n/chat\n");
    alice.err_until("you are waiting for a peer to call you");
    alice.type_in("hello?\n");
    alice.err_until("Not in a chat, so this line was not sent");
    alice.type_in("/id\n");
    alice.expect("Alice\n");
}

#[test]
fn bridge_an_unreachable_server_shows_at_the_first_request() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let (mut max, _) = bridge_client("Max", addr, false);
    max.type_in("/id\n/register\n");
    max.expect("Max\n");
    let (code, rest) = max.exit_within(TIMEOUT);
    assert_eq!(
        (code, rest),
        (
            1,
            format!("Unable to connect to {}:{}\n", addr.ip(), addr.port())
        )
    );
}

// ------------------------------------------------------------------ room

/// A process's resident memory, from /proc.
fn rss_kib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const MENU: &str = "Please select one of the following options:\n\
    1. Get a report of the chatroom from the server.\n\
    2. Request to join the chatroom.\n\
    3. Quit the program.\n\
    Your choice: ";
const HISTORY: &str = "Here is a history of the chatroom.\n";

/// A room server that accepts a JOIN with an empty history and then runs
/// `then` on the connection.
fn fake_room(then: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    serve_each(move |mut stream| {
        let Some(join) = read_message(&mut stream, &mut room_frames()) else {
            return;
        };
        let accept = Message::new(Kind::JoinAccept).user(&join.username);
        let _ = stream.write_all(&accept.to_bytes());
        then(stream);
    })
}

fn room_client(server: SocketAddr, dir: Option<&Path>) -> Client {
    let port = server.port().to_string();
    let mut client = Client::start(&["room", "127.0.0.1", &port], dir);
    client.expect(MENU);
    client
}

#[test]
fn room_stops_reading_a_flood_its_user_does_not_read() {
    let (tx, result) = channel();
    let tx = std::sync::Mutex::new(tx);
    let server = fake_room(move |mut stream| {
        stream
            .set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let text = Message::text("Flood", vec![b'x'; 64 * 1024])
            .at("12:00:00")
            .to_bytes();
        let limit = 64usize << 20;
        let mut sent = 0;
        while sent < limit {
            if stream.write_all(&text).is_err() {
                break;
            }
            sent += text.len();
        }
        let _ = tx.lock().map(|tx| tx.send(sent));
    });
    let mut client = room_client(server, None);
    client.type_in("2\nAnn\n");
    client.out_until(HISTORY);
    // From here on nobody reads the client's stdout.
    let sent = result
        .recv_timeout(Duration::from_secs(60))
        .expect("the flood ended");
    let rss = rss_kib(client.child.id());
    eprintln!(
        "room flood: {sent} bytes went in before the client stopped reading; VmRSS {rss} KiB"
    );
    assert!(rss < 64 * 1024, "client VmRSS {rss} KiB");
    // Ctrl-C still ends it at once, its stdout still blocked.
    interrupt(&client);
    assert_eq!(client.exit_within(Duration::from_secs(2)).0, 0);
    assert!(
        sent < 32 << 20,
        "the client took {sent} bytes without showing them"
    );
}

#[test]
fn room_a_silent_server_never_hangs_the_menu() {
    let server = serve_each(|mut stream| {
        // Read all, answer nothing, keep the connection open.
        let mut buf = [0u8; 1024];
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut client = room_client(server, None);
    client.type_in("1\n3\n");
    client.out_until_within(MENU, Duration::from_secs(15));
    client.err_until("No answer from the server");
    assert_eq!(client.exit_within(TIMEOUT), (0, String::new()));
}

#[test]
fn room_a_gigabyte_report_is_refused_not_read() {
    let (tx, result) = channel();
    let tx = std::sync::Mutex::new(tx);
    let server = serve_each(move |mut stream| {
        if read_message(&mut stream, &mut room_frames()).is_none() {
            return;
        }
        let mut header = Message::new(Kind::ReportResponse).number(1).to_bytes();
        // PAYLOAD_LENGTH: 0 → 1 GiB, the rest of the block as it is.
        let at = header
            .windows(17)
            .position(|w| w == b"PAYLOAD_LENGTH: 0")
            .unwrap();
        header.splice(at..at + 17, b"PAYLOAD_LENGTH: 1073741824".iter().copied());
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut sent = 0usize;
        let zeros = vec![0u8; 1 << 20];
        let mut ok = stream.write_all(&header).is_ok();
        while ok && sent < 64 << 20 {
            ok = stream.write_all(&zeros).is_ok();
            sent += zeros.len();
        }
        let _ = tx.lock().map(|tx| tx.send((ok, sent)));
    });
    let mut client = room_client(server, None);
    client.type_in("1\n");
    let (still_open, sent) = result
        .recv_timeout(Duration::from_secs(30))
        .expect("report sent");
    assert!(!still_open, "the client read {sent} bytes of the report");
    client.err_until("cannot take");
    client.out_until("Disconnected from server\n");
    assert_eq!(client.exit_within(TIMEOUT).0, 0);
}

#[test]
fn room_uploads_are_checked_before_they_are_sent() {
    let dir = TempDir::new("hostile-room-upload");
    let server = Server::start(&["room", "0", "--downloads", &dir.arg("server")]);
    let big = dir.join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(16 * 1024 * 1024 + 1)
        .unwrap();
    let mut ann = room_client(server.addr, Some(&dir.path));
    ann.type_in("2\nAnn\n");
    ann.out_until("Ann joined the chatroom.\n");
    ann.type_in(format!("a\n{}\n", big.display()));
    ann.out_until(&format!(
        "Cannot read {}: 16777217 bytes is over the limit of 16777216 bytes for an attachment\n",
        big.display()
    ));
    ann.type_in("a\n/dev/zero\n");
    ann.out_until("Cannot read /dev/zero: not a regular file\n");
    ann.type_in("a\n\n");
    ann.err_until("No file path given");
    ann.type_in("still here\n");
    ann.expect("Please enter the file path and name: [HH:MM:SS] Ann: still here\n");
}

#[test]
fn room_explains_bad_choices_and_where_files_went() {
    let dir = TempDir::new("hostile-room-explain");
    let server = Server::start(&["room", "0", "--downloads", &dir.arg("server")]);
    std::fs::write(dir.join("coolfile1.txt"), "cool\n").unwrap();
    let mut cool = room_client(server.addr, Some(&dir.path));
    cool.type_in("5\n");
    cool.expect(MENU);
    cool.err_until("\"5\" is not one of the options: type 1, 2 or 3");
    cool.type_in("abc\n");
    cool.expect(MENU);
    cool.err_until("\"abc\" is not one of the options");
    cool.type_in("2\nCool\n");
    cool.out_until("Cool joined the chatroom.\n");
    cool.type_in("a\ncoolfile1.txt\n");
    cool.expect("Please enter the file path and name: [HH:MM:SS] Cool: cool\n");
    cool.err_until("saved to downloads/coolfile1.txt\n");
    cool.type_in("a\ncoolfile1.txt\n");
    cool.expect("Please enter the file path and name: [HH:MM:SS] Cool: cool\n");
    cool.err_until("saved to downloads/coolfile1-2.txt\n");
}

#[test]
fn room_prints_network_text_terminal_safe() {
    let server = fake_room(|mut stream| {
        let evil = Message::text("\x1b[31mEve", "\x1b]0;pwned\x07\x1b[2J\u{202e}").at("12:00:00");
        let file = Message::new(Kind::Attachment)
            .user("Eve")
            .file("\x1b[2Jx.bin")
            .payload(vec![0xff, 0x1b])
            .at("12:00:01");
        let _ = stream.write_all(&evil.to_bytes());
        let _ = stream.write_all(&file.to_bytes());
        let mut buf = [0u8; 1024];
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.read(&mut buf);
    });
    let dir = TempDir::new("hostile-room-safe");
    let mut client = room_client(server, Some(&dir.path));
    client.type_in("2\nAnn\n");
    client.out_until(HISTORY);
    client.expect("[12:00:00] ^[[31mEve: ^[]0;pwned^G^[[2J<U+202E>\n");
    client.expect("[12:00:01] Eve: Eve sent ^[[2Jx.bin (2 bytes), saved to downloads/[2Jx.bin\n");
}

#[test]
fn room_verbose_shows_header_lines_and_a_payload_summary_on_stderr() {
    let server = fake_room(|mut stream| {
        let text = Message::text("Bob", "line one\nline two \x1b[2J").at("12:00:00");
        let _ = stream.write_all(&text.to_bytes());
        let mut buf = [0u8; 1024];
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.read(&mut buf);
    });
    let port = server.port().to_string();
    let mut client = Client::start(&["room", "127.0.0.1", &port, "-v"], None);
    client.expect(MENU);
    client.type_in("2\nAnn\n");
    client.out_until("[12:00:00] Bob: line one\nline two ^[[2J\n");
    client.err_until("> JOIN_REQUEST_FLAG: 1\n");
    client.err_until("> USERNAME: Ann\n> FILENAME:\n> PAYLOAD_LENGTH: 0\n> TIMESTAMP:\n> \n");
    client.err_until("< JOIN_ACCEPT_FLAG: 1\n");
    client.err_until("< PAYLOAD_LENGTH: 22\n< TIMESTAMP: 12:00:00\n< \n< [payload, 22 bytes] line one^Jline two ^[[2J\n");
}
