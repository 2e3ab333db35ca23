//! The command line, exactly as the contract gives it.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::listen::Options;

/// The subcommands; anything else in first place means `lobby`.
const DIALECTS: [&str; 5] = ["lobby", "room", "channels", "direct", "bridge"];

#[derive(Debug, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "One chat server for five course chat dialects",
    after_help = "A bare port means lobby: `chat-server 8001` is `chat-server lobby 8001`.",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub dialect: DialectArgs,
}

#[derive(Debug, Subcommand)]
pub enum DialectArgs {
    /// Text lines: JOIN, LIST, MESG, BCST, QUIT in one room
    Lobby(LobbyArgs),
    /// Header blocks with payloads: one room, history, attachments
    Room(RoomArgs),
    /// Fixed 200-byte records: named channels, /create /join /list
    Channels(PortArgs),
    /// Binary frames: login, list, direct messages, logout
    Direct(PortArgs),
    /// CRLF header blocks: a rendezvous server for peer-to-peer chat
    Bridge(BridgeArgs),
}

/// The options every server takes.
#[derive(Debug, Args)]
pub struct Common {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Close a connection that has not registered within SECS seconds
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub login_timeout: u64,
    /// Accept at most N connections at once; more are closed at once
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Bound of each connection's outbound queue, in bytes [default: 1 MiB; room: 64 MiB]
    #[arg(long, value_name = "BYTES")]
    pub sendq: Option<usize>,
}

impl Common {
    /// The listener options, with the dialect's default send queue.
    pub fn options(&self, port: u16, default_sendq: usize) -> Options {
        Options {
            bind: self.bind,
            port,
            login_timeout: Duration::from_secs(self.login_timeout),
            max_connections: self.max_connections,
            sendq: self.sendq.unwrap_or(default_sendq),
        }
    }
}

#[derive(Debug, Args)]
pub struct LobbyArgs {
    /// Port to listen on
    pub port: u16,
    /// Registered users allowed at once
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_users: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct RoomArgs {
    /// Port to listen on
    #[arg(default_value_t = 18000)]
    pub port: u16,
    /// Users allowed in the chatroom at once
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_users: usize,
    /// Folder where received attachments are stored
    #[arg(long, value_name = "DIR", default_value = "downloads")]
    pub downloads: PathBuf,
    /// Largest attachment accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_attachment: u64,
    /// Keep the history in FILE across restarts
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Most bytes of history a joiner is sent (and kept in memory)
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub join_history: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// Port to listen on
    pub port: u16,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Port to listen on (`--port=PORT` or `-p=PORT`)
    #[arg(short, long, value_name = "PORT")]
    pub port: u16,
    /// File that keeps the registrations across restarts
    #[arg(long, value_name = "FILE", default_value = "bridge-registry.txt")]
    pub registry: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

/// Parses the process's arguments; a first argument that is not a dialect,
/// help or version means `lobby`. Exits with status 2 and a usage statement
/// on bad arguments, 0 after `--help` or `--version`.
pub fn parse() -> Cli {
    Cli::parse_from(with_default_dialect(std::env::args_os().collect()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        let args = line.split_whitespace().map(OsString::from).collect();
        Cli::try_parse_from(with_default_dialect(args))
    }

    #[test]
    fn bare_port_means_lobby() {
        let cli = parse("chat-server 8001").unwrap();
        assert!(matches!(
            cli.dialect,
            DialectArgs::Lobby(LobbyArgs {
                port: 8001,
                max_users: 10,
                ..
            })
        ));
        let cli = parse("chat-server --max-users 3 8001").unwrap();
        assert!(matches!(
            cli.dialect,
            DialectArgs::Lobby(LobbyArgs {
                port: 8001,
                max_users: 3,
                ..
            })
        ));
    }

    #[test]
    fn defaults_match_the_contract() {
        let DialectArgs::Room(room) = parse("chat-server room").unwrap().dialect else {
            panic!("not room")
        };
        assert_eq!(room.port, 18000);
        assert_eq!(room.max_users, 3);
        assert_eq!(room.max_attachment, 16_777_216);
        assert_eq!(room.downloads, PathBuf::from("downloads"));
        let options = room.common.options(room.port, 64 << 20);
        assert_eq!(options.sendq, 64 << 20);
        assert_eq!(options.max_connections, 1024);
        assert_eq!(options.login_timeout, Duration::from_secs(60));
        assert_eq!(options.bind, "0.0.0.0".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bridge_takes_port_with_equals() {
        for line in [
            "chat-server bridge --port=9000",
            "chat-server bridge -p=9000",
        ] {
            let DialectArgs::Bridge(bridge) = parse(line).unwrap().dialect else {
                panic!("not bridge")
            };
            assert_eq!(bridge.port, 9000);
            assert_eq!(bridge.registry, PathBuf::from("bridge-registry.txt"));
        }
    }

    #[test]
    fn missing_port_is_a_usage_error() {
        for line in [
            "chat-server lobby",
            "chat-server channels",
            "chat-server direct",
            "chat-server bridge",
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{line}");
        }
    }
}
