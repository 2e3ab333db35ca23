//! `chat-check`: check any server or client of a chat dialect against the
//! contract's cases. See `--help`.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use chat_check::{report, run_cases, Dialect, Selection, Settings, Side, Target};

const EXAMPLES: &str = "\
Examples:
  # a student's lobby server, started by the checker once per case ({port} is a free port)
  chat-check server lobby -- python3 server.py {port}

  # a server that is already running (cases that need their own server are SKIPped)
  chat-check server lobby 127.0.0.1:8001

  # a client: the checker plays the server at {host}:{port}
  chat-check client lobby -- python3 client.py {host} {port}
  chat-check client channels -- python3 client.py {name} {host} {port}
  chat-check client bridge -- python3 client.py --id={id} --port={peer_port} --server={host}:{port}

  # grade by the handout only, write JUnit XML for CI, only the JOIN cases
  chat-check server lobby --handout-only --junit report.xml -k /join/ -- ./server {port}

  # list the cases
  chat-check server channels --list

Placeholders in COMMAND: {port} (a free loopback port), {dir} (the case's own
empty folder, also the program's working directory); for clients {host} and
{port} (the checker's listener) and what a dialect's client needs ({name} for
channels; {id} and {peer_port}, the client's own port, for bridge). Cases that
need options (e.g. --max-users 2) or arguments (--help, -v) append them.

The first line says what the cases sync on: a request whose answer proves
nothing else arrived (lobby `MESG Nobody0 probe`). Its answer is taken from
the server once per run, so a server that gets that one rule wrong fails only
its own cases.

Exit status: 0 nothing failed, 1 a case failed, 2 usage error.";

#[derive(Parser)]
#[command(
    name = "chat-check",
    version,
    about = "Check a chat server or client of one of the five course dialects against the contract",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    side: SideCmd,
}

#[derive(Subcommand)]
enum SideCmd {
    /// Check a server: running at HOST:PORT, or started from `-- COMMAND...`.
    #[command(after_help = EXAMPLES)]
    Server(Args),
    /// Check a client started from `-- COMMAND...`; the checker plays the server.
    #[command(after_help = EXAMPLES)]
    Client(Args),
}

#[derive(clap::Args)]
struct Args {
    /// lobby, room, channels, direct or bridge.
    #[arg(value_parser = ["lobby", "room", "channels", "direct", "bridge"])]
    dialect: String,
    /// HOST:PORT of a running server (server only).
    addr: Option<String>,
    /// The program to start, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
    /// Run only the cases whose requirement the course handout states.
    #[arg(long)]
    handout_only: bool,
    /// List the cases (id, source, requirement) and exit.
    #[arg(long)]
    list: bool,
    /// Run only cases whose id contains SUBSTR (repeatable).
    #[arg(short = 'k', value_name = "SUBSTR")]
    k: Vec<String>,
    /// Seconds any expected reply, connection or exit may take.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// Show whole transcripts and whole bytes under a FAIL.
    #[arg(short, long)]
    verbose: bool,
    /// Write JUnit XML (one testcase per case) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// How many cases run at once when the checker starts the program.
    #[arg(long, value_name = "N", default_value_t = 4)]
    jobs: usize,
    /// Send lobby commands without a line end (one write each), as most course clients do.
    #[arg(long)]
    bare_commands: bool,
}

fn usage(text: &str) -> ExitCode {
    eprintln!("chat-check: {text}\n(see chat-check --help)");
    ExitCode::from(2)
}

/// Ctrl-C or SIGTERM ends the run, and with it every program it started
/// (they run in process groups of their own, out of the terminal's reach).
fn end_programs_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            chat_check::target::end_all();
            eprintln!("chat-check: interrupted; every program it started was ended");
            std::process::exit(128 + signal);
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    end_programs_on_interrupt();
    let (side, args) = match cli.side {
        SideCmd::Server(a) => (Side::Server, a),
        SideCmd::Client(a) => (Side::Client, a),
    };
    let Some(dialect) = Dialect::parse(&args.dialect) else {
        return usage("unknown dialect");
    };
    let selection = Selection {
        handout_only: args.handout_only,
        substrings: args.k.clone(),
    };
    let cases: Vec<_> = chat_check::cases_for(dialect, side)
        .into_iter()
        .filter(|c| selection.admits(c))
        .collect();
    if args.list {
        let mut out = std::io::stdout().lock();
        for case in &cases {
            let _ = writeln!(
                out,
                "{} [{}] {} — {}",
                case.id,
                case.source.name(),
                case.feature,
                case.requirement
            );
            if let chat_check::Source::Handout(words) = case.source {
                // A quote of several lines (an error string) on one line.
                let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(out, "    handout: \u{201c}{words}\u{201d}");
            }
        }
        return ExitCode::SUCCESS;
    }
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return usage("--timeout must be more than 0 and at most 3600 seconds");
    }
    let target = match (side, args.addr.as_deref(), args.command.is_empty()) {
        (Side::Server, Some(addr), true) => {
            match addr.to_socket_addrs().ok().and_then(|mut a| a.next()) {
                Some(addr) => Target::Running(addr),
                None => return usage(&format!("{addr} is not a HOST:PORT that resolves")),
            }
        }
        (Side::Server, None, false) => Target::Server(args.command.clone()),
        (Side::Server, Some(_), false) => return usage("give HOST:PORT or -- COMMAND, not both"),
        (Side::Server, None, true) => {
            return usage("give the server's HOST:PORT, or -- COMMAND to start it")
        }
        (Side::Client, None, false) => Target::Client(args.command.clone()),
        (Side::Client, Some(_), _) => {
            return usage("a client is checked by starting it: -- COMMAND")
        }
        (Side::Client, None, true) => return usage("give the client's command after --"),
    };
    if let Target::Server(command) | Target::Client(command) = &target {
        if !command.iter().any(|a| a.contains("{port}")) {
            return usage("COMMAND must say where {port} goes (e.g. python3 server.py {port})");
        }
    }
    if cases.is_empty() {
        return usage("no case matches (see --list)");
    }
    if let Target::Server(command) | Target::Client(command) = &target {
        // A script named relative to here that is not here runs nowhere:
        // each case runs the program in a folder of its own.
        for arg in command.iter().skip(1) {
            let script = [".py", ".js", ".rb", ".sh", ".jar", ".pl"]
                .iter()
                .any(|ext| arg.ends_with(ext));
            if script && !arg.contains('{') && !std::path::Path::new(arg).exists() {
                eprintln!(
                    "chat-check: warning: {arg} is not a file here; each case runs COMMAND in a \
                     folder of its own, so name it from where chat-check runs"
                );
            }
        }
    }
    let settings = Settings {
        timeout: Duration::from_secs_f64(args.timeout),
        bare_commands: args.bare_commands,
        ..Settings::default()
    };
    let verbose = args.verbose;
    let sync = chat_check::sync_header(dialect, &target, &settings);
    if let Some(header) = &sync {
        println!("{header}");
    }
    let results = run_cases(&cases, &target, &settings, args.jobs, |result| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report::case_line(result));
        let _ = write!(out, "{}", report::details(result, verbose));
        let _ = out.flush();
    });
    let tally = report::Tally::of(&results);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out);
        let _ = write!(out, "{}", report::rubric(&results));
        let _ = writeln!(out, "{}", tally.line());
    }
    let suite = format!("{} {}", dialect, side.name());
    for (path, text) in [
        (
            &args.junit,
            args.junit
                .as_ref()
                .map(|_| report::junit(&suite, &results, sync.as_deref())),
        ),
        (
            &args.json,
            args.json
                .as_ref()
                .map(|_| report::json(&results, sync.as_deref())),
        ),
    ] {
        if let (Some(path), Some(text)) = (path, text) {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("chat-check: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    if tally.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
