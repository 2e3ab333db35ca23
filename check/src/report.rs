//! What a run prints and writes: one line per case, expected and received
//! bytes and a short transcript under a FAIL, the reason under a SKIP, a
//! rubric table per feature, the closing `N passed, M failed, K skipped`,
//! and the same as JUnit XML or JSON.
//!
//! Everything shown from the program under test is escaped first
//! ([`escape`]), so no byte it sends reaches the terminal as a control
//! sequence.

use std::fmt::Write as _;

use crate::conn::{Dir, Entry};
use crate::{Case, Dialect, Outcome};

/// A case and what came of it.
pub struct Result<'a> {
    pub case: &'a Case,
    pub outcome: Outcome,
    /// How long it took.
    pub seconds: f64,
}

/// Runs of one character longer than this are shown with a count.
const RUN: usize = 12;

/// How many transcript entries a FAIL shows without `-v` (the last ones).
const SHORT: usize = 12;
/// How many bytes of one entry, expected or received a FAIL shows without `-v`.
const SHORT_BYTES: usize = 300;
/// The width a transcript line is cut to without `-v`.
const WIDTH: usize = 100;

/// `bytes` as terminal-safe text: printable characters as they are, `\n`
/// `\r` `\t` `\\` and other controls as escapes (`\x1b`), C1 controls and
/// the bidirectional overrides as `\u{..}`, bytes that are not UTF-8 as
/// `\xNN`. A run of more than [`RUN`] of one character (a channels record's
/// padding) is shown once with its count: ` {×190}`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        let mut chars = chunk.valid().chars().peekable();
        while let Some(c) = chars.next() {
            let mut run = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                run += 1;
            }
            let (c, repeat) = if run > RUN { (c, 1) } else { (c, run) };
            let start = out.len();
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control()
                    || ('\u{202a}'..='\u{202e}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c) =>
                {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
            let one = out[start..].to_string();
            for _ in 1..repeat {
                out.push_str(&one);
            }
            if run > RUN {
                let _ = write!(out, "{{×{run}}}");
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Like [`escape`], cut to `limit` bytes of input with a note of the rest.
fn escape_cut(bytes: &[u8], limit: usize, len: usize) -> String {
    let shown = &bytes[..bytes.len().min(limit)];
    let mut text = escape(shown);
    if len > shown.len() {
        let _ = write!(text, "… ({} bytes in all)", len);
    }
    text
}

/// The line for one case: `PASS|FAIL|SKIP <id> — <requirement>`.
pub fn case_line(result: &Result) -> String {
    format!(
        "{} {} — {}",
        result.outcome.word(),
        result.case.id,
        result.case.requirement
    )
}

/// The lines under a case (nothing for a PASS).
pub fn details(result: &Result, verbose: bool) -> String {
    let mut out = String::new();
    let limit = if verbose { usize::MAX } else { SHORT_BYTES };
    match &result.outcome {
        Outcome::Pass => {}
        Outcome::Skip { why } => {
            let _ = writeln!(out, "    why: {why}");
        }
        Outcome::Fail {
            failure,
            transcript,
        } => {
            let _ = writeln!(out, "    what:     {}", escape(failure.what.as_bytes()));
            if !failure.expected.is_empty() || !failure.received.is_empty() {
                let _ = writeln!(
                    out,
                    "    expected: \"{}\"",
                    escape_cut(&failure.expected, limit, failure.expected.len())
                );
                let _ = writeln!(
                    out,
                    "    received: \"{}\"",
                    escape_cut(&failure.received, limit, failure.received.len())
                );
            }
            if !transcript.is_empty() {
                let skip = if verbose {
                    0
                } else {
                    transcript.len().saturating_sub(SHORT)
                };
                let _ = writeln!(out, "    transcript:");
                if skip > 0 {
                    let _ = writeln!(out, "      … {skip} earlier entries (-v shows all)");
                }
                for entry in &transcript[skip..] {
                    let line = entry_line(entry, limit);
                    // The checker's notes and a program's stderr (why it
                    // stopped) stay whole.
                    let whole = entry.dir == Dir::Note || entry.who.ends_with("stderr");
                    let line = if verbose || whole {
                        line
                    } else {
                        fit(&line, WIDTH - 6, entry.len)
                    };
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    out
}

/// `line` cut to `width` characters, ending with `…` and the size of what
/// it showed (`-v` shows it whole).
fn fit(line: &str, width: usize, len: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let note = format!("…({len} B)");
    let keep = width.saturating_sub(note.chars().count());
    let mut out: String = line.chars().take(keep).collect();
    out.push_str(&note);
    out
}

/// One transcript entry: `+0.123s alice > "JOIN Alice\n"`.
pub fn entry_line(entry: &Entry, limit: usize) -> String {
    let arrow = match entry.dir {
        Dir::Sent => ">",
        Dir::Received => "<",
        Dir::Note => "-",
    };
    let text = escape_cut(&entry.bytes, limit, entry.len);
    match entry.dir {
        Dir::Note => format!(
            "+{:.3}s {} {arrow} {text}",
            entry.at.as_secs_f64(),
            entry.who
        ),
        _ => format!(
            "+{:.3}s {} {arrow} \"{text}\"",
            entry.at.as_secs_f64(),
            entry.who
        ),
    }
}

/// Counts of an outcome set.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail { .. } => self.failed += 1,
            Outcome::Skip { .. } => self.skipped += 1,
        }
    }

    pub fn of(results: &[Result]) -> Tally {
        let mut tally = Tally::default();
        results.iter().for_each(|r| tally.add(&r.outcome));
        tally
    }

    /// The closing line, exactly `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The rubric table: per dialect, per feature (the handout's rows first,
/// then any other feature), passed/total and how many skipped.
pub fn rubric(results: &[Result]) -> String {
    let mut out = String::new();
    let mut dialects: Vec<Dialect> = results.iter().map(|r| r.case.dialect).collect();
    dialects.sort();
    dialects.dedup();
    for dialect in dialects {
        let mine: Vec<&Result> = results
            .iter()
            .filter(|r| r.case.dialect == dialect)
            .collect();
        let mut features: Vec<&str> = dialect.features().to_vec();
        for r in &mine {
            if !features.contains(&r.case.feature) {
                features.push(r.case.feature);
            }
        }
        let _ = writeln!(out, "{dialect} rubric:");
        let _ = writeln!(out, "  {:<12} {:>6}  {:>7}", "feature", "passed", "skipped");
        for feature in features {
            let mut tally = Tally::default();
            mine.iter()
                .filter(|r| r.case.feature == feature)
                .for_each(|r| tally.add(&r.outcome));
            let total = tally.passed + tally.failed + tally.skipped;
            if total == 0 {
                let _ = writeln!(out, "  {feature:<12} {:>6}  {:>7}", "-", "-");
                continue;
            }
            let _ = writeln!(
                out,
                "  {feature:<12} {:>6}  {:>7}",
                format!("{}/{}", tally.passed, total),
                tally.skipped
            );
        }
    }
    out
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry other control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The run as JUnit XML: one testsuite, one testcase per case, a FAIL as
/// `<failure>` (with the details as its text), a SKIP as `<skipped>`.
/// `sync`: the report's first line (what the cases synced on), if any.
pub fn junit(suite: &str, results: &[Result], sync: Option<&str>) -> String {
    let tally = Tally::of(results);
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"chat-check\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
        results.len(),
        tally.failed,
        tally.skipped
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{total:.3}\">",
        xml(suite),
        results.len(),
        tally.failed,
        tally.skipped
    );
    if let Some(sync) = sync {
        let _ = writeln!(
            out,
            "    <properties><property name=\"sync\" value=\"{}\"/></properties>",
            xml(sync)
        );
    }
    for r in results {
        let classname = format!("{}.{}", r.case.dialect, r.case.side.name());
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml(&classname),
            xml(r.case.id),
            r.seconds
        );
        let _ = write!(
            out,
            "<properties><property name=\"requirement\" value=\"{}\"/><property name=\"source\" value=\"{}\"/><property name=\"feature\" value=\"{}\"/></properties>",
            xml(r.case.requirement),
            r.case.source.name(),
            xml(r.case.feature)
        );
        match &r.outcome {
            Outcome::Pass => {}
            Outcome::Skip { why } => {
                let _ = write!(out, "<skipped message=\"{}\"/>", xml(why));
            }
            Outcome::Fail { failure, .. } => {
                let _ = write!(
                    out,
                    "<failure message=\"{}\">{}</failure>",
                    xml(&failure.what),
                    xml(&details(r, true))
                );
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn json_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The run as JSON: `{"passed":N,"failed":M,"skipped":K,"cases":[...]}`,
/// each case with its id, outcome, requirement, source (and the handout's
/// words), feature, seconds, and for a FAIL what, expected, received (escaped
/// as in the text report) and the transcript lines; for a SKIP why.
/// `sync`: the report's first line (what the cases synced on), if any.
pub fn json(results: &[Result], sync: Option<&str>) -> String {
    let tally = Tally::of(results);
    let sync = sync.map_or("null".to_string(), json_str);
    let mut out = format!(
        "{{\"passed\":{},\"failed\":{},\"skipped\":{},\"sync\":{sync},\"cases\":[",
        tally.passed, tally.failed, tally.skipped
    );
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\n{{\"id\":{},\"dialect\":{},\"side\":{},\"outcome\":{},\"feature\":{},\"requirement\":{},\"source\":{},",
            json_str(r.case.id),
            json_str(r.case.dialect.name()),
            json_str(r.case.side.name()),
            json_str(r.outcome.word()),
            json_str(r.case.feature),
            json_str(r.case.requirement),
            json_str(r.case.source.name()),
        );
        if let crate::Source::Handout(words) = r.case.source {
            let _ = write!(out, "\"handout\":{},", json_str(words));
        }
        let _ = write!(out, "\"seconds\":{:.3}", r.seconds);
        match &r.outcome {
            Outcome::Pass => {}
            Outcome::Skip { why } => {
                let _ = write!(out, ",\"why\":{}", json_str(why));
            }
            Outcome::Fail {
                failure,
                transcript,
            } => {
                let lines: Vec<String> = transcript
                    .iter()
                    .map(|e| json_str(&entry_line(e, usize::MAX)))
                    .collect();
                let _ = write!(
                    out,
                    ",\"what\":{},\"expected\":{},\"received\":{},\"transcript\":[{}]",
                    json_str(&failure.what),
                    json_str(&escape(&failure.expected)),
                    json_str(&escape(&failure.received)),
                    lines.join(",")
                );
            }
        }
        out.push('}');
    }
    out.push_str("\n]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_every_control_visible() {
        for (input, want) in [
            (&b"JOIN Alice\n"[..], "JOIN Alice\\n"),
            (b"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            (b"caf\xff", "caf\\xff"),
            ("Zoë".as_bytes(), "Zoë"),
            ("a\u{202e}b\u{85}".as_bytes(), "a\\u{202e}b\\u{0085}"),
            (b"back\\slash\r\t\x7f", "back\\\\slash\\r\\t\\x7f"),
            (b"Hi!               ", "Hi! {\u{d7}15}"),
            (b"aaaaaaaaaaaa", "aaaaaaaaaaaa"),
        ] {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn a_long_transcript_line_is_cut_to_the_width() {
        let long = "x".repeat(200);
        assert_eq!(fit("short", 10, 5), "short");
        let cut = fit(&long, 94, 200);
        assert_eq!(cut.chars().count(), 94);
        assert!(cut.ends_with("…(200 B)"), "{cut}");
    }

    #[test]
    fn json_and_xml_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(xml("<a & 'b'>\u{1b}"), "&lt;a &amp; &apos;b&apos;&gt;\\x1b");
    }
}
