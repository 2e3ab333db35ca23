//! fanout: one sender broadcasts numbered, timestamped 64-byte messages to N
//! receivers, never more than [`WINDOW`] ahead of the slowest receiver.
//!
//! The receivers are not a thread each: a few sweeper threads each own a
//! share of the sockets (non-blocking) and read them in turn, sleeping
//! briefly only after a sweep that found nothing. On a 2-core machine shared
//! with the server this keeps the generator to a few runnable threads and
//! turns every read into a large batch, where a thread per receiver would
//! cost the machine one wake-up per socket per batch, like the server's own
//! writers. The price is up to one sweep (plus ~60 µs of sleep) of extra
//! latency in every figure, the same for every server measured.

use std::io::{self, ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{open_many, Client, Proto};
use crate::stats::{cpu_time, Histogram};
use crate::Target;

/// Messages the sender may have out beyond the slowest receiver.
pub const WINDOW: u64 = 500;
/// Length of each message's text.
const PAYLOAD: usize = 64;
/// The sender stops sending after this long, whatever the count.
pub const SEND_LIMIT: Duration = Duration::from_secs(20);
/// The same for a warm-up run.
pub const WARM_UP_LIMIT: Duration = Duration::from_secs(5);
/// A run ends when nothing has arrived for this long after the last send.
const STALL: Duration = Duration::from_secs(2);
/// Pause after an empty sweep.
const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// The sender and the receivers, connected and joined.
pub struct Room {
    pub sender: Client,
    pub receivers: Vec<Client>,
}

impl Room {
    pub fn open(target: &Target, n: usize) -> io::Result<Room> {
        let mut all = open_many(target.addr, target.proto, 'f', n + 1, true)?;
        let sender = all.remove(0);
        Ok(Room {
            sender,
            receivers: all,
        })
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub reordered: u64,
    /// Deliveries per second, first send to last delivery.
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Generator CPU seconds per wall second of the run.
    pub gen_cpu: f64,
    /// Server CPU seconds per wall second of the run.
    pub srv_cpu: f64,
}

/// Per receiver: how many of this run's messages it has, and the last
/// sequence number it saw.
#[derive(Clone, Copy, Default)]
struct Progress {
    received: u64,
    last: Option<u64>,
    reordered: u64,
}

/// What the sender and the sweepers of one run share.
struct Shared {
    /// Per sweeper: the count of messages its slowest receiver has.
    acked: Vec<AtomicU64>,
    sent: AtomicU64,
    done_sending: AtomicBool,
    /// Timestamps in messages are nanoseconds since this instant.
    base: Instant,
    run: u64,
    send_limit: Duration,
}

struct SweepResult {
    hist: Histogram,
    delivered: u64,
    reordered: u64,
    last_delivery: Option<Instant>,
}

/// Runs one fanout of `messages` messages; `run` tags this run's messages so
/// that a straggler from an earlier run is never counted.
pub fn run(
    target: &Target,
    room: &mut Room,
    messages: u64,
    run: u64,
    sweepers: usize,
    send_limit: Duration,
) -> io::Result<Outcome> {
    for client in room.receivers.iter_mut().chain([&mut room.sender]) {
        client.drain()?;
        client.stream.set_nonblocking(true)?;
    }
    let sweepers = sweepers.clamp(1, room.receivers.len().max(1));
    let shared = Shared {
        acked: (0..sweepers).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU64::new(0),
        done_sending: AtomicBool::new(false),
        base: Instant::now(),
        run,
        send_limit,
    };
    let base = shared.base;
    let gen_cpu0 = cpu_time(None);
    let srv_cpu0 = target.pid.map(|p| cpu_time(Some(p)));

    let chunk = room.receivers.len().div_ceil(sweepers);
    let (first_send, results) = thread::scope(|s| {
        let handles: Vec<_> = room
            .receivers
            .chunks_mut(chunk)
            .zip(&shared.acked)
            .map(|(clients, acked)| {
                let shared = &shared;
                thread::Builder::new()
                    .name("sweeper".into())
                    .spawn_scoped(s, move || sweep(clients, acked, shared))
                    .expect("spawn sweeper")
            })
            .collect();
        let first_send = send(target.proto, &mut room.sender, messages, &shared);
        shared.done_sending.store(true, Ordering::Release);
        let results: Vec<SweepResult> = handles
            .into_iter()
            .map(|h| h.join().expect("sweeper"))
            .collect();
        (first_send, results)
    });
    let first_send = first_send?;

    let sent = shared.sent.load(Ordering::Acquire);
    let mut hist = Histogram::new();
    let mut outcome = Outcome {
        sent,
        ..Outcome::default()
    };
    let mut last = first_send;
    for r in &results {
        hist.merge(&r.hist);
        outcome.delivered += r.delivered;
        outcome.reordered += r.reordered;
        if let Some(t) = r.last_delivery {
            last = last.max(t);
        }
    }
    let wall = base.elapsed().as_secs_f64();
    let expected = sent * room.receivers.len() as u64;
    outcome.lost = expected.saturating_sub(outcome.delivered);
    outcome.rate = outcome.delivered as f64 / (last - first_send).as_secs_f64().max(1e-9);
    outcome.p50_us = hist.quantile(0.50);
    outcome.p99_us = hist.quantile(0.99);
    outcome.max_us = hist.max();
    outcome.gen_cpu = (cpu_time(None) - gen_cpu0).as_secs_f64() / wall;
    outcome.srv_cpu = match (target.pid, srv_cpu0) {
        (Some(pid), Some(t0)) => (cpu_time(Some(pid)) - t0).as_secs_f64() / wall,
        _ => f64::NAN,
    };
    for client in room.receivers.iter_mut().chain([&mut room.sender]) {
        client.stream.set_nonblocking(false)?;
    }
    Ok(outcome)
}

/// The sender: keep the window full until `messages` are sent. Returns when
/// the first message went out.
fn send(proto: Proto, sender: &mut Client, messages: u64, shared: &Shared) -> io::Result<Instant> {
    let mut first = None;
    let mut out = Vec::with_capacity(64 * 1024);
    let mut scratch = [0u8; 16 * 1024];
    let mut count = 0u64;
    let limit = Instant::now() + shared.send_limit;
    while count < messages && Instant::now() < limit {
        let slowest = shared
            .acked
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        let room_left = WINDOW.saturating_sub(count - slowest.min(count));
        // The sender's own replies (lobby: "X is sending a broadcast") must
        // be read, or its queue would overflow.
        loop {
            match sender.stream.read(&mut scratch) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    let data = scratch[..n].to_vec();
                    sender.lines(&data, |_| {});
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if room_left == 0 {
            thread::sleep(IDLE_SLEEP);
            continue;
        }
        let batch = room_left.min(messages - count);
        out.clear();
        for seq in count..count + batch {
            let ts = shared.base.elapsed().as_nanos() as u64;
            proto.broadcast(&payload(shared.run, seq, ts), &mut out);
        }
        first.get_or_insert_with(Instant::now);
        sender.write_all_nonblocking(&out)?;
        count += batch;
        shared.sent.store(count, Ordering::Release);
    }
    Ok(first.unwrap_or_else(Instant::now))
}

/// `BENCH<run> <seq> <ns since base> xxx…`, exactly [`PAYLOAD`] bytes, the
/// numbers in fixed widths of 8, 16 and 16 digits so that the sweepers can
/// parse them eight digits at a time.
pub fn payload(run: u64, seq: u64, ts: u64) -> String {
    let mut p = format!("BENCH{run:08} {seq:016} {ts:016} ");
    while p.len() < PAYLOAD {
        p.push('x');
    }
    p
}

/// Finds a benchmark payload in `line`: (run, seq, timestamp).
pub fn parse_payload(line: &[u8]) -> Option<(u64, u64, u64)> {
    // The payload ends every relayed line, so only its last bytes are
    // searched: IRC lines carry a long prefix, and the generator must not
    // spend more per line on one server than on another.
    let tail = &line[line.len().saturating_sub(PAYLOAD)..];
    // Both dialects relay the payload unchanged at the end of the line, so
    // it starts exactly PAYLOAD bytes from the end; search only otherwise.
    let at = if tail.starts_with(b"BENCH") {
        0
    } else {
        memchr::memmem::find(tail, b"BENCH")?
    };
    let fields: &[u8; 43] = tail.get(at + 5..at + 48)?.try_into().ok()?;
    if [fields[8], fields[25], fields[42]] != [b' '; 3] {
        return None;
    }
    let digits =
        |from: usize| -> Option<u64> { eight_digits(fields[from..from + 8].try_into().ok()?) };
    let run = digits(0)?;
    let seq = digits(9)? * 100_000_000 + digits(17)?;
    let ts = digits(26)? * 100_000_000 + digits(34)?;
    Some((run, seq, ts))
}

/// Eight ASCII decimal digits as a number, in a few operations on one
/// 64-bit word instead of eight dependent steps: the sweepers parse every
/// delivery, on the cores the measured server needs. `None` if any byte is
/// not a digit.
fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    let word = u64::from_le_bytes(bytes);
    // Every byte is 0x30..=0x39: its high nibble is 3, and adding 6 to it
    // does not carry into the high nibble.
    let high = word & 0xf0f0_f0f0_f0f0_f0f0;
    let carried = (word.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0) >> 4;
    if high | carried != 0x3333_3333_3333_3333 {
        return None;
    }
    // The first digit is the lowest byte: combine pairs, then quads, then
    // the two halves.
    let mut n = word - 0x3030_3030_3030_3030;
    n = (n * 10 + (n >> 8)) & 0x00ff_00ff_00ff_00ff;
    n = (n * 100 + (n >> 16)) & 0x0000_ffff_0000_ffff;
    n = (n * 10_000 + (n >> 32)) & 0xffff_ffff;
    Some(n)
}

/// One sweeper: read its receivers until each has every message sent, or
/// nothing more arrives.
fn sweep(clients: &mut [Client], acked: &AtomicU64, shared: &Shared) -> SweepResult {
    let mut progress = vec![Progress::default(); clients.len()];
    let mut hist = Histogram::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_delivery = None;
    let mut last_data = Instant::now();
    let hard_limit = Instant::now() + shared.send_limit + Duration::from_secs(10);
    loop {
        let mut got = false;
        for (client, p) in clients.iter_mut().zip(progress.iter_mut()) {
            let n = match client.stream.read(&mut buf) {
                Ok(0) => continue,
                Ok(n) => n,
                Err(_) => continue,
            };
            got = true;
            let now = Instant::now();
            let now_ns = (now - shared.base).as_nanos() as u64;
            let before = p.received;
            client.lines(&buf[..n], |line| {
                let Some((r, seq, ts)) = parse_payload(line) else {
                    return;
                };
                if r != shared.run {
                    return;
                }
                p.received += 1;
                if p.last.is_some_and(|last| seq <= last) {
                    p.reordered += 1;
                } else {
                    p.last = Some(seq);
                }
                hist.record(now_ns.saturating_sub(ts) / 1000);
            });
            if p.received > before {
                last_delivery = Some(now);
            }
        }
        let slowest = progress
            .iter()
            .map(|p| p.received)
            .min()
            .unwrap_or(u64::MAX);
        acked.store(slowest, Ordering::Release);
        let now = Instant::now();
        if got {
            last_data = now;
        }
        if shared.done_sending.load(Ordering::Acquire) {
            let total = shared.sent.load(Ordering::Acquire);
            if slowest >= total || now - last_data > STALL {
                break;
            }
        }
        if now > hard_limit {
            break;
        }
        if !got {
            thread::sleep(IDLE_SLEEP);
        }
    }
    SweepResult {
        hist,
        delivered: progress.iter().map(|p| p.received).sum(),
        reordered: progress.iter().map(|p| p.reordered).sum(),
        last_delivery,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_through_both_dialects() {
        let p = payload(3, 42, 123_456_789);
        assert_eq!(p.len(), PAYLOAD);
        let lobby = format!("f1: {p}");
        let irc = format!(":f1!~f1@127.0.0.1 PRIVMSG #bench :{p}");
        for line in [lobby, irc] {
            assert_eq!(parse_payload(line.as_bytes()), Some((3, 42, 123_456_789)));
        }
        assert_eq!(parse_payload(b"f1 joined!"), None);
        let big = payload(99_999_999, 9_999_999_999_999_999, 1_234_567_890_123_456);
        assert_eq!(
            parse_payload(big.as_bytes()),
            Some((99_999_999, 9_999_999_999_999_999, 1_234_567_890_123_456))
        );
        // Not a digit (the bytes either side of '0'..='9' included), or not
        // a separator.
        let changes = [
            (3, b' '),
            (9, b'/'),
            (13, b'0'),
            (20, b':'),
            (30, b'x'),
            (40, b'a'),
            (47, b'7'),
        ];
        for (at, byte) in changes {
            let mut line = p.clone().into_bytes();
            line[at] = byte;
            assert_eq!(
                parse_payload(&line),
                None,
                "byte {at} made {}",
                byte as char
            );
        }
    }
}
