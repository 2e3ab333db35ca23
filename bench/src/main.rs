//! `chat-bench`: the load generator behind `docs/PERFORMANCE.md`.
//!
//! It drives our lobby server and IRC servers (ngircd, InspIRCd) with the
//! same workloads in one invocation, alternating between them run by run
//! (A B C, B C A, C A B, ...) so that noise from a shared machine falls on all alike:
//! `connections` (idle registered clients: memory, threads, a fresh client's
//! wait), `fanout` (one sender, N receivers), `slow` (fanout N = 100 with one
//! client that never reads) and `pairs` (direct-message ping-pong). It
//! prints Markdown tables and writes them, the raw runs and an SVG chart of
//! fanout throughput into `--out`.
//!
//! It does not start servers (`bench/run.sh` does), and it only ever
//! connects to the loopback addresses it is given. Every wait is bounded.

mod client;
mod fanout;
mod idle;
mod pairs;
mod report;
mod stats;

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use client::{Client, Proto};

#[derive(Debug, Parser)]
#[command(
    name = "chat-bench",
    about = "Side-by-side benchmark of chat servers on loopback"
)]
struct Cli {
    /// A server to measure, as NAME=PROTO@ADDR[#PID] with PROTO lobby or irc,
    /// e.g. `ours=lobby@127.0.0.1:7001#1234`; repeat for each server
    #[arg(long = "target", value_name = "SPEC", required = true)]
    targets: Vec<String>,
    /// Runs per figure (the median is reported, with min and max)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads, in order
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "connections,fanout,slow,pairs"
    )]
    workloads: Vec<String>,
    /// Receiver counts for fanout
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    fanout: Vec<usize>,
    /// Deliveries aimed at per fanout run (messages = this / N)
    #[arg(long, default_value_t = 2_000_000)]
    deliveries: u64,
    /// Sweeper threads reading the fanout receivers
    #[arg(long, default_value_t = 2)]
    sweepers: usize,
    /// Pairs in the ping-pong workload
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Seconds of ping-pong per run
    #[arg(long, default_value_t = 2.0)]
    pair_secs: f64,
    /// Idle connection levels for lobby targets
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    idle: Vec<usize>,
    /// Idle connection levels for IRC targets: ngircd accepts only about 11
    /// new connections a second (from any mix of addresses), so 5,000 would
    /// take eight minutes
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    peer_idle: Vec<usize>,
    /// Deliveries aimed at per slow-consumer run: at our server's speed
    /// 2 M take a fifth of a second, too short to resolve a 5% effect on a
    /// shared machine
    #[arg(long, default_value_t = 5_000_000)]
    slow_deliveries: u64,
    /// Rounds of the slow-consumer workload (each a run without and a run
    /// with the non-reading client): its effect is small against the
    /// machine's noise, so it gets more than the other workloads
    #[arg(long, default_value_t = 5)]
    slow_runs: usize,
    /// Runs of the connections workload for IRC targets
    #[arg(long, default_value_t = 1)]
    peer_idle_runs: usize,
    /// Where tables, raw figures and the chart go
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

/// One server under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub proto: Proto,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
}

fn parse_target(spec: &str) -> Result<Target, String> {
    let bad = || format!("bad --target {spec:?}: want NAME=PROTO@ADDR[#PID]");
    let (name, rest) = spec.split_once('=').ok_or_else(bad)?;
    let (proto, rest) = rest.split_once('@').ok_or_else(bad)?;
    let (addr, pid) = match rest.split_once('#') {
        Some((addr, pid)) => (addr, Some(pid.parse().map_err(|_| bad())?)),
        None => (rest, None),
    };
    let proto = match proto {
        "lobby" => Proto::Lobby,
        "irc" => Proto::Irc,
        _ => return Err(bad()),
    };
    let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: only loopback targets are allowed"));
    }
    Ok(Target {
        name: name.to_string(),
        proto,
        addr,
        pid,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let targets: Vec<Target> = match cli.targets.iter().map(|s| parse_target(s)).collect() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = fs::create_dir_all(&cli.out) {
        eprintln!("error: cannot create {}: {e}", cli.out.display());
        return ExitCode::from(1);
    }
    let started = Instant::now();
    let mut results = report::Results::new(&targets);
    for workload in &cli.workloads {
        let done = match workload.as_str() {
            "connections" => connections(&cli, &targets, &mut results),
            "fanout" => fanout_all(&cli, &targets, &mut results),
            "slow" => slow(&cli, &targets, &mut results),
            "pairs" => pairs_all(&cli, &targets, &mut results),
            other => Err(format!("unknown workload {other}")),
        };
        if let Err(e) = done {
            eprintln!("error: {workload}: {e}");
            return ExitCode::from(1);
        }
        progress(format_args!(
            "{workload} done at {:.0} s",
            started.elapsed().as_secs_f64()
        ));
    }
    let text = results.markdown(&cli, started.elapsed());
    print!("{text}");
    let written = fs::write(cli.out.join("results.md"), &text)
        .and_then(|()| fs::write(cli.out.join("raw.csv"), results.csv()))
        .and_then(|()| fs::write(cli.out.join("fanout.svg"), results.svg()));
    if let Err(e) = written {
        eprintln!("error: cannot write into {}: {e}", cli.out.display());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn progress(what: std::fmt::Arguments<'_>) {
    eprintln!("chat-bench: {what}");
}

/// Messages per fanout run: about `--deliveries` deliveries, within bounds
/// that keep each run between a fraction of a second and a few seconds.
fn messages_for(cli: &Cli, n: usize) -> u64 {
    (cli.deliveries / n.max(1) as u64).clamp(2_000, 200_000)
}

/// The order in which run `run` visits `n` targets: A B C, then B C A, then
/// C A B. Whichever server runs first in a round measured up to 10% faster
/// on this machine than the same server run later, so no server may always
/// be first.
fn rotation(n: usize, run: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + run) % n)
}

fn connections(cli: &Cli, targets: &[Target], results: &mut report::Results) -> Result<(), String> {
    for run in 0..cli.runs {
        for target in targets {
            let levels = match target.proto {
                Proto::Lobby => &cli.idle,
                Proto::Irc if run < cli.peer_idle_runs => &cli.peer_idle,
                Proto::Irc => continue,
            };
            let outcomes =
                idle::run(target, levels).map_err(|e| format!("{}: {e}", target.name))?;
            for o in outcomes {
                progress(format_args!(
                    "connections {} run {run} {}: {:.1} KiB/conn, {} threads, fresh {:.2} ms",
                    target.name,
                    o.conns,
                    o.rss_per_conn,
                    o.threads,
                    o.fresh_us / 1000.0
                ));
                results.idle(&target.name, o);
            }
        }
    }
    Ok(())
}

/// Opens a sender and `n` receivers on every target, and warms each room up
/// with one short unmeasured run: the first burst into a freshly filled
/// channel is slow on some servers (InspIRCd pauses reading the sender for
/// a second now and then), and that is not the steady state being measured.
fn open_rooms(
    cli: &Cli,
    targets: &[Target],
    n: usize,
    tag: &mut u64,
) -> Result<Vec<fanout::Room>, String> {
    let mut rooms = Vec::new();
    for t in targets {
        let mut room = fanout::Room::open(t, n)
            .map_err(|e| format!("{}: opening {n} receivers: {e}", t.name))?;
        let o = warm_up(cli, t, &mut room, messages_for(cli, n), tag)
            .map_err(|e| format!("{} N={n} warm-up: {e}", t.name))?;
        progress(format_args!(
            "warm-up {} N={n}: {:.2} M/s lost {}",
            t.name,
            o.rate / 1e6,
            o.lost
        ));
        rooms.push(room);
    }
    Ok(rooms)
}

/// One fanout run of `messages` in `room`, under a fresh tag.
fn fanout_run(
    cli: &Cli,
    target: &Target,
    room: &mut fanout::Room,
    messages: u64,
    tag: &mut u64,
    limit: Duration,
) -> std::io::Result<fanout::Outcome> {
    *tag += 1;
    fanout::run(target, room, messages, *tag, cli.sweepers, limit)
}

/// A short unmeasured fanout run in `room`: a fifth of `messages` (at
/// least 1,000), within [`fanout::WARM_UP_LIMIT`].
fn warm_up(
    cli: &Cli,
    target: &Target,
    room: &mut fanout::Room,
    messages: u64,
    tag: &mut u64,
) -> std::io::Result<fanout::Outcome> {
    let warm = (messages / 5).max(1_000);
    fanout_run(cli, target, room, warm, tag, fanout::WARM_UP_LIMIT)
}

fn fanout_all(cli: &Cli, targets: &[Target], results: &mut report::Results) -> Result<(), String> {
    let mut tag = 0;
    for &n in &cli.fanout {
        let mut rooms = open_rooms(cli, targets, n, &mut tag)?;
        let messages = messages_for(cli, n);
        for run in 0..cli.runs {
            for i in rotation(targets.len(), run) {
                let (target, room) = (&targets[i], &mut rooms[i]);
                let o = fanout_run(cli, target, room, messages, &mut tag, fanout::SEND_LIMIT)
                    .map_err(|e| format!("{} N={n}: {e}", target.name))?;
                progress(format_args!(
                    "fanout {} N={n} run {run}: {:.2} M/s lost {} reordered {} p99 {:.2} ms gen {:.0}% srv {:.0}%",
                    target.name,
                    o.rate / 1e6,
                    o.lost,
                    o.reordered,
                    o.p99_us / 1000.0,
                    o.gen_cpu * 100.0,
                    o.srv_cpu * 100.0
                ));
                results.fanout(&target.name, n, o);
            }
        }
    }
    Ok(())
}

/// The receiver count of the slow-consumer workload.
const SLOW_N: usize = 100;

fn slow(cli: &Cli, targets: &[Target], results: &mut report::Results) -> Result<(), String> {
    let mut tag = 1_000_000;
    let mut rooms = open_rooms(cli, targets, SLOW_N, &mut tag)?;
    let messages = cli.slow_deliveries / SLOW_N as u64;
    for run in 0..cli.slow_runs {
        for i in rotation(targets.len(), run) {
            let (target, room) = (&targets[i], &mut rooms[i]);
            // The first run after the other servers' turns measured 5-7%
            // slower than the next one, for our server in every round: a
            // short unmeasured run first, so that "without" is not always
            // the cold one.
            warm_up(cli, target, room, messages, &mut tag)
                .map_err(|e| format!("{} slow warm-up: {e}", target.name))?;
            for with_slow in [false, true] {
                // Registered (and in the channel) like the others; never read.
                let sleeper = if with_slow {
                    let name = client::fresh_name('z');
                    Some(
                        Client::open(target.addr, target.proto, name, true)
                            .map_err(|e| e.to_string())?,
                    )
                } else {
                    None
                };
                let o = fanout_run(cli, target, room, messages, &mut tag, fanout::SEND_LIMIT)
                    .map_err(|e| format!("{} slow: {e}", target.name))?;
                progress(format_args!(
                    "slow {} run {run} with_slow={with_slow}: {:.2} M/s lost {} p99 {:.2} ms",
                    target.name,
                    o.rate / 1e6,
                    o.lost,
                    o.p99_us / 1000.0
                ));
                drop(sleeper);
                results.slow(&target.name, with_slow, o);
            }
        }
    }
    Ok(())
}

fn pairs_all(cli: &Cli, targets: &[Target], results: &mut report::Results) -> Result<(), String> {
    let mut sets: Vec<pairs::Pairs> = targets
        .iter()
        .map(|t| pairs::Pairs::open(t, cli.pairs).map_err(|e| format!("{}: {e}", t.name)))
        .collect::<Result<_, _>>()?;
    let duration = Duration::from_secs_f64(cli.pair_secs);
    for run in 0..cli.runs {
        for i in rotation(targets.len(), run) {
            let (target, set) = (&targets[i], &mut sets[i]);
            let o = pairs::run(target, set, duration, 2_000_000 + run as u64)
                .map_err(|e| format!("{} pairs: {e}", target.name))?;
            progress(format_args!(
                "pairs {} run {run}: {:.1} k msg/s rtt p50 {:.2} ms p99 {:.2} ms",
                target.name,
                o.rate / 1e3,
                o.p50_us / 1000.0,
                o.p99_us / 1000.0
            ));
            results.pairs(&target.name, o);
        }
    }
    Ok(())
}
