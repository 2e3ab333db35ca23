//! Collects every run's figures and renders them: Markdown tables (medians
//! with min–max over the runs), a CSV of the raw runs, and the fanout chart
//! as a hand-written SVG (no plotting crate).

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::{millions, ms, percent, plain, thousands, Spread};
use crate::{fanout, idle, pairs, Cli, Target};

pub struct Results {
    targets: Vec<String>,
    idle: Vec<(String, idle::Outcome)>,
    fanout: Vec<(String, usize, fanout::Outcome)>,
    slow: Vec<(String, bool, fanout::Outcome)>,
    pairs: Vec<(String, pairs::Outcome)>,
}

/// Colours of the chart's lines, in target order.
const COLOURS: [&str; 5] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];

impl Results {
    pub fn new(targets: &[Target]) -> Results {
        Results {
            targets: targets.iter().map(|t| t.name.clone()).collect(),
            idle: Vec::new(),
            fanout: Vec::new(),
            slow: Vec::new(),
            pairs: Vec::new(),
        }
    }

    pub fn idle(&mut self, target: &str, o: idle::Outcome) {
        self.idle.push((target.into(), o));
    }

    pub fn fanout(&mut self, target: &str, n: usize, o: fanout::Outcome) {
        self.fanout.push((target.into(), n, o));
    }

    pub fn slow(&mut self, target: &str, with_slow: bool, o: fanout::Outcome) {
        self.slow.push((target.into(), with_slow, o));
    }

    pub fn pairs(&mut self, target: &str, o: pairs::Outcome) {
        self.pairs.push((target.into(), o));
    }

    fn fanout_runs(&self, target: &str, n: usize) -> Vec<&fanout::Outcome> {
        self.fanout
            .iter()
            .filter(|(t, m, _)| t == target && *m == n)
            .map(|(_, _, o)| o)
            .collect()
    }

    fn fanout_ns(&self) -> Vec<usize> {
        let mut ns: Vec<usize> = self.fanout.iter().map(|(_, n, _)| *n).collect();
        ns.sort_unstable();
        ns.dedup();
        ns
    }

    /// The median of `f` over `runs`.
    fn spread<T>(runs: &[&T], f: impl Fn(&T) -> f64) -> Spread {
        Spread::of(&runs.iter().map(|o| f(o)).collect::<Vec<_>>())
    }

    pub fn markdown(&self, cli: &Cli, took: Duration) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# chat-bench results\n\nServers: {}. Medians of {} runs ({} rounds for the slow \
             consumer), (min–max); runs alternate between servers. Whole invocation: {:.0} s. \
             CPU columns are CPU seconds per wall second (100% = one core).\n",
            self.targets.join(", "),
            cli.runs,
            cli.slow_runs,
            took.as_secs_f64()
        );
        self.markdown_idle(&mut s);
        self.markdown_fanout(&mut s);
        self.markdown_slow(&mut s);
        self.markdown_pairs(&mut s);
        s
    }

    fn markdown_idle(&self, s: &mut String) {
        if self.idle.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Idle connections\n\n| server | idle | RSS per connection (KiB) | threads | fresh client: register + LIST (ms) |\n|---|---:|---:|---:|---:|"
        );
        let mut levels: Vec<usize> = self.idle.iter().map(|(_, o)| o.conns).collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            for t in &self.targets {
                let runs: Vec<&idle::Outcome> = self
                    .idle
                    .iter()
                    .filter(|(n, o)| n == t && o.conns == level)
                    .map(|(_, o)| o)
                    .collect();
                if runs.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {t} | {level} | {} | {} | {} |",
                    Self::spread(&runs, |o| o.rss_per_conn).show(|x| format!("{x:.1}")),
                    Self::spread(&runs, |o| o.threads).show(plain),
                    Self::spread(&runs, |o| o.fresh_us).show(ms),
                );
            }
        }
        s.push('\n');
    }

    fn markdown_fanout(&self, s: &mut String) {
        if self.fanout.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Fanout (64-byte messages, at most {} outstanding)\n\n\
             | N | server | deliveries/s | vs best other | lost | reordered | p50 ms | p99 ms | max ms | generator CPU | server CPU |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            fanout::WINDOW
        );
        for n in self.fanout_ns() {
            let medians: Vec<(String, f64)> = self
                .targets
                .iter()
                .map(|t| {
                    (
                        t.clone(),
                        Self::spread(&self.fanout_runs(t, n), |o| o.rate).median,
                    )
                })
                .collect();
            for t in &self.targets {
                let runs = self.fanout_runs(t, n);
                if runs.is_empty() {
                    continue;
                }
                let rate = Self::spread(&runs, |o| o.rate);
                let best_other = medians
                    .iter()
                    .filter(|(o, m)| o != t && !m.is_nan())
                    .map(|(_, m)| *m)
                    .fold(f64::NAN, f64::max);
                let _ = writeln!(
                    s,
                    "| {n} | {t} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    rate.show(millions),
                    ratio(rate.median, best_other),
                    Self::spread(&runs, |o| o.lost as f64).show(plain),
                    Self::spread(&runs, |o| o.reordered as f64).show(plain),
                    Self::spread(&runs, |o| o.p50_us).show(ms),
                    Self::spread(&runs, |o| o.p99_us).show(ms),
                    Self::spread(&runs, |o| o.max_us).show(ms),
                    Self::spread(&runs, |o| o.gen_cpu).show(percent),
                    Self::spread(&runs, |o| o.srv_cpu).show(percent),
                );
            }
        }
        s.push('\n');
    }

    fn markdown_slow(&self, s: &mut String) {
        if self.slow.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Slow consumer (fanout N = 100, plus one client that never reads)\n\n\
             | server | deliveries/s without | with | change (within each round) | p99 ms without | p99 ms with | lost (readers) with | generator CPU with |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for t in &self.targets {
            let runs = |w: bool| -> Vec<&fanout::Outcome> {
                self.slow
                    .iter()
                    .filter(|(n, with, _)| n == t && *with == w)
                    .map(|(_, _, o)| o)
                    .collect()
            };
            let (without, with) = (runs(false), runs(true));
            if without.is_empty() {
                continue;
            }
            let (a, b) = (
                Self::spread(&without, |o| o.rate),
                Self::spread(&with, |o| o.rate),
            );
            // Each round's two runs are adjacent in time, the rounds are
            // not: the machine's speed drifts between rounds by more than
            // the effect measured, so the change is taken within each
            // round and its median reported.
            let change = Spread::of(
                &without
                    .iter()
                    .zip(&with)
                    .map(|(a, b)| (b.rate / a.rate - 1.0) * 100.0)
                    .collect::<Vec<_>>(),
            );
            let _ = writeln!(
                s,
                "| {t} | {} | {} | {} | {} | {} | {} | {} |",
                a.show(millions),
                b.show(millions),
                change.show(|x| format!("{x:+.1}%")),
                Self::spread(&without, |o| o.p99_us).show(ms),
                Self::spread(&with, |o| o.p99_us).show(ms),
                Self::spread(&with, |o| o.lost as f64).show(plain),
                Self::spread(&with, |o| o.gen_cpu).show(percent),
            );
        }
        s.push('\n');
    }

    fn markdown_pairs(&self, s: &mut String) {
        if self.pairs.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Pairs (ping-pong of direct messages)\n\n\
             | server | messages/s | RTT p50 ms | RTT p99 ms | generator CPU | server CPU |\n\
             |---|---:|---:|---:|---:|---:|"
        );
        for t in &self.targets {
            let runs: Vec<&pairs::Outcome> = self
                .pairs
                .iter()
                .filter(|(n, _)| n == t)
                .map(|(_, o)| o)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "| {t} | {} | {} | {} | {} | {} |",
                Self::spread(&runs, |o| o.rate).show(thousands),
                Self::spread(&runs, |o| o.p50_us).show(ms),
                Self::spread(&runs, |o| o.p99_us).show(ms),
                Self::spread(&runs, |o| o.gen_cpu).show(percent),
                Self::spread(&runs, |o| o.srv_cpu).show(percent),
            );
        }
        s.push('\n');
    }

    /// Every run, one line each.
    pub fn csv(&self) -> String {
        let mut s = String::from("workload,server,param,rate,sent,lost,reordered,p50_us,p99_us,max_us,gen_cpu,srv_cpu,rss_kib_per_conn,threads,fresh_us\n");
        for (t, o) in &self.idle {
            let _ = writeln!(
                s,
                "connections,{t},{},,,,,,,,,,{:.2},{},{}",
                o.conns, o.rss_per_conn, o.threads, o.fresh_us
            );
        }
        for (t, n, o) in &self.fanout {
            let _ = writeln!(
                s,
                "fanout,{t},{n},{:.0},{},{},{},{},{},{},{:.3},{:.3},,,",
                o.rate,
                o.sent,
                o.lost,
                o.reordered,
                o.p50_us,
                o.p99_us,
                o.max_us,
                o.gen_cpu,
                o.srv_cpu
            );
        }
        for (t, with, o) in &self.slow {
            let param = if *with { "with-slow" } else { "without" };
            let _ = writeln!(
                s,
                "slow,{t},{param},{:.0},{},{},{},{},{},{},{:.3},{:.3},,,",
                o.rate,
                o.sent,
                o.lost,
                o.reordered,
                o.p50_us,
                o.p99_us,
                o.max_us,
                o.gen_cpu,
                o.srv_cpu
            );
        }
        for (t, o) in &self.pairs {
            let _ = writeln!(
                s,
                "pairs,{t},,{:.0},,,,{},{},,{:.3},{:.3},,,",
                o.rate, o.p50_us, o.p99_us, o.gen_cpu, o.srv_cpu
            );
        }
        s
    }

    /// Deliveries/s against N, one line per server, bars from min to max.
    pub fn svg(&self) -> String {
        let (w, h) = (640.0, 400.0);
        let (left, right, top, bottom) = (70.0, 150.0, 40.0, 50.0);
        let ns = self.fanout_ns();
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">fanout: deliveries per second against receivers N (median, min–max)</text>\n",
            w / 2.0
        );
        if ns.is_empty() {
            s.push_str("</svg>\n");
            return s;
        }
        let top_value = self
            .fanout
            .iter()
            .map(|(_, _, o)| o.rate)
            .fold(0.0, f64::max)
            .max(1.0);
        let step = nice_step(top_value / 5.0);
        let y_max = (top_value / step).ceil() * step;
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let x = |i: usize| left + plot_w * (i as f64 + 0.5) / ns.len() as f64;
        let y = |v: f64| top + plot_h * (1.0 - v / y_max);
        // Axes, grid and labels.
        let mut v = 0.0;
        while v <= y_max + step / 2.0 {
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left + plot_w,
                left - 6.0,
                y(v) + 4.0,
                format_args!("{:.1} M", v / 1e6),
                y = y(v)
            );
            v += step;
        }
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{}\" stroke=\"black\"/>\n\
             <line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">receivers N (log scale)</text>\n\
             <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">deliveries / s</text>",
            top + plot_h,
            left + plot_w,
            top + plot_h,
            top + plot_h,
            left + plot_w / 2.0,
            h - 12.0,
            top + plot_h / 2.0
        );
        for (i, n) in ns.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
                x(i),
                top + plot_h + 18.0
            );
        }
        for (k, t) in self.targets.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let mut points = Vec::new();
            for (i, &n) in ns.iter().enumerate() {
                let runs = self.fanout_runs(t, n);
                if runs.is_empty() {
                    continue;
                }
                let sp = Self::spread(&runs, |o| o.rate);
                let (px, py) = (x(i), y(sp.median));
                points.push(format!("{px:.1},{py:.1}"));
                let _ = writeln!(
                    s,
                    "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n\
                     <circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{colour}\"/>\n\
                     <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{:.2}</text>",
                    y(sp.min),
                    y(sp.max),
                    px + 7.0,
                    py - 6.0,
                    sp.median / 1e6
                );
            }
            let _ = writeln!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n\
                 <rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\"/>\n\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                points.join(" "),
                left + plot_w + 20.0,
                top + 20.0 * k as f64,
                left + plot_w + 40.0,
                top + 20.0 * k as f64 + 12.0,
                xml_escape(t)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn ratio(value: f64, other: f64) -> String {
    if value.is_nan() || other.is_nan() || other == 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", value / other)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
