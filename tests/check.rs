//! Every `chat-check` case, run against this project's own `chat-server`
//! and `chat-client`: one test per case, named by its id, so
//! `cargo test -p chat-tests --test check -- lobby/join` runs the JOIN cases.
//!
//! A SKIP is a failure here: when the checker starts the program itself,
//! nothing may be skipped. Cases run side by side (each has its own server
//! or its own client), as many at once as libtest's `--test-threads`.

use std::time::Duration;

use chat_check::{cases, run_case, Dialect, Outcome, Settings, Side, Target};
use libtest_mimic::{Arguments, Failed, Trial};

/// The command that starts our program for `dialect` and `side`.
fn ours(dialect: Dialect, side: Side, bin: &dyn Fn(&str) -> String) -> Vec<String> {
    let server = bin("chat-server");
    let client = bin("chat-client");
    let words: Vec<&str> = match (dialect, side) {
        (Dialect::Lobby, Side::Server) => vec![&server, "lobby", "{port}", "--bind", "127.0.0.1"],
        (Dialect::Room, Side::Server) => vec![&server, "room", "{port}", "--bind", "127.0.0.1"],
        (Dialect::Channels, Side::Server) => {
            vec![&server, "channels", "{port}", "--bind", "127.0.0.1"]
        }
        (Dialect::Direct, Side::Server) => vec![&server, "direct", "{port}", "--bind", "127.0.0.1"],
        (Dialect::Bridge, Side::Server) => {
            vec![&server, "bridge", "--port={port}", "--bind", "127.0.0.1"]
        }
        (Dialect::Lobby, Side::Client) => vec![&client, "lobby", "{host}", "{port}"],
        (Dialect::Room, Side::Client) => vec![&client, "room", "{host}", "{port}"],
        (Dialect::Channels, Side::Client) => {
            vec![&client, "channels", "{name}", "{host}", "{port}"]
        }
        (Dialect::Direct, Side::Client) => vec![&client, "direct", "{host}", "{port}"],
        (Dialect::Bridge, Side::Client) => vec![
            &client,
            "bridge",
            "--id={id}",
            "--port={peer_port}",
            "--server={host}:{port}",
        ],
    };
    words.into_iter().map(String::from).collect()
}

#[path = "bins.rs"]
mod bins;

/// The path of one of the workspace's binaries, built first when missing or
/// older than its sources.
fn bin(name: &str) -> String {
    bins::bin(name).to_string_lossy().into_owned()
}

fn main() {
    let args = Arguments::from_args();
    // Generous: the machine running the suite may be loaded.
    let settings = Settings {
        timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    let trials = cases::all()
        .into_iter()
        .map(|case| {
            let settings = settings.clone();
            Trial::test(case.id, move || {
                let command = ours(case.dialect, case.side, &bin);
                let target = match case.side {
                    Side::Server => Target::Server(command),
                    Side::Client => Target::Client(command),
                };
                let outcome = run_case(&case, &target, &settings);
                let result = chat_check::report::Result {
                    case: &case,
                    outcome,
                    seconds: 0.0,
                };
                match &result.outcome {
                    Outcome::Pass => Ok(()),
                    _ => Err(Failed::from(format!(
                        "{}\n{}",
                        chat_check::report::case_line(&result),
                        chat_check::report::details(&result, true)
                    ))),
                }
            })
            .with_kind(case.side.name())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
