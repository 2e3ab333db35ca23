//! room: every row of the contract's table (report, the four join rejects
//! in order, texts, attachments, quit, acting before joining), the history
//! and its `--join-history` bound, the limits (64 KiB texts, the pre-join
//! payload limit, `--max-attachment`, malformed headers), file names that
//! try to leave the downloads folder, the history file across a restart;
//! and the client's menu session word for word, with the checker playing
//! the server.
//!
//! Messages are written and read by hand here. Every message the server
//! sends is checked twice: it must be the strict encoding (all fourteen
//! fields, in order) and equal the expected one, `HH:MM:SS` by shape.

use std::path::Path;

use crate::conn::{like, Conn, TIME};
use crate::target::free_port;
use crate::{ensure, Case, Check, Client, Ctx, Dialect, Failure, Need, Source};

use Source::{Contract, Handout};

const D: Dialect = Dialect::Room;

const FLAGS: [&str; 9] = [
    "REPORT_REQUEST_FLAG",
    "REPORT_RESPONSE_FLAG",
    "JOIN_REQUEST_FLAG",
    "JOIN_REJECT_FLAG",
    "JOIN_ACCEPT_FLAG",
    "NEW_USER_FLAG",
    "QUIT_REQUEST_FLAG",
    "QUIT_ACCEPT_FLAG",
    "ATTACHMENT_FLAG",
];

const REJECT_JOINED: &str = "The server rejects the join request. You have already joined.";
const REJECT_INVALID: &str = "The server rejects the join request. The username is not valid.";
const REJECT_FULL: &str =
    "The server rejects the join request. The chatroom has reached its maximum capacity.";
const REJECT_TAKEN: &str =
    "The server rejects the join request. Another user is using this username.";
const JOIN_FIRST: &str = "You must join the chatroom first.";
const TOO_LONG: &str = "Text too long (at most 65536 bytes).";

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
const COOLFILE: &str = "I am on a light diet: I eat in daylight, I eat in moonlight, \
    and sometimes, I eat in refrigerator light!";

const OWN: &[Need] = &[Need::OwnServer];

pub const CASES: &[Case] = &[
    // ---- REPORT ----
    D.server("room/report/empty", "REPORT", "a report of an empty room is REPORT_RESPONSE with NUMBER 0 and an empty payload",
        Handout("If there is no active user, the `PAYLOAD` is empty."), report_empty)
        .needs(OWN),
    D.server("room/report/users", "REPORT", "REPORT_RESPONSE has NUMBER = active users and names each user with its IP address and port",
        Handout("Its `PAYLOAD` is a list of active users’ usernames, IP addresses, and port numbers at the time they joined the chatroom."), report_users_named)
        .needs(OWN),
    D.server("room/report/users-format", "REPORT", "the report's payload is one line `<username> <ip> <port>` per user, in join order, with the address it joined from",
        Contract, report_users)
        .needs(OWN),
    D.server("room/report/lenient-reader", "REPORT", "`REPORT_REQUEST_FLAG: 1` alone (fields in any order, missing ones 0 or empty, CRLF or `NAME: ` accepted) is a report request",
        Contract, report_lenient),
    // ---- JOIN ----
    D.server("room/join/accept", "JOIN", "JOIN_REQUEST gets JOIN_ACCEPT (USERNAME, PAYLOAD = history), then NEW_USER `<name> joined the chatroom.` to every active user including the new one",
        Handout("In this message NEW_USER_FLAG=1, USERNAME= XYZ, the username of the user who just joined, and PAYLOAD= \"XYZ joined the chatroom.\""), join_accept),
    D.server("room/join/name-in-use", "JOIN", "a name in use gets JOIN_REJECT `The server rejects the join request. Another user is using this username.`; the connection stays",
        Handout("Its `PAYLOAD` is “The server rejects the join request. Another user is using this username.”"), join_taken),
    D.server("room/join/full", "JOIN", "with 3 users in the room JOIN_REQUEST gets JOIN_REJECT `... The chatroom has reached its maximum capacity.`, before the name is looked at",
        Handout("Its `PAYLOAD` is “The server rejects the join request. The chatroom has reached its maximum capacity.”"), join_full)
        .needs(OWN),
    D.server("room/join/already-joined", "JOIN", "a JOIN_REQUEST on a connection that has joined gets JOIN_REJECT `... You have already joined.`",
        Contract, join_already),
    D.server("room/join/invalid-name", "JOIN", "an empty name, one with whitespace or control characters, over 32 bytes, or `Server`, gets JOIN_REJECT `... The username is not valid.` (before `full`)",
        Contract, join_invalid)
        .needs(OWN),
    D.server("room/join/again-after-quit", "JOIN", "a name that quit is free again",
        Handout("the server will accept it because \"Fire\" has already quitted the chatroom"), join_again_after_quit),
    D.server("room/join/max-users-option", "JOIN", "`--max-users 1` lets one user in and refuses the second as full",
        Contract, join_max_users)
        .needs(&[Need::Options(&["--max-users", "1"])]),
    D.server("room/join/history", "JOIN", "JOIN_ACCEPT's payload holds the texts and the join and leave announcements so far, in order",
        Handout("It also includes the server's announcements that a user has joined or left the chatroom."), join_history_holds)
        .needs(OWN),
    D.server("room/join/history-format", "JOIN", "the history is every text and announcement as `[HH:MM:SS] <user>: <text>` LF-ended, `Server` for announcements",
        Contract, join_history)
        .needs(OWN),
    D.server("room/join/history-bound", "JOIN", "with `--join-history BYTES`, a longer history is sent as `[HH:MM:SS] Server: <N> earlier messages are not shown.` and the newest whole entries that fit",
        Contract, join_history_bound)
        .needs(&[Need::Options(&["--join-history", "200"])]),
    // ---- CHAT ----
    D.server("room/chat/relayed", "CHAT", "a text is relayed to every active user, sender included",
        Handout("the server will store the message in the history of the chatroom, and forwards it to all active users"), chat_relayed_to_all),
    D.server("room/chat/relay-fields", "CHAT", "a relayed text carries USERNAME = sender and TIMESTAMP",
        Contract, chat_relayed),
    D.server("room/chat/own-name", "CHAT", "a relay names the connection's own user, whatever USERNAME the text carried",
        Contract, chat_own_name),
    D.server("room/chat/empty-ignored", "CHAT", "a text with an empty payload is ignored",
        Contract, chat_empty_ignored),
    D.server("room/chat/64-kib", "LIMITS", "a text of 65,536 bytes is relayed; one of 65,537 gets `Text too long (at most 65536 bytes).` from Server, is dropped, and the connection stays",
        Contract, chat_64k),
    D.server("room/chat/history-lines", "CHAT", "line breaks inside a text are kept in the history, one trailing LF dropped",
        Contract, chat_history_lines)
        .needs(OWN),
    // ---- ATTACHMENT ----
    D.server("room/attachment/relayed", "ATTACHMENT", "an attachment is stored in the server's downloads folder and relayed to every active user",
        Handout("the server will receive it and stores it in the server's \"downloads\" folder. Then, the server forwards the file to all clients"), attachment_relayed_to_all)
        .needs(OWN),
    D.server("room/attachment/relay-fields", "ATTACHMENT", "a relayed attachment carries USERNAME = sender, FILENAME = the stored name and TIMESTAMP",
        Contract, attachment_relayed)
        .needs(OWN),
    D.server("room/attachment/no-overwrite", "ATTACHMENT", "a name that exists is stored as `name-2.ext`, `name-3.ext` (stem and extension as Rust's Path splits them)",
        Contract, attachment_no_overwrite)
        .needs(OWN),
    D.server("room/attachment/escape", "ATTACHMENT", "FILENAME is reduced to its base name without control characters; paths never leave the downloads folder; an empty or dots-only name becomes `attachment`",
        Contract, attachment_escape)
        .needs(OWN),
    D.server("room/attachment/history-entry", "ATTACHMENT", "an attachment's history entry is its text when UTF-8, else `<user> sent <file> (<N> bytes)`",
        Contract, attachment_history)
        .needs(OWN),
    D.server("room/attachment/downloads-option", "ATTACHMENT", "`--downloads DIR` stores attachments in DIR, created if missing",
        Contract, attachment_downloads_option)
        .needs(&[Need::Options(&["--downloads", "inbox"])]),
    D.server("room/limit/header-8192", "LIMITS", "a header block of 8192 bytes (its empty line included) is read; one of 8193 is malformed",
        Contract, header_8192),
    D.server("room/attachment/5-mib-binary", "ATTACHMENT", "a 5 MiB binary attachment is stored and relayed byte for byte to every active user",
        Contract, attachment_big)
        .needs(OWN),
    D.server("room/server/handout-test-plan", "JOIN", "the handout's eight-step test plan plays out message by message as the contract pins each one, the last history holding every message",
        Contract, handout_plan)
        .needs(OWN),
    D.server("room/attachment/max-attachment", "LIMITS", "with `--max-attachment 10` an attachment of 10 bytes is taken and one of 11 is malformed (Server text, then close)",
        Contract, attachment_max)
        .needs(&[Need::Options(&["--max-attachment", "10"])]),
    // ---- QUIT ----
    D.server("room/quit/accept", "QUIT", "QUIT_REQUEST gets QUIT_ACCEPT `<name> left the chatroom.` to every active user including the quitter, then the server closes the quitter's connection",
        Handout("sends a quit accept message to all clients where QUIT_ACCEPT_FLAG=1, USERNAME=XYZ, the user who just quitted, and PAYLOAD=\"XYZ left the chatroom.\""), quit_accept),
    D.server("room/quit/server-closes", "QUIT", "after QUIT_ACCEPT the server closes the quitter's connection itself",
        Contract, quit_server_closes),
    D.server("room/quit/departure", "QUIT", "a user whose connection ends without QUIT_REQUEST (FIN or RST) is announced with QUIT_ACCEPT all the same",
        Contract, quit_departure),
    // ---- before joining, malformed ----
    D.server("room/before-join/refused", "CHAT", "a text, ATTACHMENT or QUIT_REQUEST before joining gets a text from `Server`: `You must join the chatroom first.`; nothing is stored",
        Contract, before_join)
        .needs(OWN),
    D.server("room/limit/pre-join-payload", "LIMITS", "before joining, a message with more than 64 KiB of payload is malformed (Server text, then close)",
        Contract, pre_join_payload),
    D.server("room/malformed/named", "LIMITS", "a header block over 8192 bytes, an unknown or repeated field, a bad flag or number, two flags, or a PAYLOAD_LENGTH over the limit gets `Malformed message: <reason>` from Server and the connection is closed",
        Contract, malformed),
    D.server("room/framing/strict-encoding", "FRAMING", "every message the server sends has all fourteen fields in order, TIMESTAMP `HH:MM:SS` on texts, attachments, NEW_USER and QUIT_ACCEPT and empty on all others",
        Contract, strict_encoding)
        .needs(OWN),
    D.server("room/framing/byte-at-a-time", "FRAMING", "messages sent one byte per write are read as if sent whole",
        Contract, byte_at_a_time),
    D.server("room/history/file", "JOIN", "with `--history FILE` the history survives a restart, a torn last line dropped",
        Contract, history_file)
        .needs(&[Need::OwnServer, Need::Signal, Need::Options(&["--history", "history.txt"])]),
    D.server("room/limit/slow-reader-cut-off", "LIMITS", "a user who does not read is disconnected past --sendq (with the status line), announced as leaving; the others carry on",
        Contract, slow_reader)
        .needs(&[Need::Stdout, Need::Options(&["--sendq", "100000"])]),
    D.server("room/limit/history-and-sendq", "LIMITS", "a JOIN_ACCEPT whose history is larger than --sendq is sent whole, with the NEW_USER after it",
        Contract, history_and_sendq)
        .needs(&[Need::OwnServer, Need::Options(&["--sendq", "4096"])]),
    D.server("room/limit/login-timeout", "LIMITS", "with --login-timeout 1 a connection that has not joined is closed; a joined one stays",
        Contract, login_timeout)
        .needs(&[Need::Options(&["--login-timeout", "1"])]),
    D.server("room/limit/no-login-timeout-by-default", "LIMITS", "by default a connection that has not joined is never cut: after a pause it still joins",
        Contract, no_login_timeout)
        .needs(&[Need::OwnServer]),
    D.server("room/server/status-lines", "SERVER", "the server prints a status line per request naming the connection by its fd (`fd 7: JOIN Alice`)",
        Contract, status_lines)
        .needs(&[Need::Stdout]),
    D.server("room/server/port-in-use", "SERVER", "a port that cannot be bound prints `error: cannot listen on ADDR:PORT: <reason>` on stderr and exits 1",
        Contract, super::port_in_use)
        .needs(&[Need::OwnServer]),
    D.server("room/server/shutdown", "SERVER", "SIGTERM closes every connection and the server exits 0 within 2 s; nobody is told the others left",
        Contract, shutdown)
        .needs(&[Need::Signal]),
    D.server("room/server/shutdown-sigint", "SERVER", "SIGINT closes every connection and the server exits 0 within 2 s",
        Contract, shutdown_sigint)
        .needs(&[Need::Signal]),
    // ---- the client ----
    D.client("room/client/strict-encoding", "CLIENT", "every message the client sends has all fourteen fields in order",
        Contract, client_strict_encoding),
    D.client("room/client/menu", "CLIENT", "the client prints the handout's menu at start, before it connects",
        Handout("1. Get a report of the chatroom from the server."), client_menu),
    D.client("room/client/report", "REPORT", "option 1 sends REPORT_REQUEST and prints `There are N active users in the chatroom.` and `K. <name> at IP: <ip> and port: <port>.`, then the menu",
        Handout("1. Cool at IP: 192.168.1.5 and port: 3546543."), client_report),
    D.client("room/client/join-reject", "JOIN", "option 2 asks `Please enter a username: `, sends JOIN_REQUEST; a reject prints its payload and the menu",
        Handout("Then the client prints this message and the menu on the screen."), client_join_reject),
    D.client("room/client/join-accept", "JOIN", "an accept prints the welcome, the two lines about 'q' and 'a', `Here is a history of the chatroom.` and the history",
        Handout("Then, the client welcomes the new user and prints the history of messages on the screen."), client_join_accept),
    D.client("room/client/announcements", "JOIN", "NEW_USER and QUIT_ACCEPT of others print `[HH:MM:SS] Server: <payload>`",
        Handout("All clients will display this message in their chatrooms."), client_announcements),
    D.client("room/client/text", "CHAT", "in the chatroom a typed line is sent as a text (an empty one is not); received texts print `[HH:MM:SS] <user>: <text>` (a trailing LF makes no blank line)",
        Handout("this user can see those messages on its screen in this format \"[timestamp] username: text message\""), client_text),
    D.client("room/client/upload", "ATTACHMENT", "`a` asks `Please enter the file path and name: ` and sends the file as an ATTACHMENT",
        Handout("Then the client prints \"Please enter the file path and name:\" Then the user enters that."), client_upload),
    D.client("room/client/upload-missing", "ATTACHMENT", "a file that cannot be read prints `Cannot read <path>: <reason>`, sends nothing and stays in the chatroom",
        Contract, client_upload_missing),
    D.client("room/client/download", "ATTACHMENT", "a received attachment is saved in the client's downloads folder and its text printed like a chat text",
        Handout("the clients will store the file in their \"downloads\" folder. Then, the clients print the content of the file on the screen as well."), client_download),
    D.client("room/client/download-binary", "ATTACHMENT", "a binary attachment prints `<user> sent <file> (<N> bytes), saved to <path>`, never overwriting a file",
        Contract, client_download_binary),
    D.client("room/client/quit", "QUIT", "`q` sends QUIT_REQUEST; the client prints the menu, not its own QUIT_ACCEPT, and reconnects when the menu next needs the server",
        Handout("Then, the quitted client closes its connection with the server and prints the menu on its screen."), client_quit),
    D.client("room/client/option-3", "QUIT", "option 3 exits 0",
        Handout("The user selects option 3 and the program exits."), client_option_3),
    D.client("room/client/end-of-input", "QUIT", "at end of stdin in the chatroom the client sends QUIT_REQUEST and exits 0",
        Contract, client_end_of_input),
    D.client("room/client/ctrl-c", "QUIT", "Ctrl-C in the chatroom ends the client with exit 0",
        Contract, client_ctrl_c),
    D.client("room/client/terminal-safe", "CHAT", "control characters in received text print in caret notation",
        Contract, client_terminal_safe),
    D.client("room/client/unable-to-connect", "CLIENT", "a client that cannot reach its server prints `Unable to connect to <host>:<port>` and exits 1",
        Contract, client_unable),
    D.server("room/server/help-version", "SERVER", "`--help` and `--version` print to stdout and exit 0",
        Contract, super::help_and_version)
        .needs(&[Need::OwnServer]),
    D.server("room/server/option-out-of-range", "SERVER", "a numeric option out of range (--login-timeout, --sendq, --max-connections) is a usage error: exit 2",
        Contract, super::option_out_of_range)
        .needs(&[Need::OwnServer]),
];

// ---- messages, by hand ----

/// One room message: at most one flag, and the other five fields.
#[derive(Clone, Default, Debug, PartialEq)]
struct Msg {
    flag: Option<&'static str>,
    number: u64,
    username: String,
    filename: String,
    timestamp: String,
    payload: Vec<u8>,
}

fn msg(flag: &'static str) -> Msg {
    Msg {
        flag: Some(flag),
        ..Msg::default()
    }
}

fn text(from: &str, payload: impl AsRef<[u8]>) -> Msg {
    Msg {
        username: from.into(),
        payload: payload.as_ref().to_vec(),
        ..Msg::default()
    }
}

impl Msg {
    fn user(mut self, name: &str) -> Msg {
        self.username = name.into();
        self
    }
    fn file(mut self, name: &str) -> Msg {
        self.filename = name.into();
        self
    }
    fn at(mut self) -> Msg {
        self.timestamp = TIME.into();
        self
    }
    fn number(mut self, n: u64) -> Msg {
        self.number = n;
        self
    }
    fn payload(mut self, p: impl AsRef<[u8]>) -> Msg {
        self.payload = p.as_ref().to_vec();
        self
    }

    /// The strict encoding: all fourteen fields, in order.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for f in FLAGS {
            let v = u8::from(self.flag == Some(f));
            out += &format!("{f}: {v}\n");
        }
        let field = |name: &str, v: &str| {
            if v.is_empty() {
                format!("{name}:\n")
            } else {
                format!("{name}: {v}\n")
            }
        };
        out += &format!("NUMBER: {}\n", self.number);
        out += &field("USERNAME", &self.username);
        out += &field("FILENAME", &self.filename);
        out += &format!("PAYLOAD_LENGTH: {}\n", self.payload.len());
        out += &field("TIMESTAMP", &self.timestamp);
        out += "\n";
        let mut bytes = out.into_bytes();
        bytes.extend(&self.payload);
        bytes
    }

    fn show(&self) -> String {
        format!(
            "{} number={} user={:?} file={:?} time={:?} payload({} bytes)={:?}",
            self.flag.unwrap_or("text"),
            self.number,
            self.username,
            self.filename,
            self.timestamp,
            self.payload.len(),
            String::from_utf8_lossy(&self.payload[..self.payload.len().min(300)])
        ) + if self.payload.len() > 300 { "…" } else { "" }
    }
}

fn new_user(name: &str) -> Msg {
    msg("NEW_USER_FLAG")
        .user(name)
        .at()
        .payload(format!("{name} joined the chatroom."))
}

fn left(name: &str) -> Msg {
    msg("QUIT_ACCEPT_FLAG")
        .user(name)
        .at()
        .payload(format!("{name} left the chatroom."))
}

fn reject(reason: &str) -> Msg {
    msg("JOIN_REJECT_FLAG").payload(reason)
}

fn server_text(t: &str) -> Msg {
    text("Server", t)
}

/// A history entry as the server stamps it.
fn entry(user: &str, t: &str) -> String {
    format!("[{TIME}] {user}: {t}\n")
}

/// Parses a header block (without its closing empty line) leniently.
fn parse_header(block: &str) -> Result<Msg, String> {
    let mut m = Msg::default();
    for line in block.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (name, value) = line
            .split_once(':')
            .ok_or(format!("no colon in {line:?}"))?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "NUMBER" => m.number = value.parse().map_err(|_| format!("NUMBER {value:?}"))?,
            "USERNAME" => m.username = value.into(),
            "FILENAME" => m.filename = value.into(),
            "TIMESTAMP" => m.timestamp = value.into(),
            "PAYLOAD_LENGTH" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| format!("PAYLOAD_LENGTH {value:?}"))?;
                m.payload = vec![0; n];
            }
            f => {
                let flag = FLAGS
                    .iter()
                    .find(|x| **x == f)
                    .ok_or(format!("field {f:?}"))?;
                if value == "1" {
                    m.flag = Some(flag);
                } else if value != "0" {
                    return Err(format!("{f} is {value:?}"));
                }
            }
        }
    }
    Ok(m)
}

/// Reads the next whole message from `conn`; `strict` requires the strict
/// encoding (a server's messages), else any order the contract accepts.
fn recv(conn: &mut Conn, strict: bool) -> Result<Msg, Failure> {
    let mut head = Vec::new();
    while !(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n")) {
        if head.len() > 8192 {
            return Err(Failure::new(
                "a header block of at most 8192 bytes",
                "",
                head,
            ));
        }
        head.extend(conn.read_exact(1)?);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut m = parse_header(text.trim_end())
        .map_err(|why| Failure::new(format!("a header block that parses ({why})"), "", &head))?;
    let n = m.payload.len();
    m.payload = conn.read_exact(n)?;
    if strict {
        let strict_bytes = m.to_bytes();
        if strict_bytes[..strict_bytes.len() - n] != head[..] {
            return Err(Failure::new(
                "the strict encoding: all fourteen fields, in order",
                &strict_bytes[..strict_bytes.len() - n],
                head,
            ));
        }
    }
    Ok(m)
}

/// Expects `want` next (its `HH:MM:SS` parts by shape), read as a
/// receiver reads it: fields in any order, missing ones 0 or empty, and a
/// TIMESTAMP the case expects may be empty (the handout has no such field).
/// The strict encoding and TIMESTAMP are `room/framing/strict-encoding`'s.
fn expect(conn: &mut Conn, want: &Msg) -> Check {
    let got = recv(conn, false)?;
    let time_ok = got.timestamp.is_empty() && want.timestamp == TIME
        || like(got.timestamp.as_bytes(), want.timestamp.as_bytes())
        || want.timestamp.is_empty();
    compare(conn, want, &got, time_ok)
}

/// Expects `want` next, strictly encoded (all fourteen fields, in order)
/// and with exactly the TIMESTAMP expected (`HH:MM:SS` by shape, or empty).
fn expect_strict(conn: &mut Conn, want: &Msg) -> Check {
    let got = recv(conn, true)?;
    let time_ok = like(got.timestamp.as_bytes(), want.timestamp.as_bytes());
    compare(conn, want, &got, time_ok)
}

fn compare(conn: &Conn, want: &Msg, got: &Msg, time_ok: bool) -> Check {
    let ok = got.flag == want.flag
        && got.number == want.number
        && got.username == want.username
        && got.filename == want.filename
        && time_ok
        && like(&got.payload, &want.payload);
    ensure(
        ok,
        format!("{}: the next message", conn.label()),
        &want.show(),
        &got.show(),
    )
}

fn send(conn: &mut Conn, m: &Msg) -> Check {
    conn.send(m.to_bytes())
}

/// Joins as `name` on a new connection; returns it and the history.
fn joined(ctx: &mut Ctx, name: &str) -> Result<(Conn, Vec<u8>), Failure> {
    let mut conn = ctx.connect(name)?;
    let history = join(&mut conn, name)?;
    Ok((conn, history))
}

fn join(conn: &mut Conn, name: &str) -> Result<Vec<u8>, Failure> {
    send(conn, &msg("JOIN_REQUEST_FLAG").user(name))?;
    let accept = recv(conn, false)?;
    ensure(
        accept.flag == Some("JOIN_ACCEPT_FLAG") && accept.username == name,
        "the answer to JOIN_REQUEST",
        &format!("JOIN_ACCEPT_FLAG user={name:?}"),
        &accept.show(),
    )?;
    expect(conn, &new_user(name))?;
    Ok(accept.payload)
}

/// Quits as `name`: QUIT_ACCEPT, then the connection ends. The handout
/// has the client close it, the contract the server
/// (`room/quit/server-closes`): closing our half first lets either pass.
fn quit(conn: &mut Conn, name: &str) -> Check {
    send(conn, &msg("QUIT_REQUEST_FLAG"))?;
    expect(conn, &left(name))?;
    conn.finish();
    conn.expect_closed()
}

/// Ends a case's connection without checking anything: QUIT_REQUEST (so
/// that a shared running server frees the name), then close. Only the QUIT
/// cases check what QUIT gets. On a shared server the drop waits (bounded)
/// for the server to close (`Conn::depart_fully`), so that the next case
/// does not see this one's departure.
fn bye(conn: &mut Conn) -> Check {
    let _ = send(conn, &msg("QUIT_REQUEST_FLAG"));
    conn.finish();
    Ok(())
}

/// Leaves as `name` however the server answers QUIT, and waits (bounded)
/// for the server to close: the name and the place are then free.
fn leave_now(conn: &mut Conn) -> Check {
    send(conn, &msg("QUIT_REQUEST_FLAG"))?;
    conn.finish();
    conn.read_to_close(1 << 20)?;
    Ok(())
}

fn report(conn: &mut Conn) -> Result<Msg, Failure> {
    send(conn, &msg("REPORT_REQUEST_FLAG"))?;
    let got = recv(conn, false)?;
    ensure(
        got.flag == Some("REPORT_RESPONSE_FLAG"),
        "the answer to REPORT_REQUEST",
        "REPORT_RESPONSE_FLAG",
        &got.show(),
    )?;
    Ok(got)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Reads a file that a program stores (under a temporary name, renamed
/// when complete), waiting for it to appear: the relay of an attachment may
/// come before its file is in place. Bounded by the timeout.
fn read_file(ctx: &Ctx, path: &Path) -> Result<Vec<u8>, Failure> {
    let deadline = std::time::Instant::now() + ctx.timeout;
    loop {
        match std::fs::read(path) {
            Ok(bytes) => return Ok(bytes),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(Failure::note(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
            // A file appearing has no event to wait on; poll it, bounded.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// The names in `dir` once they are `want` (sorted), or what they are at
/// the timeout.
fn files_become(ctx: &Ctx, dir: &Path, want: &[String]) -> Vec<String> {
    let deadline = std::time::Instant::now() + ctx.timeout;
    loop {
        let names = files_in(dir);
        if names == want || std::time::Instant::now() >= deadline {
            return names;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

// ---- server cases ----

fn report_empty(ctx: &mut Ctx) -> Check {
    let mut conn = ctx.connect("asker")?;
    send(&mut conn, &msg("REPORT_REQUEST_FLAG"))?;
    expect(&mut conn, &msg("REPORT_RESPONSE_FLAG"))
}

fn report_users_named(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let (fun, _) = joined(ctx, "Fun")?;
    expect(&mut cool, &new_user("Fun"))?;
    let (Some(a), Some(b)) = (cool.local_addr(), fun.local_addr()) else {
        return Err(Failure::note("no local address"));
    };
    let mut asker = ctx.connect("asker")?;
    let got = report(&mut asker)?;
    let payload = String::from_utf8_lossy(&got.payload).into_owned();
    let named = |name: &str, addr: std::net::SocketAddr| {
        payload.contains(name)
            && payload.contains(&addr.ip().to_string())
            && payload.contains(&addr.port().to_string())
    };
    ensure(
        got.number == 2 && named("Cool", a) && named("Fun", b),
        "the report of Cool and Fun",
        &format!("NUMBER 2, a payload naming Cool ({a}) and Fun ({b})"),
        &got.show(),
    )
}

fn report_users(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let (fun, _) = joined(ctx, "Fun")?;
    expect(&mut cool, &new_user("Fun"))?;
    let (a, b) = (cool.local_addr(), fun.local_addr());
    let (Some(a), Some(b)) = (a, b) else {
        return Err(Failure::note("no local address"));
    };
    let mut asker = ctx.connect("asker")?;
    send(&mut asker, &msg("REPORT_REQUEST_FLAG"))?;
    let payload = format!(
        "Cool {} {}\nFun {} {}\n",
        a.ip(),
        a.port(),
        b.ip(),
        b.port()
    );
    expect(
        &mut asker,
        &msg("REPORT_RESPONSE_FLAG").number(2).payload(payload),
    )
}

fn report_lenient(ctx: &mut Ctx) -> Check {
    for request in [
        &b"REPORT_REQUEST_FLAG: 1\n\n"[..],
        b"REPORT_REQUEST_FLAG: 1\r\n\r\n",
        b"USERNAME: \nNUMBER: 0\nREPORT_REQUEST_FLAG: 1\nFILENAME:\n\n",
    ] {
        let mut conn = ctx.connect("nc")?;
        conn.send(request)?;
        report(&mut conn)?;
    }
    Ok(())
}

fn join_accept(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "JaCool")?;
    let (mut b, _) = joined(ctx, "JaFun")?;
    expect(&mut a, &new_user("JaFun"))?;
    bye(&mut b)?;
    bye(&mut a)
}

fn join_taken(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "JtCool")?;
    let mut other = ctx.connect("other")?;
    send(&mut other, &msg("JOIN_REQUEST_FLAG").user("JtCool"))?;
    expect(&mut other, &reject(REJECT_TAKEN))?;
    join(&mut other, "JtFun")?;
    expect(&mut a, &new_user("JtFun"))?;
    bye(&mut other)?;
    bye(&mut a)
}

fn join_full(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let (mut fun, _) = joined(ctx, "Fun")?;
    expect(&mut cool, &new_user("Fun"))?;
    let (mut fire, _) = joined(ctx, "Fire")?;
    let mut sad = ctx.connect("sad")?;
    // Full comes before taken.
    for name in ["Sad", "Cool"] {
        send(&mut sad, &msg("JOIN_REQUEST_FLAG").user(name))?;
        expect(&mut sad, &reject(REJECT_FULL))?;
    }
    // Still open and served.
    ensure(
        report(&mut sad)?.number == 3,
        "report of a full room",
        "NUMBER 3",
        "another number",
    )?;
    expect(&mut cool, &new_user("Fire"))?;
    expect(&mut fun, &new_user("Fire"))?;
    // A place comes free when one leaves, however QUIT is answered.
    leave_now(&mut fire)?;
    join(&mut sad, "Sad").map(drop)
}

fn join_already(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "JjCool")?;
    for name in ["JjAgain", "JjCool"] {
        send(&mut a, &msg("JOIN_REQUEST_FLAG").user(name))?;
        expect(&mut a, &reject(REJECT_JOINED))?;
    }
    bye(&mut a)
}

fn join_invalid(ctx: &mut Ctx) -> Check {
    let (_a, _) = joined(ctx, "Cool")?;
    let (_b, _) = joined(ctx, "Fun")?;
    let (_c, _) = joined(ctx, "Fire")?;
    // Invalid comes before full.
    let mut other = ctx.connect("other")?;
    let long = "x".repeat(33);
    for name in ["", "two words", "Server", "tab\there", "bell\u{7}", &long] {
        send(&mut other, &msg("JOIN_REQUEST_FLAG").user(name))?;
        expect(&mut other, &reject(REJECT_INVALID))?;
    }
    Ok(())
}

fn join_again_after_quit(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "JqFire")?;
    leave_now(&mut a)?;
    let (mut b, _) = joined(ctx, "JqFire")?;
    bye(&mut b)
}

fn join_max_users(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "One")?;
    let mut b = ctx.connect("two")?;
    send(&mut b, &msg("JOIN_REQUEST_FLAG").user("Two"))?;
    expect(&mut b, &reject(REJECT_FULL))?;
    leave_now(&mut a)?;
    join(&mut b, "Two").map(drop)
}

fn join_history_holds(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    send(&mut cool, &text("Cool", "Hi"))?;
    expect(&mut cool, &text("Cool", "Hi").at())?;
    let (mut fun, _) = joined(ctx, "Fun")?;
    leave_now(&mut fun)?;
    let (_fire, history) = joined(ctx, "Fire")?;
    let got = String::from_utf8_lossy(&history).into_owned();
    let parts = [
        "Cool joined the chatroom.",
        "Hi",
        "Fun joined the chatroom.",
        "Fun left the chatroom.",
    ];
    let mut at = 0;
    let in_order = parts.iter().all(|p| match got[at..].find(p) {
        Some(i) => {
            at += i + p.len();
            true
        }
        None => false,
    });
    ensure(in_order, "Fire's history", &parts.join(" ... "), &got)
}

fn join_history(ctx: &mut Ctx) -> Check {
    let (mut cool, history) = joined(ctx, "Cool")?;
    ensure(
        history.is_empty(),
        "the first joiner's history",
        "",
        &String::from_utf8_lossy(&history),
    )?;
    send(&mut cool, &text("Cool", "Hi"))?;
    expect(&mut cool, &text("Cool", "Hi").at())?;
    let (mut fun, history) = joined(ctx, "Fun")?;
    let want = entry("Server", "Cool joined the chatroom.") + &entry("Cool", "Hi");
    ensure(
        like(&history, want.as_bytes()),
        "Fun's history",
        &want,
        &String::from_utf8_lossy(&history),
    )?;
    leave_now(&mut fun)?;
    let (_fire, history) = joined(ctx, "Fire")?;
    let want = want
        + &entry("Server", "Fun joined the chatroom.")
        + &entry("Server", "Fun left the chatroom.");
    ensure(
        like(&history, want.as_bytes()),
        "Fire's history",
        &want,
        &String::from_utf8_lossy(&history),
    )
}

fn join_history_bound(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    // Each text entry is `[HH:MM:SS] Cool: message N\n`: 28 bytes.
    let mut all = vec![entry("Server", "Cool joined the chatroom.")];
    for n in 10..30 {
        let t = format!("message {n}");
        send(&mut cool, &text("Cool", &t))?;
        expect(&mut cool, &text("Cool", &t).at())?;
        all.push(entry("Cool", &t));
    }
    let (_fun, history) = joined(ctx, "Fun")?;
    let got = String::from_utf8_lossy(&history).into_owned();
    // The first line: `[HH:MM:SS] Server: <N> earlier messages are not shown.`
    let (first, rest) = got.split_once('\n').unwrap_or((&got, ""));
    let n: Option<usize> = first
        .get(19..)
        .and_then(|s| s.strip_suffix(" earlier messages are not shown."))
        .and_then(|s| s.parse().ok());
    let shape = like(
        first.get(..19).unwrap_or("").as_bytes(),
        b"[HH:MM:SS] Server: ",
    );
    let Some(n) = n.filter(|_| shape) else {
        return Err(Failure::new(
            "the first entry of a bounded history",
            format!("[{TIME}] Server: <N> earlier messages are not shown.\n"),
            &got,
        ));
    };
    let shown: String = all[n.min(all.len())..].concat();
    ensure(
        n > 0 && n < all.len() && like(rest.as_bytes(), shown.as_bytes()) && rest.len() <= 200,
        "the newest whole entries after the note, at most --join-history bytes",
        &format!("{first}\n{shown}"),
        &got,
    )
}

fn chat_relayed_to_all(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "CaCool")?;
    let (mut b, _) = joined(ctx, "CaFun")?;
    expect(&mut a, &new_user("CaFun"))?;
    send(&mut b, &text("CaFun", "Hi Cool, are you there?"))?;
    for c in [&mut a, &mut b] {
        let got = recv(c, false)?;
        ensure(
            got.flag.is_none() && got.payload == b"Hi Cool, are you there?",
            format!("{}: the relay", c.label()),
            "a text `Hi Cool, are you there?`",
            &got.show(),
        )?;
    }
    bye(&mut b)?;
    bye(&mut a)
}

fn chat_relayed(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "CrCool")?;
    let (mut b, _) = joined(ctx, "CrFun")?;
    expect(&mut a, &new_user("CrFun"))?;
    send(&mut b, &text("CrFun", "Hi Cool, are you there?"))?;
    for c in [&mut a, &mut b] {
        expect(c, &text("CrFun", "Hi Cool, are you there?").at())?;
    }
    bye(&mut b)?;
    bye(&mut a)
}

fn chat_own_name(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "CoCool")?;
    let mut m = text("Mallory", "who am I?");
    m.timestamp = "00:00:00".into();
    send(&mut a, &m)?;
    expect(&mut a, &text("CoCool", "who am I?").at())?;
    bye(&mut a)
}

fn chat_empty_ignored(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "CeCool")?;
    send(&mut a, &text("CeCool", ""))?;
    send(&mut a, &text("CeCool", "after"))?;
    expect(&mut a, &text("CeCool", "after").at())?;
    bye(&mut a)
}

fn chat_64k(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "CkCool")?;
    let (mut b, _) = joined(ctx, "CkFun")?;
    expect(&mut a, &new_user("CkFun"))?;
    let max: String = "0123456789abcdef".chars().cycle().take(65_536).collect();
    send(&mut a, &text("CkCool", &max))?;
    expect(&mut a, &text("CkCool", &max).at())?;
    expect(&mut b, &text("CkCool", &max).at())?;
    send(&mut a, &text("CkCool", format!("{max}!")))?;
    expect(&mut a, &server_text(TOO_LONG))?;
    // Nothing was relayed, and the connection goes on.
    send(&mut a, &text("CkCool", "after"))?;
    expect(&mut a, &text("CkCool", "after").at())?;
    expect(&mut b, &text("CkCool", "after").at())?;
    bye(&mut b)?;
    bye(&mut a)
}

fn chat_history_lines(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Keeper")?;
    send(&mut a, &text("Keeper", "remember\nme\n"))?;
    expect(&mut a, &text("Keeper", "remember\nme\n").at())?;
    let (_b, history) = joined(ctx, "Fun")?;
    let want = entry("Server", "Keeper joined the chatroom.") + &entry("Keeper", "remember\nme");
    ensure(
        like(&history, want.as_bytes()),
        "the history",
        &want,
        &String::from_utf8_lossy(&history),
    )
}

fn attachment_relayed_to_all(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let (mut fire, _) = joined(ctx, "Fire")?;
    expect(&mut cool, &new_user("Fire"))?;
    let body = format!("{COOLFILE}\n");
    send(
        &mut fire,
        &msg("ATTACHMENT_FLAG")
            .user("Fire")
            .file("attachments/coolfile1.txt")
            .payload(&body),
    )?;
    for c in [&mut cool, &mut fire] {
        let got = recv(c, false)?;
        ensure(
            got.flag == Some("ATTACHMENT_FLAG")
                && got.payload == body.as_bytes()
                && got.filename.ends_with("coolfile1.txt"),
            format!("{}: the relay", c.label()),
            "ATTACHMENT_FLAG, coolfile1.txt and its contents",
            &got.show(),
        )?;
    }
    let stored = read_file(ctx, &ctx.dir().join("downloads/coolfile1.txt"))?;
    ensure(
        stored == body.as_bytes(),
        "downloads/coolfile1.txt",
        &body,
        &String::from_utf8_lossy(&stored),
    )
}

fn attachment_relayed(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let (mut fire, _) = joined(ctx, "Fire")?;
    expect(&mut cool, &new_user("Fire"))?;
    let body = format!("{COOLFILE}\n");
    ensure(
        !ctx.dir().join("downloads/coolfile1.txt").exists(),
        "downloads/coolfile1.txt before the upload",
        "absent",
        "present",
    )?;
    send(
        &mut fire,
        &msg("ATTACHMENT_FLAG")
            .user("Fire")
            .file("attachments/coolfile1.txt")
            .payload(&body),
    )?;
    let want = msg("ATTACHMENT_FLAG")
        .user("Fire")
        .file("coolfile1.txt")
        .at()
        .payload(&body);
    expect(&mut cool, &want)?;
    expect(&mut fire, &want)?;
    let stored = read_file(ctx, &ctx.dir().join("downloads/coolfile1.txt"))?;
    ensure(
        stored == body.as_bytes(),
        "downloads/coolfile1.txt",
        &body,
        &String::from_utf8_lossy(&stored),
    )
}

fn attachment_no_overwrite(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Up")?;
    for (sent, stored) in [
        ("pic.png", "pic.png"),
        ("pic.png", "pic-2.png"),
        ("dir/pic.png", "pic-3.png"),
        ("name", "name"),
        ("name", "name-2"),
        (".bashrc", ".bashrc"),
        (".bashrc", ".bashrc-2"),
        ("a.tar.gz", "a.tar.gz"),
        ("a.tar.gz", "a.tar-2.gz"),
    ] {
        send(&mut a, &msg("ATTACHMENT_FLAG").file(sent).payload(stored))?;
        expect(
            &mut a,
            &msg("ATTACHMENT_FLAG")
                .user("Up")
                .file(stored)
                .at()
                .payload(stored),
        )?;
    }
    for stored in ["pic-2.png", "a.tar-2.gz", ".bashrc-2"] {
        let got = read_file(ctx, &ctx.dir().join("downloads").join(stored))?;
        ensure(
            got == stored.as_bytes(),
            format!("downloads/{stored}"),
            stored,
            &String::from_utf8_lossy(&got),
        )?;
    }
    Ok(())
}

fn attachment_escape(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Escaper")?;
    let tag = format!("{}-{}", std::process::id(), free_port()?);
    let cases = [
        (format!("../../escape-{tag}"), format!("escape-{tag}")),
        (format!("/tmp/abs-{tag}"), format!("abs-{tag}")),
        (format!("..\\..\\win-{tag}"), format!("win-{tag}")),
        (format!("a/\u{1}ctl\u{7f}-{tag}"), format!("ctl-{tag}")),
        ("..".to_string(), "attachment".to_string()),
        ("dir/".to_string(), "attachment-2".to_string()),
        (String::new(), "attachment-3".to_string()),
    ];
    for (sent, stored) in &cases {
        send(&mut a, &msg("ATTACHMENT_FLAG").file(sent).payload("x"))?;
        expect(
            &mut a,
            &msg("ATTACHMENT_FLAG")
                .user("Escaper")
                .file(stored)
                .at()
                .payload("x"),
        )?;
    }
    ensure(
        !Path::new(&format!("/tmp/abs-{tag}")).exists(),
        "nothing written outside",
        "no /tmp file",
        "a /tmp file",
    )?;
    let mut want: Vec<String> = cases.iter().map(|(_, s)| s.clone()).collect();
    want.sort();
    let inside = files_become(ctx, &ctx.dir().join("downloads"), &want);
    ensure(
        inside == want,
        "the downloads folder",
        &want.join(" "),
        &inside.join(" "),
    )?;
    let outside = files_in(ctx.dir());
    ensure(
        outside
            .iter()
            .all(|n| n == "downloads" || !n.contains(&tag)),
        "the server's folder",
        "downloads only",
        &outside.join(" "),
    )
}

fn attachment_history(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Cool")?;
    let big = binary(5120);
    send(
        &mut a,
        &msg("ATTACHMENT_FLAG")
            .file("notes.txt")
            .payload("line one\nline two\n"),
    )?;
    recv(&mut a, false)?;
    send(
        &mut a,
        &msg("ATTACHMENT_FLAG").file("pic.png").payload(&big),
    )?;
    recv(&mut a, false)?;
    // UTF-8, but over 64 KiB.
    let long = "y".repeat(70_000);
    send(
        &mut a,
        &msg("ATTACHMENT_FLAG").file("long.txt").payload(&long),
    )?;
    recv(&mut a, false)?;
    let (_b, history) = joined(ctx, "Fun")?;
    let want = entry("Server", "Cool joined the chatroom.")
        + &entry("Cool", "line one\nline two")
        + &entry("Cool", "Cool sent pic.png (5120 bytes)")
        + &entry("Cool", "Cool sent long.txt (70000 bytes)");
    ensure(
        like(&history, want.as_bytes()),
        "the history",
        &want,
        &String::from_utf8_lossy(&history),
    )
}

fn attachment_max(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Up")?;
    send(
        &mut a,
        &msg("ATTACHMENT_FLAG").file("ten").payload("0123456789"),
    )?;
    expect(
        &mut a,
        &msg("ATTACHMENT_FLAG")
            .user("Up")
            .file("ten")
            .at()
            .payload("0123456789"),
    )?;
    a.send(b"ATTACHMENT_FLAG: 1\nFILENAME: eleven\nPAYLOAD_LENGTH: 11\n\n")?;
    expect_malformed(&mut a)?;
    let inside = files_become(ctx, &ctx.dir().join("downloads"), &["ten".to_string()]);
    ensure(
        inside == ["ten"],
        "the downloads folder",
        "ten",
        &inside.join(" "),
    )
}

fn attachment_big(ctx: &mut Ctx) -> Check {
    let (mut ann, _) = joined(ctx, "Ann")?;
    let (mut bob, _) = joined(ctx, "Bob")?;
    expect(&mut ann, &new_user("Bob"))?;
    let big = binary(5 << 20);
    send(
        &mut ann,
        &msg("ATTACHMENT_FLAG").file("big.bin").payload(&big),
    )?;
    for conn in [&mut ann, &mut bob] {
        let got = recv(conn, false)?;
        ensure(
            got.flag == Some("ATTACHMENT_FLAG")
                && got.username == "Ann"
                && got.filename == "big.bin"
                && got.payload == big,
            format!("{}: the relayed attachment", conn.label()),
            "ATTACHMENT_FLAG user=\"Ann\" file=\"big.bin\", the 5 MiB sent",
            &Msg {
                payload: got.payload[..got.payload.len().min(16)].to_vec(),
                ..got
            }
            .show(),
        )?;
    }
    let stored = read_file(ctx, &ctx.dir().join("downloads/big.bin"))?;
    ensure(
        stored == big,
        "downloads/big.bin",
        "the 5 MiB sent",
        &format!("{} other bytes", stored.len()),
    )
}

/// Every connection in `all` receives `m` next.
fn all_get(all: &mut [&mut Conn], m: &Msg) -> Check {
    all.iter_mut().try_for_each(|c| expect(c, m))
}

fn handout_plan(ctx: &mut Ctx) -> Check {
    let mut history = String::new();
    // Step 2: Cool joins and says Hi.
    let (mut cool, h) = joined(ctx, "Cool")?;
    ensure(
        h.is_empty(),
        "Cool's history",
        "",
        &String::from_utf8_lossy(&h),
    )?;
    history += &entry("Server", "Cool joined the chatroom.");
    send(&mut cool, &text("Cool", "Hi\n"))?;
    expect(&mut cool, &text("Cool", "Hi\n").at())?;
    history += &entry("Cool", "Hi");
    // Step 3: Fun joins, sees Hi, and they talk.
    let (mut fun, h) = joined(ctx, "Fun")?;
    ensure(
        like(&h, history.as_bytes()),
        "Fun's history",
        &history,
        &String::from_utf8_lossy(&h),
    )?;
    expect(&mut cool, &new_user("Fun"))?;
    history += &entry("Server", "Fun joined the chatroom.");
    let talk =
        |c: &mut Conn, who: &str, t: &str, all: &mut [&mut Conn], history: &mut String| -> Check {
            send(c, &text(who, t))?;
            expect(c, &text(who, t).at())?;
            all_get(all, &text(who, t).at())?;
            *history += &entry(who, t);
            Ok(())
        };
    talk(
        &mut fun,
        "Fun",
        "Hi Cool, are you there?",
        &mut [&mut cool],
        &mut history,
    )?;
    talk(
        &mut cool,
        "Cool",
        "Hey Fun, glad that you joined. We can chat now.",
        &mut [&mut fun],
        &mut history,
    )?;
    talk(
        &mut fun,
        "Fun",
        "Let's wait for Fire. He wanted to join.",
        &mut [&mut cool],
        &mut history,
    )?;
    talk(&mut cool, "Cool", "Ok", &mut [&mut fun], &mut history)?;
    // Step 4: a third asks for Fun (taken), then joins as Fire.
    let mut fire = ctx.connect("Fire")?;
    send(&mut fire, &msg("JOIN_REQUEST_FLAG").user("Fun"))?;
    expect(&mut fire, &reject(REJECT_TAKEN))?;
    let h = join(&mut fire, "Fire")?;
    ensure(
        like(&h, history.as_bytes()),
        "Fire's history",
        &history,
        &String::from_utf8_lossy(&h),
    )?;
    all_get(&mut [&mut cool, &mut fun], &new_user("Fire"))?;
    history += &entry("Server", "Fire joined the chatroom.");
    // Step 5: Sad finds the room full and asks for the report.
    let mut sad = ctx.connect("Sad")?;
    send(&mut sad, &msg("JOIN_REQUEST_FLAG").user("Sad"))?;
    expect(&mut sad, &reject(REJECT_FULL))?;
    ensure(
        report(&mut sad)?.number == 3,
        "the report",
        "NUMBER 3",
        "another number",
    )?;
    drop(sad);
    // Step 6: chat, then Fire uploads coolfile1.txt.
    talk(
        &mut fire,
        "Fire",
        "Hey guys! I just joined.",
        &mut [&mut cool, &mut fun],
        &mut history,
    )?;
    talk(
        &mut cool,
        "Cool",
        "What's up Fire?",
        &mut [&mut fun, &mut fire],
        &mut history,
    )?;
    talk(
        &mut fun,
        "Fun",
        "Hey Fire.",
        &mut [&mut cool, &mut fire],
        &mut history,
    )?;
    talk(
        &mut fire,
        "Fire",
        "Guys, I want to attach a cool file!",
        &mut [&mut cool, &mut fun],
        &mut history,
    )?;
    let body = format!("{COOLFILE}\n");
    send(
        &mut fire,
        &msg("ATTACHMENT_FLAG")
            .user("Fire")
            .file("attachments/coolfile1.txt")
            .payload(&body),
    )?;
    let relay = msg("ATTACHMENT_FLAG")
        .user("Fire")
        .file("coolfile1.txt")
        .at()
        .payload(&body);
    all_get(&mut [&mut cool, &mut fun, &mut fire], &relay)?;
    history += &entry("Fire", COOLFILE);
    // Step 7: more chat; Fire quits.
    talk(
        &mut fun,
        "Fun",
        "Hahaha",
        &mut [&mut cool, &mut fire],
        &mut history,
    )?;
    talk(
        &mut cool,
        "Cool",
        "That was cool! :)",
        &mut [&mut fun, &mut fire],
        &mut history,
    )?;
    talk(
        &mut fire,
        "Fire",
        "Alright guys. I should leave now. Buy.",
        &mut [&mut cool, &mut fun],
        &mut history,
    )?;
    quit(&mut fire, "Fire")?;
    all_get(&mut [&mut cool, &mut fun], &left("Fire"))?;
    history += &entry("Server", "Fire left the chatroom.");
    // Step 8: Cool says Buy Fire.; Fire comes back and gets it all.
    talk(
        &mut cool,
        "Cool",
        "Buy Fire.",
        &mut [&mut fun],
        &mut history,
    )?;
    let (_fire, h) = joined(ctx, "Fire")?;
    ensure(
        like(&h, history.as_bytes()),
        "the new Fire's history",
        &history,
        &String::from_utf8_lossy(&h),
    )?;
    all_get(&mut [&mut cool, &mut fun], &new_user("Fire"))
}

fn attachment_downloads_option(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "Up")?;
    send(&mut a, &msg("ATTACHMENT_FLAG").file("x.txt").payload("x"))?;
    expect(
        &mut a,
        &msg("ATTACHMENT_FLAG")
            .user("Up")
            .file("x.txt")
            .at()
            .payload("x"),
    )?;
    let got = read_file(ctx, &ctx.dir().join("inbox/x.txt"))?;
    ensure(
        got == b"x",
        "inbox/x.txt",
        "x",
        &String::from_utf8_lossy(&got),
    )?;
    ensure(
        !ctx.dir().join("downloads/x.txt").exists(),
        "downloads/x.txt",
        "absent",
        "present",
    )
}

/// A JOIN_REQUEST whose header block is `len` bytes, padded in USERNAME.
fn join_of_len(len: usize) -> Vec<u8> {
    let base = msg("JOIN_REQUEST_FLAG").user("x").to_bytes();
    let pad = "x".repeat(len + 1 - base.len());
    msg("JOIN_REQUEST_FLAG").user(&pad).to_bytes()
}

fn header_8192(ctx: &mut Ctx) -> Check {
    let mut ok = ctx.connect("at-limit")?;
    let block = join_of_len(8192);
    ensure(
        block.len() == 8192,
        "the checker's own block",
        "8192 bytes",
        &block.len().to_string(),
    )?;
    ok.send(&block)?;
    // Read, and refused for its name: the connection stays.
    expect(&mut ok, &reject(REJECT_INVALID))?;
    report(&mut ok)?;
    let mut over = ctx.connect("over-limit")?;
    over.send(join_of_len(8193))?;
    expect_malformed(&mut over)
}

fn expect_malformed(conn: &mut Conn) -> Check {
    let got = recv(conn, false)?;
    ensure(
        got.flag.is_none()
            && got.username == "Server"
            && got.payload.starts_with(b"Malformed message: "),
        "a text from Server",
        "Malformed message: <reason>",
        &got.show(),
    )?;
    conn.expect_closed()
}

fn quit_accept(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "QaCool")?;
    let (mut b, _) = joined(ctx, "QaFire")?;
    expect(&mut a, &new_user("QaFire"))?;
    quit(&mut b, "QaFire")?;
    expect(&mut a, &left("QaFire"))?;
    // Fire does not see what follows.
    send(&mut a, &text("QaCool", "Buy Fire."))?;
    expect(&mut a, &text("QaCool", "Buy Fire.").at())?;
    quit(&mut a, "QaCool")
}

fn quit_server_closes(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "QsFire")?;
    send(&mut a, &msg("QUIT_REQUEST_FLAG"))?;
    expect(&mut a, &left("QsFire"))?;
    a.expect_closed()
}

fn quit_departure(ctx: &mut Ctx) -> Check {
    let (mut a, _) = joined(ctx, "QdCool")?;
    let (mut fin, _) = joined(ctx, "QdFin")?;
    expect(&mut a, &new_user("QdFin"))?;
    let (rst, _) = joined(ctx, "QdRst")?;
    expect(&mut a, &new_user("QdRst"))?;
    expect(&mut fin, &new_user("QdRst"))?;
    fin.finish();
    expect(&mut a, &left("QdFin"))?;
    rst.reset();
    expect(&mut a, &left("QdRst"))?;
    quit(&mut a, "QdCool")
}

fn before_join(ctx: &mut Ctx) -> Check {
    let mut c = ctx.connect("ghost")?;
    send(&mut c, &text("Ghost", "hello"))?;
    send(&mut c, &msg("ATTACHMENT_FLAG").file("a.txt").payload("x"))?;
    send(&mut c, &msg("QUIT_REQUEST_FLAG"))?;
    for _ in 0..3 {
        expect(&mut c, &server_text(JOIN_FIRST))?;
    }
    report(&mut c)?;
    let history = join(&mut c, "Late")?;
    ensure(
        history.is_empty(),
        "the history after refused messages",
        "",
        &String::from_utf8_lossy(&history),
    )?;
    ensure(
        !ctx.dir().join("downloads/a.txt").exists(),
        "downloads/a.txt",
        "absent",
        "stored",
    )
}

fn pre_join_payload(ctx: &mut Ctx) -> Check {
    let mut ok = ctx.connect("at-limit")?;
    send(&mut ok, &text("Ghost", "x".repeat(65_536)))?;
    expect(&mut ok, &server_text(JOIN_FIRST))?;
    let mut c = ctx.connect("over-limit")?;
    c.send(b"REPORT_REQUEST_FLAG: 1\nPAYLOAD_LENGTH: 65537\n\n")?;
    expect_malformed(&mut c)
}

fn malformed(ctx: &mut Ctx) -> Check {
    let (mut watcher, _) = joined(ctx, "MfWatcher")?;
    let long = "x".repeat(8193);
    let cases: Vec<&[u8]> = vec![
        long.as_bytes(),
        b"COLOR: red\n\n",
        b"USERNAME: a\nUSERNAME: b\n\n",
        b"QUIT_REQUEST_FLAG: 2\n\n",
        b"NUMBER: many\n\n",
        b"PAYLOAD_LENGTH: -1\n\n",
        b"JOIN_REQUEST_FLAG: 1\nREPORT_REQUEST_FLAG: 1\n\n",
        b"ATTACHMENT_FLAG: 1\nPAYLOAD_LENGTH: 16777217\n\n",
    ];
    for (i, input) in cases.into_iter().enumerate() {
        let mut bad = ctx.connect(&format!("bad{i}"))?;
        // The first one also shows a member is announced as leaving.
        let name = format!("MfBad{i}");
        if i == 0 {
            join(&mut bad, &name)?;
            expect(&mut watcher, &new_user(&name))?;
        }
        bad.send(input)?;
        expect_malformed(&mut bad)?;
        if i == 0 {
            expect(&mut watcher, &left(&name))?;
        }
    }
    send(&mut watcher, &text("MfWatcher", "still here"))?;
    expect(&mut watcher, &text("MfWatcher", "still here").at())?;
    bye(&mut watcher)
}

fn strict_encoding(ctx: &mut Ctx) -> Check {
    let mut asker = ctx.connect("asker")?;
    send(&mut asker, &msg("REPORT_REQUEST_FLAG"))?;
    expect_strict(&mut asker, &msg("REPORT_RESPONSE_FLAG"))?;
    let mut cool = ctx.connect("Cool")?;
    send(&mut cool, &msg("JOIN_REQUEST_FLAG").user("Cool"))?;
    expect_strict(&mut cool, &msg("JOIN_ACCEPT_FLAG").user("Cool"))?;
    expect_strict(&mut cool, &new_user("Cool"))?;
    send(&mut asker, &msg("JOIN_REQUEST_FLAG").user("Cool"))?;
    expect_strict(&mut asker, &reject(REJECT_TAKEN))?;
    send(&mut asker, &text("Ghost", "hello"))?;
    expect_strict(&mut asker, &server_text(JOIN_FIRST))?;
    send(&mut cool, &text("Cool", "Hi"))?;
    expect_strict(&mut cool, &text("Cool", "Hi").at())?;
    send(
        &mut cool,
        &msg("ATTACHMENT_FLAG").file("a.txt").payload("x"),
    )?;
    expect_strict(
        &mut cool,
        &msg("ATTACHMENT_FLAG")
            .user("Cool")
            .file("a.txt")
            .at()
            .payload("x"),
    )?;
    let Some(a) = cool.local_addr() else {
        return Err(Failure::note("no local address"));
    };
    send(&mut asker, &msg("REPORT_REQUEST_FLAG"))?;
    let line = format!("Cool {} {}\n", a.ip(), a.port());
    expect_strict(
        &mut asker,
        &msg("REPORT_RESPONSE_FLAG").number(1).payload(line),
    )?;
    send(&mut cool, &msg("QUIT_REQUEST_FLAG"))?;
    expect_strict(&mut cool, &left("Cool"))?;
    cool.expect_closed()
}

fn byte_at_a_time(ctx: &mut Ctx) -> Check {
    let mut c = ctx.connect("slow")?;
    let script = [
        msg("JOIN_REQUEST_FLAG").user("BbSlow").to_bytes(),
        text("BbSlow", "bytewise").to_bytes(),
    ]
    .concat();
    c.send_in_pieces(&script, &mut || 1)?;
    let accept = recv(&mut c, false)?;
    ensure(
        accept.flag == Some("JOIN_ACCEPT_FLAG"),
        "the answer to JOIN_REQUEST",
        "JOIN_ACCEPT_FLAG",
        &accept.show(),
    )?;
    expect(&mut c, &new_user("BbSlow"))?;
    expect(&mut c, &text("BbSlow", "bytewise").at())?;
    bye(&mut c)
}

fn history_file(ctx: &mut Ctx) -> Check {
    let (mut keeper, history) = joined(ctx, "Keeper")?;
    ensure(
        history.is_empty(),
        "the first history",
        "",
        &String::from_utf8_lossy(&history),
    )?;
    send(&mut keeper, &text("Keeper", "remember\nme\n"))?;
    expect(&mut keeper, &text("Keeper", "remember\nme\n").at())?;
    quit(&mut keeper, "Keeper")?;
    // Prove the quit was handled before the server goes away.
    let mut asker = ctx.connect("asker")?;
    ensure(
        report(&mut asker)?.number == 0,
        "the report after the quit",
        "NUMBER 0",
        "another",
    )?;
    ctx.signal_server(libc::SIGTERM)?;
    ctx.expect_server_exit()?;
    // A crash in the middle of an entry leaves a torn last line.
    let path = ctx.dir().join("history.txt");
    let mut torn = read_file(ctx, &path)?;
    torn.extend_from_slice(b"[12:00:00] Torn: hal");
    std::fs::write(&path, &torn).map_err(|e| Failure::note(format!("cannot write: {e}")))?;
    ctx.start_server()?;
    let (_keeper, history) = joined(ctx, "Keeper")?;
    let want = entry("Server", "Keeper joined the chatroom.")
        + &entry("Keeper", "remember\nme")
        + &entry("Server", "Keeper left the chatroom.");
    ensure(
        like(&history, want.as_bytes()),
        "the history after a restart",
        &want,
        &String::from_utf8_lossy(&history),
    )
}

fn slow_reader(ctx: &mut Ctx) -> Check {
    let (_slow, _) = joined(ctx, "Slow")?;
    let (mut sender, _) = joined(ctx, "Sender")?;
    let long = "z".repeat(60_000);
    // At most 400 texts (24 MB), each relayed to the sender too.
    for _ in 0..400 {
        send(&mut sender, &text("Sender", &long))?;
        let got = recv(&mut sender, false)?;
        if got.flag == Some("QUIT_ACCEPT_FLAG") {
            ensure(
                got.username == "Slow",
                "the one cut off",
                "Slow",
                &got.show(),
            )?;
            ctx.expect_status(
                "`fd N: send queue exceeded (100000 bytes), disconnecting`",
                |l| l.ends_with(": send queue exceeded (100000 bytes), disconnecting"),
            )?;
            // The relay that tipped it over may still come; then a probe.
            send(&mut sender, &text("Sender", "probe"))?;
            loop {
                let got = recv(&mut sender, false)?;
                if got.payload == b"probe" {
                    return Ok(());
                }
            }
        }
        ensure(
            got.payload.len() == long.len(),
            "the sender's own relay",
            "its 60000-byte text",
            &got.show(),
        )?;
    }
    Err(Failure::note(
        "the slow user was still in the room after 24 MB",
    ))
}

fn history_and_sendq(ctx: &mut Ctx) -> Check {
    let (mut cool, _) = joined(ctx, "Cool")?;
    let mut want = entry("Server", "Cool joined the chatroom.");
    for n in 0..10 {
        let t = format!("{n} {}", "h".repeat(1000));
        send(&mut cool, &text("Cool", &t))?;
        expect(&mut cool, &text("Cool", &t).at())?;
        want += &entry("Cool", &t);
    }
    let (mut fun, history) = joined(ctx, "Fun")?;
    ensure(
        like(&history, want.as_bytes()),
        "Fun's history of ~10 kB, past a 4096-byte --sendq",
        &want,
        &String::from_utf8_lossy(&history),
    )?;
    // Fun was not cut for it: still served.
    report(&mut fun).map(drop)
}

fn login_timeout(ctx: &mut Ctx) -> Check {
    let (mut member, _) = joined(ctx, "LtMember")?;
    let mut idle = ctx.connect("idle")?;
    report(&mut idle)?;
    idle.expect_closed()?;
    send(&mut member, &text("LtMember", "still here"))?;
    expect(&mut member, &text("LtMember", "still here").at())
}

fn no_login_timeout(ctx: &mut Ctx) -> Check {
    let mut idle = ctx.connect("idle")?;
    idle.expect_silence(std::time::Duration::from_millis(1500))?;
    join(&mut idle, "Patient").map(drop)
}

fn status_lines(ctx: &mut Ctx) -> Check {
    let (_a, _) = joined(ctx, "StAlice")?;
    ctx.expect_status("`fd N: ...` naming StAlice", |l| {
        l.starts_with("fd ") && l.contains("StAlice")
    })
    .map(drop)
}

fn shutdown_by(ctx: &mut Ctx, signal: i32) -> Check {
    let (mut a, _) = joined(ctx, "SdCool")?;
    let (b, _) = joined(ctx, "SdFun")?;
    expect(&mut a, &new_user("SdFun"))?;
    let mut anon = ctx.connect("anon")?;
    report(&mut anon)?;
    // Whatever a connection is told at shutdown, it is not that another left.
    let sent = std::time::Instant::now();
    ctx.signal_server(signal)?;
    let mut all = vec![a, b, anon];
    for conn in &mut all {
        let rest = conn.read_to_close(1 << 20)?;
        ensure(
            !String::from_utf8_lossy(&rest).contains("left the chatroom."),
            format!("{} at shutdown", conn.label()),
            "no departure announced",
            &String::from_utf8_lossy(&rest),
        )?;
    }
    super::direct::expect_shut_down(ctx, sent, all)
}

fn shutdown(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGTERM)
}

fn shutdown_sigint(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGINT)
}

// ---- the client ----

/// Starts the client; expects the menu.
fn start(ctx: &mut Ctx) -> Result<(Client, crate::target::Listener), Failure> {
    let listener = ctx.listen("server")?;
    let port = listener.port();
    let mut client = ctx.start_client(&[("port", &port)])?;
    client.expect_output(ctx, MENU)?;
    Ok((client, listener))
}

/// The client's next message, read as a receiver reads it, with the flag
/// it must carry (`room/client/strict-encoding` holds the client to the
/// strict encoding).
fn expect_from_client(conn: &mut Conn, flag: Option<&str>) -> Result<Msg, Failure> {
    let got = recv(conn, false)?;
    ensure(
        got.flag == flag,
        "the client's message",
        flag.unwrap_or("a text (no flag)"),
        &got.show(),
    )?;
    Ok(got)
}

/// From the menu: option 2, the name, the JOIN_REQUEST, and the accept
/// with `history` and the joiner's NEW_USER sent back; nothing printed is
/// checked (set-up for the cases of other features).
fn client_joins_as_setup(
    ctx: &mut Ctx,
    client: &mut Client,
    listener: &mut crate::target::Listener,
    name: &str,
    history: &str,
) -> Result<Conn, Failure> {
    client.type_in(ctx, "2\n")?;
    client.expect_output(ctx, ASK_NAME)?;
    client.type_in(ctx, &format!("{name}\n"))?;
    let mut conn = listener.accept()?;
    let req = expect_from_client(&mut conn, Some("JOIN_REQUEST_FLAG"))?;
    ensure(
        req.username == name,
        "JOIN_REQUEST's USERNAME",
        name,
        &req.username,
    )?;
    send(
        &mut conn,
        &msg("JOIN_ACCEPT_FLAG").user(name).payload(history),
    )?;
    let mut joined = new_user(name);
    joined.timestamp = "12:00:00".into();
    send(&mut conn, &joined)?;
    Ok(conn)
}

/// Joins as `name` (see [`client_joins_as_setup`]) and checks the whole
/// welcome: the JOIN cases.
fn client_joins(
    ctx: &mut Ctx,
    client: &mut Client,
    listener: &mut crate::target::Listener,
    name: &str,
    history: &str,
) -> Result<Conn, Failure> {
    let conn = client_joins_as_setup(ctx, client, listener, name, history)?;
    client.expect_output(
        ctx,
        format!("{WELCOME}{history}[12:00:00] Server: {name} joined the chatroom.\n"),
    )?;
    Ok(conn)
}

/// Joins as `name` for a case of another feature: the welcome's words are
/// the JOIN cases' business; whatever is printed up to the joiner's own
/// announcement is passed over.
fn client_joined(
    ctx: &mut Ctx,
    client: &mut Client,
    listener: &mut crate::target::Listener,
    name: &str,
) -> Result<Conn, Failure> {
    let conn = client_joins_as_setup(ctx, client, listener, name, "")?;
    client.expect_output_until(
        ctx,
        &format!("[12:00:00] Server: {name} joined the chatroom.\n"),
    )?;
    Ok(conn)
}

fn stamped(mut m: Msg, at: &str) -> Msg {
    m.timestamp = at.into();
    m
}

fn client_strict_encoding(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    std::fs::write(ctx.dir().join("up.txt"), "x\n")
        .map_err(|e| Failure::note(format!("cannot write the file to upload: {e}")))?;
    let strict = |conn: &mut Conn, flag: Option<&str>| -> Check {
        let got = recv(conn, true)?;
        ensure(
            got.flag == flag,
            "the client's message",
            flag.unwrap_or("a text (no flag)"),
            &got.show(),
        )
    };
    client.type_in(ctx, "1\n")?;
    let mut conn = listener.accept()?;
    strict(&mut conn, Some("REPORT_REQUEST_FLAG"))?;
    send(&mut conn, &msg("REPORT_RESPONSE_FLAG"))?;
    client.expect_output(
        ctx,
        format!("There are 0 active users in the chatroom.\n{MENU}"),
    )?;
    client.type_in(ctx, "2\n")?;
    client.expect_output(ctx, ASK_NAME)?;
    client.type_in(ctx, "Fun\n")?;
    // The report's connection, or a new one: whichever the client uses.
    let mut conn = match recv(&mut conn, true) {
        Ok(got) => {
            ensure(
                got.flag == Some("JOIN_REQUEST_FLAG"),
                "the client's message",
                "JOIN_REQUEST_FLAG",
                &got.show(),
            )?;
            conn
        }
        Err(_) if conn.is_closed() => {
            let mut again = listener.accept()?;
            strict(&mut again, Some("JOIN_REQUEST_FLAG"))?;
            again
        }
        Err(f) => return Err(f),
    };
    send(&mut conn, &msg("JOIN_ACCEPT_FLAG").user("Fun"))?;
    send(&mut conn, &stamped(new_user("Fun"), "12:00:00"))?;
    client.expect_output(
        ctx,
        format!("{WELCOME}[12:00:00] Server: Fun joined the chatroom.\n"),
    )?;
    client.type_in(ctx, "Hi\n")?;
    strict(&mut conn, None)?;
    client.type_in(ctx, "a\n")?;
    client.expect_output(ctx, ASK_PATH)?;
    client.type_in(ctx, "up.txt\n")?;
    strict(&mut conn, Some("ATTACHMENT_FLAG"))?;
    client.type_in(ctx, "q\n")?;
    strict(&mut conn, Some("QUIT_REQUEST_FLAG"))
}

fn client_menu(ctx: &mut Ctx) -> Check {
    let (_client, mut listener) = start(ctx)?;
    listener.expect_no_connection(std::time::Duration::from_millis(300))
}

fn client_report(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    client.type_in(ctx, "1\n")?;
    let mut conn = listener.accept()?;
    expect_from_client(&mut conn, Some("REPORT_REQUEST_FLAG"))?;
    send(
        &mut conn,
        &msg("REPORT_RESPONSE_FLAG")
            .number(2)
            .payload("Cool 192.168.1.5 35465\nFun 192.168.1.6 7265\n"),
    )?;
    client.expect_output(
        ctx,
        format!(
            "There are 2 active users in the chatroom.\n\
             1. Cool at IP: 192.168.1.5 and port: 35465.\n\
             2. Fun at IP: 192.168.1.6 and port: 7265.\n{MENU}"
        ),
    )
}

fn client_join_reject(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    client.type_in(ctx, "2\n")?;
    client.expect_output(ctx, ASK_NAME)?;
    client.type_in(ctx, "Fun\n")?;
    let mut conn = listener.accept()?;
    let req = expect_from_client(&mut conn, Some("JOIN_REQUEST_FLAG"))?;
    ensure(
        req.username == "Fun",
        "JOIN_REQUEST's USERNAME",
        "Fun",
        &req.username,
    )?;
    send(&mut conn, &reject(REJECT_TAKEN))?;
    client.expect_output(ctx, format!("{REJECT_TAKEN}\n{MENU}"))
}

fn client_join_accept(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let history = "[20:33:39] Server: Cool joined the chatroom.\n[20:33:40] Cool: Hey Fun, glad that you joined.\nWe can chat now.\n";
    client_joins(ctx, &mut client, &mut listener, "Fun", history).map(drop)
}

fn client_announcements(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joins(ctx, &mut client, &mut listener, "Fun", "")?;
    send(&mut conn, &stamped(new_user("Fire"), "20:34:00"))?;
    client.expect_output(ctx, "[20:34:00] Server: Fire joined the chatroom.\n")?;
    send(&mut conn, &stamped(left("Fire"), "20:35:00"))?;
    client.expect_output(ctx, "[20:35:00] Server: Fire left the chatroom.\n")
}

fn client_text(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Fun")?;
    // An empty line typed is not sent: the next message is the text.
    client.type_in(ctx, "\nHi Cool, are you there?\n")?;
    let got = expect_from_client(&mut conn, None)?;
    ensure(
        got.payload == b"Hi Cool, are you there?" || got.payload == b"Hi Cool, are you there?\n",
        "the text's payload",
        "Hi Cool, are you there?",
        &String::from_utf8_lossy(&got.payload),
    )?;
    send(
        &mut conn,
        &stamped(text("Cool", "Hey Fun, glad that you joined."), "20:33:40"),
    )?;
    client.expect_output(ctx, "[20:33:40] Cool: Hey Fun, glad that you joined.\n")?;
    // A course client's text ends in the LF it counted: no blank line.
    send(
        &mut conn,
        &stamped(text("Cool", "We can chat now.\n"), "20:33:41"),
    )?;
    send(&mut conn, &stamped(text("Cool", "Ok"), "20:33:42"))?;
    client.expect_output(
        ctx,
        "[20:33:41] Cool: We can chat now.\n[20:33:42] Cool: Ok\n",
    )
}

fn client_upload(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let body = format!("{COOLFILE}\n");
    std::fs::create_dir_all(ctx.dir().join("attachments"))
        .and_then(|()| std::fs::write(ctx.dir().join("attachments/coolfile1.txt"), &body))
        .map_err(|e| Failure::note(format!("cannot write the file to upload: {e}")))?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Fire")?;
    client.type_in(ctx, "a\n")?;
    client.expect_output(ctx, ASK_PATH)?;
    client.type_in(ctx, "attachments/coolfile1.txt\n")?;
    let got = expect_from_client(&mut conn, Some("ATTACHMENT_FLAG"))?;
    ensure(
        got.filename.ends_with("coolfile1.txt"),
        "the attachment's FILENAME",
        "attachments/coolfile1.txt",
        &got.filename,
    )?;
    ensure(
        got.payload == body.as_bytes(),
        "the attachment's payload",
        &body,
        &String::from_utf8_lossy(&got.payload),
    )
}

fn client_upload_missing(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Ann")?;
    client.type_in(ctx, "a\n")?;
    client.expect_output(ctx, ASK_PATH)?;
    client.type_in(ctx, "no-such-file\n")?;
    client.expect_output(ctx, "Cannot read no-such-file: ")?;
    client.expect_output_until(ctx, "\n")?;
    // Still in the chatroom, and nothing was sent: the next message is this text.
    client.type_in(ctx, "still here\n")?;
    let got = expect_from_client(&mut conn, None)?;
    ensure(
        got.payload.starts_with(b"still here"),
        "the next message",
        "still here",
        &String::from_utf8_lossy(&got.payload),
    )
}

fn client_download(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Cool")?;
    let body = format!("{COOLFILE}\n");
    send(
        &mut conn,
        &stamped(
            msg("ATTACHMENT_FLAG")
                .user("Fire")
                .file("coolfile1.txt")
                .payload(&body),
            "20:40:00",
        ),
    )?;
    client.expect_output(ctx, format!("[20:40:00] Fire: {COOLFILE}\n"))?;
    // Printed after it was saved.
    let got = read_file(ctx, &ctx.dir().join("downloads/coolfile1.txt"))?;
    ensure(
        got == body.as_bytes(),
        "downloads/coolfile1.txt",
        &body,
        &String::from_utf8_lossy(&got),
    )
}

fn client_download_binary(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let big = binary(5120);
    std::fs::create_dir_all(ctx.dir().join("downloads"))
        .and_then(|()| std::fs::write(ctx.dir().join("downloads/pic.png"), b"mine"))
        .map_err(|e| Failure::note(format!("cannot prepare downloads: {e}")))?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Cool")?;
    send(
        &mut conn,
        &stamped(
            msg("ATTACHMENT_FLAG")
                .user("Fun")
                .file("pic.png")
                .payload(&big),
            "12:00:01",
        ),
    )?;
    client.expect_output(
        ctx,
        "[12:00:01] Fun: Fun sent pic.png (5120 bytes), saved to downloads/pic-2.png\n",
    )?;
    let got = read_file(ctx, &ctx.dir().join("downloads/pic-2.png"))?;
    ensure(
        got == big,
        "downloads/pic-2.png",
        "the 5120 bytes sent",
        "other bytes",
    )?;
    let mine = read_file(ctx, &ctx.dir().join("downloads/pic.png"))?;
    ensure(
        mine == b"mine",
        "downloads/pic.png, there before",
        "mine",
        &String::from_utf8_lossy(&mine),
    )
}

fn client_quit(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Fire")?;
    client.type_in(ctx, "q\n")?;
    expect_from_client(&mut conn, Some("QUIT_REQUEST_FLAG"))?;
    send(&mut conn, &stamped(left("Fire"), "12:00:02"))?;
    drop(conn);
    client.expect_output(ctx, MENU)?;
    // Option 1 reconnects.
    client.type_in(ctx, "1\n")?;
    let mut conn = listener.accept()?;
    expect_from_client(&mut conn, Some("REPORT_REQUEST_FLAG"))?;
    send(&mut conn, &msg("REPORT_RESPONSE_FLAG"))?;
    client.expect_output(
        ctx,
        format!("There are 0 active users in the chatroom.\n{MENU}"),
    )
}

fn client_option_3(ctx: &mut Ctx) -> Check {
    let (mut client, _listener) = start(ctx)?;
    client.type_in(ctx, "3\n")?;
    client.expect_exit(ctx, 0)
}

fn client_end_of_input(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Fire")?;
    client.close_stdin(ctx);
    expect_from_client(&mut conn, Some("QUIT_REQUEST_FLAG"))?;
    send(&mut conn, &stamped(left("Fire"), "12:00:02"))?;
    drop(conn);
    client.expect_exit_code(ctx, 0)
}

fn client_ctrl_c(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let _conn = client_joined(ctx, &mut client, &mut listener, "Fire")?;
    client.signal(ctx, libc::SIGINT);
    client.expect_exit_code(ctx, 0)
}

fn client_terminal_safe(ctx: &mut Ctx) -> Check {
    let (mut client, mut listener) = start(ctx)?;
    let mut conn = client_joined(ctx, &mut client, &mut listener, "Cool")?;
    send(
        &mut conn,
        &stamped(text("Eve", "\x1b]0;pwned\x07\x1b[2J"), "12:00:03"),
    )?;
    client.expect_output(ctx, "[12:00:03] Eve: ^[]0;pwned^G^[[2J\n")
}

fn client_unable(ctx: &mut Ctx) -> Check {
    let port = free_port()?.to_string();
    let mut client = ctx.start_client(&[("port", &port)])?;
    client.expect_output(ctx, MENU)?;
    client.type_in(ctx, "1\n")?;
    client.expect_output(ctx, format!("Unable to connect to 127.0.0.1:{port}\n"))?;
    client.expect_exit(ctx, 1)
}
