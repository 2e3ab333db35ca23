//! Figures: a latency histogram, medians over runs, and what `/proc` says
//! about a process (CPU time, resident memory, threads).
//!
//! CPU time comes from `/proc/<pid>/stat` (utime + stime, all threads), so
//! the generator needs no `getrusage` binding; its resolution is one clock
//! tick (10 ms at Linux's usual USER_HZ of 100), fine for runs of a second.

use std::fs;
use std::time::Duration;

/// Linux's USER_HZ on every mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// Microsecond buckets up to 10 ms, then 100 µs buckets up to 1 s, then
/// 10 ms buckets up to a minute (the exact maximum is kept aside).
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    max_us: u64,
    total: u64,
}

const FINE: u64 = 10_000;
const COARSE_STEP: u64 = 100;
const COARSE: u64 = (1_000_000 - FINE) / COARSE_STEP;
const SLOW_STEP: u64 = 10_000;
const SLOW: u64 = (60_000_000 - 1_000_000) / SLOW_STEP;

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; (FINE + COARSE + SLOW + 1) as usize],
            max_us: 0,
            total: 0,
        }
    }

    pub fn record(&mut self, us: u64) {
        self.record_n(us, 1);
    }

    pub fn record_n(&mut self, us: u64, n: u64) {
        let bucket = if us < FINE {
            us
        } else if us < 1_000_000 {
            FINE + (us - FINE) / COARSE_STEP
        } else {
            (FINE + COARSE + (us - 1_000_000) / SLOW_STEP).min(FINE + COARSE + SLOW)
        };
        self.counts[bucket as usize] += n;
        self.max_us = self.max_us.max(us);
        self.total += n;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
        self.total += other.total;
    }

    /// The value below which `q` (0..1) of the samples fall, in µs.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bucket = bucket as u64;
                let us = if bucket < FINE {
                    bucket
                } else if bucket < FINE + COARSE {
                    FINE + (bucket - FINE) * COARSE_STEP
                } else {
                    1_000_000 + (bucket - FINE - COARSE) * SLOW_STEP
                };
                return us.min(self.max_us) as f64;
            }
        }
        self.max_us as f64
    }

    pub fn max(&self) -> f64 {
        if self.total == 0 {
            f64::NAN
        } else {
            self.max_us as f64
        }
    }
}

/// Median, minimum and maximum of one figure over the runs.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `fmt` applied to each.
    pub fn show(&self, fmt: impl Fn(f64) -> String) -> String {
        format!("{} ({}–{})", fmt(self.median), fmt(self.min), fmt(self.max))
    }
}

/// CPU time (user + system, all threads) of process `pid`; `None` for
/// this process.
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let Ok(stat) = fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces; the fields after it are fixed.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; `after` starts
    // at field 3.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / TICKS_PER_SEC)
}

/// Resident memory in KiB and thread count of `pid`, from
/// `/proc/<pid>/status`.
pub fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

pub fn millions(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{:.2} M", x / 1e6)
    }
}

pub fn thousands(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{:.1} k", x / 1e3)
    }
}

/// Microseconds shown as ms with enough digits for loopback figures.
pub fn ms(us: f64) -> String {
    if us.is_nan() {
        "–".into()
    } else if us < 10_000.0 {
        format!("{:.2}", us / 1000.0)
    } else {
        format!("{:.0}", us / 1000.0)
    }
}

pub fn plain(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{x:.0}")
    }
}

pub fn percent(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{:.0}%", x * 100.0)
    }
}
