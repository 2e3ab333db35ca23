//! direct: every rule of the contract's section with exact bytes (login,
//! list, sendto, logout, malformed bodies, the 70,000-byte limit, any split
//! of the stream, departures), and the client: every command, every error
//! line, what it prints for each frame, end of input.
//!
//! Frames are written out by hand here. Server cases that need nothing of
//! their own may share one running server: each uses names with a prefix of
//! its own, and a LIST is compared on the names with that prefix (the case
//! `direct/list/exact-bytes`, on a server of its own, compares the whole
//! frame).

use std::time::Instant;

use crate::conn::Conn;
use crate::target::free_port;
use crate::{ensure, Case, Check, Ctx, Dialect, Failure, Need, Source};

use Source::{Contract, Handout};

const D: Dialect = Dialect::Direct;

const OK: &[u8] = b"\x82\x00\x00\x00\x01\x00";
const FAILURE: &[u8] = b"\x82\x00\x00\x00\x01\x01";
const MALFORMED: &[u8] = b"\x82\x00\x00\x00\x01\x02";
const LIST: &[u8] = b"\x02\x00\x00\x00\x00";
const LOGOUT: &[u8] = b"\x04\x00\x00\x00\x00";

const EACH_GETS_A_REPLY: &str =
    "For each message that the client sends to the server the server will send a message back.";

pub const CASES: &[Case] = &[
    // ---- LOGIN ----
    D.server("direct/login/ok", "LOGIN", "login with a free name gets RESPONSE 0 (ok)",
        Handout("login: sends a login message to register with the server using the provided username."), login_ok),
    D.server("direct/login/already-logged-in", "LOGIN", "login on a connection that is logged in gets RESPONSE 1, as another name or the same",
        Contract, login_again),
    D.server("direct/login/name-in-use", "LOGIN", "login with a name in use gets RESPONSE 1; the connection may try another",
        Contract, login_taken),
    D.server("direct/login/case-sensitive", "LOGIN", "names differing only in case are different names",
        Handout("Screen names are treated as case sensitive."), login_case_sensitive),
    D.server("direct/login/whitespace", "LOGIN", "a name holding a space or a TAB gets RESPONSE 1 (failure)",
        Handout("The string may not contain any white space."), login_whitespace),
    D.server("direct/login/invalid-name", "LOGIN", "a name that is empty, over 20 bytes or holds Unicode whitespace gets RESPONSE 1",
        Contract, login_invalid),
    D.server("direct/login/20-bytes", "LOGIN", "a 20-byte name logs in and is listed",
        Contract, login_20),
    // ---- LIST ----
    D.server("direct/list/login-order", "LIST", "list gets LIST: a u16 count and the logged-in names (u8 length + bytes) in login order",
        Handout("For a successful list message the server will return a LIST message back."), list_login_order),
    D.server("direct/list/exact-bytes", "LIST", "LIST on an empty server is `81 00000002 0000`; with two users it holds exactly their names",
        Contract, list_exact)
        .needs(&[Need::OwnServer]),
    D.server("direct/list/before-login", "LIST", "list works without login",
        Contract, list_before_login),
    // ---- SENDTO ----
    D.server("direct/sendto/delivered", "SENDTO", "sendto reaches the recipient as SENDTO (sender name, text), then the sender gets RESPONSE 0",
        Handout("SENDTO message: sent whenever another client wishes to communicate with us."), sendto_delivered),
    D.server("direct/sendto/not-logged-in", "SENDTO", "sendto from a connection that is not logged in gets RESPONSE 1",
        Contract, sendto_not_logged_in),
    D.server("direct/sendto/unknown-recipient", "SENDTO", "sendto to a name nobody has logged in with gets RESPONSE 1",
        Contract, sendto_unknown),
    D.server("direct/sendto/to-oneself", "SENDTO", "a sendto to oneself arrives as SENDTO before its RESPONSE 0",
        Contract, sendto_oneself),
    D.server("direct/sendto/only-the-recipient", "SENDTO", "a SENDTO goes to the recipient only, once",
        Contract, sendto_only_recipient),
    D.server("direct/sendto/65535-bytes", "SENDTO", "a text of 65,535 bytes is delivered intact",
        Handout("If there are more than 65535 characters of text, the following error message should be printed"), sendto_65535),
    // ---- LOGOUT ----
    D.server("direct/logout/stays-open", "LOGOUT", "logout gets RESPONSE 0, the connection stays, list and login work after it",
        Handout("The client should not close the connection with the server when executing this command. After executing this command, the client should still be able to execute the list and login commands."), logout_stays_open),
    D.server("direct/logout/not-logged-in", "LOGOUT", "logout when not logged in gets RESPONSE 1",
        Contract, logout_not_logged_in),
    D.server("direct/logout/name-freed", "LOGOUT", "after logout the name is free and sendto to it fails",
        Contract, logout_name_freed),
    // ---- every frame, one reply ----
    D.server("direct/frames/one-reply-each", "FRAMING", "every client frame gets exactly one reply, in order, for many frames in one write",
        Handout(EACH_GETS_A_REPLY), one_reply_each),
    D.server("direct/frames/byte-at-a-time", "FRAMING", "frames sent one byte per write are answered as if sent whole",
        Contract, byte_at_a_time),
    D.server("direct/malformed/bodies", "FRAMING", "a body that does not parse (overrun, bad UTF-8, bytes left over) gets RESPONSE 2 and the connection goes on",
        Contract, malformed_bodies),
    D.server("direct/malformed/unknown-types", "FRAMING", "an unknown type (0x00, 0x05, a server type) gets RESPONSE 2 and the connection goes on",
        Contract, malformed_unknown_types),
    D.server("direct/limit/70000-goes-on", "LIMITS", "an unknown type with a body of exactly 70,000 bytes gets RESPONSE 2 and the connection goes on",
        Contract, limit_70000),
    D.server("direct/limit/over-70000-closes", "LIMITS", "a body length over 70,000 gets RESPONSE 2 from the header alone, and the connection is closed (and logged out)",
        Contract, limit_over_70000),
    // ---- departures ----
    D.server("direct/departure/fin", "LOGOUT", "a logged-in connection that closes (FIN) is logged out; its name is free",
        Contract, departure_fin),
    D.server("direct/departure/rst", "LOGOUT", "a logged-in connection that resets (RST) is logged out; its name is free",
        Contract, departure_rst),
    // ---- limits and the program ----
    D.server("direct/limit/slow-reader-cut-off", "LIMITS", "a logged-in user who does not read is disconnected past --sendq with `fd N: send queue exceeded (B bytes), disconnecting`; the others carry on",
        Contract, slow_reader)
        .needs(&[Need::Stdout, Need::Options(&["--sendq", "100000"])]),
    D.server("direct/limit/login-timeout", "LIMITS", "with --login-timeout 1 a connection that has not logged in is closed; a logged-in one stays",
        Contract, login_timeout)
        .needs(&[Need::Options(&["--login-timeout", "1"])]),
    D.server("direct/limit/no-login-timeout-by-default", "LIMITS", "by default a connection that has not logged in is never cut: after a pause it still logs in",
        Contract, no_login_timeout)
        .needs(&[Need::OwnServer]),
    D.server("direct/server/status-lines", "SERVER", "the server prints a status line per request naming the connection by its fd (`fd 7: ...`)",
        Contract, status_lines)
        .needs(&[Need::Stdout]),
    D.server("direct/server/status-terminal-safe", "SERVER", "a name with control characters shows in the status line in caret notation",
        Contract, status_terminal_safe)
        .needs(&[Need::Stdout]),
    D.server("direct/server/usage", "SERVER", "without a port the server prints a usage statement and exits with status 2",
        Contract, super::usage)
        .needs(&[Need::OwnServer]),
    D.server("direct/server/port-in-use", "SERVER", "a port that cannot be bound prints `error: cannot listen on ADDR:PORT: <reason>` on stderr and exits 1",
        Contract, super::port_in_use)
        .needs(&[Need::OwnServer]),
    D.server("direct/server/shutdown", "SERVER", "SIGTERM closes every connection and the server exits 0 within 2 s",
        Contract, shutdown)
        .needs(&[Need::Signal]),
    D.server("direct/server/shutdown-sigint", "SERVER", "SIGINT closes every connection and the server exits 0 within 2 s",
        Contract, shutdown_sigint)
        .needs(&[Need::Signal]),
    // ---- the client ----
    D.client("direct/client/login", "LOGIN", "`login <name>` sends the login frame; RESPONSE 0 prints `Success`",
        Handout("login: sends a login message to register with the server using the provided username."), client_login),
    D.client("direct/client/failure", "LOGIN", "RESPONSE 1 prints `Failure`",
        Handout("If result is failure, the client must print the following message:\nFailure"), client_failure),
    D.client("direct/client/malformed-packet", "LOGIN", "RESPONSE 2 prints `Malformed packet`",
        Contract, client_malformed_packet),
    D.client("direct/client/list", "LIST", "`list` sends the list frame; LIST prints one name per line, nothing for an empty list",
        Handout("list: sends a list message requesting the list of users already logged in."), client_list),
    D.client("direct/client/sendto", "SENDTO", "`sendto <name> <text>` sends the sendto frame with the rest of the line as text",
        Handout("sendto: sends a sendto message to the server to communicate with another client."), client_sendto),
    D.client("direct/client/sendto-prints", "SENDTO", "a SENDTO prints `<username>: <text>`",
        Handout("if Bob sends “Hi how are you?” to John, then John’s client should print out: Bob: Hi How are you?"), client_sendto_prints),
    D.client("direct/client/sendto-65535", "SENDTO", "a 65,535-byte text is sent whole in one frame",
        Contract, client_sendto_65535),
    D.client("direct/client/prints-while-typing", "SENDTO", "a SENDTO is printed at once, while a command is half typed",
        Handout("Client should be able to receive this message whenever it is logged in."), client_prints_while_typing),
    D.client("direct/client/logout", "LOGOUT", "`logout` sends the logout frame and keeps the connection: list and login still work",
        Handout("The client should not close the connection with the server when executing this command."), client_logout),
    D.client("direct/client/exit", "EXIT", "`exit` closes the socket and exits 0",
        Handout("exit: closes the client socket and exits the program."), client_exit),
    D.client("direct/client/bad-username", "LOGIN", "`login` without a name, with extra words or over 20 bytes, and sendto lacking a parameter or with a name over 20 bytes, print `Bad username` and send nothing",
        Handout("Any extra parameters after the username must cause the client to print an error. The error must also be printed if the username is more than 20 characters in length or if the username is not present. The following is the error:\nBad username"), client_bad_username),
    D.client("direct/client/name-bytes", "LOGIN", "the 20-name limit is in bytes: a name of 11 two-byte characters prints `Bad username`",
        Contract, client_name_bytes),
    D.client("direct/client/bad-message", "SENDTO", "a text over 65,535 bytes prints `Bad message` and sends nothing",
        Handout("If there are more than 65535 characters of text, the following error message should be printed to the console:\nBad message"), client_bad_message),
    D.client("direct/client/invalid-command", "EXIT", "extra words after list, logout or exit, and unknown commands, print `Invalid command` and send nothing",
        Handout("Any extra parameters must cause the client to print the following error:\nInvalid command"), client_invalid_command),
    D.client("direct/client/blank-lines", "CLIENT", "blank lines send nothing and print nothing",
        Contract, client_blank_lines),
    D.client("direct/client/split-frames", "CLIENT", "frames arriving one byte at a time are printed; a bad result or an unknown type is skipped",
        Contract, client_split_frames),
    D.client("direct/client/never-answers", "CLIENT", "the client sends nothing back in answer to a SENDTO",
        Handout("The client never sends messages back in response to messages received from the server."), client_never_answers),
    D.client("direct/client/end-of-input", "EXIT", "at end of stdin the client closes its sending half, prints every reply until the server closes, and exits 0",
        Contract, client_end_of_input),
    D.client("direct/client/server-closes", "EXIT", "when the server closes the connection the client exits 0",
        Contract, client_server_closes),
    D.client("direct/client/ctrl-c", "EXIT", "Ctrl-C ends the client with exit 0",
        Contract, client_ctrl_c),
    D.client("direct/client/terminal-safe", "CLIENT", "control characters from the network print in caret notation",
        Contract, client_terminal_safe),
    D.client("direct/client/unable-to-connect", "CLIENT", "a client that cannot connect prints `Unable to connect to <host>:<port>` and exits 1",
        Contract, client_unable),
    D.server("direct/server/help-version", "SERVER", "`--help` and `--version` print to stdout and exit 0",
        Contract, super::help_and_version)
        .needs(&[Need::OwnServer]),
    D.server("direct/server/option-out-of-range", "SERVER", "a numeric option out of range (--login-timeout, --sendq, --max-connections) is a usage error: exit 2",
        Contract, super::option_out_of_range)
        .needs(&[Need::OwnServer]),
];

// ---- frames, by hand ----

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

/// A connection that has logged in as `who`.
fn logged_in(ctx: &mut Ctx, who: &str) -> Result<Conn, Failure> {
    let mut conn = ctx.connect(who)?;
    conn.send(login(who))?;
    conn.expect_bytes(OK)?;
    Ok(conn)
}

/// Sends `list` and checks the LIST is well formed and that its names
/// starting with `prefix` are `want`, in that order.
fn expect_list(conn: &mut Conn, prefix: &str, want: &[&str]) -> Check {
    conn.send(LIST)?;
    let head = conn.read_exact(5)?;
    ensure(
        head[0] == 0x81,
        "reply to list: type",
        "0x81 (LIST)",
        &format!("{:#04x}", head[0]),
    )?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > 70_000 {
        return Err(Failure::new("LIST body length", "at most 70000", head));
    }
    let body = conn.read_exact(len)?;
    let names = parse_names(&body).ok_or_else(|| {
        Failure::new(
            "LIST body: u16 count, then count names (u8 length + bytes)",
            list_reply(want),
            [&head[..], &body[..]].concat(),
        )
    })?;
    let ours: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with(prefix))
        .collect();
    ensure(
        ours == want,
        format!("the names starting with {prefix:?} in the LIST"),
        &want.join(" "),
        &ours.join(" "),
    )
}

fn parse_names(body: &[u8]) -> Option<Vec<String>> {
    let count = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let mut at = 2;
    let mut names = Vec::new();
    for _ in 0..count {
        let n = *body.get(at)? as usize;
        let bytes = body.get(at + 1..at + 1 + n)?;
        names.push(String::from_utf8(bytes.to_vec()).ok()?);
        at += 1 + n;
    }
    (at == body.len()).then_some(names)
}

/// Asks until `who` is no longer logged in (a departure is handled when the
/// server sees the connection end), bounded by the timeout.
fn wait_logged_out(ctx: &Ctx, conn: &mut Conn, who: &str) -> Check {
    let deadline = Instant::now() + ctx.timeout;
    loop {
        conn.send(sendto(who, "ping"))?;
        let reply = conn.read_exact(6)?;
        if reply == FAILURE {
            return Ok(());
        }
        if reply != OK || Instant::now() >= deadline {
            return Err(Failure::new(
                format!("{who} is still logged in"),
                FAILURE,
                reply,
            ));
        }
    }
}

// ---- server cases ----

fn login_ok(ctx: &mut Ctx) -> Check {
    let mut a = ctx.connect("alice")?;
    a.send(b"\x01\x00\x00\x00\x08\x07okAlice")?;
    a.expect_bytes(OK)
}

fn login_again(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "laAlice")?;
    for again in ["laOther", "laAlice"] {
        a.send(login(again))?;
        a.expect_bytes(FAILURE)?;
    }
    expect_list(&mut a, "la", &["laAlice"])
}

fn login_taken(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "ltAlice")?;
    let mut b = ctx.connect("other")?;
    b.send(login("ltAlice"))?;
    b.expect_bytes(FAILURE)?;
    b.send(login("ltBob"))?;
    b.expect_bytes(OK)?;
    expect_list(&mut a, "lt", &["ltAlice", "ltBob"])
}

fn login_case_sensitive(ctx: &mut Ctx) -> Check {
    // The second login is no "name in use": that is all the handout asks
    // (the relay and the listing are the SENDTO and LIST cases').
    let _a = logged_in(ctx, "lcjohn")?;
    let _b = logged_in(ctx, "lcJohn")?;
    Ok(())
}

fn login_whitespace(ctx: &mut Ctx) -> Check {
    let mut other = ctx.connect("other")?;
    for bad in ["ws John", "ws\tJohn"] {
        other.send(login(bad))?;
        other.expect_bytes(FAILURE)?;
    }
    other.send(login("wsJohn"))?;
    other.expect_bytes(OK)
}

fn login_invalid(ctx: &mut Ctx) -> Check {
    let mut other = ctx.connect("other")?;
    let n21 = format!("li{}", "x".repeat(19));
    for bad in [
        String::new(),
        n21,
        "li a".into(),
        "li\ta".into(),
        "li\u{2003}a".into(),
        "li\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}a".into(), // 21 bytes, 11 chars
    ] {
        other.send(login(&bad))?;
        other.expect_bytes(FAILURE)?;
    }
    expect_list(&mut other, "li", &[])
}

fn login_20(ctx: &mut Ctx) -> Check {
    let n20 = format!("lw{}", "x".repeat(18));
    let mut a = logged_in(ctx, &n20)?;
    expect_list(&mut a, "lw", &[n20.as_str()])
}

fn list_login_order(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "loCarol")?;
    let _b = logged_in(ctx, "loAlice")?;
    let mut c = logged_in(ctx, "loBob")?;
    expect_list(&mut a, "lo", &["loCarol", "loAlice", "loBob"])?;
    expect_list(&mut c, "lo", &["loCarol", "loAlice", "loBob"])
}

fn list_exact(ctx: &mut Ctx) -> Check {
    let mut a = ctx.connect("alice")?;
    a.send(LIST)?;
    a.expect_bytes(list_reply(&[]))?;
    a.send(login("Alice"))?;
    a.expect_bytes(OK)?;
    let _b = logged_in(ctx, "Bob")?;
    a.send(LIST)?;
    a.expect_bytes(list_reply(&["Alice", "Bob"]))
}

fn list_before_login(ctx: &mut Ctx) -> Check {
    let _a = logged_in(ctx, "lbAlice")?;
    let mut anon = ctx.connect("anon")?;
    expect_list(&mut anon, "lb", &["lbAlice"])?;
    anon.send(login("lbBob"))?;
    anon.expect_bytes(OK)
}

fn sendto_delivered(ctx: &mut Ctx) -> Check {
    // The handout's own example: Bob asks John how he is.
    let mut john = logged_in(ctx, "sdJohn")?;
    let mut bob = logged_in(ctx, "sdBob")?;
    bob.send(b"\x03\x00\x00\x00\x18\x06sdJohn\x00\x0fHi how are you?")?;
    john.expect_bytes(b"\x83\x00\x00\x00\x17\x05sdBob\x00\x0fHi how are you?")?;
    bob.expect_bytes(OK)?;
    john.send(sendto("sdBob", "Fine, thanks"))?;
    bob.expect_bytes(relayed("sdJohn", "Fine, thanks"))?;
    john.expect_bytes(OK)
}

fn sendto_not_logged_in(ctx: &mut Ctx) -> Check {
    let mut bob = logged_in(ctx, "snBob")?;
    let mut anon = ctx.connect("anon")?;
    anon.send(sendto("snBob", "hi"))?;
    anon.expect_bytes(FAILURE)?;
    // Bob got nothing: his next bytes answer his own request.
    bob.send(sendto("snBob", "mark"))?;
    bob.expect_bytes([relayed("snBob", "mark"), OK.to_vec()].concat())
}

fn sendto_unknown(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "suAlice")?;
    a.send(sendto("suNobody", "hi"))?;
    a.expect_bytes(FAILURE)
}

fn sendto_oneself(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "soAlice")?;
    a.send(sendto("soAlice", "note to self"))?;
    a.expect_bytes([relayed("soAlice", "note to self"), OK.to_vec()].concat())
}

fn sendto_only_recipient(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "orAlice")?;
    let mut b = logged_in(ctx, "orBob")?;
    let mut c = logged_in(ctx, "orCarol")?;
    a.send(sendto("orBob", "only this"))?;
    a.expect_bytes(OK)?;
    b.send(sendto("orBob", "mark"))?;
    b.expect_bytes(
        [
            relayed("orAlice", "only this"),
            relayed("orBob", "mark"),
            OK.to_vec(),
        ]
        .concat(),
    )?;
    c.send(sendto("orCarol", "mark"))?;
    c.expect_bytes([relayed("orCarol", "mark"), OK.to_vec()].concat())
}

fn sendto_65535(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "tlAlice")?;
    let mut b = logged_in(ctx, "tlBob")?;
    let long: String = "0123456789abcdef".chars().cycle().take(65_535).collect();
    a.send(sendto("tlBob", &long))?;
    let mut want = b"\x83\x00\x01\x00\x09\x07tlAlice\xff\xff".to_vec();
    want.extend(long.as_bytes());
    b.expect_bytes(want)?;
    a.expect_bytes(OK)
}

fn logout_stays_open(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "lsAlice")?;
    let mut b = logged_in(ctx, "lsBob")?;
    a.send(LOGOUT)?;
    a.expect_bytes(OK)?;
    expect_list(&mut a, "ls", &["lsBob"])?;
    a.send(login("lsCarol"))?;
    a.expect_bytes(OK)?;
    b.send(sendto("lsCarol", "hello Carol"))?;
    a.expect_bytes(relayed("lsBob", "hello Carol"))?;
    b.expect_bytes(OK)
}

fn logout_not_logged_in(ctx: &mut Ctx) -> Check {
    let mut a = ctx.connect("anon")?;
    a.send(LOGOUT)?;
    a.expect_bytes(FAILURE)?;
    a.send(login("lnAlice"))?;
    a.expect_bytes(OK)?;
    a.send(LOGOUT)?;
    a.expect_bytes(OK)?;
    a.send(LOGOUT)?;
    a.expect_bytes(FAILURE)
}

fn logout_name_freed(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "lfAlice")?;
    let mut b = logged_in(ctx, "lfBob")?;
    a.send(LOGOUT)?;
    a.expect_bytes(OK)?;
    b.send(sendto("lfAlice", "are you there?"))?;
    b.expect_bytes(FAILURE)?;
    a.send(sendto("lfBob", "after logout"))?;
    a.expect_bytes(FAILURE)?;
    let _a2 = logged_in(ctx, "lfAlice")?;
    expect_list(&mut b, "lf", &["lfBob", "lfAlice"])
}

fn one_reply_each(ctx: &mut Ctx) -> Check {
    let mut a = ctx.connect("alice")?;
    let burst = [
        login("obAlice"),
        login("obAlice"),
        sendto("obAlice", "one"),
        sendto("obNobody", "two"),
        LOGOUT.to_vec(),
        LOGOUT.to_vec(),
    ]
    .concat();
    a.send(burst)?;
    a.expect_bytes(
        [
            OK,
            FAILURE,
            &relayed("obAlice", "one"),
            OK,
            FAILURE,
            OK,
            FAILURE,
        ]
        .concat(),
    )
}

fn byte_at_a_time(ctx: &mut Ctx) -> Check {
    let mut a = ctx.connect("alice")?;
    let script = [
        login("bbAlice"),
        sendto("bbAlice", "bytewise"),
        b"\x03\x00\x00\x00\x01\x09".to_vec(),
        LOGOUT.to_vec(),
    ]
    .concat();
    a.send_in_pieces(&script, &mut || 1)?;
    a.expect_bytes([OK, &relayed("bbAlice", "bytewise"), OK, MALFORMED, OK].concat())
}

/// Sends each malformed frame, expects RESPONSE 2, and proves with a
/// sendto to oneself that exactly that frame was skipped; then all of
/// them in one write.
fn each_malformed(ctx: &mut Ctx, who: &str, cases: &[(&str, Vec<u8>)]) -> Check {
    let mut a = logged_in(ctx, who)?;
    for (what, bad) in cases {
        a.send(bad)?;
        a.expect_bytes(MALFORMED).map_err(|f| Failure {
            what: format!("{what}: {}", f.what),
            ..f
        })?;
        a.send(sendto(who, what))?;
        a.expect_bytes([relayed(who, what), OK.to_vec()].concat())?;
    }
    let burst: Vec<u8> = cases.iter().flat_map(|(_, bad)| bad.clone()).collect();
    a.send(&burst)?;
    a.expect_bytes(MALFORMED.repeat(cases.len()))?;
    let prefix = &who[..2];
    expect_list(&mut a, prefix, &[who])
}

fn malformed_bodies(ctx: &mut Ctx) -> Check {
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
    ];
    each_malformed(ctx, "mbAlice", &cases)
}

fn malformed_unknown_types(ctx: &mut Ctx) -> Check {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("type 0x00", b"\x00\x00\x00\x00\x00".to_vec()),
        ("type 0x05 with body", b"\x05\x00\x00\x00\x03abc".to_vec()),
        ("a server type", b"\x82\x00\x00\x00\x01\x00".to_vec()),
        ("type 0xff", b"\xff\x00\x00\x00\x00".to_vec()),
    ];
    each_malformed(ctx, "mtAlice", &cases)
}

fn limit_70000(ctx: &mut Ctx) -> Check {
    let mut at_limit = vec![0x7f];
    at_limit.extend(70_000u32.to_be_bytes());
    at_limit.resize(5 + 70_000, b'z');
    each_malformed(ctx, "l7Alice", &[("unknown type, 70,000 bytes", at_limit)])
}

fn limit_over_70000(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "olAlice")?;
    let mut b = logged_in(ctx, "olBob")?;
    // The header alone decides: no body follows, yet the answer comes.
    b.send(b"\x03\x00\x01\x11\x71")?;
    b.expect_bytes(MALFORMED)?;
    b.expect_closed()?;
    let mut c = ctx.connect("carol")?;
    c.send(b"\x7f\xff\xff\xff\xff")?;
    c.expect_bytes(MALFORMED)?;
    c.expect_closed()?;
    wait_logged_out(ctx, &mut a, "olBob")?;
    expect_list(&mut a, "ol", &["olAlice"])?;
    logged_in(ctx, "olBob").map(drop)
}

fn departure_fin(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "dfAlice")?;
    let mut b = logged_in(ctx, "dfBob")?;
    b.finish();
    wait_logged_out(ctx, &mut a, "dfBob")?;
    expect_list(&mut a, "df", &["dfAlice"])?;
    logged_in(ctx, "dfBob").map(drop)
}

fn departure_rst(ctx: &mut Ctx) -> Check {
    let mut a = logged_in(ctx, "drAlice")?;
    let b = logged_in(ctx, "drBob")?;
    b.reset();
    wait_logged_out(ctx, &mut a, "drBob")?;
    expect_list(&mut a, "dr", &["drAlice"])?;
    logged_in(ctx, "drBob").map(drop)
}

fn slow_reader(ctx: &mut Ctx) -> Check {
    let _slow = logged_in(ctx, "Slow")?;
    let mut sender = logged_in(ctx, "Sender")?;
    let mut reader = logged_in(ctx, "Reader")?;
    let long: String = "z".repeat(65_000);
    // At most 400 texts (26 MB): the slow user passes a 100 kB queue and
    // what the kernel buffers on loopback long before.
    for i in 0..400 {
        sender.send(sendto("Slow", &long))?;
        let reply = sender.read_exact(6)?;
        if reply == FAILURE {
            ctx.expect_status(
                "`fd N: send queue exceeded (100000 bytes), disconnecting`",
                |l| l.ends_with(": send queue exceeded (100000 bytes), disconnecting"),
            )?;
            sender.send(sendto("Reader", "still here"))?;
            reader.expect_bytes(relayed("Sender", "still here"))?;
            return sender.expect_bytes(OK);
        }
        ensure(
            reply == OK,
            format!("reply to sendto {i}"),
            "RESPONSE 0 or 1",
            &format!("{reply:?}"),
        )?;
    }
    Err(Failure::note(
        "the slow user was still logged in after 26 MB",
    ))
}

fn login_timeout(ctx: &mut Ctx) -> Check {
    let mut member = logged_in(ctx, "Member")?;
    let mut idle = ctx.connect("idle")?;
    idle.send(LIST)?;
    idle.expect_bytes(list_reply(&["Member"]))?;
    idle.expect_closed()?;
    member.send(sendto("Member", "still here"))?;
    member.expect_bytes([relayed("Member", "still here"), OK.to_vec()].concat())
}

fn no_login_timeout(ctx: &mut Ctx) -> Check {
    let mut idle = ctx.connect("idle")?;
    idle.expect_silence(std::time::Duration::from_millis(1500))?;
    idle.send(login("Patient"))?;
    idle.expect_bytes(OK)
}

fn status_lines(ctx: &mut Ctx) -> Check {
    let _a = logged_in(ctx, "StAlice")?;
    ctx.expect_status("`fd N: ...` naming StAlice", |l| {
        l.starts_with("fd ") && l.contains("StAlice")
    })
    .map(drop)
}

fn status_terminal_safe(ctx: &mut Ctx) -> Check {
    // ESC and BEL are not whitespace: a valid name.
    let _eve = logged_in(ctx, "Eve\x1b[2J\x07")?;
    let line = ctx.expect_status("`fd N: ...` naming Eve^[[2J^G", |l| {
        l.starts_with("fd ") && l.contains("Eve")
    })?;
    ensure(
        line.contains("Eve^[[2J^G") && !line.contains('\x1b'),
        "the status line naming Eve",
        "... Eve^[[2J^G ...",
        &line,
    )
}

/// Signals the server; every connection in `conns` is closed (whatever
/// it is told first), and the server exits 0 within 2 s.
pub(super) fn shutdown_check(ctx: &mut Ctx, signal: i32, conns: Vec<Conn>) -> Check {
    let sent = Instant::now();
    ctx.signal_server(signal)?;
    expect_shut_down(ctx, sent, conns)
}

/// After a shutdown signal sent at `sent`: every connection closed, exit 0
/// within 2 s of the signal.
pub(super) fn expect_shut_down(ctx: &mut Ctx, sent: Instant, conns: Vec<Conn>) -> Check {
    for mut conn in conns {
        conn.read_to_close(1 << 20)?;
        ensure(
            conn.is_closed(),
            format!("{} at shutdown", conn.label()),
            "closed",
            "still open",
        )?;
    }
    let (status, _) = ctx.expect_server_exit()?;
    let took = sent.elapsed();
    ensure(
        status.code() == Some(0),
        "exit status",
        "0",
        &status.to_string(),
    )?;
    ensure(
        took < std::time::Duration::from_secs(2),
        "time to shut down",
        "under 2 s",
        &format!("{took:?}"),
    )
}

fn shutdown_by(ctx: &mut Ctx, signal: i32) -> Check {
    let a = logged_in(ctx, "SdAlice")?;
    let mut anon = ctx.connect("anon")?;
    anon.send(LIST)?;
    anon.read_exact(5)?;
    anon.take_pending();
    shutdown_check(ctx, signal, vec![a, anon])
}

fn shutdown(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGTERM)
}

fn shutdown_sigint(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGINT)
}

// ---- the client ----

/// Starts the client against a listener of the checker and accepts it.
fn client_session(ctx: &mut Ctx) -> Result<(crate::Client, Conn), Failure> {
    let mut listener = ctx.listen("server")?;
    let port = listener.port();
    let client = ctx.start_client(&[("port", &port)])?;
    let conn = listener.accept()?;
    Ok((client, conn))
}

/// Types `line`, expects the frame `sent`, answers `reply`, expects `printed`.
/// The client logs in as John and prints `Success` (the set-up of the
/// cases that need a logged-in client).
fn log_in_john(ctx: &mut Ctx, client: &mut crate::Client, server: &mut Conn) -> Check {
    exchange(
        ctx,
        client,
        server,
        "login John\n",
        &login("John"),
        OK,
        "Success\n",
    )
}

fn exchange(
    ctx: &mut Ctx,
    client: &mut crate::Client,
    server: &mut Conn,
    line: &str,
    sent: &[u8],
    reply: &[u8],
    printed: &str,
) -> Check {
    client.type_in(ctx, line)?;
    server.expect_bytes(sent)?;
    server.send(reply)?;
    client.expect_output(ctx, printed)
}

fn client_login(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "login John\n",
        b"\x01\x00\x00\x00\x05\x04John",
        OK,
        "Success\n",
    )
}

fn client_failure(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "login John\n",
        &login("John"),
        FAILURE,
        "Failure\n",
    )
}

fn client_malformed_packet(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "logout\n",
        LOGOUT,
        MALFORMED,
        "Malformed packet\n",
    )
}

fn client_list(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "list\n",
        LIST,
        &list_reply(&["Alice", "Bob"]),
        "Alice\nBob\n",
    )?;
    // An empty list prints nothing: the next line is the next reply's.
    exchange(
        ctx,
        &mut c,
        &mut s,
        "list\n",
        LIST,
        &[list_reply(&[]), OK.to_vec()].concat(),
        "Success\n",
    )
}

fn client_sendto(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "sendto John Hello, how are you?\n",
        b"\x03\x00\x00\x00\x1a\x04John\x00\x13Hello, how are you?",
        OK,
        "Success\n",
    )?;
    // The text is the rest of the line, spaces kept.
    exchange(
        ctx,
        &mut c,
        &mut s,
        "sendto John  two  spaces \n",
        &sendto("John", " two  spaces "),
        FAILURE,
        "Failure\n",
    )
}

fn client_sendto_prints(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    s.send(relayed("Bob", "Hi how are you?"))?;
    c.expect_output(ctx, "Bob: Hi how are you?\n")
}

fn client_sendto_65535(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    let long: String = "The quick brown fox. "
        .chars()
        .cycle()
        .take(65_535)
        .collect();
    exchange(
        ctx,
        &mut c,
        &mut s,
        &format!("sendto Bob {long}\n"),
        &sendto("Bob", &long),
        OK,
        "Success\n",
    )
}

fn client_prints_while_typing(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    c.type_in(ctx, "sendto B")?;
    s.send(relayed("Bob", "ping"))?;
    c.expect_output(ctx, "Bob: ping\n")?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "ob pong\n",
        &sendto("Bob", "pong"),
        OK,
        "Success\n",
    )
}

fn client_logout(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    log_in_john(ctx, &mut c, &mut s)?;
    exchange(ctx, &mut c, &mut s, "logout\n", LOGOUT, OK, "Success\n")?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "list\n",
        LIST,
        &list_reply(&["Bob"]),
        "Bob\n",
    )?;
    log_in_john(ctx, &mut c, &mut s)
}

fn client_exit(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    c.type_in(ctx, "exit\n")?;
    s.expect_closed()?;
    c.expect_exit(ctx, 0)
}

/// Types each refused line and expects its error; then proves nothing was
/// sent: the next request is the first bytes the server sees.
fn refused(ctx: &mut Ctx, lines: &[(String, &str)]) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    for (line, error) in lines {
        c.type_in(ctx, line)?;
        c.expect_output(ctx, format!("{error}\n"))?;
    }
    exchange(
        ctx,
        &mut c,
        &mut s,
        "logout\n",
        LOGOUT,
        FAILURE,
        "Failure\n",
    )
}

fn client_bad_username(ctx: &mut Ctx) -> Check {
    let lines: Vec<(String, &str)> = [
        "login\n".to_string(),
        "login \n".into(),
        "login John Doe\n".into(),
        format!("login {}\n", "a".repeat(21)),
        "sendto JohnHello\n".into(),
        "sendto\n".into(),
        "sendto Bob \n".into(),
        format!("sendto {} hi\n", "a".repeat(21)),
    ]
    .into_iter()
    .map(|l| (l, "Bad username"))
    .collect();
    refused(ctx, &lines)
}

fn client_name_bytes(ctx: &mut Ctx) -> Check {
    let name = "\u{e9}".repeat(11);
    refused(
        ctx,
        &[
            (format!("login {name}\n"), "Bad username"),
            (format!("sendto {name} hi\n"), "Bad username"),
        ],
    )
}

fn client_bad_message(ctx: &mut Ctx) -> Check {
    refused(
        ctx,
        &[(
            format!("sendto Bob {}\n", "m".repeat(65_536)),
            "Bad message",
        )],
    )
}

fn client_invalid_command(ctx: &mut Ctx) -> Check {
    let lines: Vec<(String, &str)> = [
        "list bob\n",
        "logout Joe\n",
        "exit client\n",
        "hello\n",
        "LIST\n",
    ]
    .into_iter()
    .map(|l| (l.to_string(), "Invalid command"))
    .collect();
    refused(ctx, &lines)
}

fn client_blank_lines(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    exchange(
        ctx,
        &mut c,
        &mut s,
        "\n  \nlogout\n",
        LOGOUT,
        OK,
        "Success\n",
    )
}

fn client_split_frames(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    c.type_in(ctx, "list\n")?;
    s.expect_bytes(LIST)?;
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
    s.send_in_pieces(&frames, &mut || 1)?;
    drop(s);
    c.expect_output(
        ctx,
        "Malformed packet\nAlice\nBob\nBob: Hi how are you?\nFailure\n",
    )?;
    c.expect_exit(ctx, 0)
}

fn client_never_answers(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    s.send(relayed("Bob", "hi"))?;
    c.expect_output(ctx, "Bob: hi\n")?;
    // The next bytes the server gets are the user's request.
    exchange(ctx, &mut c, &mut s, "list\n", LIST, &list_reply(&[]), "")?;
    exchange(ctx, &mut c, &mut s, "logout\n", LOGOUT, OK, "Success\n")
}

fn client_end_of_input(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    c.type_in(ctx, "login eiAl\nsendto eiAl hi\nlogout\nlogout\n")?;
    c.close_stdin(ctx);
    s.expect_bytes(
        [
            login("eiAl"),
            sendto("eiAl", "hi"),
            LOGOUT.to_vec(),
            LOGOUT.to_vec(),
        ]
        .concat(),
    )?;
    // The client closed its sending half and still prints every reply.
    s.expect_closed()?;
    s.send([OK, &relayed("eiAl", "hi"), OK, OK, FAILURE].concat())?;
    c.expect_output(ctx, "Success\neiAl: hi\nSuccess\nSuccess\nFailure\n")?;
    drop(s);
    c.expect_exit(ctx, 0)
}

fn client_server_closes(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    log_in_john(ctx, &mut c, &mut s)?;
    drop(s);
    c.expect_exit(ctx, 0)
}

fn client_ctrl_c(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    log_in_john(ctx, &mut c, &mut s)?;
    c.signal(ctx, libc::SIGINT);
    c.expect_exit_code(ctx, 0)
}

fn client_terminal_safe(ctx: &mut Ctx) -> Check {
    let (mut c, mut s) = client_session(ctx)?;
    s.send(relayed("Eve", "\x1b]0;pwned\x07\x1b[2J"))?;
    c.expect_output(ctx, "Eve: ^[]0;pwned^G^[[2J\n")
}

fn client_unable(ctx: &mut Ctx) -> Check {
    let port = free_port()?.to_string();
    let mut c = ctx.start_client(&[("port", &port)])?;
    c.expect_output(ctx, format!("Unable to connect to 127.0.0.1:{port}\n"))?;
    c.expect_exit(ctx, 1)
}
