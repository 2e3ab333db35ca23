//! channels: 200-byte records, every error string of the handout's
//! `utils.py`, announcements, buffering of split and packed records, the
//! continuation rule, `/list` packing; and the `[Me]` client.
//!
//! The expected records are written out here by hand. Server cases that
//! need nothing of their own may share one running server, where channels
//! live as long as that server: each case uses user and channel names of
//! its own (with the checker's pid in channel names, for a second run).

use std::time::Duration;

use crate::conn::Conn;
use crate::target::{free_port, SyncProbe, QUIET};
use crate::{Case, Check, Ctx, Dialect, Failure, Need, Source};

const D: Dialect = Dialect::Channels;
const RECORD: usize = 200;
const WIPE: &str = "\r    \r";
const NOT_IN_CHANNEL: &str =
    "Not currently in any channel. Must join a channel before sending messages.";
const JOIN_USAGE: &str = "/join command must be followed by the name of a channel to join.";
const CREATE_USAGE: &str = "/create command must be followed by the name of a channel to create";
/// The handout's rule for every error string.
const UTILS: &str = "You are required to use the error messages defined in utils.py";

use Source::{Contract, Handout};

pub const CASES: &[Case] = &[
    // ---- NAME ----
    D.server("channels/name/first-record", "NAME", "the first record is the client's name, used in its relays and announcements",
        Handout("The first message that the server receives from the client should be used as the client's name"), handout_two_clients),
    D.server("channels/name/invalid", "NAME", "an empty name, a name with whitespace or control characters, or over 32 bytes gets `Name <name> is not valid or is already in use.` and close",
        Contract, name_invalid),
    D.server("channels/name/taken", "NAME", "a name in use gets `Name <name> is not valid or is already in use.` and close",
        Contract, name_taken),
    D.server("channels/name/free-after-leave", "NAME", "a name is free again once its user has gone",
        Contract, name_free_again),
    // ---- CREATE ----
    D.server("channels/create/ok", "CREATE", "/create <ch> makes the channel and puts the sender in it",
        Handout("/create <channel> should create a new channel with the given name, and add the client to the given channel"), create_ok),
    D.server("channels/create/leaves-old", "CREATE", "/create moves the sender out of its channel, whose members get `<name> has left`",
        Handout("As with the /join call, the client should be removed from any existing channels"), create_leaves_old),
    D.server("channels/create/exists", "CREATE", "/create of an existing channel gets `Room <ch> already exists, so cannot be created.` and changes nothing",
        Handout(UTILS), create_exists),
    D.server("channels/create/no-argument", "CREATE", "/create alone gets the /create usage error",
        Handout(UTILS), create_no_argument),
    D.server("channels/create/max-channels", "CREATE", "past --max-channels, /create gets `Too many channels, so <ch> cannot be created.`",
        Contract, create_max_channels)
        .needs(&[Need::Options(&["--max-channels", "2"])]),
    // ---- JOIN ----
    D.server("channels/join/announced", "JOIN", "a join is announced to the channel's members as `<name> has joined`",
        Handout("When a client is added to a channel, a message should be broadcasted to all existing members of the channel stating that the client has joined"), join_announced),
    D.server("channels/join/switch", "JOIN", "joining another channel tells the old one `<name> has left` and the new one `<name> has joined`",
        Handout("if the client left a channel, a message should be broadcasted stating that the client left"), join_switch),
    D.server("channels/join/no-such-channel", "JOIN", "/join of a channel that does not exist gets `No channel named <ch> exists. Try '/create <ch>'?`",
        Handout(UTILS), join_no_such),
    D.server("channels/join/no-argument", "JOIN", "/join alone gets the /join usage error",
        Handout(UTILS), join_no_argument),
    D.server("channels/join/failed-changes-nothing", "JOIN", "a failed /join or /create leaves the sender in its channel",
        Handout("if a client is currently in the AA channel and then tries to join a channel that doesn't exist, the client should not be removed from the AA channel"), failed_changes_nothing),
    D.server("channels/join/already-in", "JOIN", "/join of the channel one is in changes nothing and announces nothing",
        Contract, join_already_in),
    D.server("channels/join/extra-words", "JOIN", "words after the argument are ignored",
        Contract, join_extra_words),
    // ---- LIST ----
    D.server("channels/list/names", "LIST", "/list answers with the channel names, separated by newlines; empty channels stay listed",
        Handout("**/list** should send a message back to the client with the names of all current channels, separated by newlines"), list_names)
        .needs(&[Need::OwnServer]),
    D.server("channels/list/empty-then-packed", "LIST", "/list: nothing when there are none; then names in creation order, packed greedily into records",
        Contract, list_packed)
        .needs(&[Need::OwnServer]),
    // ---- MESSAGE ----
    D.server("channels/message/relay", "MESSAGE", "a text reaches the other members of the sender's channel as `[<name>] <text>`, not the sender",
        Handout("These messages should be broadcasted to all other clients in the channel, preceded by the client's name in brackets"), message_relay),
    D.server("channels/message/own-channel-only", "MESSAGE", "a text never reaches users in other channels",
        Handout("Messages should not be sent to client in different channels"), message_own_channel),
    D.server("channels/message/not-in-channel", "MESSAGE", "a text from a user in no channel gets `Not currently in any channel. ...`",
        Handout(UTILS), message_not_in_channel),
    D.server("channels/message/rstrip", "MESSAGE", "trailing whitespace (space, TAB, LF, VT, FF, CR) of a record is stripped: `Hi!\\n` padded relays as `[Kay] Hi!`",
        Contract, message_rstrip),
    D.server("channels/message/long-relay", "MESSAGE", "a relay over 200 bytes goes on in further records, split at character boundaries, whitespace moved to the next record",
        Contract, long_relay),
    // ---- ERRORS ----
    D.server("channels/errors/unknown-control", "ERRORS", "an unknown control message gets `<word> is not a valid control message. Valid messages are /create, /list, and /join.`",
        Handout(UTILS), unknown_control),
    D.server("channels/errors/case-sensitive", "ERRORS", "commands are case-sensitive: /JOIN is not /join",
        Contract, case_sensitive),
    D.server("channels/errors/long-error-continues", "ERRORS", "an error that repeats a long name goes on in further records",
        Contract, long_error),
    // ---- BUFFERING ----
    D.server("channels/buffering/split-at-random", "BUFFERING", "records that arrive in pieces of any size are relayed intact",
        Handout("Be sure that your code correctly handles the case where less than one message is available in the socket's buffer"), split_at_random),
    D.server("channels/buffering/many-in-one-write", "BUFFERING", "several records in one write are each handled",
        Handout("and the case where more than one message is available in the socket's buffer"), many_in_one_write),
    // ---- DISCONNECT ----
    D.server("channels/disconnect/announced", "DISCONNECT", "a user who closes its connection is announced to its channel as `<name> has left`",
        Handout("When a client disconnects, a message should be broadcasted to all members of the client's channel saying that the client disconnected"), disconnect_fin),
    D.server("channels/disconnect/reset", "DISCONNECT", "a user whose connection is reset is announced as `<name> has left`",
        Contract, disconnect_rst),
    // ---- The program ----
    D.server("channels/server/usage", "SERVER", "without a port the server prints a usage statement and exits with status 2",
        Contract, super::usage)
        .needs(&[Need::OwnServer]),
    D.server("channels/server/status-lines", "SERVER", "the server prints a status line per connection event and request, naming the connection by its fd",
        Contract, status_lines)
        .needs(&[Need::Stdout]),
    D.server("channels/server/shutdown", "SERVER", "SIGTERM closes every connection and the server exits 0 within 2 s",
        Contract, shutdown)
        .needs(&[Need::Signal]),
    // ---- The client ----
    D.client("channels/client/sends-name", "NAME", "the client connects and sends its name as the first record",
        Handout("This command should connect to the server at the given address and port number, and then send a message with the name Scott"), client_sends_name),
    D.client("channels/client/prompt", "CLIENT", "the client shows `[Me] ` at start and after each line typed",
        Handout("The client should print [Me] to each new line"), client_prompt),
    D.client("channels/client/sends-padded", "MESSAGE", "each typed line is sent as one record padded with spaces",
        Handout("messages from stdin should be sent to the server (after being padded with spaces, as needed)"), client_sends_padded),
    D.client("channels/client/prints-stripped", "MESSAGE", "a record from the server is printed stripped of its trailing spaces",
        Handout("Messages from the server should be printed to the command line (after being stripped of any spaces at the end)"), client_prints_stripped),
    D.client("channels/client/overwrites-prompt", "CLIENT", "a record prints as `\\r    \\r<text>\\n` then `[Me] ` again",
        Handout("When the client gets a message from the server, it should write over the [Me] with the message from the server"), client_overwrites_prompt),
    D.client("channels/client/partial-record", "BUFFERING", "a record is printed only once all 200 bytes have arrived",
        Handout("The client should only write the message to stdout once all 200 characters have been received"), client_partial_record),
    D.client("channels/client/many-records", "BUFFERING", "records that arrive in one read are each printed",
        Handout("and the case where more than one message is available in the socket's buffer"), client_many_records),
    D.client("channels/client/rstrip", "MESSAGE", "trailing whitespace of a received record (LF, TAB, CR...) is stripped: no blank line after `Hi!\\n`",
        Contract, client_rstrip),
    D.client("channels/client/long-line", "MESSAGE", "a typed line over 200 bytes is sent as several records, split by the server's rule",
        Contract, client_long_line),
    D.client("channels/client/empty-line", "MESSAGE", "an empty typed line is not sent",
        Contract, client_empty_line),
    D.client("channels/client/server-disconnected", "DISCONNECT", "when the server closes the client prints `Server at <host>:<port> has disconnected` and exits 0",
        Handout("CLIENT_SERVER_DISCONNECTED = \"Server at {0}:{1} has disconnected\""), client_server_disconnected),
    D.client("channels/client/end-of-input", "DISCONNECT", "at end of stdin the client closes its sending half and prints until the server closes",
        Contract, client_end_of_input),
    D.client("channels/client/unable-to-connect", "CLIENT", "with no server the client prints `Unable to connect to <host>:<port>` and exits 1",
        Contract, client_unable),
    D.client("channels/client/terminal-safe", "CLIENT", "control characters from the network are printed in caret notation",
        Contract, client_terminal_safe),
    D.server("channels/server/help-version", "SERVER", "`--help` and `--version` print to stdout and exit 0",
        Contract, super::help_and_version)
        .needs(&[Need::OwnServer]),
    D.server("channels/server/option-out-of-range", "SERVER", "a numeric option out of range (--login-timeout, --sendq, --max-connections) is a usage error: exit 2",
        Contract, super::option_out_of_range)
        .needs(&[Need::OwnServer]),
];

// ---- helpers ----

/// `text` padded with spaces to one record (longer text is a bug of the case).
fn rec(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    out.resize(RECORD.max(out.len()), b' ');
    out.truncate(RECORD);
    out
}

/// Several records, one after another.
fn recs<S: AsRef<str>>(texts: &[S]) -> Vec<u8> {
    texts.iter().flat_map(|t| rec(t.as_ref())).collect()
}

/// A channel name of this run: channels outlive their users.
fn fresh(base: &str) -> String {
    format!("{base}.{}", std::process::id())
}

/// A raw client that has sent its name record.
fn named(ctx: &mut Ctx, name: &str) -> Result<Conn, Failure> {
    let label = if name.is_empty() { "noname" } else { name };
    let mut peer = ctx.connect(label)?;
    peer.send(rec(name))?;
    Ok(peer)
}

/// The sync probe: `/join` alone, which the handout answers with its
/// usage error. What a server really answers is found once per run, and
/// every case syncs on that answer, so that a server that gets `/join`
/// wrong fails only the cases of `/join`.
pub const SYNC: SyncProbe = SyncProbe {
    sent: "`/join` alone",
    answer: JOIN_USAGE,
    pad: RECORD,
    calibrate,
};

fn calibrate(ctx: &mut Ctx) -> Result<Option<Vec<u8>>, Failure> {
    let mut peer = named(ctx, "CkSync0")?;
    peer.send(rec("/join"))?;
    Ok(match peer.read_exact(RECORD) {
        Ok(record) => Some(record),
        // A short answer (no padding) is taken as it is.
        Err(_) => Some(peer.take_pending()).filter(|r| !r.is_empty()),
    })
}

/// Proves everything `peer` sent before was handled and nothing else was
/// sent to it meanwhile: the answer to the probe is what arrives next.
fn probe(ctx: &mut Ctx, peer: &mut Conn) -> Check {
    peer.send(rec("/join"))?;
    probe_answer(ctx, peer)
}

/// Expects the answer to a probe already sent.
fn probe_answer(ctx: &mut Ctx, peer: &mut Conn) -> Check {
    let reply = ctx.sync_reply(&SYNC)?;
    match reply {
        Some(reply) => peer.expect_bytes(reply),
        None => peer.expect_silence(QUIET),
    }
}

/// `name` creates `channel` and is known to be in it.
fn creator(ctx: &mut Ctx, name: &str, channel: &str) -> Result<Conn, Failure> {
    let mut peer = named(ctx, name)?;
    peer.send(rec(&format!("/create {channel}")))?;
    probe(ctx, &mut peer)?;
    Ok(peer)
}

/// `name` joins `channel`, whose member `watcher` sees it.
fn joiner(ctx: &mut Ctx, name: &str, channel: &str, watcher: &mut Conn) -> Result<Conn, Failure> {
    let mut peer = named(ctx, name)?;
    peer.send(rec(&format!("/join {channel}")))?;
    watcher.expect_bytes(rec(&format!("{name} has joined")))?;
    Ok(peer)
}

// ---- NAME ----

/// The course's two-client test: the joiner and the sender get nothing extra.
fn handout_two_clients(ctx: &mut Ctx) -> Check {
    let tas = fresh("tas");
    let mut alice = creator(ctx, "Alice", &tas)?;
    let mut kay = joiner(ctx, "Kay", &tas, &mut alice)?;
    kay.send(rec("Hi!"))?;
    alice.expect_bytes(rec("[Kay] Hi!"))?;
    alice.send(rec("Hello!"))?;
    kay.expect_bytes(rec("[Alice] Hello!"))?;
    probe(ctx, &mut kay)?;
    probe(ctx, &mut alice)
}

fn name_invalid(ctx: &mut Ctx) -> Check {
    let long = "x".repeat(33);
    for bad in ["Err A", "", &long, "Err\u{1}A", "Err\u{85}A", "\tErrA"] {
        let mut peer = named(ctx, bad)?;
        // The server strips trailing whitespace only; it repeats the name.
        peer.expect_bytes(rec(&format!(
            "Name {bad} is not valid or is already in use."
        )))?;
        peer.expect_closed()?;
    }
    // 32 bytes is a name.
    let mut ok = named(ctx, &"N".repeat(32))?;
    probe(ctx, &mut ok)
}

fn name_taken(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "TakenA")?;
    probe(ctx, &mut a)?;
    let mut again = named(ctx, "TakenA")?;
    again.expect_bytes(rec("Name TakenA is not valid or is already in use."))?;
    again.expect_closed()?;
    probe(ctx, &mut a)
}

fn name_free_again(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "FreeA")?;
    probe(ctx, &mut a)?;
    drop(a);
    // The server may take a moment to see the close: a bounded retry.
    let deadline = std::time::Instant::now() + ctx.timeout;
    let sync = ctx.sync_reply(&SYNC)?.unwrap_or_default();
    loop {
        let mut again = named(ctx, "FreeA")?;
        again.send(rec("/join"))?;
        let got = again.read_exact(sync.len().max(1)).unwrap_or_default();
        if !sync.is_empty() && got == sync {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Failure::new("the name after its user left", sync, got));
        }
    }
}

// ---- CREATE ----

fn create_ok(ctx: &mut Ctx) -> Check {
    let ch = fresh("made");
    let mut a = creator(ctx, "MadeA", &ch)?;
    let mut b = joiner(ctx, "MadeB", &ch, &mut a)?;
    a.send(rec("in it"))?;
    b.expect_bytes(rec("[MadeA] in it"))?;
    probe(ctx, &mut b)
}

fn create_leaves_old(ctx: &mut Ctx) -> Check {
    let (one, two) = (fresh("cl-one"), fresh("cl-two"));
    let mut a = creator(ctx, "ClA", &one)?;
    let mut b = joiner(ctx, "ClB", &one, &mut a)?;
    b.send(rec(&format!("/create {two}")))?;
    a.expect_bytes(rec("ClB has left"))?;
    // B's texts now go to two, where nobody is.
    b.send(rec("to two"))?;
    probe(ctx, &mut b)?;
    probe(ctx, &mut a)
}

fn create_exists(ctx: &mut Ctx) -> Check {
    let (ch, mine) = (fresh("ex"), fresh("ex-mine"));
    let mut a = creator(ctx, "ExA", &ch)?;
    let mut b = creator(ctx, "ExB", &mine)?;
    let mut c = joiner(ctx, "ExC", &mine, &mut b)?;
    c.send(rec(&format!("/create {ch}")))?;
    c.expect_bytes(rec(&format!(
        "Room {ch} already exists, so cannot be created."
    )))?;
    // Nothing changed: C is still with B, not with A.
    c.send(rec("still here"))?;
    b.expect_bytes(rec("[ExC] still here"))?;
    probe(ctx, &mut a)
}

fn create_no_argument(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "CnA")?;
    a.send(rec("/create"))?;
    a.expect_bytes(rec(CREATE_USAGE))?;
    a.send(rec("hello"))?;
    a.expect_bytes(rec(NOT_IN_CHANNEL))
}

fn create_max_channels(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "MaxA")?;
    a.send(rec("/create one"))?;
    a.send(rec("/create two"))?;
    a.send(rec("/create three"))?;
    a.expect_bytes(rec("Too many channels, so three cannot be created."))?;
    a.send(rec("/list"))?;
    a.expect_bytes(rec("one\ntwo"))
}

// ---- JOIN ----

fn join_announced(ctx: &mut Ctx) -> Check {
    let ch = fresh("ja");
    let mut a = creator(ctx, "JaA", &ch)?;
    let mut b = joiner(ctx, "JaB", &ch, &mut a)?;
    let mut c = named(ctx, "JaC")?;
    c.send(rec(&format!("/join {ch}")))?;
    a.expect_bytes(rec("JaC has joined"))?;
    b.expect_bytes(rec("JaC has joined"))?;
    // The joiner itself is told nothing.
    probe(ctx, &mut c)
}

fn join_switch(ctx: &mut Ctx) -> Check {
    let (one, two) = (fresh("sw-one"), fresh("sw-two"));
    let mut b = creator(ctx, "SwB", &one)?;
    let mut c = creator(ctx, "SwC", &two)?;
    let mut a = joiner(ctx, "SwA", &one, &mut b)?;
    a.send(rec(&format!("/join {two}")))?;
    b.expect_bytes(rec("SwA has left"))?;
    c.expect_bytes(rec("SwA has joined"))?;
    probe(ctx, &mut a)?;
    probe(ctx, &mut b)?;
    probe(ctx, &mut c)
}

fn join_no_such(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "NsA")?;
    a.send(rec("/join ns-nowhere"))?;
    a.expect_bytes(rec(
        "No channel named ns-nowhere exists. Try '/create ns-nowhere'?",
    ))
}

fn join_no_argument(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "NaA")?;
    a.send(rec("/join"))?;
    a.expect_bytes(rec(JOIN_USAGE))
}

fn failed_changes_nothing(ctx: &mut Ctx) -> Check {
    let aa = fresh("AA");
    let mut a = creator(ctx, "FcA", &aa)?;
    let mut b = joiner(ctx, "FcB", &aa, &mut a)?;
    b.send(rec("/join fc-nowhere"))?;
    b.expect_bytes(rec(
        "No channel named fc-nowhere exists. Try '/create fc-nowhere'?",
    ))?;
    b.send(rec("/create"))?;
    b.expect_bytes(rec(CREATE_USAGE))?;
    b.send(rec(&format!("/create {aa}")))?;
    b.expect_bytes(rec(&format!(
        "Room {aa} already exists, so cannot be created."
    )))?;
    b.send(rec("still in AA"))?;
    a.expect_bytes(rec("[FcB] still in AA"))?;
    probe(ctx, &mut a)
}

fn join_already_in(ctx: &mut Ctx) -> Check {
    let ch = fresh("ai");
    let mut a = creator(ctx, "AiA", &ch)?;
    let mut b = joiner(ctx, "AiB", &ch, &mut a)?;
    b.send(rec(&format!("/join {ch}")))?;
    probe(ctx, &mut b)?;
    // A heard nothing of it.
    probe(ctx, &mut a)?;
    b.send(rec("still"))?;
    a.expect_bytes(rec("[AiB] still"))
}

fn join_extra_words(ctx: &mut Ctx) -> Check {
    let ch = fresh("xw");
    let mut a = creator(ctx, "XwA", &ch)?;
    let mut b = named(ctx, "XwB")?;
    b.send(rec(&format!("/join {ch} and more words")))?;
    a.expect_bytes(rec("XwB has joined"))?;
    probe(ctx, &mut b)
}

// ---- LIST ----

fn list_names(ctx: &mut Ctx) -> Check {
    let mut a = creator(ctx, "LnA", "first")?;
    a.send(rec("/create second"))?;
    a.send(rec("/list"))?;
    a.expect_bytes(rec("first\nsecond"))?;
    // Channels outlive their members.
    a.finish();
    a.expect_closed()?;
    let mut b = named(ctx, "LnB")?;
    b.send(rec("/list"))?;
    b.expect_bytes(rec("first\nsecond"))
}

fn list_packed(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "Lister")?;
    a.send(rec("/list"))?;
    // Nothing when there are none: the probe's answer comes first.
    probe(ctx, &mut a)?;
    let names: Vec<String> = (0..10).map(|i| format!("{i:0>30}")).collect();
    for name in names.iter().rev() {
        a.send(rec(&format!("/create {name}")))?;
    }
    a.send(rec("/list extra words"))?;
    // Six 30-byte names and five LFs make 185 bytes; a seventh would not fit.
    let order: Vec<&str> = names.iter().rev().map(String::as_str).collect();
    a.expect_bytes(recs(&[order[..6].join("\n"), order[6..].join("\n")]))?;
    probe(ctx, &mut a)
}

// ---- MESSAGE ----

fn message_relay(ctx: &mut Ctx) -> Check {
    let ch = fresh("mr");
    let mut a = creator(ctx, "MrA", &ch)?;
    let mut b = joiner(ctx, "MrB", &ch, &mut a)?;
    let mut c = joiner(ctx, "MrC", &ch, &mut a)?;
    b.expect_bytes(rec("MrC has joined"))?;
    c.send(rec("hello  all"))?;
    a.expect_bytes(rec("[MrC] hello  all"))?;
    b.expect_bytes(rec("[MrC] hello  all"))?;
    // Not to the sender.
    probe(ctx, &mut c)
}

fn message_own_channel(ctx: &mut Ctx) -> Check {
    let (one, two) = (fresh("oc-one"), fresh("oc-two"));
    let mut a = creator(ctx, "OcA", &one)?;
    let mut b = joiner(ctx, "OcB", &one, &mut a)?;
    let mut c = creator(ctx, "OcC", &two)?;
    let mut nowhere = named(ctx, "OcD")?;
    a.send(rec("to one"))?;
    b.expect_bytes(rec("[OcA] to one"))?;
    c.send(rec("to two"))?;
    probe(ctx, &mut c)?;
    probe(ctx, &mut a)?;
    probe(ctx, &mut b)?;
    probe(ctx, &mut nowhere)
}

fn message_not_in_channel(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "NcA")?;
    a.send(rec("Hello world!"))?;
    a.expect_bytes(rec(NOT_IN_CHANNEL))
}

fn message_rstrip(ctx: &mut Ctx) -> Check {
    let ch = fresh("rs");
    let mut a = creator(ctx, "RsA", &ch)?;
    let mut kay = joiner(ctx, "RsKay", &ch, &mut a)?;
    kay.send(rec("Hi!\n"))?;
    a.expect_bytes(rec("[RsKay] Hi!"))?;
    kay.send(rec("tabs\t\x0b\x0c\r\n "))?;
    a.expect_bytes(rec("[RsKay] tabs"))?;
    // Only trailing whitespace goes.
    kay.send(rec("inner\ttab kept"))?;
    a.expect_bytes(rec("[RsKay] inner\ttab kept"))?;
    probe(ctx, &mut a)
}

fn long_relay(ctx: &mut Ctx) -> Check {
    let wide = fresh("wide");
    let mut to = creator(ctx, "WideTo", &wide)?;
    let mut from = joiner(ctx, "Wide", &wide, &mut to)?;
    // "[Wide] " is 7 bytes; the 97th "é" would straddle byte 200.
    from.send(rec(&"é".repeat(97)))?;
    to.expect_bytes(recs(&[format!("[Wide] {}", "é".repeat(96)), "é".into()]))?;
    // Bytes 198 and 199 are spaces: they start the next record instead.
    from.send(rec(&format!("{}   b", "a".repeat(191))))?;
    to.expect_bytes(recs(&[
        format!("[Wide] {}", "a".repeat(191)),
        "   b".into(),
    ]))?;
    probe(ctx, &mut to)?;
    probe(ctx, &mut from)
}

// ---- ERRORS ----

fn unknown_control(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "UcA")?;
    for word in ["/lists", "/", "/quit"] {
        a.send(rec(&format!("{word} something")))?;
        a.expect_bytes(rec(&format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        )))?;
    }
    a.send(rec("still nowhere"))?;
    a.expect_bytes(rec(NOT_IN_CHANNEL))
}

fn case_sensitive(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "CsA")?;
    for word in ["/JOIN", "/Create", "/LIST"] {
        a.send(rec(&format!("{word} cs")))?;
        a.expect_bytes(rec(&format!(
            "{word} is not a valid control message. Valid messages are /create, /list, and /join."
        )))?;
    }
    Ok(())
}

fn long_error(ctx: &mut Ctx) -> Check {
    let mut b = named(ctx, "LeB")?;
    let n = |k: usize| "n".repeat(k);
    b.send(rec(&format!("/join {}", n(190))))?;
    b.expect_bytes(recs(&[
        format!("No channel named {}", n(183)),
        format!("{} exists. Try '/create {}", n(7), n(171)),
        format!("{}'?", n(19)),
    ]))?;
    probe(ctx, &mut b)
}

// ---- BUFFERING ----

/// A small seeded PRNG (xorshift64*), so that a failing split replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// The course's split-message client: every record in random pieces, the
/// name record included; the reader gets every relay intact.
fn split_at_random(ctx: &mut Ctx) -> Check {
    for seed in [1u64, 0x5eed, 0xdead_beef] {
        let mut rng = Rng(seed);
        let writer_name = format!("Splitter{seed}");
        let reader_name = format!("Reader{seed}");
        let channel = fresh(&format!("split{seed}"));
        let mut writer = ctx.connect(&writer_name)?;
        let hello = recs(&[
            writer_name.clone(),
            format!("/create {channel}"),
            "/join".into(),
        ]);
        writer.send_in_pieces(&hello, &mut || 1 + rng.below(300))?;
        probe_answer(ctx, &mut writer)?;
        let mut reader = joiner(ctx, &reader_name, &channel, &mut writer)?;
        let lines: Vec<String> = (0..10)
            .map(|i| {
                format!("line {i}: the quick brown fox jumps over the lazy dog {i}; ")
                    .repeat(3)
                    .chars()
                    .take(143)
                    .collect()
            })
            .collect();
        if seed == 1 {
            // Pieces that arrive apart, 20 ms between them (a recv sees
            // one piece); the other seeds send back to back (a recv sees
            // several, across records).
            writer.send_spaced(
                &recs(&lines),
                &mut || 1 + rng.below(300),
                Duration::from_millis(20),
            )?;
        } else {
            writer.send_in_pieces(&recs(&lines), &mut || 1 + rng.below(300))?;
        }
        for line in &lines {
            reader.expect_bytes(rec(&format!("[{writer_name}] {}", line.trim_end())))?;
        }
        probe(ctx, &mut writer)?;
        probe(ctx, &mut reader)?;
    }
    Ok(())
}

fn many_in_one_write(ctx: &mut Ctx) -> Check {
    let ch = fresh("many");
    let mut reader = creator(ctx, "ManyR", &ch)?;
    let mut w = ctx.connect("ManyW")?;
    w.send(recs(&[
        "ManyW".to_string(),
        format!("/join {ch}"),
        "one".into(),
        "two".into(),
        "three".into(),
    ]))?;
    reader.expect_bytes(recs(&[
        "ManyW has joined",
        "[ManyW] one",
        "[ManyW] two",
        "[ManyW] three",
    ]))?;
    probe(ctx, &mut w)
}

// ---- DISCONNECT ----

fn disconnect_fin(ctx: &mut Ctx) -> Check {
    let ch = fresh("fin");
    let mut stay = creator(ctx, "FinStay", &ch)?;
    let mut gone = joiner(ctx, "FinGone", &ch, &mut stay)?;
    gone.finish();
    stay.expect_bytes(rec("FinGone has left"))?;
    probe(ctx, &mut stay)
}

fn disconnect_rst(ctx: &mut Ctx) -> Check {
    let ch = fresh("rst");
    let mut stay = creator(ctx, "RstStay", &ch)?;
    let gone = joiner(ctx, "RstGone", &ch, &mut stay)?;
    gone.reset();
    stay.expect_bytes(rec("RstGone has left"))?;
    probe(ctx, &mut stay)
}

// ---- The program ----

fn status_lines(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "StatusA")?;
    probe(ctx, &mut a)?;
    ctx.expect_status("`fd N: ...` naming StatusA", |l| {
        l.starts_with("fd ") && l.contains("StatusA")
    })?;
    a.send(rec("/create status-ch"))?;
    probe(ctx, &mut a)?;
    ctx.expect_status("`fd N: ...` naming /create status-ch", |l| {
        l.starts_with("fd ") && l.contains("status-ch")
    })
    .map(|_| ())
}

fn shutdown(ctx: &mut Ctx) -> Check {
    let mut a = named(ctx, "SdA")?;
    probe(ctx, &mut a)?;
    ctx.signal_server(libc::SIGTERM)?;
    a.read_to_close(64 * 1024)?;
    crate::ensure(
        a.is_closed(),
        "the connection at shutdown",
        "(closed)",
        "open",
    )?;
    let (status, took) = ctx.expect_server_exit()?;
    crate::ensure(
        status.code() == Some(0),
        "exit status",
        "0",
        &status.to_string(),
    )?;
    crate::ensure(
        took < Duration::from_secs(2),
        "time to shut down",
        "under 2 s",
        &format!("{took:?}"),
    )
}

// ---- The client ----

/// Starts the client named `name` against a listener of the checker and
/// takes its name record.
fn client_session(ctx: &mut Ctx, name: &str) -> Result<(crate::Client, Conn, String), Failure> {
    let mut listener = ctx.listen("server")?;
    let port = listener.port();
    let client = ctx.start_client(&[("port", &port), ("name", name)])?;
    let mut conn = listener.accept()?;
    conn.expect_bytes(rec(name))?;
    Ok((client, conn, port))
}

fn client_sends_name(ctx: &mut Ctx) -> Check {
    client_session(ctx, "Scott").map(|_| ())
}

fn client_prompt(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    client.type_in(ctx, "/list\n")?;
    server.expect_bytes(rec("/list"))?;
    client.expect_output(ctx, "[Me] ")
}

fn client_sends_padded(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.type_in(ctx, "Hello world!\n")?;
    server.expect_bytes(rec("Hello world!"))?;
    client.type_in(ctx, "/create 168_tas\n")?;
    server.expect_bytes(rec("/create 168_tas"))
}

fn client_prints_stripped(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    server.send(rec("[Alice] Hi everyone!"))?;
    client.expect_output_until(ctx, "[Alice] Hi everyone!\n")?;
    Ok(())
}

fn client_overwrites_prompt(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    server.send(rec("Alice has joined"))?;
    client.expect_output(ctx, format!("{WIPE}Alice has joined\n[Me] "))?;
    client.type_in(ctx, "Hello world!\n")?;
    server.expect_bytes(rec("Hello world!"))?;
    client.expect_output(ctx, "[Me] ")?;
    server.send(rec(NOT_IN_CHANNEL))?;
    client.expect_output(ctx, format!("{WIPE}{NOT_IN_CHANNEL}\n[Me] "))
}

fn client_partial_record(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    let record = rec("[Alice] in two pieces");
    server.send(&record[..150])?;
    client.expect_quiet(ctx, Duration::from_millis(300))?;
    server.send(&record[150..])?;
    client.expect_output(ctx, format!("{WIPE}[Alice] in two pieces\n[Me] "))
}

fn client_many_records(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    server.send(recs(&["[A] one", "[B] two", "[C] three"]))?;
    client.expect_output(
        ctx,
        format!("{WIPE}[A] one\n[Me] {WIPE}[B] two\n[Me] {WIPE}[C] three\n[Me] "),
    )
}

fn client_rstrip(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    server.send(rec("[Kay] Hi!\n\t\r"))?;
    client.expect_output(ctx, format!("{WIPE}[Kay] Hi!\n[Me] "))
}

fn client_long_line(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "LongC")?;
    client.type_in(ctx, &format!("{} {}\n", "a".repeat(199), "b".repeat(100)))?;
    // 199 a's and the space fit; the space would end the record, so it
    // starts the next one.
    server.expect_bytes(recs(&["a".repeat(199), format!(" {}", "b".repeat(100))]))?;
    client.type_in(ctx, &format!("{}\n", "é".repeat(101)))?;
    server.expect_bytes(recs(&["é".repeat(100), "é".into()]))
}

fn client_empty_line(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "EmptyC")?;
    client.type_in(ctx, "\n")?;
    client.type_in(ctx, "tail\n")?;
    server.expect_bytes(rec("tail"))
}

fn client_server_disconnected(ctx: &mut Ctx) -> Check {
    let (mut client, server, port) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    drop(server);
    client.expect_output(
        ctx,
        format!("{WIPE}Server at 127.0.0.1:{port} has disconnected\n"),
    )?;
    client.expect_exit(ctx, 0)
}

fn client_end_of_input(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, port) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    client.type_in(ctx, "bye\n")?;
    server.expect_bytes(rec("bye"))?;
    client.expect_output(ctx, "[Me] ")?;
    client.close_stdin(ctx);
    server.expect_closed()?;
    server.send(rec("Alice has left"))?;
    client.expect_output(ctx, format!("{WIPE}Alice has left\n[Me] "))?;
    drop(server);
    client.expect_output(
        ctx,
        format!("{WIPE}Server at 127.0.0.1:{port} has disconnected\n"),
    )?;
    client.expect_exit(ctx, 0)
}

fn client_unable(ctx: &mut Ctx) -> Check {
    let port = free_port()?.to_string();
    let mut client = ctx.start_client(&[("port", &port), ("name", "Nobody")])?;
    client.expect_output_until(ctx, &format!("Unable to connect to 127.0.0.1:{port}\n"))?;
    client.expect_exit_code(ctx, 1)
}

fn client_terminal_safe(ctx: &mut Ctx) -> Check {
    let (mut client, mut server, _) = client_session(ctx, "Panda")?;
    client.expect_output(ctx, "[Me] ")?;
    server.send(rec("[Eve] \x1b]0;pwned\x07\x1b[2J"))?;
    client.expect_output(ctx, format!("{WIPE}[Eve] ^[]0;pwned^G^[[2J\n[Me] "))
}
