//! `chat-client`: the command-line client for the five course chat dialects.
//!
//! Every client reads commands from stdin and prints to stdout, flushing
//! after every write, so that `printf '...' | chat-client ...` is a scripted
//! session. Shared pieces live in [`term`]; each dialect is a module.

mod bridge;
mod channels;
mod console;
mod direct;
mod lobby;
mod room;
mod term;
mod trace;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The subcommands; anything else in first place means `lobby`.
const DIALECTS: [&str; 5] = ["lobby", "room", "channels", "direct", "bridge"];

#[derive(Debug, Parser)]
#[command(
    name = "chat-client",
    version,
    about = "The command-line client for five course chat dialects",
    after_help = "A bare host means lobby: `chat-client localhost 8001` is `chat-client lobby localhost 8001`.",
    arg_required_else_help = true,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    dialect: DialectArgs,
}

#[derive(Debug, Subcommand)]
enum DialectArgs {
    /// Text lines: JOIN, LIST, MESG, BCST, QUIT
    Lobby(HostPort),
    /// The chatroom menu: report, join with history, attachments
    Room(RoomArgs),
    /// Fixed 200-byte records with the `[Me]` prompt
    Channels(ChannelsArgs),
    /// Binary frames: login, list, sendto, logout, exit
    Direct(HostPort),
    /// Peer-to-peer chat introduced by a rendezvous server
    Bridge(BridgeArgs),
}

#[derive(Debug, Args)]
struct HostPort {
    /// Server host name or address
    host: String,
    /// Server port
    port: u16,
    /// Print every message sent and received, as on the wire, on stderr
    #[arg(short = 'v', long = "trace")]
    trace: bool,
}

#[derive(Debug, Args)]
struct RoomArgs {
    /// Server host name or address
    #[arg(default_value = "localhost")]
    host: String,
    /// Server port
    #[arg(default_value_t = 18000)]
    port: u16,
    /// Folder where received attachments are saved
    #[arg(long, value_name = "DIR", default_value = "downloads")]
    downloads: PathBuf,
    /// Print every message sent and received, as on the wire, on stderr
    #[arg(short = 'v', long = "trace")]
    trace: bool,
}

#[derive(Debug, Args)]
struct ChannelsArgs {
    /// Your name in the channels
    name: String,
    /// Server host name or address
    host: String,
    /// Server port
    port: u16,
    /// Print every record sent and received, padding shown, on stderr
    #[arg(short = 'v', long = "trace")]
    trace: bool,
}

#[derive(Debug, Args)]
struct BridgeArgs {
    /// Your client ID (1 to 32 ASCII letters and digits)
    #[arg(long, value_parser = bridge::parse_id)]
    id: String,
    /// The port this client listens on for a peer (`--port=PORT`)
    #[arg(long)]
    port: u16,
    /// The rendezvous server, as IP:PORT
    #[arg(long, value_name = "IP:PORT", value_parser = bridge::parse_server)]
    server: bridge::ServerAddr,
    /// Print every message sent and received, as on the wire, on stderr
    #[arg(short = 'v', long = "trace")]
    trace: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(with_default_dialect(std::env::args_os().collect()));
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,rustyline=off"),
    )
    .init();
    match cli.dialect {
        DialectArgs::Lobby(args) => lobby::run(&args.host, args.port, args.trace),
        DialectArgs::Room(args) => room::run(&args.host, args.port, &args.downloads, args.trace),
        DialectArgs::Channels(args) => channels::run(&args.name, &args.host, args.port, args.trace),
        DialectArgs::Direct(args) => direct::run(&args.host, args.port, args.trace),
        DialectArgs::Bridge(args) => bridge::run(&args.id, args.port, args.server, args.trace),
    }
}

/// Inserts `lobby` after the program name unless the first argument already
/// names a subcommand or asks for help or the version.
fn with_default_dialect(mut args: Vec<OsString>) -> Vec<OsString> {
    let explicit = |a: &OsString| {
        let a = a.to_string_lossy();
        DIALECTS.contains(&&*a) || ["help", "-h", "--help", "-V", "--version"].contains(&&*a)
    };
    if args.len() > 1 && !explicit(&args[1]) {
        args.insert(1, "lobby".into());
    }
    args
}
