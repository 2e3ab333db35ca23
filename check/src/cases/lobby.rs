//! lobby: every row and error of the contract's table, the limits, the line
//! framing real course programs use, departures, shutdown; and the client.
//!
//! Server cases that need nothing of their own may share one running
//! server: each uses names of its own and quits its users at the end, so
//! that the server is left as it was found.

use std::time::Duration;

use crate::conn::Conn;
use crate::target::{free_port, SyncProbe, QUIET};
use crate::{ensure, Case, Check, Ctx, Dialect, Failure, Need, Source};

const D: Dialect = Dialect::Lobby;
const UNREGISTERED: &str = "Unregistered User. Use JOIN <username> to register.";

use Source::{Contract, Handout};

pub const CASES: &[Case] = &[
    // ---- JOIN ----
    D.server("lobby/join/ok", "JOIN", "JOIN <name> is answered `<name> joined!`",
        Handout("Alice joined!Connected to server!"), join_ok),
    D.server("lobby/join/announced", "JOIN", "a join is announced to every registered user as `<name> joined!`, and to no unregistered connection",
        Handout("Bob's Window ... Alex joined! Mike joined! Trudy joined!"), join_announced),
    D.server("lobby/join/already-registered", "JOIN", "a second JOIN from a registered client gets a reply and changes nothing",
        Handout("any subsequent JOIN requests from the same registered client will be discarded with a status message sent back to the client"), join_again_gets_a_reply),
    D.server("lobby/join/already-registered-words", "JOIN", "a second JOIN gets `Already Registered as <own name>`, whatever name it gives",
        Contract, join_again_words),
    D.server("lobby/join/invalid-username", "JOIN", "anything but exactly one name of 1 to 32 ASCII letters and digits after `JOIN ` gets `Invalid Username`",
        Contract, join_invalid),
    D.server("lobby/join/32-bytes", "JOIN", "a 32-character name registers",
        Contract, join_32),
    D.server("lobby/join/username-taken", "JOIN", "a name in use gets `Username Taken`; the connection may try another",
        Contract, join_taken),
    D.server("lobby/join/too-many-users", "JOIN", "the 11th JOIN gets `Too Many Users` and its connection is closed; nobody is told",
        Handout("If the database is “full” (i.e., 10 clients have registered for the service), then the server will ... send a “Too Many Users” message to the client"), too_many_users)
        .needs(&[Need::OwnServer]),
    D.server("lobby/join/room-again-after-a-leave", "JOIN", "when one of 10 users leaves, a new user can register",
        Handout("if, for example, the 10th client “leaves” the service, space is now made available for another client to register"), room_after_leave)
        .needs(&[Need::OwnServer]),
    D.server("lobby/join/first-row-applies", "JOIN", "when full, an invalid name still gets `Invalid Username` (connection kept) and a taken name `Too Many Users`",
        Contract, join_first_row_applies)
        .needs(&[Need::OwnServer]),
    D.server("lobby/join/max-users-option", "JOIN", "`--max-users 2` lets two users register and refuses the third",
        Contract, max_users_option)
        .needs(&[Need::Options(&["--max-users", "2"])]),
    // ---- LIST ----
    D.server("lobby/list/join-order", "LIST", "LIST gets one line per registered name, in join order",
        Handout("the server will send a list of all registered clients on individual lines"), list_in_join_order),
    D.server("lobby/list/after-leave", "LIST", "a user who left is no longer listed",
        Handout("The database entry for registered clients should be removed after the client has been disconnected"), list_after_leave),
    D.server("lobby/list/unregistered", "LIST", "LIST from a connection that has not joined gets the Unregistered User message",
        Handout("only the registered client will receive the listing (i.e., others will receive an error message with JOIN request instructions)"), list_unregistered),
    // ---- MESG ----
    D.server("lobby/mesg/relay", "MESG", "MESG <name> <text> reaches <name> only, as `<sender>: <text>`",
        Handout("The server will then act as a relay and forward this message to the registered user"), mesg_relay),
    D.server("lobby/mesg/sender-gets-nothing", "MESG", "the sender of a delivered MESG gets no reply",
        Contract, mesg_sender_gets_nothing),
    D.server("lobby/mesg/text-as-sent", "MESG", "the text is the rest of the line after the single space after the name, kept as sent",
        Contract, mesg_text_as_sent),
    D.server("lobby/mesg/to-self", "MESG", "a MESG to oneself is delivered to oneself",
        Contract, mesg_to_self),
    D.server("lobby/mesg/unknown-recipient", "MESG", "MESG to a name that is not registered gets `Unknown Recipient`",
        Handout("If a registered client sends a MESG request to an unregistered client, the server will ... send an “Unknown Recipient” message to the client"), mesg_unknown_recipient),
    D.server("lobby/mesg/unregistered", "MESG", "MESG from a connection that has not joined gets the Unregistered User message",
        Handout("If the client who is not registered for this service sends a MESG request, the server will ... send an “Unregistered User” message to the client with the JOIN request instructions"), mesg_unregistered),
    D.server("lobby/mesg/missing-parts", "MESG", "MESG without a name or without text gets `Unknown Message`",
        Contract, mesg_missing_parts),
    // ---- BCST ----
    D.server("lobby/bcst/relay", "BCST", "BCST <text> reaches every other registered user as `<sender>: <text>`, and no unregistered one",
        Handout("forward this message to the registered users"), bcst_relay),
    D.server("lobby/bcst/sender-reply", "BCST", "the sender of a BCST gets `<sender> is sending a broadcast` and not its own text",
        Handout("Alice is sending a broadcast"), bcst_sender_reply),
    D.server("lobby/bcst/unregistered", "BCST", "BCST from a connection that has not joined gets the Unregistered User message",
        Handout("Note that the client must be registered for the service to receive any “services”, such as this one"), bcst_unregistered),
    D.server("lobby/bcst/no-text", "BCST", "BCST without text gets `Unknown Message`",
        Contract, bcst_no_text),
    // ---- QUIT ----
    D.server("lobby/quit/registered", "QUIT", "QUIT from a user gets `<name> is quitting the chat server`, then the server closes",
        Handout("Alex is quitting the chat server"), quit_registered),
    D.server("lobby/quit/announced", "QUIT", "the others are told `<name> left`",
        Handout("Alex left"), quit_announced),
    D.server("lobby/quit/unregistered", "QUIT", "QUIT from a connection that has not joined closes it",
        Handout("an unregistered client will still be disconnected from the service (i.e., their connection closed)"), quit_unregistered),
    D.server("lobby/quit/goodbye", "QUIT", "QUIT from a connection that has not joined gets `Goodbye`, then close",
        Contract, quit_goodbye),
    D.server("lobby/quit/name-free-again", "QUIT", "after a QUIT the name can register again",
        Handout("The database entry for registered clients should be removed after the client has been disconnected"), quit_name_free),
    D.server("lobby/quit/fin", "QUIT", "a user whose connection ends with FIN is announced as `<name> left` and its name is free",
        Contract, leave_fin),
    D.server("lobby/quit/rst", "QUIT", "a user whose connection is reset is announced as `<name> left`",
        Contract, leave_rst),
    // ---- Unknown messages ----
    D.server("lobby/unknown/registered", "UNKNOWN", "an unrecognised request from a user gets `Unknown Message`",
        Handout("If a registered client sends an unrecognizable request ... send an “Unknown Message” message to the client"), unknown_registered),
    D.server("lobby/unknown/variants", "UNKNOWN", "wrong case, extra words after LIST or QUIT, a leading space: `Unknown Message`",
        Contract, unknown_variants),
    D.server("lobby/unknown/unregistered", "UNKNOWN", "an unrecognised request before JOIN gets `Unknown Message`; LIST/MESG/BCST with anything after get Unregistered User",
        Contract, unknown_unregistered),
    // ---- Framing ----
    D.server("lobby/framing/no-line-end", "FRAMING", "a command sent in one write without LF is answered once the sender pauses (200 ms)",
        Contract, framing_no_line_end),
    D.server("lobby/framing/fin-ends-a-line", "FRAMING", "bytes without an LF are a line when the sender closes its sending half: `LIST` then FIN is answered",
        Contract, framing_fin_ends_line),
    D.server("lobby/framing/burst-is-one-line", "FRAMING", "bytes that arrive together are one line: `JOIN AliceLIST` registers AliceLIST",
        Contract, framing_burst),
    D.server("lobby/framing/cr-and-blank-lines", "FRAMING", "a CR before LF is dropped and blank lines are ignored",
        Contract, framing_cr_blank),
    D.server("lobby/framing/split-writes", "FRAMING", "a command split over several writes a few ms apart (LF last) is one command",
        Contract, framing_split),
    D.server("lobby/framing/not-utf8", "FRAMING", "a line that is not UTF-8 gets `Unknown Message`",
        Contract, framing_not_utf8),
    D.server("lobby/limit/line-4096", "LIMITS", "4096 bytes before the LF are fine; one more gets `Message Too Long` at once, the rest up to LF is discarded",
        Contract, line_4096),
    D.server("lobby/limit/slow-reader-cut-off", "LIMITS", "a user that never reads is cut off with `send queue exceeded`; the others get everything in order",
        Contract, slow_reader)
        .needs(&[Need::OwnServer, Need::Stdout]),
    D.server("lobby/limit/max-connections", "LIMITS", "past --max-connections a new connection is closed at once, with a status line",
        Contract, max_connections)
        .needs(&[Need::Stdout, Need::Options(&["--max-connections", "2"])]),
    D.server("lobby/limit/slot-for-a-newcomer", "LIMITS", "with every slot taken, the oldest unregistered connection open 10 s or more is cut to make room for a new one",
        Contract, slot_for_a_newcomer)
        .needs(&[Need::Options(&["--max-connections", "2"])]),
    D.server("lobby/limit/login-timeout", "LIMITS", "with --login-timeout 1 an unregistered connection is closed; a registered one stays",
        Contract, login_timeout)
        .needs(&[Need::Stdout, Need::Options(&["--login-timeout", "1"])]),
    D.server("lobby/limit/login-timeout-busy", "LIMITS", "the login timeout holds while the server is never idle",
        Contract, login_timeout_busy)
        .needs(&[Need::Options(&["--login-timeout", "1"])]),
    // ---- The program ----
    D.server("lobby/server/status-lines", "SERVER", "the server prints a status line per request naming the connection by its fd (`fd 7: JOIN Alice`)",
        Handout("The server will provide important status updates of messages sent and received, such as connection events and received requests, identifying the client using their socket file descriptor"), status_lines)
        .needs(&[Need::Stdout]),
    D.server("lobby/server/usage", "SERVER", "without a port the server prints a usage statement and ends with a failure status",
        Handout("The server will print out a usage statement and terminate the program if the user does not enter the command with the port as the command-line argument"), usage)
        .needs(&[Need::OwnServer]),
    D.server("lobby/server/usage-exit-2", "SERVER", "without a port the server exits with status 2",
        Contract, super::usage)
        .needs(&[Need::OwnServer]),
    D.server("lobby/server/port-in-use", "SERVER", "a port that cannot be bound prints `error: cannot listen on ADDR:PORT: <reason>` on stderr and exits 1",
        Contract, super::port_in_use)
        .needs(&[Need::OwnServer]),
    D.server("lobby/server/shutdown", "SERVER", "SIGTERM: `Server Shutting Down` to every connection (and no departures), close, exit 0 within 2 s",
        Contract, shutdown)
        .needs(&[Need::Signal]),
    D.server("lobby/server/shutdown-sigint", "SERVER", "SIGINT: `Server Shutting Down` to every connection, close, exit 0 within 2 s",
        Contract, shutdown_sigint)
        .needs(&[Need::Signal]),
    D.server("lobby/server/stdin-closed", "SERVER", "a server whose stdin is closed keeps serving",
        Contract, stdin_closed)
        .needs(&[Need::Stdin]),
    D.server("lobby/server/handout-session", "SERVER", "the handout's five-user session plays out as shown",
        Handout("Test Case 1 : Alice wants to send a broadcast message using “BCST Hello” to all users"), handout_session),
    // ---- The client ----
    D.client("lobby/client/prompt", "JOIN", "the client prints `Enter JOIN followed by your username: ` at start",
        Handout("Enter JOIN followed by your username: "), client_prompt),
    D.client("lobby/client/sends-lines", "JOIN", "each stdin line is sent as typed, ended by LF; empty lines are not sent",
        Contract, client_sends_lines),
    D.client("lobby/client/prints-replies", "LIST", "what the server sends is printed as it arrives",
        Handout("Alice joined!Connected to server!"), client_prints_replies),
    D.client("lobby/client/no-line-end", "BCST", "a reply without a line end is printed at once",
        Contract, client_no_line_end),
    D.client("lobby/client/nothing-lost-at-close", "QUIT", "at disconnect nothing received is lost and `Disconnected from server` is on a line of its own; exit 0",
        Contract, client_nothing_lost),
    D.client("lobby/client/end-of-input", "QUIT", "at end of stdin the client closes its sending half, prints until the server closes, exits 0",
        Contract, client_end_of_input),
    D.client("lobby/client/quit", "QUIT", "QUIT typed is sent and the server's reply printed",
        Handout("Alex is quitting the chat server"), client_quit),
    D.client("lobby/client/unable-to-connect", "CLIENT", "with no server the client prints `Unable to connect to <host>:<port>` and exits 1",
        Contract, client_unable),
    D.client("lobby/client/ctrl-c", "CLIENT", "Ctrl-C (SIGINT) ends the client with exit 0",
        Contract, client_ctrl_c),
    D.client("lobby/client/terminal-safe", "CLIENT", "control characters from the network are shown in caret notation (ESC as ^[), C1 and bidi controls as <U+XXXX>, CR before LF dropped",
        Contract, client_terminal_safe),
    D.server("lobby/server/help-version", "SERVER", "`--help` and `--version` print to stdout and exit 0",
        Contract, super::help_and_version)
        .needs(&[Need::OwnServer]),
    D.server("lobby/server/option-out-of-range", "SERVER", "a numeric option out of range (--login-timeout, --sendq, --max-connections) is a usage error: exit 2",
        Contract, super::option_out_of_range)
        .needs(&[Need::OwnServer]),
    D.client("lobby/client/trace", "CLIENT", "with `-v` every message sent and received shows on stderr, `> ` before what was sent and `< ` before what was received",
        Contract, client_trace),
];

// ---- helpers ----

/// Connects and registers `name`, checking the reply.
fn join(ctx: &mut Ctx, name: &str) -> Result<Conn, Failure> {
    let mut peer = ctx.connect(name)?;
    peer.command(format!("JOIN {name}"))?;
    peer.expect_line(format!("{name} joined!"))?;
    Ok(peer)
}

/// Quits `name` cleanly: the quit reply is the next thing it receives.
/// Only for the QUIT cases; other cases end with [`bye`].
fn quit(mut peer: Conn, name: &str) -> Check {
    peer.command("QUIT")?;
    peer.expect_line(format!("{name} is quitting the chat server"))?;
    peer.expect_closed()
}

/// Ends a case's connection without checking anything: QUIT (so that a
/// shared running server forgets the name even if it ignores a close), and
/// close. A case checks its own feature, not the QUIT reply. On a shared
/// server the drop waits (bounded) for the server to close (see
/// `Conn::depart_fully`), so that the next case does not see this one's
/// departures.
fn bye(mut peer: Conn) -> Check {
    let _ = peer.command("QUIT");
    Ok(())
}

/// The sync probe: a MESG to nobody. The contract answers it with
/// `Unknown Recipient`; what a server really answers is found once per run
/// (a server without MESG answers `Unknown Message`), and every case syncs
/// on that answer, so that a missing MESG fails only the MESG cases.
pub const SYNC: SyncProbe = SyncProbe {
    sent: "`MESG Nobody0 probe`",
    answer: "Unknown Recipient",
    pad: 0,
    calibrate,
};

const PROBE: &str = "MESG Nobody0 probe";

fn calibrate(ctx: &mut Ctx) -> Result<Option<Vec<u8>>, Failure> {
    let mut peer = ctx.connect("sync")?;
    peer.command("JOIN CkSync0")?;
    // Whatever it answers to the JOIN (if anything, a greeting too)
    // comes first, and is left behind.
    peer.read_line()?;
    if peer.expect_silence(crate::conn::PAUSE).is_err() {
        peer.take_pending();
    }
    peer.command(PROBE)?;
    let reply = peer.read_line()?.filter(|r| !r.is_empty());
    bye(peer)?;
    Ok(reply)
}

/// Proves everything `peer` was sent before was handled, and nothing else
/// was sent to it meanwhile: the probe's answer is the next line (or, from
/// a server that answers nothing, nothing arrives for a while).
fn probe(ctx: &mut Ctx, peer: &mut Conn) -> Check {
    let reply = ctx.sync_reply(&SYNC)?;
    peer.command(PROBE)?;
    match reply {
        Some(reply) => peer.expect_line(reply),
        None => peer.expect_silence(QUIET),
    }
}

/// Skips whatever `peer` was sent that the case does not check (join
/// announcements in a LIST case): everything up to the probe's answer.
fn settle(ctx: &mut Ctx, peer: &mut Conn) -> Check {
    let reply = ctx.sync_reply(&SYNC)?;
    peer.command(PROBE)?;
    let Some(reply) = reply else {
        // Quiet for a while, within the timeout.
        let deadline = std::time::Instant::now() + ctx.timeout;
        while peer.expect_silence(QUIET).is_err() && std::time::Instant::now() < deadline {
            peer.take_pending();
        }
        return Ok(());
    };
    loop {
        match peer.read_line()? {
            // A reply without a line end may arrive glued to what came before.
            Some(line) if line.ends_with(&reply) => return Ok(()),
            Some(_) => {}
            None => {
                return Err(Failure::new(
                    format!("{}: the answer to the sync probe", peer.label()),
                    reply,
                    "",
                ))
            }
        }
    }
}

/// Joins `name` on a new connection, trying again (within the timeout)
/// while the server still answers `Too Many Users`: a place freed by a
/// departure on another connection may take a moment to show.
fn join_when_free(ctx: &mut Ctx, name: &str) -> Result<Conn, Failure> {
    let deadline = std::time::Instant::now() + ctx.timeout;
    loop {
        let mut peer = ctx.connect(name)?;
        peer.command(format!("JOIN {name}"))?;
        let got = peer.read_line()?.unwrap_or_default();
        if got == format!("{name} joined!").as_bytes() {
            return Ok(peer);
        }
        if got != b"Too Many Users" || std::time::Instant::now() >= deadline {
            return Err(Failure::new(
                format!("{name}: reply to JOIN once a place is free"),
                format!("{name} joined!"),
                got,
            ));
        }
        // Polling the server's state, bounded by the deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- JOIN ----

fn join_ok(ctx: &mut Ctx) -> Check {
    let alice = join(ctx, "JoAlice")?;
    bye(alice)
}

fn join_announced(ctx: &mut Ctx) -> Check {
    let mut lurker = ctx.connect("lurker")?;
    let mut alice = join(ctx, "JaAlice")?;
    let mut bob = join(ctx, "JaBob")?;
    alice.expect_line("JaBob joined!")?;
    let _carol = join(ctx, "JaCarol")?;
    alice.expect_line("JaCarol joined!")?;
    bob.expect_line("JaCarol joined!")?;
    // The unregistered connection was told none of it: what the others
    // got has arrived, and nothing reached it.
    lurker.expect_silence(QUIET)?;
    bye(bob)?;
    bye(alice)
}

fn join_again_gets_a_reply(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "JrAlice")?;
    alice.command("JOIN JrOther")?;
    match alice.read_line()? {
        Some(line) if !line.is_empty() => {}
        _ => {
            return Err(Failure::new(
                "reply to a second JOIN: nothing arrived within the timeout",
                "a status message",
                "",
            ))
        }
    }
    // Still registered under the first name, and the second is not taken.
    probe(ctx, &mut alice)?;
    let other = join(ctx, "JrOther")?;
    alice.expect_line("JrOther joined!")?;
    bye(other)?;
    bye(alice)
}

fn join_again_words(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "JwAlice")?;
    for again in ["JOIN JwAlice", "JOIN JwCarol", "JOIN", "JOIN bad_name"] {
        alice.command(again)?;
        alice.expect_line("Already Registered as JwAlice")?;
    }
    bye(alice)
}

fn join_invalid(ctx: &mut Ctx) -> Check {
    let mut other = ctx.connect("other")?;
    let long = format!("JOIN {}", "a".repeat(33));
    for bad in [
        "JOIN",
        "JOIN ",
        "JOIN  JiBob",
        "JOIN JiBob ",
        "JOIN Ji Bob",
        "JOIN Ji_Bob",
        "JOIN Zoë",
        "JOIN Ji-Bob",
        &long,
    ] {
        other.command(bad)?;
        other.expect_line("Invalid Username")?;
    }
    // Still unregistered (a registered one would be `Already Registered`).
    other.command("JOIN JiBob")?;
    other.expect_line("JiBob joined!")?;
    bye(other)
}

fn join_32(ctx: &mut Ctx) -> Check {
    let name = format!("J3{}", "b".repeat(30));
    let mut peer = join(ctx, &name)?;
    probe(ctx, &mut peer)?;
    bye(peer)
}

fn join_taken(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "JtAlice")?;
    let mut other = ctx.connect("other")?;
    other.command("JOIN JtAlice")?;
    other.expect_line("Username Taken")?;
    other.command("JOIN JtBob")?;
    other.expect_line("JtBob joined!")?;
    alice.expect_line("JtBob joined!")?;
    bye(other)?;
    bye(alice)
}

fn ten_users(
    ctx: &mut Ctx,
    prefix: &str,
    count: usize,
) -> Result<(Vec<String>, Vec<Conn>), Failure> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let mut peers = Vec::new();
    for name in &names {
        peers.push(join(ctx, name)?);
    }
    Ok((names, peers))
}

fn too_many_users(ctx: &mut Ctx) -> Check {
    let (names, mut peers) = ten_users(ctx, "Tm", 10)?;
    // More may connect than may register.
    let mut eleventh = ctx.connect("eleventh")?;
    eleventh.command("JOIN TmLate")?;
    eleventh.expect_line("Too Many Users")?;
    eleventh.expect_closed()?;
    // Nobody was told of the refused user: the first user's next lines are
    // the nine later joins, then the probe's answer.
    let first = &mut peers[0];
    for name in &names[1..] {
        first.expect_line(format!("{name} joined!"))?;
    }
    probe(ctx, first)
}

fn join_first_row_applies(ctx: &mut Ctx) -> Check {
    let (_, _peers) = ten_users(ctx, "Fr", 10)?;
    let mut late = ctx.connect("late")?;
    late.command("JOIN bad_name")?;
    late.expect_line("Invalid Username")?;
    late.command("JOIN Fr0")?;
    late.expect_line("Too Many Users")?;
    late.expect_closed()
}

fn room_after_leave(ctx: &mut Ctx) -> Check {
    let (_, mut peers) = ten_users(ctx, "Ra", 10)?;
    let last = peers.pop().ok_or_else(|| Failure::note("no peers"))?;
    // However it answers the QUIT; the place must come free.
    bye(last)?;
    let late = join_when_free(ctx, "RaLate")?;
    bye(late)
}

fn max_users_option(ctx: &mut Ctx) -> Check {
    let _a = join(ctx, "MuA")?;
    let _b = join(ctx, "MuB")?;
    let mut c = ctx.connect("MuC")?;
    c.command("JOIN MuC")?;
    c.expect_line("Too Many Users")?;
    c.expect_closed()
}

// ---- LIST ----

fn list_in_join_order(ctx: &mut Ctx) -> Check {
    let mut zed = join(ctx, "LoZed")?;
    let mut amy = join(ctx, "LoAmy")?;
    let mut max = join(ctx, "LoMax")?;
    // Past the join announcements (a JOIN rule, not checked here).
    for peer in [&mut zed, &mut amy, &mut max] {
        settle(ctx, peer)?;
    }
    for peer in [&mut zed, &mut amy, &mut max] {
        peer.command("LIST")?;
        peer.expect_lines(&["LoZed", "LoAmy", "LoMax"])?;
    }
    bye(max)?;
    bye(amy)?;
    bye(zed)
}

fn list_after_leave(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "LlAlice")?;
    let bob = join(ctx, "LlBob")?;
    // However the server answers Bob's QUIT, he has left once it closes.
    let mut bob = bob;
    bob.command("QUIT")?;
    bob.read_to_close(4096)?;
    drop(bob);
    // The departure may take a moment to show on Alice's connection: ask
    // again (bounded) while the listing still names Bob.
    let deadline = std::time::Instant::now() + ctx.timeout;
    loop {
        settle(ctx, &mut alice)?;
        alice.command("LIST")?;
        alice.expect_line("LlAlice")?;
        match probe(ctx, &mut alice) {
            Ok(()) => return bye(alice),
            Err(failure) if std::time::Instant::now() >= deadline => {
                return Err(Failure {
                    what: format!("LIST after LlBob left: {}", failure.what),
                    ..failure
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The handout's words are `Unregistered User` with JOIN instructions:
/// a line that starts with `Unregistered User` passes.
fn expect_unregistered(peer: &mut Conn, after: &str) -> Check {
    match peer.read_line()? {
        Some(line) if line.starts_with(b"Unregistered User") => Ok(()),
        got => Err(Failure::new(
            format!("reply to {after} before JOIN (a line starting `Unregistered User`)"),
            UNREGISTERED,
            got.unwrap_or_default(),
        )),
    }
}

fn list_unregistered(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    anon.command("LIST")?;
    expect_unregistered(&mut anon, "LIST")
}

// ---- MESG ----

fn mesg_relay(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MrAlice")?;
    let mut bob = join(ctx, "MrBob")?;
    let mut carol = join(ctx, "MrCarol")?;
    for peer in [&mut alice, &mut bob, &mut carol] {
        settle(ctx, peer)?;
    }
    alice.command("MESG MrBob How are you?")?;
    bob.expect_line("MrAlice: How are you?")?;
    // Carol got nothing: her probe is the next thing she receives.
    probe(ctx, &mut carol)?;
    probe(ctx, &mut bob)?;
    bye(carol)?;
    bye(bob)?;
    bye(alice)
}

fn mesg_sender_gets_nothing(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MsAlice")?;
    let mut bob = join(ctx, "MsBob")?;
    settle(ctx, &mut alice)?;
    alice.command("MESG MsBob hi")?;
    bob.expect_line("MsAlice: hi")?;
    probe(ctx, &mut alice)?;
    bye(bob)?;
    bye(alice)
}

fn mesg_text_as_sent(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MtAlice")?;
    let mut bob = join(ctx, "MtBob")?;
    settle(ctx, &mut alice)?;
    alice.command("MESG MtBob  spaced  text \t")?;
    bob.expect_line("MtAlice:  spaced  text \t")?;
    alice.command("MESG MtBob MESG BCST LIST")?;
    bob.expect_line("MtAlice: MESG BCST LIST")?;
    bye(bob)?;
    bye(alice)
}

fn mesg_to_self(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MmAlice")?;
    alice.command("MESG MmAlice note to self")?;
    alice.expect_line("MmAlice: note to self")?;
    bye(alice)
}

fn mesg_unknown_recipient(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MuAlice")?;
    alice.command("MESG MuNobody hi")?;
    alice.expect_line("Unknown Recipient")?;
    bye(alice)
}

fn mesg_unregistered(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    anon.command("MESG Somebody hi")?;
    expect_unregistered(&mut anon, "MESG")
}

fn mesg_missing_parts(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "MpAlice")?;
    for bad in ["MESG", "MESG ", "MESG MpAlice", "MESG MpAlice "] {
        alice.command(bad)?;
        alice.expect_line("Unknown Message")?;
    }
    bye(alice)
}

// ---- BCST ----

fn bcst_relay(ctx: &mut Ctx) -> Check {
    let mut lurker = ctx.connect("lurker")?;
    let mut alice = join(ctx, "BrAlice")?;
    let mut bob = join(ctx, "BrBob")?;
    let mut carol = join(ctx, "BrCarol")?;
    for peer in [&mut alice, &mut bob, &mut carol] {
        settle(ctx, peer)?;
    }
    bob.command("BCST Hello everyone")?;
    alice.expect_line("BrBob: Hello everyone")?;
    carol.expect_line("BrBob: Hello everyone")?;
    // Carol got nothing else, the unregistered connection nothing at all.
    probe(ctx, &mut carol)?;
    lurker.expect_silence(QUIET)?;
    bye(carol)?;
    bye(bob)?;
    bye(alice)
}

fn bcst_sender_reply(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "BsAlice")?;
    let mut bob = join(ctx, "BsBob")?;
    settle(ctx, &mut alice)?;
    alice.command("BCST  Hello  ")?;
    alice.expect_line("BsAlice is sending a broadcast")?;
    bob.expect_line("BsAlice:  Hello  ")?;
    // The sender does not get its own text: its probe comes next.
    probe(ctx, &mut alice)?;
    bye(bob)?;
    bye(alice)
}

fn bcst_unregistered(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    anon.command("BCST hi")?;
    expect_unregistered(&mut anon, "BCST")
}

fn bcst_no_text(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "BnAlice")?;
    for bad in ["BCST", "BCST "] {
        alice.command(bad)?;
        alice.expect_line("Unknown Message")?;
    }
    bye(alice)
}

// ---- QUIT ----

fn quit_registered(ctx: &mut Ctx) -> Check {
    let alice = join(ctx, "QrAlice")?;
    quit(alice, "QrAlice")
}

fn quit_announced(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "QaAlice")?;
    let bob = join(ctx, "QaBob")?;
    settle(ctx, &mut alice)?;
    bye(bob)?;
    alice.expect_line("QaBob left")?;
    bye(alice)
}

fn quit_unregistered(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    anon.command("QUIT")?;
    // Whatever it says first, the connection must close.
    let said = anon.read_to_close(4096)?;
    ensure(
        anon.is_closed(),
        "the connection after QUIT",
        "(connection closed)",
        &String::from_utf8_lossy(&said),
    )
}

fn quit_goodbye(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    anon.command("QUIT")?;
    anon.expect_line("Goodbye")?;
    anon.expect_closed()
}

fn quit_name_free(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "QfAlice")?;
    alice.command("QUIT")?;
    // Whatever the reply, the connection closes, and the name is free.
    let said = alice.read_to_close(4096)?;
    ensure(
        alice.is_closed(),
        "QfAlice: the connection after QUIT",
        "(connection closed)",
        &String::from_utf8_lossy(&said),
    )?;
    let alice = join(ctx, "QfAlice")?;
    bye(alice)
}

fn leave_fin(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "LfAlice")?;
    let mut carol = join(ctx, "LfCarol")?;
    settle(ctx, &mut alice)?;
    carol.finish();
    alice.expect_line("LfCarol left")?;
    carol.expect_closed()?;
    let carol = join(ctx, "LfCarol")?;
    bye(carol)?;
    bye(alice)
}

fn leave_rst(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "LrAlice")?;
    let bob = join(ctx, "LrBob")?;
    let mut carol = join(ctx, "LrCarol")?;
    settle(ctx, &mut alice)?;
    settle(ctx, &mut carol)?;
    bob.reset();
    alice.expect_line("LrBob left")?;
    carol.expect_line("LrBob left")?;
    alice.command("LIST")?;
    alice.expect_lines(&["LrAlice", "LrCarol"])?;
    bye(carol)?;
    bye(alice)
}

// ---- Unknown ----

fn unknown_registered(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "UrAlice")?;
    alice.command("HELLO there")?;
    alice.expect_line("Unknown Message")?;
    bye(alice)
}

fn unknown_variants(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "UvAlice")?;
    for bad in [
        "join UvAlice",
        "list",
        "LISTS",
        "LIST x",
        "LIST ",
        "QUIT x",
        "QUIT ",
        "mesg UvAlice hi",
        " LIST",
        "JOINER",
    ] {
        alice.command(bad)?;
        alice.expect_line("Unknown Message")?;
    }
    bye(alice)
}

fn unknown_unregistered(ctx: &mut Ctx) -> Check {
    let mut anon = ctx.connect("anon")?;
    for line in [
        "LIST x",
        "LIST ",
        "MESG",
        "MESG ",
        "MESG Bob",
        "MESG Bob hi",
        "BCST",
        "BCST ",
        "BCST hi",
    ] {
        anon.command(line)?;
        anon.expect_line(UNREGISTERED)?;
    }
    for line in ["list", "LISTS", "QUIT now", "HELLO", "join Alice", " LIST"] {
        anon.command(line)?;
        anon.expect_line("Unknown Message")?;
    }
    anon.command("JOIN UuAlice")?;
    anon.expect_line("UuAlice joined!")?;
    bye(anon)
}

// ---- Framing ----

fn framing_no_line_end(ctx: &mut Ctx) -> Check {
    let mut alice = ctx.connect("alice")?;
    alice.send("JOIN FnAlice")?;
    alice.expect_line("FnAlice joined!")?;
    alice.send("LIST")?;
    alice.expect_line("FnAlice")?;
    alice.send("BCST x")?;
    alice.expect_line("FnAlice is sending a broadcast")?;
    // A line with its LF still ends at once.
    alice.send("BCST y\n")?;
    alice.expect_line("FnAlice is sending a broadcast")?;
    bye(alice)
}

fn framing_fin_ends_line(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "FfAlice")?;
    // The last command without a line end, then FIN: still a command, and
    // its answer still comes (a LIST: the QUIT words are the QUIT cases').
    alice.send("LIST")?;
    alice.finish();
    alice.expect_line("FfAlice")
}

fn framing_burst(ctx: &mut Ctx) -> Check {
    let mut alice = ctx.connect("alice")?;
    alice.send("JOIN FbAliceLIST")?;
    alice.expect_line("FbAliceLIST joined!")?;
    // An LF inside a burst still ends a line; the rest waits for the pause.
    alice.send("BCST one\nBCST two")?;
    alice.expect_line("FbAliceLIST is sending a broadcast")?;
    alice.expect_line("FbAliceLIST is sending a broadcast")?;
    bye(alice)
}

fn framing_cr_blank(ctx: &mut Ctx) -> Check {
    let mut alice = ctx.connect("alice")?;
    alice.send("\n\r\n\nJOIN FcAlice\r\n\n")?;
    alice.expect_line("FcAlice joined!")?;
    let mut bob = join(ctx, "FcBob")?;
    settle(ctx, &mut alice)?;
    // Only the CR right before the LF goes.
    alice.send("BCST a\rb\r\n")?;
    bob.expect_line("FcAlice: a\rb")?;
    bye(bob)?;
    bye(alice)
}

fn framing_split(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "FsAlice")?;
    // Pieces 5 ms apart, so that they arrive apart; nothing pauses for
    // 200 ms before the LF (5 ms leaves a loaded machine a wide margin),
    // so they are one line.
    let mut sizes = [2, 1, 1, 1].into_iter();
    alice.send_spaced(
        b"LIST\r\n",
        &mut || sizes.next().unwrap_or(1),
        Duration::from_millis(5),
    )?;
    alice.expect_line("FsAlice")?;
    bye(alice)
}

fn framing_not_utf8(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "FuAlice")?;
    alice.send(b"BCST caf\xff\n")?;
    alice.expect_line("Unknown Message")?;
    alice.send(b"\xc3\n")?;
    alice.expect_line("Unknown Message")?;
    probe(ctx, &mut alice)?;
    bye(alice)
}

fn line_4096(ctx: &mut Ctx) -> Check {
    let mut alice = join(ctx, "TlAlice")?;
    let fits = format!("BCST {}\r\n", "x".repeat(4096 - 5));
    alice.send(fits)?;
    alice.expect_line("TlAlice is sending a broadcast")?;
    // One more byte passes the limit: the reply comes before any LF.
    alice.send(format!("BCST {}", "y".repeat(4096 - 4)))?;
    alice.expect_line("Message Too Long")?;
    // The rest of the line, however long and however slow, is discarded.
    alice.send("y".repeat(10_000))?;
    alice.expect_silence(Duration::from_millis(300))?;
    alice.send("yyy\nLIST\n")?;
    alice.expect_line("TlAlice")?;
    bye(alice)
}

fn slow_reader(ctx: &mut Ctx) -> Check {
    let _slow = join(ctx, "Slow")?;
    let mut reader = join(ctx, "Reader")?;
    let mut sender = join(ctx, "Sender")?;
    reader.expect_line("Sender joined!")?;
    // Up to 20 MB of broadcasts; the reader keeps up, the slow user does
    // not read at all and passes the default 1 MiB queue (and what the
    // kernel buffers on loopback) long before.
    let body = "z".repeat(3_990);
    let mut left_seen = false;
    for i in 0..5_000 {
        sender.send(format!("BCST {i:05} {body}\n"))?;
        loop {
            match sender.read_line()? {
                Some(l) if l == b"Sender is sending a broadcast" => break,
                Some(l) if l == b"Slow left" => {}
                got => {
                    return Err(Failure::new(
                        "the sender's reply",
                        "Sender is sending a broadcast",
                        got.unwrap_or_default(),
                    ))
                }
            }
        }
        let want = format!("Sender: {i:05} {body}");
        match reader.read_line()? {
            Some(l) if l == b"Slow left" && !left_seen => {
                left_seen = true;
                reader.expect_line(&want)?;
            }
            Some(l) if l == want.as_bytes() => {}
            got => {
                return Err(Failure::new(
                    format!("broadcast {i}"),
                    want,
                    got.unwrap_or_default(),
                ))
            }
        }
        if left_seen {
            break;
        }
    }
    ensure(
        left_seen,
        "the slow user",
        "Slow left",
        "no departure after 20 MB",
    )?;
    ctx.expect_status(
        "`fd N: send queue exceeded (1048576 bytes), disconnecting`",
        |l| l.ends_with(": send queue exceeded (1048576 bytes), disconnecting"),
    )?;
    reader.command("LIST")?;
    reader.expect_lines(&["Reader", "Sender"])
}

fn max_connections(ctx: &mut Ctx) -> Check {
    let mut a = join(ctx, "McA")?;
    let mut b = ctx.connect("b")?;
    b.command("LIST")?;
    b.expect_line(UNREGISTERED)?;
    let mut c = ctx.connect("c")?;
    c.expect_closed()?;
    ctx.expect_status("`... too many connections (2), closing`", |l| {
        l.ends_with("too many connections (2), closing")
    })?;
    probe(ctx, &mut a)?;
    // Its slot is free once the server has closed it, whatever it says.
    a.command("QUIT")?;
    a.read_to_close(4096)?;
    drop(a);
    let d = join(ctx, "McD")?;
    bye(d)
}

fn slot_for_a_newcomer(ctx: &mut Ctx) -> Check {
    let mut member = join(ctx, "SnMember")?;
    let mut idle = ctx.connect("idle")?;
    idle.command("LIST")?;
    idle.expect_line(UNREGISTERED)?;
    // The rule is about age: only the clock can make the idle one old
    // enough. 10 s and a little.
    std::thread::sleep(Duration::from_millis(10_300));
    let mut newcomer = ctx.connect("newcomer")?;
    idle.expect_closed()?;
    newcomer.command("JOIN SnNew")?;
    newcomer.expect_line("SnNew joined!")?;
    member.expect_line("SnNew joined!")?;
    probe(ctx, &mut member)
}

fn login_timeout(ctx: &mut Ctx) -> Check {
    let mut member = join(ctx, "Member")?;
    let mut idle = ctx.connect("idle")?;
    idle.expect_closed()?;
    ctx.expect_status("`... login timeout, closing`", |l| {
        l.ends_with("login timeout, closing")
    })?;
    probe(ctx, &mut member)
}

fn login_timeout_busy(ctx: &mut Ctx) -> Check {
    let mut busy = join(ctx, "Busy")?;
    let mut idle = ctx.connect("idle")?;
    // Busy keeps the server working (a LIST and its answer at a time),
    // the idle connection must still be closed on time.
    let deadline = std::time::Instant::now() + ctx.timeout;
    while std::time::Instant::now() < deadline {
        busy.send("LIST\nLIST\nLIST\nLIST\n")?;
        for _ in 0..4 {
            busy.expect_line("Busy")?;
        }
        idle.expect_silence(Duration::from_millis(1)).ok();
        if idle.is_closed() {
            return Ok(());
        }
    }
    idle.expect_closed()
}

// ---- The program ----

fn status_lines(ctx: &mut Ctx) -> Check {
    let alice = join(ctx, "StAlice")?;
    ctx.expect_status("`fd N: ...` naming JOIN StAlice", |l| {
        l.starts_with("fd ") && l.contains("JOIN StAlice")
    })?;
    bye(alice)
}

fn usage(ctx: &mut Ctx) -> Check {
    // The handout asks for a failure status; the contract pins 2.
    super::usage_then(ctx, "a failure status", |code| code.is_some_and(|c| c != 0))
}

fn shutdown_by(ctx: &mut Ctx, signal: i32) -> Check {
    let mut alice = join(ctx, "SdAlice")?;
    let mut bob = join(ctx, "SdBob")?;
    alice.expect_line("SdBob joined!")?;
    let mut anon = ctx.connect("anon")?;
    anon.command("LIST")?;
    anon.expect_line(UNREGISTERED)?;
    ctx.signal_server(signal)?;
    // Nobody is told that the others left: the line, then the close.
    alice.expect_line("Server Shutting Down")?;
    alice.expect_closed()?;
    bob.expect_line("Server Shutting Down")?;
    bob.expect_closed()?;
    anon.expect_line("Server Shutting Down")?;
    anon.expect_closed()?;
    let (status, took) = ctx.expect_server_exit()?;
    ensure(
        status.code() == Some(0),
        "exit status",
        "0",
        &status.to_string(),
    )?;
    ensure(
        took < Duration::from_secs(2),
        "time to shut down",
        "under 2 s",
        &format!("{took:?}"),
    )
}

fn shutdown(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGTERM)
}

fn shutdown_sigint(ctx: &mut Ctx) -> Check {
    shutdown_by(ctx, libc::SIGINT)
}

fn stdin_closed(ctx: &mut Ctx) -> Check {
    let alice = join(ctx, "ScAlice")?;
    ctx.close_server_stdin()?;
    let mut bob = join(ctx, "ScBob")?;
    probe(ctx, &mut bob)?;
    bye(bob)?;
    bye(alice)
}

fn handout_session(ctx: &mut Ctx) -> Check {
    let names = ["Alice", "Bob", "Alex", "Mike", "Trudy"];
    let mut peers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut peer = join(ctx, name)?;
        for earlier in peers.iter_mut().take(i) {
            let earlier: &mut Conn = earlier;
            earlier.expect_line(format!("{name} joined!"))?;
        }
        probe(ctx, &mut peer)?;
        peers.push(peer);
    }
    // Test case 1: Alice broadcasts.
    peers[0].command("BCST Hello")?;
    peers[0].expect_line("Alice is sending a broadcast")?;
    for peer in &mut peers[1..] {
        peer.expect_line("Alice: Hello")?;
    }
    // Test case 2: Mike messages Bob.
    peers[3].command("MESG Bob How are you?")?;
    peers[1].expect_line("Mike: How are you?")?;
    // Test case 3: Trudy lists.
    peers[4].command("LIST")?;
    peers[4].expect_lines(&names)?;
    // Test case 4: Alex quits.
    let alex = peers.remove(2);
    bye(alex)?;
    for peer in &mut peers {
        peer.expect_line("Alex left")?;
    }
    for peer in peers {
        bye(peer)?;
    }
    Ok(())
}

// ---- The client ----

const PROMPT: &str = "Enter JOIN followed by your username: ";

/// Starts the client against a listener of the checker and accepts it;
/// the prompt it prints at start is passed over (`lobby/client/prompt`
/// checks its words).
fn client_session(ctx: &mut Ctx) -> Result<(crate::Client, Conn), Failure> {
    let mut listener = ctx.listen("server")?;
    let port = listener.port();
    let mut client = ctx.start_client(&[("port", &port)])?;
    let conn = listener.accept()?;
    client.skip_output(ctx, Duration::from_millis(300));
    Ok((client, conn))
}

fn client_prompt(ctx: &mut Ctx) -> Check {
    let mut listener = ctx.listen("server")?;
    let port = listener.port();
    let mut client = ctx.start_client(&[("port", &port)])?;
    let _conn = listener.accept()?;
    client.expect_output(ctx, PROMPT)
}

fn client_sends_lines(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    client.type_in(ctx, "\n\nMESG Bob  two  spaces \n")?;
    server.expect_bytes("MESG Bob  two  spaces \n")?;
    client.type_in(ctx, "LIST\n")?;
    server.expect_bytes("LIST\n")
}

fn client_prints_replies(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    server.send("Alice joined!\n")?;
    client.expect_output(ctx, "Alice joined!\n")?;
    client.type_in(ctx, "LIST\n")?;
    server.expect_bytes("LIST\n")?;
    server.send("Alice\nBob\n")?;
    client.expect_output(ctx, "Alice\nBob\n")
}

fn client_no_line_end(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    server.send("Alice joined!")?;
    client.expect_output(ctx, "Alice joined!")?;
    server.send("Bob joined!")?;
    client.expect_output(ctx, "Bob joined!")
}

fn client_nothing_lost(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    server.send("abc\n")?;
    client.expect_output(ctx, "abc\n")?;
    server.send("def")?;
    client.expect_output(ctx, "def")?;
    server.send("ghi")?;
    drop(server);
    client.expect_output(ctx, "ghi\nDisconnected from server\n")?;
    client.expect_exit(ctx, 0)
}

fn client_end_of_input(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    client.close_stdin(ctx);
    // The client closes its sending half and keeps printing.
    server.expect_closed()?;
    server.send("Alice joined!\nstill here\n")?;
    client.expect_output(ctx, "Alice joined!\nstill here\n")?;
    drop(server);
    client.expect_output(ctx, "Disconnected from server\n")?;
    client.expect_exit(ctx, 0)
}

fn client_quit(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "QUIT\n")?;
    server.expect_bytes("QUIT\n")?;
    server.send("Alex is quitting the chat server\n")?;
    client.expect_output(ctx, "Alex is quitting the chat server\n")
}

fn client_unable(ctx: &mut Ctx) -> Check {
    let port = free_port()?.to_string();
    let mut client = ctx.start_client(&[("port", &port)])?;
    // The prompt may come first; the line must follow.
    let text =
        client.expect_output_until(ctx, &format!("Unable to connect to 127.0.0.1:{port}\n"))?;
    ensure(
        text.is_empty() || text == PROMPT,
        "output before the error",
        "nothing, or the prompt",
        &text,
    )?;
    client.expect_exit(ctx, 1)
}

fn client_ctrl_c(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    client.signal(ctx, libc::SIGINT);
    // What it prints on the way out is its own business; the exit is not.
    client.expect_exit_code(ctx, 0)
}

fn client_terminal_safe(ctx: &mut Ctx) -> Check {
    let (mut client, mut server) = client_session(ctx)?;
    server.send("Eve: \x1b]0;pwned\x07\x1b[2J\n")?;
    client.expect_output(ctx, "Eve: ^[]0;pwned^G^[[2J\n")?;
    server.send("Eve: bidi \u{202e}x\u{85}\x7f tab\tcr\r\n")?;
    client.expect_output(ctx, "Eve: bidi <U+202E>x<U+0085>^? tab\tcr\n")
}

fn client_trace(ctx: &mut Ctx) -> Check {
    let mut listener = ctx.listen("server")?;
    let port = listener.port();
    let mut client = ctx.start_client_with(&[("port", &port)], &["-v"])?;
    let mut server = listener.accept()?;
    client.skip_output(ctx, Duration::from_millis(300));
    client.type_in(ctx, "JOIN Alice\n")?;
    server.expect_bytes("JOIN Alice\n")?;
    server.send("Alice joined!\n")?;
    // stdout stays exactly as without -v.
    client.expect_output(ctx, "Alice joined!\n")?;
    client.expect_stderr_line(ctx, "> JOIN Alice")?;
    client.expect_stderr_line(ctx, "< Alice joined!")
}
