//! bridge: the server's answers byte for byte (REGACK, the rejected
//! REGACK, BRIDGEACK by the contract's answer rule), the status lines and
//! `/info`, the registry file across a kill -9 and a restart; and the
//! client, with the checker as the rendezvous server and as the peer: each
//! command's request, the chat both ways in the four forms real course
//! clients send, QUIT, Ctrl-C, end of input, strangers on its port.
//!
//! Who is paired with whom depends on everything registered before, so
//! every case that checks a BRIDGEACK other than the empty one for an
//! unregistered id needs a server of its own.

use std::net::SocketAddr;

use crate::conn::Conn;
use crate::target::{free_port, Listener};
use crate::{ensure, Case, Check, Client, Ctx, Dialect, Failure, Need, Source};

use Source::{Contract, Handout};

const D: Dialect = Dialect::Bridge;

const EMPTY_BRIDGEACK: &str = "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n";
const QUIT: &str = "QUIT\r\n\r\n";

const OWN: &[Need] = &[Need::OwnServer];

pub const CASES: &[Case] = &[
    // ---- REGISTER ----
    D.server("bridge/register/regack", "REGISTER", "REGISTER gets `REGACK` echoing clientID, IP and Port, with `Status: registered`",
        Handout("Acknowledges receipt of REGISTER message and echos back contact information received"), register_regack),
    D.server("bridge/register/ipv6", "REGISTER", "an IPv6 address is a good IP",
        Contract, register_ipv6),
    D.server("bridge/register/bare-lf", "REGISTER", "a REGISTER with bare LF line ends is accepted; the answer is CRLF all the same",
        Contract, register_bare_lf),
    D.server("bridge/server/crlf-bytes", "SERVER", "the server's answers are CRLF-ended byte for byte: the empty BRIDGEACK is `BRIDGEACK\\r\\nclientID: \\r\\nIP: \\r\\nPort: \\r\\n\\r\\n`",
        Contract, server_crlf_bytes)
        .needs(OWN),
    D.server("bridge/register/rejected", "REGISTER", "a REGISTER missing a header or with a bad value gets REGACK with the headers it carried and `Status: rejected (<reason>)`",
        Contract, register_rejected),
    D.server("bridge/register/update", "REGISTER", "a second REGISTER of an id updates its contact",
        Contract, register_update)
        .needs(OWN),
    D.server("bridge/register/connection-kept", "REGISTER", "the server keeps the connection after an answer: several requests on one connection are each answered",
        Contract, register_connection_kept),
    // ---- BRIDGE ----
    D.server("bridge/bridge/empty-when-alone", "BRIDGE", "a BRIDGE when no other client has registered gets BRIDGEACK with clientID, IP and Port empty",
        Handout("Note: if no client has registered yet, then the header values are empty."), bridge_empty_when_alone)
        .needs(OWN),
    D.server("bridge/bridge/second-gets-first", "BRIDGE", "after A registers and bridges, B's BRIDGE gets A's contact",
        Handout("For example, if peer 2 sends a BRIDGE, the Server will return the contact information for peer 1."), bridge_second_gets_first)
        .needs(OWN),
    D.server("bridge/bridge/first-gets-second", "BRIDGE", "A registers, B registers, A bridges: A gets B (the other registered client)",
        Handout("returns peer contact information stored (excluding requesting client contact information)"), bridge_first_gets_second)
        .needs(OWN),
    D.server("bridge/bridge/partner-again", "BRIDGE", "a client that has a partner gets that partner again on every BRIDGE",
        Contract, bridge_partner_again)
        .needs(OWN),
    D.server("bridge/bridge/waiting-first", "BRIDGE", "a BRIDGE gets the earliest client waiting for a partner before any other unpaired one",
        Contract, bridge_waiting_first)
        .needs(OWN),
    D.server("bridge/bridge/four-in-turn", "BRIDGE", "four clients that register and bridge in turn pair 1 with 2 and 3 with 4",
        Contract, bridge_four_in_turn)
        .needs(OWN),
    D.server("bridge/bridge/four-registered-first", "BRIDGE", "four registered clients that then bridge in turn pair 1 with 2 and 3 with 4",
        Contract, bridge_four_registered_first)
        .needs(OWN),
    D.server("bridge/bridge/unregistered", "BRIDGE", "a BRIDGE from an unregistered id (or with no clientID) gets the empty BRIDGEACK and waits for nobody",
        Contract, bridge_unregistered)
        .needs(OWN),
    // ---- anything else, limits ----
    D.server("bridge/server/anything-else-closes", "SERVER", "anything but REGISTER or BRIDGE closes the connection; the server goes on",
        Contract, anything_else_closes),
    D.server("bridge/server/endless-block", "LIMITS", "a block that never ends is cut off; the server goes on",
        Contract, endless_block),
    D.server("bridge/limit/login-timeout", "LIMITS", "with --login-timeout 1 a connection in the middle of a request is closed; one that finished its request stays",
        Contract, login_timeout)
        .needs(&[Need::Options(&["--login-timeout", "1"])]),
    D.server("bridge/limit/no-login-timeout-by-default", "LIMITS", "by default a request may take its time: after a pause in the middle it is still answered",
        Contract, no_login_timeout)
        .needs(&[Need::OwnServer]),
    D.server("bridge/server/usage", "SERVER", "without --port the server prints a usage statement and exits with status 2",
        Contract, super::usage)
        .needs(&[Need::OwnServer]),
    D.server("bridge/server/port-in-use", "SERVER", "a port that cannot be bound prints `error: cannot listen on ADDR:PORT: <reason>` on stderr and exits 1",
        Contract, super::port_in_use)
        .needs(&[Need::OwnServer]),
    D.server("bridge/server/ctrl-c-ends", "SERVER", "Ctrl-C (SIGINT) ends the server",
        Handout("Control-C should be supported to end programs (server and client)"), server_ctrl_c_ends)
        .needs(&[Need::Signal]),
    D.server("bridge/server/shutdown", "SERVER", "SIGTERM closes every connection and the server exits 0 within 2 s",
        Contract, shutdown)
        .needs(&[Need::Signal]),
    D.server("bridge/server/shutdown-sigint", "SERVER", "SIGINT (Ctrl-C) closes every connection and the server exits 0 within 2 s",
        Contract, shutdown_sigint)
        .needs(&[Need::Signal]),
    // ---- status lines, /info, the registry ----
    D.server("bridge/server/listening-line", "SERVER", "the server prints `Server listening on IP:PORT` at start",
        Handout("When the server is started, it reports to terminal (stdout): >Server listening on <ip address>:<port>"), listening_line)
        .needs(&[Need::Stdout]),
    D.server("bridge/register/status-line", "REGISTER", "a REGISTER prints `REGISTER: <id> from <ip>:<port> received`",
        Handout("Example: >REGISTER: student1 from 127.0.0.1:2000 received"), register_status_line)
        .needs(&[Need::Stdout]),
    D.server("bridge/bridge/status-line", "BRIDGE", "an answered BRIDGE prints `BRIDGE: <id> <ip>:<port> <peer id> <ip>:<port>`",
        Handout(">BRIDGE: student2 127.0.0.1:2000 student1 127.0.0.1:2500"), bridge_status_line)
        .needs(&[Need::Stdout]),
    D.server("bridge/bridge/status-line-empty", "BRIDGE", "a BRIDGE answered empty prints `BRIDGE: <id> <ip>:<port>` alone",
        Contract, bridge_status_line_empty)
        .needs(&[Need::Stdout]),
    D.server("bridge/server/info", "SERVER", "`/info` on stdin prints `<clientID> <ip>:<port>` per registered client, in registry order",
        Handout("/info → server output: <clientID> <clientIP:clientPort>"), info)
        .needs(&[Need::Stdout, Need::Stdin]),
    D.server("bridge/registry/file", "REGISTER", "the registry file holds `clientID IP Port` lines, ids in order of first registration, an id's newest contact last, written before the REGACK",
        Contract, registry_file)
        .needs(OWN),
    D.server("bridge/registry/option", "REGISTER", "`--registry FILE` keeps the registry in FILE",
        Contract, registry_option)
        .needs(&[Need::Options(&["--registry", "contacts.txt"])]),
    D.server("bridge/registry/kill-9", "REGISTER", "registrations survive a kill -9 and a restart",
        Contract, registry_kill_9)
        .needs(&[Need::OwnServer, Need::Signal]),
    D.server("bridge/registry/lenient", "REGISTER", "a registry line that is not `clientID IP Port` or not UTF-8 is skipped at start and kept when the file is next written",
        Contract, registry_lenient)
        .needs(OWN),
    // ---- the client ----
    D.client("bridge/client/running-on", "CLIENT", "the client prints `<id> running on <ip>:<port>` at start and opens no connection before a request",
        Handout("When the client is started, it reports to terminal (stdout): <clientID> running on <ip address:port>"), client_running_on),
    D.client("bridge/client/id", "CLIENT", "`/id` prints the clientID",
        Handout("/id: the clientID of the user is displayed in the client terminal"), client_id),
    D.client("bridge/client/register", "REGISTER", "`/register` sends REGISTER (clientID, IP, Port) on a connection of its own and closes it after the REGACK",
        Handout("/register: client sends a REGISTER message to server"), client_register),
    D.client("bridge/client/bridge", "BRIDGE", "`/bridge` sends BRIDGE (clientID) on a connection of its own and closes it after the BRIDGEACK",
        Handout("/bridge: client sends a BRIDGE message to server"), client_bridge),
    D.client("bridge/client/incoming-chat", "CHAT", "after an empty BRIDGEACK the client waits; an incoming CHAT prints `Incoming chat request from <id> <ip>:<port>` and its messages",
        Handout("Incoming CHAT request >Incoming chat request from <peer 1 contact info>"), client_incoming_chat),
    D.client("bridge/client/chat", "CHAT", "`/chat` after a BRIDGEACK with a peer connects to it and sends the first CHAT (clientID, IP, Port), then a CHAT with a Message per typed line (none for an empty one)",
        Handout("/chat: client initiates chat session with peer"), client_chat),
    D.client("bridge/client/called-by-its-peer", "CHAT", "a client whose /bridge gave a peer still accepts that peer's CHAT if the peer calls first",
        Contract, client_called_by_peer),
    D.client("bridge/client/crlf-bytes", "CLIENT", "the client's REGISTER, BRIDGE, CHATs and QUIT are CRLF-ended, headers in the contract's order, byte for byte",
        Contract, client_crlf_bytes),
    D.client("bridge/client/chat-forms", "CHAT", "the client shows a CHAT's Message (other headers ignored) and a bare line, LF or CRLF, as a message",
        Contract, client_chat_forms),
    D.client("bridge/client/type-quit", "QUIT", "a block whose `Type` is `quit` ends the chat like a QUIT",
        Contract, client_type_quit),
    D.client("bridge/client/bare-quit-line", "QUIT", "a bare `QUIT` line ends the chat like a QUIT",
        Contract, client_bare_quit_line),
    D.client("bridge/client/unreadable-skipped", "CHAT", "a block the client cannot read is skipped; the chat goes on",
        Contract, client_unreadable_skipped),
    D.client("bridge/client/quit-in-chat", "QUIT", "`/quit` in a chat sends QUIT to the peer, closes and exits 0",
        Handout("If peer writer enters /quit during Chat mode in the terminal, the Client sends a QUIT message its peer and closes socket."), client_quit_in_chat),
    D.client("bridge/client/quit-outside", "QUIT", "`/quit` outside a chat exits 0",
        Handout("If peer writer enters /quit outside of Chat mode, Client exits the program."), client_quit_outside),
    D.client("bridge/client/received-quit", "QUIT", "a received QUIT ends the program with exit 0",
        Handout("Bob receives a QUIT message from Alice. Bob exits, closing any open sockets."), client_received_quit),
    D.client("bridge/client/peer-vanishes", "QUIT", "a peer that closes the connection without QUIT ends the program with exit 0",
        Handout("detecting and appropriately responding to a QUIT message from the peer or TCP FIN packets indicating the other side has closed the connection"), client_peer_vanishes),
    D.client("bridge/client/ctrl-c-ends-chat", "QUIT", "Ctrl-C in a chat ends the program and the chat: the peer's connection ends",
        Handout("Chatting peers end the session when one user enters /quit or Control-C. At that point the TCP connection is closed and the chat programs terminate."), client_ctrl_c_ends_chat),
    D.client("bridge/client/ctrl-c-in-chat", "QUIT", "Ctrl-C in a chat sends QUIT to the peer, closes, and exits 0",
        Contract, client_ctrl_c_in_chat),
    D.client("bridge/client/ctrl-c-ends", "QUIT", "Ctrl-C outside a chat ends the program",
        Handout(">/id >ctrl C Programs terminate"), client_ctrl_c_ends),
    D.client("bridge/client/ctrl-c-outside", "QUIT", "Ctrl-C outside a chat ends the program with exit 0",
        Contract, client_ctrl_c_outside),
    D.client("bridge/client/unknown-commands", "CLIENT", "unknown commands and text outside a chat are ignored",
        Handout("any command not defined below can be ignored"), client_unknown_commands),
    D.client("bridge/client/end-of-input-idle", "CLIENT", "at end of stdin an idle client exits 0",
        Contract, client_end_of_input_idle),
    D.client("bridge/client/end-of-input-waiting", "CLIENT", "at end of stdin a client waiting for a peer keeps waiting and chats until the chat ends",
        Contract, client_end_of_input_waiting),
    D.client("bridge/client/chat-before-bridge", "CHAT", "a CHAT before any /bridge is refused: the connection is closed and nothing is printed",
        Contract, client_chat_before_bridge),
    D.client("bridge/client/stranger-during-chat", "CHAT", "a connection to the client's port while a chat is on is closed at once; the chat goes on",
        Contract, client_stranger_during_chat),
    D.client("bridge/client/silent-caller-cut", "CHAT", "a connection to the client's port that sends no complete CHAT within 10 s is closed; a real call is taken after it",
        Contract, client_silent_caller_cut),
    D.client("bridge/client/terminal-safe", "CHAT", "control characters in a received message print in caret notation",
        Contract, client_terminal_safe),
    D.client("bridge/client/unable-to-connect", "CLIENT", "a client that cannot reach its server prints `Unable to connect to <host>:<port>` and exits 1",
        Contract, client_unable),
    D.server("bridge/server/help-version", "SERVER", "`--help` and `--version` print to stdout and exit 0",
        Contract, super::help_and_version)
        .needs(&[Need::OwnServer]),
    D.server("bridge/server/option-out-of-range", "SERVER", "a numeric option out of range (--login-timeout, --sendq, --max-connections) is a usage error: exit 2",
        Contract, super::option_out_of_range)
        .needs(&[Need::OwnServer]),
    D.client("bridge/client/trace", "CLIENT", "with `-v` each line of every message sent and received shows on stderr after `> ` or `< `, the closing empty line as a bare `> ` or `< `; stdout unchanged",
        Contract, client_trace),
];

// ---- messages, by hand ----

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

fn chat_hello(id: &str, port: &str) -> String {
    format!("CHAT\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n")
}

fn chat_line(id: &str, message: &str) -> String {
    format!("CHAT\r\nclientID: {id}\r\nMessage: {message}\r\n\r\n")
}

/// One request on a connection of its own, as a client makes it.
fn ask(ctx: &mut Ctx, request: &str, want: &str) -> Check {
    let mut conn = ctx.connect("client")?;
    conn.send(request)?;
    expect_block(&mut conn, want)
}

fn reg(ctx: &mut Ctx, id: &str, port: &str) -> Check {
    ask(ctx, &register(id, port), &regack(id, port))
}

/// Registers `id` as setup for a case of another feature: whatever the
/// REGACK says (the REGISTER cases check it).
fn registered(ctx: &mut Ctx, id: &str, port: &str) -> Check {
    let mut conn = ctx.connect("client")?;
    conn.send(register(id, port))?;
    read_block(&mut conn).map(drop)
}

/// Reads one block, up to its empty line (CRLF or, as receivers also
/// accept, bare LF), as sent.
fn read_block(conn: &mut Conn) -> Result<String, Failure> {
    let mut block = Vec::new();
    while !(lf(&block).ends_with(b"\n\n") || block.len() > 65_536) {
        match conn.read_exact(1) {
            Ok(b) => block.extend(b),
            Err(f) if block.is_empty() => return Err(f),
            Err(f) => {
                return Err(Failure {
                    received: block,
                    ..f
                })
            }
        }
        if lf(&block) == b"\n" {
            // A lone line end before a block: not a block of its own.
            return Err(Failure::new(
                format!("{}: a block", conn.label()),
                "a type line",
                &block,
            ));
        }
    }
    Ok(String::from_utf8_lossy(&block).into_owned())
}

/// `bytes` with every CR before an LF dropped.
fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Expects the block `want` next, its line ends CRLF or bare LF: what a
/// receiver accepts. The exact CRLF bytes are the `crlf` cases' business.
fn expect_block(conn: &mut Conn, want: impl AsRef<[u8]>) -> Check {
    let want = want.as_ref();
    let got = read_block(conn).map_err(|f| Failure {
        expected: want.to_vec(),
        ..f
    })?;
    ensure(
        lf(got.as_bytes()) == lf(want),
        format!("{}: the next block (CRLF or LF)", conn.label()),
        &String::from_utf8_lossy(want),
        &got,
    )
}

// ---- server cases ----

fn register_regack(ctx: &mut Ctx) -> Check {
    ask(ctx, &register("RegOk1", "5001"), &regack("RegOk1", "5001"))
}

fn register_ipv6(ctx: &mut Ctx) -> Check {
    ask(
        ctx,
        "REGISTER\r\nclientID: RegSix\r\nIP: ::1\r\nPort: 5003\r\n\r\n",
        "REGACK\r\nclientID: RegSix\r\nIP: ::1\r\nPort: 5003\r\nStatus: registered\r\n\r\n",
    )
}

fn register_bare_lf(ctx: &mut Ctx) -> Check {
    let request = register("RegLf1", "5002").replace("\r\n", "\n");
    ask(ctx, &request, &regack("RegLf1", "5002"))
}

fn server_crlf_bytes(ctx: &mut Ctx) -> Check {
    let mut conn = ctx.connect("client")?;
    conn.send(register("Crlf1", "5001"))?;
    conn.expect_bytes(regack("Crlf1", "5001"))?;
    let mut conn = ctx.connect("client")?;
    conn.send(bridge("Crlf1"))?;
    conn.expect_bytes(EMPTY_BRIDGEACK)?;
    let mut conn = ctx.connect("client")?;
    conn.send(register("Crlf2", "5002").replace("\r\n", "\n"))?;
    conn.expect_bytes(regack("Crlf2", "5002"))?;
    let mut conn = ctx.connect("client")?;
    conn.send(bridge("Crlf2"))?;
    conn.expect_bytes(bridgeack("Crlf1", "5001"))
}

fn register_rejected(ctx: &mut Ctx) -> Check {
    let n33 = "a".repeat(33);
    #[rustfmt::skip]
    let cases: Vec<(String, String)> = vec![
        ("IP: 127.0.0.1\r\nPort: 5000\r\n".into(), "clientID: \r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into()),
        ("clientID: Bad1\r\nPort: 5000\r\n".into(), "clientID: Bad1\r\nIP: \r\nPort: 5000\r\n".into()),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\n".into(), "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: \r\n".into()),
        ("clientID: Bad 1\r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into(), "clientID: Bad 1\r\nIP: 127.0.0.1\r\nPort: 5000\r\n".into()),
        (format!("clientID: {n33}\r\nIP: 127.0.0.1\r\nPort: 5000\r\n"), format!("clientID: {n33}\r\nIP: 127.0.0.1\r\nPort: 5000\r\n")),
        ("clientID: Bad1\r\nIP: localhost\r\nPort: 5000\r\n".into(), "clientID: Bad1\r\nIP: localhost\r\nPort: 5000\r\n".into()),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 0\r\n".into(), "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 0\r\n".into()),
        ("clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 65536\r\n".into(), "clientID: Bad1\r\nIP: 127.0.0.1\r\nPort: 65536\r\n".into()),
    ];
    for (sent, echoed) in cases {
        let mut conn = ctx.connect("client")?;
        conn.send(format!("REGISTER\r\n{sent}\r\n"))?;
        let got = read_block(&mut conn)?;
        let head = format!("REGACK\r\n{echoed}Status: rejected (");
        let (g, h) = (lf(got.as_bytes()), lf(head.as_bytes()));
        ensure(
            g.starts_with(&h) && g.ends_with(b")\n\n") && g.len() > h.len() + 3,
            "REGACK to a bad REGISTER",
            &format!("{head}<reason>)\r\n\r\n"),
            &got,
        )?;
    }
    // Nothing was registered: a BRIDGE from Bad1 is the unregistered one's.
    ask(ctx, &bridge("Bad1"), EMPTY_BRIDGEACK)
}

fn register_update(ctx: &mut Ctx) -> Check {
    reg(ctx, "Alice", "8000")?;
    reg(ctx, "Bob", "9000")?;
    reg(ctx, "Alice", "8001")?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8001"))
}

fn register_connection_kept(ctx: &mut Ctx) -> Check {
    let mut conn = ctx.connect("client")?;
    conn.send(register("Keep1", "5011"))?;
    expect_block(&mut conn, regack("Keep1", "5011"))?;
    conn.send(register("Keep1", "5012"))?;
    expect_block(&mut conn, regack("Keep1", "5012"))
}

fn bridge_empty_when_alone(ctx: &mut Ctx) -> Check {
    registered(ctx, "Alone", "5001")?;
    let mut conn = ctx.connect("client")?;
    conn.send(bridge("Alone"))?;
    expect_block(&mut conn, EMPTY_BRIDGEACK)
}

fn bridge_second_gets_first(ctx: &mut Ctx) -> Check {
    registered(ctx, "student1", "2500")?;
    // However the first is answered (empty-when-alone checks it).
    let mut conn = ctx.connect("client")?;
    conn.send(bridge("student1"))?;
    read_block(&mut conn)?;
    registered(ctx, "student2", "2000")?;
    ask(ctx, &bridge("student2"), &bridgeack("student1", "2500"))
}

fn bridge_first_gets_second(ctx: &mut Ctx) -> Check {
    registered(ctx, "Alice", "8000")?;
    registered(ctx, "Bob", "9000")?;
    ask(ctx, &bridge("Alice"), &bridgeack("Bob", "9000"))?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8000"))
}

fn bridge_partner_again(ctx: &mut Ctx) -> Check {
    registered(ctx, "Alice", "8000")?;
    ask(ctx, &bridge("Alice"), EMPTY_BRIDGEACK)?;
    registered(ctx, "Bob", "9000")?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8000"))?;
    registered(ctx, "Carol", "7000")?;
    ask(ctx, &bridge("Alice"), &bridgeack("Bob", "9000"))?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8000"))?;
    ask(ctx, &bridge("Carol"), EMPTY_BRIDGEACK)
}

fn bridge_waiting_first(ctx: &mut Ctx) -> Check {
    registered(ctx, "Amy", "8000")?;
    ask(ctx, &bridge("Amy"), EMPTY_BRIDGEACK)?;
    // Asking again while waiting: still waiting.
    ask(ctx, &bridge("Amy"), EMPTY_BRIDGEACK)?;
    registered(ctx, "Ben", "8001")?;
    registered(ctx, "Cat", "8002")?;
    ask(ctx, &bridge("Cat"), &bridgeack("Amy", "8000"))?;
    ask(ctx, &bridge("Ben"), EMPTY_BRIDGEACK)
}

fn bridge_four_in_turn(ctx: &mut Ctx) -> Check {
    registered(ctx, "Four1", "6001")?;
    ask(ctx, &bridge("Four1"), EMPTY_BRIDGEACK)?;
    registered(ctx, "Four2", "6002")?;
    ask(ctx, &bridge("Four2"), &bridgeack("Four1", "6001"))?;
    registered(ctx, "Four3", "6003")?;
    ask(ctx, &bridge("Four3"), EMPTY_BRIDGEACK)?;
    registered(ctx, "Four4", "6004")?;
    ask(ctx, &bridge("Four4"), &bridgeack("Four3", "6003"))
}

fn bridge_four_registered_first(ctx: &mut Ctx) -> Check {
    for (id, port) in [
        ("Reg1", "6001"),
        ("Reg2", "6002"),
        ("Reg3", "6003"),
        ("Reg4", "6004"),
    ] {
        registered(ctx, id, port)?;
    }
    ask(ctx, &bridge("Reg1"), &bridgeack("Reg2", "6002"))?;
    ask(ctx, &bridge("Reg2"), &bridgeack("Reg1", "6001"))?;
    ask(ctx, &bridge("Reg3"), &bridgeack("Reg4", "6004"))?;
    ask(ctx, &bridge("Reg4"), &bridgeack("Reg3", "6003"))
}

fn bridge_unregistered(ctx: &mut Ctx) -> Check {
    let mut conn = ctx.connect("client")?;
    conn.send(bridge("NeverRegistered"))?;
    expect_block(&mut conn, EMPTY_BRIDGEACK)?;
    let mut conn = ctx.connect("client")?;
    conn.send("BRIDGE\r\n\r\n")?;
    expect_block(&mut conn, EMPTY_BRIDGEACK)?;
    // Neither became the one waiting: the next two pair with each other.
    registered(ctx, "Un1", "5001")?;
    ask(ctx, &bridge("Un1"), EMPTY_BRIDGEACK)?;
    registered(ctx, "Un2", "5002")?;
    ask(ctx, &bridge("Un2"), &bridgeack("Un1", "5001"))
}

fn anything_else_closes(ctx: &mut Ctx) -> Check {
    for junk in [
        "HELLO\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "QUIT\r\n\r\n",
        "CHAT\r\nclientID: X\r\nMessage: hi\r\n\r\n",
        "REGACK\r\nclientID: X\r\nIP: \r\nPort: \r\nStatus: registered\r\n\r\n",
        "BRIDGE\r\nclientID without colon\r\n\r\n",
    ] {
        let mut conn = ctx.connect("junk")?;
        conn.send(junk)?;
        conn.expect_closed()?;
    }
    registered(ctx, "Else1", "5001")
}

fn endless_block(ctx: &mut Ctx) -> Check {
    let mut conn = ctx.connect("endless")?;
    conn.send("REGISTER\r\nclientID: ")?;
    // The server closes once the block passes its limit; a write after
    // that may fail, which is the point.
    let chunk = vec![b'x'; 8192];
    for _ in 0..16 {
        if conn.send(&chunk).is_err() {
            break;
        }
        if conn.is_closed() {
            break;
        }
    }
    conn.read_to_close(usize::MAX)?;
    ensure(
        conn.is_closed(),
        "a block of 128 KiB without an end",
        "the connection closed",
        "still open",
    )?;
    registered(ctx, "Endless1", "5001")
}

fn login_timeout(ctx: &mut Ctx) -> Check {
    let mut done = ctx.connect("done")?;
    done.send(register("LtDone", "5001"))?;
    expect_block(&mut done, regack("LtDone", "5001"))?;
    let mut half = ctx.connect("half")?;
    half.send("REGISTER\r\nclientID: LtHalf\r\n")?;
    half.expect_closed()?;
    // The one that finished its request is still served.
    done.send(register("LtDone", "5002"))?;
    expect_block(&mut done, regack("LtDone", "5002"))
}

fn no_login_timeout(ctx: &mut Ctx) -> Check {
    let mut slow = ctx.connect("slow")?;
    slow.send("REGISTER\r\nclientID: Patient\r\n")?;
    slow.expect_silence(std::time::Duration::from_millis(1500))?;
    slow.send("IP: 127.0.0.1\r\nPort: 5001\r\n\r\n")?;
    expect_block(&mut slow, regack("Patient", "5001"))
}

fn shutdown_by(ctx: &mut Ctx, signal: i32) -> Check {
    let mut idle = ctx.connect("idle")?;
    idle.send(register("SdIdle", "5001"))?;
    expect_block(&mut idle, regack("SdIdle", "5001"))?;
    let mut half = ctx.connect("half")?;
    half.send("BRIDGE\r\n")?;
    super::direct::shutdown_check(ctx, signal, vec![idle, half])
}

fn server_ctrl_c_ends(ctx: &mut Ctx) -> Check {
    registered(ctx, "CcAlice", "5001")?;
    ctx.signal_server(libc::SIGINT)?;
    ctx.expect_server_exit().map(drop)
}

fn shutdown(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGTERM)
}

fn shutdown_sigint(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGINT)
}

fn handout_line(line: &str) -> bool {
    !line.starts_with("fd ")
}

fn expect_line(ctx: &mut Ctx, what: &str, want: &str) -> Check {
    let got = ctx.expect_status(what, |l| {
        handout_line(l) && !l.starts_with("Server listening")
    })?;
    ensure(got == want, format!("status line for {what}"), want, &got)
}

fn listening_line(ctx: &mut Ctx) -> Check {
    let port = ctx.addr()?.port();
    let got = ctx.expect_status("Server listening on IP:PORT", |l| {
        l.starts_with("Server listening on ")
    })?;
    let want_end = format!(":{port}");
    ensure(
        got.ends_with(&want_end),
        "the listening line names the port",
        &format!("Server listening on <ip>:{port}"),
        &got,
    )
}

fn register_status_line(ctx: &mut Ctx) -> Check {
    registered(ctx, "Alice", "8000")?;
    expect_line(
        ctx,
        "REGISTER",
        "REGISTER: Alice from 127.0.0.1:8000 received",
    )
}

fn bridge_status_line(ctx: &mut Ctx) -> Check {
    registered(ctx, "student1", "2500")?;
    registered(ctx, "student2", "2000")?;
    ask(ctx, &bridge("student2"), &bridgeack("student1", "2500"))?;
    // Past the REGISTER lines (the REGISTER cases check them).
    let want = "BRIDGE: student2 127.0.0.1:2000 student1 127.0.0.1:2500";
    let got = ctx.expect_status(want, |l| l.starts_with("BRIDGE: "))?;
    ensure(got == want, "status line for BRIDGE", want, &got)
}

fn bridge_status_line_empty(ctx: &mut Ctx) -> Check {
    registered(ctx, "Alone", "2500")?;
    ask(ctx, &bridge("Alone"), EMPTY_BRIDGEACK)?;
    expect_line(
        ctx,
        "REGISTER",
        "REGISTER: Alone from 127.0.0.1:2500 received",
    )?;
    expect_line(ctx, "BRIDGE", "BRIDGE: Alone 127.0.0.1:2500")
}

fn info(ctx: &mut Ctx) -> Check {
    registered(ctx, "Bob", "9000")?;
    registered(ctx, "Alice", "8000")?;
    registered(ctx, "Bob", "9001")?;
    ctx.server_stdin("/info\n")?;
    // Past the REGISTER lines (the REGISTER cases check them).
    for want in ["Bob 127.0.0.1:9001", "Alice 127.0.0.1:8000"] {
        let got = ctx.expect_status(want, |l| l.starts_with("Bob ") || l.starts_with("Alice "))?;
        ensure(got == want, "a line of /info", want, &got)?;
    }
    Ok(())
}

fn registry_path(ctx: &Ctx) -> std::path::PathBuf {
    ctx.dir().join("bridge-registry.txt")
}

fn read_registry(ctx: &Ctx) -> Result<Vec<u8>, Failure> {
    let path = registry_path(ctx);
    std::fs::read(&path).map_err(|e| {
        Failure::note(format!(
            "cannot read the registry file {} (the server's default, in its working folder): {e}",
            path.display()
        ))
    })
}

/// The registry as the contract reads it: `clientID IP Port` lines, the
/// last line of an id being its contact, ids in order of first appearance.
fn registry_contacts(bytes: &[u8]) -> Vec<(String, String)> {
    let mut contacts: Vec<(String, String)> = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let words: Vec<&str> = line.split(' ').collect();
        let valid = |id: &str, ip: &str, port: &str| {
            (1..=32).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
                && ip.parse::<std::net::IpAddr>().is_ok()
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        };
        if let [id, ip, port] = words[..] {
            if !valid(id, ip, port) {
                continue;
            }
            let contact = format!("{ip} {port}");
            match contacts.iter_mut().find(|(i, _)| i == id) {
                Some(entry) => entry.1 = contact,
                None => contacts.push((id.to_string(), contact)),
            }
        }
    }
    contacts
}

fn expect_registry(ctx: &Ctx, what: &str, want: &[(&str, &str)]) -> Check {
    let got = read_registry(ctx)?;
    let contacts = registry_contacts(&got);
    let ok = contacts.len() == want.len()
        && contacts
            .iter()
            .zip(want)
            .all(|((i, c), (wi, wc))| i == wi && c == wc);
    let want: String = want.iter().map(|(i, c)| format!("{i} {c}\n")).collect();
    ensure(ok, what, &want, &String::from_utf8_lossy(&got))
}

fn registry_file(ctx: &mut Ctx) -> Check {
    reg(ctx, "Alice", "8000")?;
    expect_registry(
        ctx,
        "registry after one REGISTER",
        &[("Alice", "127.0.0.1 8000")],
    )?;
    reg(ctx, "Bob", "9000")?;
    reg(ctx, "Alice", "8001")?;
    expect_registry(
        ctx,
        "registry after an update (read as the server reads it: an id's last line is its contact)",
        &[("Alice", "127.0.0.1 8001"), ("Bob", "127.0.0.1 9000")],
    )
}

fn registry_option(ctx: &mut Ctx) -> Check {
    reg(ctx, "Alice", "8000")?;
    let path = ctx.dir().join("contacts.txt");
    let got = std::fs::read(&path)
        .map_err(|e| Failure::note(format!("cannot read {}: {e}", path.display())))?;
    let contacts = registry_contacts(&got);
    ensure(
        contacts == [("Alice".to_string(), "127.0.0.1 8000".to_string())],
        "contacts.txt",
        "Alice 127.0.0.1 8000\n",
        &String::from_utf8_lossy(&got),
    )?;
    ensure(
        !registry_path(ctx).exists(),
        "bridge-registry.txt",
        "absent",
        "present",
    )
}

fn registry_kill_9(ctx: &mut Ctx) -> Check {
    reg(ctx, "Alice", "8000")?;
    reg(ctx, "Bob", "9000")?;
    reg(ctx, "Alice", "8001")?;
    ctx.signal_server(libc::SIGKILL)?;
    ctx.expect_server_exit()?;
    ctx.start_server()?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8001"))
}

fn registry_lenient(ctx: &mut Ctx) -> Check {
    let original: &[u8] =
        b"Alice 127.0.0.1 8000\nnot a contact\n\xff\xfe 1.2.3.4 5\nBob 127.0.0.1 9000\n";
    std::fs::write(registry_path(ctx), original)
        .map_err(|e| Failure::note(format!("cannot write the registry file: {e}")))?;
    ctx.start_server()?;
    ask(ctx, &bridge("Bob"), &bridgeack("Alice", "8000"))?;
    reg(ctx, "Carol", "7000")?;
    let got = read_registry(ctx)?;
    ensure(
        got.starts_with(original) || got.windows(original.len()).any(|w| w == original),
        "the registry keeps the lines it could not read, as they were",
        &String::from_utf8_lossy(original),
        &String::from_utf8_lossy(&got),
    )?;
    expect_registry(
        ctx,
        "the registry holds every contact",
        &[
            ("Alice", "127.0.0.1 8000"),
            ("Bob", "127.0.0.1 9000"),
            ("Carol", "127.0.0.1 7000"),
        ],
    )
}

// ---- the client ----

/// A bridge client under test, with the checker's rendezvous server.
struct Session {
    client: Client,
    server: Listener,
    id: String,
    port: String,
}

/// Starts the client as `id` on a free port, against a listener of the
/// checker, and expects its `running on` line.
fn start(ctx: &mut Ctx, id: &str) -> Result<Session, Failure> {
    let server = ctx.listen("server")?;
    let port = free_port()?.to_string();
    let mut client =
        ctx.start_client(&[("port", &server.port()), ("id", id), ("peer_port", &port)])?;
    client.expect_output(ctx, format!("{id} running on 127.0.0.1:{port}\n"))?;
    Ok(Session {
        client,
        server,
        id: id.to_string(),
        port,
    })
}

impl Session {
    fn type_in(&mut self, ctx: &mut Ctx, text: &str) -> Check {
        self.client.type_in(ctx, text)
    }

    /// `/register`, answered, and the connection closed by the client.
    fn register(&mut self, ctx: &mut Ctx) -> Check {
        self.type_in(ctx, "/register\n")?;
        let mut conn = self.server.accept()?;
        expect_block(&mut conn, register(&self.id, &self.port))?;
        conn.send(regack(&self.id, &self.port))?;
        conn.expect_closed()
    }

    /// `/bridge`, answered with `answer`, and the connection closed.
    fn bridge(&mut self, ctx: &mut Ctx, answer: &str) -> Check {
        self.type_in(ctx, "/bridge\n")?;
        let mut conn = self.server.accept()?;
        expect_block(&mut conn, bridge(&self.id))?;
        conn.send(answer)?;
        conn.expect_closed()
    }

    /// `/register` as setup for a case of another feature: whatever block
    /// the client sends is answered with the REGACK (the REGISTER cases
    /// check the request and the close).
    fn registered(&mut self, ctx: &mut Ctx) -> Check {
        self.type_in(ctx, "/register\n")?;
        let mut conn = self.server.accept()?;
        read_block(&mut conn)?;
        conn.send(regack(&self.id, &self.port))
    }

    /// `/bridge` as setup, answered with `answer` whatever the request
    /// looks like (the BRIDGE cases check it).
    fn bridged(&mut self, ctx: &mut Ctx, answer: &str) -> Check {
        self.type_in(ctx, "/bridge\n")?;
        let mut conn = self.server.accept()?;
        read_block(&mut conn)?;
        conn.send(answer)
    }

    /// Registers and waits for a peer (an empty BRIDGEACK); proves it is
    /// done with `/id`.
    fn wait_for_peer(&mut self, ctx: &mut Ctx) -> Check {
        self.registered(ctx)?;
        self.bridged(ctx, EMPTY_BRIDGEACK)?;
        self.type_in(ctx, "/id\n")?;
        let id = format!("{}\n", self.id);
        self.client.expect_output(ctx, id)
    }

    /// The checker, as peer `who` on port 7000, calls the waiting client.
    fn call(&mut self, ctx: &mut Ctx, who: &str) -> Result<Conn, Failure> {
        let mut peer = self.connect(ctx, who)?;
        peer.send(chat_hello(who, "7000"))?;
        self.client.expect_output(
            ctx,
            format!("Incoming chat request from {who} 127.0.0.1:7000\n"),
        )?;
        Ok(peer)
    }

    fn connect(&mut self, ctx: &mut Ctx, label: &str) -> Result<Conn, Failure> {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port)
            .parse()
            .map_err(|e| Failure::note(format!("bad address: {e}")))?;
        Conn::connect(addr, label, ctx.transcript(), ctx.timeout, None)
    }

    /// Registers, bridges to a peer listener of the checker, `/chat`s:
    /// the checker's peer takes the call and its first CHAT.
    fn chat_out(&mut self, ctx: &mut Ctx, peer_id: &str) -> Result<Conn, Failure> {
        let mut peer = ctx.listen("peer")?;
        self.registered(ctx)?;
        let answer = format!(
            "BRIDGEACK\r\nclientID: {peer_id}\r\nIP: 127.0.0.1\r\nPort: {}\r\n\r\n",
            peer.port()
        );
        self.bridged(ctx, &answer)?;
        self.type_in(ctx, "/chat\n")?;
        let mut conn = peer.accept()?;
        expect_block(&mut conn, chat_hello(&self.id, &self.port))?;
        Ok(conn)
    }
}

fn client_running_on(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "student1")?;
    s.server
        .expect_no_connection(std::time::Duration::from_millis(500))?;
    s.registered(ctx)?;
    s.server
        .expect_no_connection(std::time::Duration::from_millis(300))
}

fn client_id(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Alice\n")
}

fn client_register(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.register(ctx)?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Alice\n")
}

fn client_bridge(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Bob")?;
    s.registered(ctx)?;
    s.bridge(ctx, &bridgeack("Alice", "8000"))?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Bob\n")
}

fn client_incoming_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send(chat_line("Bob", "Hello Alice"))?;
    s.client.expect_output(ctx, "Hello Alice\n")?;
    s.type_in(ctx, "How are you doing, Bob?\n")?;
    expect_block(&mut bob, chat_line("Alice", "How are you doing, Bob?"))?;
    bob.send(chat_line("Bob", "Doing well, Alice. Time for coffee?"))?;
    s.client
        .expect_output(ctx, "Doing well, Alice. Time for coffee?\n")
}

fn client_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Bob")?;
    let mut alice = s.chat_out(ctx, "Alice")?;
    // An empty line typed is not sent.
    s.type_in(ctx, "\nHello Alice\n")?;
    expect_block(&mut alice, chat_line("Bob", "Hello Alice"))?;
    alice.send(chat_line("Alice", "How are you doing, Bob?"))?;
    s.client.expect_output(ctx, "How are you doing, Bob?\n")?;
    s.type_in(ctx, "Doing well, Alice. Time for coffee?\n")?;
    expect_block(
        &mut alice,
        chat_line("Bob", "Doing well, Alice. Time for coffee?"),
    )
}

fn client_called_by_peer(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.registered(ctx)?;
    s.bridged(ctx, &bridgeack("Bob", "7000"))?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Alice\n")?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send(chat_line("Bob", "I was first"))?;
    s.client.expect_output(ctx, "I was first\n")?;
    s.type_in(ctx, "so you were\n")?;
    expect_block(&mut bob, chat_line("Alice", "so you were"))
}

fn client_crlf_bytes(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Bob")?;
    let mut peer = ctx.listen("peer")?;
    s.type_in(ctx, "/register\n")?;
    let mut conn = s.server.accept()?;
    conn.expect_bytes(register("Bob", &s.port))?;
    conn.send(regack("Bob", &s.port))?;
    s.type_in(ctx, "/bridge\n")?;
    let mut conn = s.server.accept()?;
    conn.expect_bytes(bridge("Bob"))?;
    conn.send(bridgeack("Alice", &peer.port()))?;
    s.type_in(ctx, "/chat\n")?;
    let mut alice = peer.accept()?;
    alice.expect_bytes(chat_hello("Bob", &s.port))?;
    s.type_in(ctx, "Hello Alice\n")?;
    alice.expect_bytes(chat_line("Bob", "Hello Alice"))?;
    s.type_in(ctx, "/quit\n")?;
    alice.expect_bytes(QUIT)?;
    s.client.expect_exit(ctx, 0)
}

fn client_chat_forms(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send("CHAT\r\nclientID: Bob\r\nType: message\r\nMessage: one\r\n\r\n")?;
    s.client.expect_output(ctx, "one\n")?;
    bob.send("CHAT\nclientID: Bob\nMessage: two\n\n")?;
    s.client.expect_output(ctx, "two\n")?;
    bob.send("Hello Alice\n")?;
    s.client.expect_output(ctx, "Hello Alice\n")?;
    bob.send("three, CRLF\r\n")?;
    s.client.expect_output(ctx, "three, CRLF\n")
}

fn client_type_quit(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send("CHAT\r\nclientID: Bob\r\nType: quit\r\n\r\n")?;
    s.client.expect_exit_code(ctx, 0)
}

fn client_bare_quit_line(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send(chat_line("Bob", "bye"))?;
    s.client.expect_output(ctx, "bye\n")?;
    bob.send("QUIT\n")?;
    s.client.expect_exit_code(ctx, 0)
}

fn client_unreadable_skipped(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send("CHAT\r\nclientID: Bob\r\n\r\n")?;
    bob.send(chat_line("Bob", "still here"))?;
    s.client.expect_output(ctx, "still here\n")?;
    s.type_in(ctx, "me too\n")?;
    expect_block(&mut bob, chat_line("Alice", "me too"))
}

fn client_quit_in_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Bob")?;
    let mut alice = s.chat_out(ctx, "Alice")?;
    s.type_in(ctx, "/quit\n")?;
    expect_block(&mut alice, QUIT)?;
    alice.expect_closed()?;
    s.client.expect_exit(ctx, 0)
}

fn client_quit_outside(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.registered(ctx)?;
    s.type_in(ctx, "/quit\n")?;
    s.client.expect_exit(ctx, 0)
}

fn client_received_quit(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Bob")?;
    let mut alice = s.chat_out(ctx, "Alice")?;
    s.type_in(ctx, "Okay Alice, another time.\n")?;
    expect_block(&mut alice, chat_line("Bob", "Okay Alice, another time."))?;
    alice.send(QUIT)?;
    s.client.expect_exit(ctx, 0)
}

fn client_peer_vanishes(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Ivy")?;
    let hank = s.chat_out(ctx, "Hank")?;
    hank.reset();
    s.client.expect_exit_code(ctx, 0)
}

fn client_ctrl_c_in_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Frank")?;
    let mut erin = s.chat_out(ctx, "Erin")?;
    s.type_in(ctx, "hello Erin\n")?;
    expect_block(&mut erin, chat_line("Frank", "hello Erin"))?;
    erin.send(chat_line("Erin", "hi Frank"))?;
    s.client.expect_output(ctx, "hi Frank\n")?;
    s.client.signal(ctx, libc::SIGINT);
    expect_block(&mut erin, QUIT)?;
    erin.expect_closed()?;
    s.client.expect_exit_code(ctx, 0)
}

/// The handout asks that it ends, the contract that it exits 0: any
/// status passes here.
fn client_ctrl_c_ends_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Frank")?;
    let mut erin = s.chat_out(ctx, "Erin")?;
    s.client.signal(ctx, libc::SIGINT);
    erin.read_to_close(1 << 16)?;
    ensure(
        erin.is_closed(),
        "the peer's connection after Ctrl-C",
        "closed",
        "still open",
    )?;
    s.client.expect_exit_any(ctx).map(drop)
}

fn client_ctrl_c_ends(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Gina")?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Gina\n")?;
    s.client.signal(ctx, libc::SIGINT);
    s.client.expect_exit_any(ctx).map(drop)
}

fn client_ctrl_c_outside(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Gina")?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Gina\n")?;
    s.client.signal(ctx, libc::SIGINT);
    s.client.expect_exit_code(ctx, 0)
}

fn client_unknown_commands(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Jack")?;
    s.type_in(ctx, "/unknown\nsome text\n/ID\n/id\n")?;
    s.client.expect_output(ctx, "Jack\n")?;
    s.server
        .expect_no_connection(std::time::Duration::from_millis(200))
}

fn client_end_of_input_idle(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Jack")?;
    s.registered(ctx)?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Jack\n")?;
    s.client.close_stdin(ctx);
    s.client.expect_exit(ctx, 0)
}

fn client_end_of_input_waiting(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Kim")?;
    s.wait_for_peer(ctx)?;
    s.client.close_stdin(ctx);
    let mut lee = s.call(ctx, "Lee")?;
    lee.send(chat_line("Lee", "anyone there?"))?;
    s.client.expect_output(ctx, "anyone there?\n")?;
    lee.send(QUIT)?;
    s.client.expect_exit(ctx, 0)
}

fn client_chat_before_bridge(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Nat")?;
    s.registered(ctx)?;
    let mut stranger = s.connect(ctx, "stranger")?;
    stranger.send(chat_hello("Eve", "7000"))?;
    stranger.expect_closed()?;
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Nat\n")
}

fn client_stranger_during_chat(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    let mut eve = s.connect(ctx, "stranger")?;
    eve.expect_closed()?;
    bob.send(chat_line("Bob", "still us"))?;
    s.client.expect_output(ctx, "still us\n")?;
    s.type_in(ctx, "yes\n")?;
    expect_block(&mut bob, chat_line("Alice", "yes"))
}

fn client_silent_caller_cut(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let addr: SocketAddr = format!("127.0.0.1:{}", s.port)
        .parse()
        .map_err(|e| Failure::note(format!("bad address: {e}")))?;
    // The contract's 10 s, and some slack: this wait is longer than --timeout.
    let patience = std::time::Duration::from_secs(13).max(ctx.timeout);
    let mut silent = Conn::connect(addr, "silent", ctx.transcript(), patience, None)?;
    silent.send("CHAT\r\nclientID: Eve\r\n")?;
    silent.expect_closed()?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send(chat_line("Bob", "hello"))?;
    s.client.expect_output(ctx, "hello\n")
}

fn client_terminal_safe(ctx: &mut Ctx) -> Check {
    let mut s = start(ctx, "Alice")?;
    s.wait_for_peer(ctx)?;
    let mut bob = s.call(ctx, "Bob")?;
    bob.send(chat_line("Bob", "\x1b]0;pwned\x07\x1b[2J"))?;
    s.client.expect_output(ctx, "^[]0;pwned^G^[[2J\n")
}

fn client_unable(ctx: &mut Ctx) -> Check {
    let port = free_port()?.to_string();
    let peer_port = free_port()?.to_string();
    let mut c = ctx.start_client(&[("port", &port), ("id", "Max"), ("peer_port", &peer_port)])?;
    // The client may find out at start or at its first request.
    let _ = c.type_in(ctx, "/register\n");
    c.expect_output_until(ctx, &format!("Unable to connect to 127.0.0.1:{port}\n"))?;
    c.expect_exit_code(ctx, 1)
}

fn client_trace(ctx: &mut Ctx) -> Check {
    let server = ctx.listen("server")?;
    let port = free_port()?.to_string();
    let client = ctx.start_client_with(
        &[
            ("port", &server.port()),
            ("id", "Alice"),
            ("peer_port", &port),
        ],
        &["-v"],
    )?;
    let mut s = Session {
        client,
        server,
        id: "Alice".to_string(),
        port: port.clone(),
    };
    s.client
        .expect_output(ctx, format!("Alice running on 127.0.0.1:{port}\n"))?;
    s.registered(ctx)?;
    // stdout stays exactly as without -v.
    s.type_in(ctx, "/id\n")?;
    s.client.expect_output(ctx, "Alice\n")?;
    let sent = [
        "REGISTER",
        "clientID: Alice",
        "IP: 127.0.0.1",
        &format!("Port: {port}"),
        "",
    ];
    let got = [
        "REGACK",
        "clientID: Alice",
        "IP: 127.0.0.1",
        &format!("Port: {port}"),
        "Status: registered",
        "",
    ];
    for line in sent {
        s.client.expect_stderr_line(ctx, &format!("> {line}"))?;
    }
    for line in got {
        s.client.expect_stderr_line(ctx, &format!("< {line}"))?;
    }
    Ok(())
}
