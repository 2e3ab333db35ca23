//! connections: hold K idle, registered connections; read the server's
//! resident memory and thread count from `/proc`, then time a fresh client
//! from connect to its registration and a LIST reply.

use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{fresh_name, has_numeric, open_many, Client, Proto};
use crate::stats::memory;
use crate::Target;

/// Fresh clients timed at each level (the median is reported).
const FRESH: usize = 3;
/// How long the server gets to settle before memory is read.
const SETTLE: Duration = Duration::from_millis(300);
/// How long teardown may take before the next measurement starts anyway.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub conns: usize,
    /// Resident memory added per idle connection, KiB.
    pub rss_per_conn: f64,
    pub threads: f64,
    /// Median time for a fresh client to register and get a LIST reply, µs.
    pub fresh_us: f64,
}

/// Opens idle connections up to each of `levels` (ascending) in turn and
/// measures at each; closes them all at the end.
pub fn run(target: &Target, levels: &[usize]) -> io::Result<Vec<Outcome>> {
    let Some(pid) = target.pid else {
        return Err(io::Error::other(
            "the connections workload needs the server's pid",
        ));
    };
    let (rss0, threads0) = memory(pid).ok_or_else(|| io::Error::other("cannot read /proc"))?;
    let mut idle: Vec<Client> = Vec::new();
    let mut outcomes = Vec::new();
    for &level in levels {
        let more = level.saturating_sub(idle.len());
        idle.extend(open_many(target.addr, target.proto, 'i', more, false)?);
        settle(&mut idle)?;
        let (rss, threads) = memory(pid).ok_or_else(|| io::Error::other("cannot read /proc"))?;
        let mut times = Vec::with_capacity(FRESH);
        for _ in 0..FRESH {
            times.push(fresh_client(target)?.as_micros() as f64);
            // Its departure is announced to the idle ones (lobby).
            settle(&mut idle)?;
        }
        outcomes.push(Outcome {
            conns: level,
            rss_per_conn: rss.saturating_sub(rss0) as f64 / level as f64,
            threads: threads as f64,
            fresh_us: crate::stats::Spread::of(&times).median,
        });
    }
    drop(idle);
    // Our server ends two threads per connection; wait for them so the next
    // measurement starts from a quiet server.
    let limit = Instant::now() + TEARDOWN_LIMIT;
    while Instant::now() < limit {
        match memory(pid) {
            Some((_, threads)) if threads > threads0 => thread::sleep(Duration::from_millis(100)),
            _ => break,
        }
    }
    thread::sleep(SETTLE);
    Ok(outcomes)
}

fn settle(idle: &mut [Client]) -> io::Result<()> {
    for c in idle.iter_mut() {
        c.drain()?;
    }
    thread::sleep(SETTLE);
    for c in idle.iter_mut() {
        c.drain()?;
    }
    Ok(())
}

/// Connect, register, ask for the list, and wait for the whole answer.
fn fresh_client(target: &Target) -> io::Result<Duration> {
    let start = Instant::now();
    let name = fresh_name('n');
    let mut client = Client::open(target.addr, target.proto, name.clone(), false)?;
    match target.proto {
        Proto::Lobby => {
            // LIST answers in join order: the newcomer's own name is last.
            client.stream.write_all(b"LIST\n")?;
            client.wait_for(|line| line == name.as_bytes())?;
        }
        Proto::Irc => {
            client.stream.write_all(b"LIST\r\n")?;
            client.wait_for(|line| has_numeric(line, "323"))?;
        }
    }
    Ok(start.elapsed())
}
