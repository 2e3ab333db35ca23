//! `chat-server`: one server binary for the five course chat dialects.
//!
//! The core (listener, per-connection reader and writer threads, the
//! dispatcher that owns all state) is written once; each dialect is a module
//! that implements [`dispatch::Dialect`]. See `docs/ARCHITECTURE.md`.

mod bridge;
mod channels;
mod cli;
mod conns;
mod direct;
mod disk;
mod dispatch;
mod listen;
mod lobby;
mod outbox;
mod room;
mod roster;
mod status;
mod trace;

use std::process::ExitCode;

use cli::DialectArgs;

fn main() -> ExitCode {
    let cli = cli::parse();
    // Status lines go through a bounded buffer and a thread of their own,
    // so that a stdout nobody reads never holds the server up.
    status::start();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Pipe(Box::new(status::LogPipe)))
        .init();
    let options = cli.dialect.options();
    match cli.dialect {
        DialectArgs::Lobby(args) => listen::serve(&options, lobby::Lobby::new(args.max_users)),
        DialectArgs::Room(args) => {
            let config = room::Config {
                max_users: args.max_users,
                downloads: args.downloads,
                max_attachment: args.max_attachment,
                history: args.history,
                join_history: args.join_history,
            };
            match room::Room::open(config) {
                Ok(room) => listen::serve(&options, room),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        DialectArgs::Channels(args) => {
            listen::serve(&options, channels::Channels::new(args.max_channels))
        }
        DialectArgs::Direct(_) => listen::serve(&options, direct::Direct::new()),
        DialectArgs::Bridge(args) => {
            match bridge::Bridge::open(&args.registry, args.max_contacts) {
                Ok(bridge) => listen::serve(&options, bridge),
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", args.registry.display());
                    ExitCode::from(1)
                }
            }
        }
    }
}
