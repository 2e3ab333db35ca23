//! pairs: P pairs of clients play ping-pong with direct messages (lobby
//! `MESG`, IRC `PRIVMSG nick`) for a fixed time; messages per second and the
//! round trip.
//!
//! Each pair is one generator thread with blocking sockets: write A→B, wait
//! for B to read it, write B→A, wait for A. Only one message per pair is
//! ever in flight, so these are latency-bound figures, and P threads cost
//! the generator no more than P wake-ups per round trip.

use std::io::{self, ErrorKind, Read};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{open_many, Client, Proto};
use crate::fanout::{parse_payload, payload};
use crate::stats::{cpu_time, Histogram};
use crate::Target;

pub struct Pairs {
    pairs: Vec<(Client, Client)>,
}

impl Pairs {
    pub fn open(target: &Target, count: usize) -> io::Result<Pairs> {
        let mut clients = open_many(target.addr, target.proto, 'p', 2 * count, false)?;
        for c in &mut clients {
            c.drain()?;
        }
        let mut pairs = Vec::with_capacity(count);
        while let (Some(b), Some(a)) = (clients.pop(), clients.pop()) {
            pairs.push((a, b));
        }
        Ok(Pairs { pairs })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub gen_cpu: f64,
    pub srv_cpu: f64,
}

/// Plays ping-pong on every pair for `duration`.
pub fn run(
    target: &Target,
    pairs: &mut Pairs,
    duration: Duration,
    run: u64,
) -> io::Result<Outcome> {
    for (a, b) in &mut pairs.pairs {
        a.drain()?;
        b.drain()?;
    }
    let proto = target.proto;
    let start = Instant::now();
    let gen_cpu0 = cpu_time(None);
    let srv_cpu0 = target.pid.map(|p| cpu_time(Some(p)));
    let results: Vec<io::Result<(u64, Histogram)>> = thread::scope(|s| {
        let handles: Vec<_> = pairs
            .pairs
            .iter_mut()
            .map(|(a, b)| {
                thread::Builder::new()
                    .name("pair".into())
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, move || ping_pong(proto, a, b, start, duration, run))
                    .expect("spawn pair")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("pair"))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut hist = Histogram::new();
    let mut messages = 0;
    for r in results {
        let (m, h) = r?;
        messages += m;
        hist.merge(&h);
    }
    Ok(Outcome {
        rate: messages as f64 / wall,
        p50_us: hist.quantile(0.5),
        p99_us: hist.quantile(0.99),
        gen_cpu: (cpu_time(None) - gen_cpu0).as_secs_f64() / wall,
        srv_cpu: match (target.pid, srv_cpu0) {
            (Some(pid), Some(t0)) => (cpu_time(Some(pid)) - t0).as_secs_f64() / wall,
            _ => f64::NAN,
        },
    })
}

fn ping_pong(
    proto: Proto,
    a: &mut Client,
    b: &mut Client,
    start: Instant,
    duration: Duration,
    run: u64,
) -> io::Result<(u64, Histogram)> {
    let mut hist = Histogram::new();
    let mut messages = 0;
    let mut out = Vec::with_capacity(256);
    let mut seq = 0;
    while start.elapsed() < duration {
        let t0 = Instant::now();
        hop(proto, a, b, run, seq, &mut out)?;
        hop(proto, b, a, run, seq, &mut out)?;
        messages += 2;
        hist.record(t0.elapsed().as_micros() as u64);
        seq += 1;
    }
    Ok((messages, hist))
}

/// Sends message `seq` from `from` to `to` and waits until it is there.
fn hop(
    proto: Proto,
    from: &mut Client,
    to: &mut Client,
    run: u64,
    seq: u64,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    proto.direct(&to.name, &payload(run, seq, 0), out);
    io::Write::write_all(&mut from.stream, out)?;
    receive(to, run, seq)
}

/// Blocks until `client` has the message numbered `seq` of this run.
fn receive(client: &mut Client, run: u64, seq: u64) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut found = false;
    while !found {
        let n = match client.stream.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        client.lines(&buf[..n], |line| {
            if parse_payload(line).is_some_and(|(r, s, _)| r == run && s == seq) {
                found = true;
            }
        });
    }
    Ok(())
}
