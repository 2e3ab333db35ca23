//! The command line, exactly as the contract gives it.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::listen::Options;

/// The subcommands; anything else in first place means `lobby`.
const DIALECTS: [&str; 5] = ["lobby", "room", "channels", "direct", "bridge"];

/// The default outbound queue bound: 1 MiB; room's attachments need more.
pub const SENDQ: usize = 1 << 20;
pub const ROOM_SENDQ: usize = 64 << 20;

/// The longest `--login-timeout`: a hundred years. Any longer is a usage
/// error rather than a deadline past what the clock can hold.
const MAX_TIMEOUT_SECS: u64 = 100 * 366 * 24 * 3600;

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
    Channels(ChannelsArgs),
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
    /// Close a connection that has not registered within SECS seconds (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=MAX_TIMEOUT_SECS))]
    pub login_timeout: u64,
    /// Open connections at once; at the limit the oldest unregistered one
    /// open 10 s makes room, or the newcomer is closed
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = at_least_one)]
    pub max_connections: usize,
    /// Bound of each connection's outbound queue, in bytes (the default is
    /// set per dialect in `command`)
    #[arg(long, value_name = "BYTES", value_parser = at_least_one)]
    pub sendq: Option<usize>,
    /// How long a connection must be open before the slot rule may cut it
    /// (10 s by the contract; for tests, which cannot wait that long)
    #[arg(long, value_name = "SECS", default_value_t = 10, hide = true,
          value_parser = clap::value_parser!(u64).range(..=MAX_TIMEOUT_SECS))]
    pub slot_age: u64,
    /// Show every message sent and received on each connection, as on the
    /// wire, on stderr
    #[arg(short = 'v', long)]
    pub trace: bool,
}

/// A count of at least 1 that fits in memory (a `usize`).
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e} (at most {})", usize::MAX)),
    }
}

impl Common {
    /// The listener options, with the dialect's default send queue.
    pub fn options(&self, port: u16, default_sendq: usize) -> Options {
        Options {
            bind: self.bind,
            port,
            login_timeout: match self.login_timeout {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            max_connections: self.max_connections,
            slot_age: Duration::from_secs(self.slot_age),
            trace: self.trace,
            sendq: self.sendq.unwrap_or(default_sendq),
        }
    }
}

impl DialectArgs {
    /// The listener options, with the dialect's own `--sendq` default.
    pub fn options(&self) -> Options {
        match self {
            DialectArgs::Lobby(a) => a.common.options(a.port, SENDQ),
            DialectArgs::Room(a) => a.common.options(a.port, ROOM_SENDQ),
            DialectArgs::Channels(a) => a.common.options(a.port, SENDQ),
            DialectArgs::Direct(a) => a.common.options(a.port, SENDQ),
            DialectArgs::Bridge(a) => a.common.options(a.port, SENDQ),
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
pub struct ChannelsArgs {
    /// Port to listen on
    pub port: u16,
    /// Channels allowed to exist at once; `/create` past it is refused
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_channels: usize,
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
    /// Registered clients kept at most; past it a new clientID is refused
    /// (`rejected (registry full)`), a registered one may still update
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = at_least_one)]
    pub max_contacts: usize,
    #[command(flatten)]
    pub common: Common,
}

/// Parses the process's arguments; a first argument that is not a dialect,
/// help or version means `lobby`. Exits with status 2 and a usage statement
/// on bad arguments, 0 after `--help` or `--version`.
pub fn parse() -> Cli {
    let matches = command().get_matches_from(with_default_dialect(std::env::args_os().collect()));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The command line, with each dialect's own `--sendq` default in its help.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for name in DIALECTS {
        let default = if name == "room" { "64 MiB" } else { "1 MiB" };
        cmd = cmd.mut_subcommand(name, |sub| {
            sub.mut_arg("sendq", |arg| {
                arg.help(format!(
                    "Bound of each connection's outbound queue, in bytes [default: {default}]"
                ))
            })
        });
    }
    cmd
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
        let matches = command().try_get_matches_from(with_default_dialect(args))?;
        Cli::from_arg_matches(&matches)
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
        // No default cuts an idle user: the slot rule protects the server.
        assert_eq!(options.login_timeout, None);
        assert_eq!(options.bind, "0.0.0.0".parse::<IpAddr>().unwrap());
    }

    /// Issue 16 item 3: no default in any dialect cuts a user who is
    /// merely idle. The only timers that can end a connection are the
    /// login timeout (none unless asked for), the slot rule (only when a
    /// newcomer finds every slot taken, and only connections open 10 s
    /// that have not registered) and the close grace (only for connections
    /// the server itself closed); docs/RELIABILITY.md lists them all.
    #[test]
    fn no_default_in_any_dialect_cuts_an_idle_user() {
        let lines = [
            ("chat-server 8001", SENDQ),
            ("chat-server lobby 8001", SENDQ),
            ("chat-server room", ROOM_SENDQ),
            ("chat-server channels 8001", SENDQ),
            ("chat-server direct 8001", SENDQ),
            ("chat-server bridge --port=8001", SENDQ),
        ];
        for (line, sendq) in lines {
            let options = parse(line).unwrap().dialect.options();
            assert_eq!(options.login_timeout, None, "{line}");
            assert_eq!(options.slot_age, crate::conns::SLOT_AGE, "{line}");
            assert_eq!(options.max_connections, 1024, "{line}");
            assert_eq!(options.sendq, sendq, "{line}");
            // `--login-timeout 0` is the default spelled out.
            let explicit = parse(&format!("{line} --login-timeout 0")).unwrap();
            assert_eq!(explicit.dialect.options().login_timeout, None, "{line}");
        }
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
            assert_eq!(bridge.max_contacts, 100_000);
        }
    }

    #[test]
    fn out_of_range_numbers_are_usage_errors() {
        for line in [
            "chat-server 8001 --login-timeout 18446744073709551615",
            "chat-server 8001 --login-timeout 3162240001",
            "chat-server 8001 --login-timeout -1",
            "chat-server 8001 --max-connections 0",
            "chat-server 8001 --max-connections 18446744073709551616",
            "chat-server 8001 --sendq 0",
            "chat-server 8001 --sendq 99999999999999999999",
            "chat-server 70000",
            "chat-server channels 8001 --max-channels -1",
            "chat-server bridge --port=8001 --max-contacts 0",
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{line}");
        }
        let DialectArgs::Lobby(lobby) = parse("chat-server 8001 --login-timeout 3162240000")
            .unwrap()
            .dialect
        else {
            panic!("not lobby")
        };
        let options = lobby.common.options(lobby.port, SENDQ);
        assert_eq!(
            options.login_timeout,
            Some(Duration::from_secs(MAX_TIMEOUT_SECS))
        );
    }

    #[test]
    fn sendq_help_shows_each_dialects_default() {
        for (dialect, default) in [
            ("lobby", "1 MiB"),
            ("room", "64 MiB"),
            ("channels", "1 MiB"),
            ("direct", "1 MiB"),
            ("bridge", "1 MiB"),
        ] {
            let mut cmd = command();
            let help = cmd
                .find_subcommand_mut(dialect)
                .expect("subcommand")
                .render_help()
                .to_string();
            let line = help
                .lines()
                .find(|l| l.contains("--sendq"))
                .expect("--sendq");
            let text = help.split("--sendq").nth(1).unwrap_or_default();
            assert!(
                text.contains(&format!("[default: {default}]")),
                "{dialect}: {line}"
            );
            assert!(
                !text
                    .split("--")
                    .next()
                    .unwrap_or_default()
                    .contains("room:"),
                "{dialect}"
            );
        }
    }

    #[test]
    fn channels_max_channels_defaults_to_1000() {
        let DialectArgs::Channels(ch) = parse("chat-server channels 8001").unwrap().dialect else {
            panic!("not channels")
        };
        assert_eq!(ch.max_channels, 1000);
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
