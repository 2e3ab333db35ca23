//! `chat-check`: the contract's conformance cases, and what runs them.
//!
//! A [`Case`] is data (an id, the dialect and side it checks, the rubric
//! feature, the one-line requirement and where that requirement comes from)
//! plus one small function over a [`Ctx`]. The function speaks to the target
//! only through [`conn::Conn`] (a recorded TCP connection) and
//! [`target::Client`] (a recorded client process), so the same case runs
//! against this project's binaries in `cargo test` and against a student's
//! program in `chat-check`. The cases live in [`cases`], one module per
//! dialect; what starts or reaches the program under test lives in
//! [`target`] (the controllers, in irctest's words); [`report`] prints and
//! writes the results.
//!
//! Deliberately not here: any codec of the project. A case writes the bytes
//! it expects out by hand, so that a bug in `chat-protocol` cannot hide
//! behind itself.

pub mod cases;
pub mod conn;
pub mod report;
pub mod target;

use std::fmt;
use std::time::Duration;

pub use conn::{Conn, Entry};
pub use target::{Client, Ctx, Target};

/// The five dialects of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    Lobby,
    Room,
    Channels,
    Direct,
    Bridge,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::Lobby,
        Dialect::Room,
        Dialect::Channels,
        Dialect::Direct,
        Dialect::Bridge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Lobby => "lobby",
            Dialect::Room => "room",
            Dialect::Channels => "channels",
            Dialect::Direct => "direct",
            Dialect::Bridge => "bridge",
        }
    }

    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The rows of the handout's rubric, in the handout's order: the
    /// features the report tallies. Cases of a feature not listed here
    /// (framing, limits, shutdown) are tallied under their own name after
    /// these.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            // The handout's grading rubric.
            Dialect::Lobby => &["JOIN", "LIST", "MESG", "BCST", "QUIT"],
            // The handout's three control messages, relaying, its error
            // strings and its buffering requirement.
            Dialect::Channels => &[
                "NAME",
                "CREATE",
                "JOIN",
                "LIST",
                "MESSAGE",
                "ERRORS",
                "BUFFERING",
            ],
            Dialect::Room => &["REPORT", "JOIN", "CHAT", "ATTACHMENT", "QUIT"],
            Dialect::Direct => &["LOGIN", "LIST", "SENDTO", "LOGOUT", "EXIT"],
            Dialect::Bridge => &["REGISTER", "BRIDGE", "CHAT", "QUIT"],
        }
    }
}

impl Dialect {
    /// A server case of this dialect (see [`Case::server`]).
    pub const fn server(
        self,
        id: &'static str,
        feature: &'static str,
        requirement: &'static str,
        source: Source,
        run: fn(&mut Ctx) -> Check,
    ) -> Case {
        Case::server(self, id, feature, requirement, source, run)
    }

    /// A client case of this dialect (see [`Case::client`]).
    pub const fn client(
        self,
        id: &'static str,
        feature: &'static str,
        requirement: &'static str,
        source: Source,
        run: fn(&mut Ctx) -> Check,
    ) -> Case {
        Case::client(self, id, feature, requirement, source, run)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which program a case checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// Where a case's requirement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The course handout says so; the words quoted.
    Handout(&'static str),
    /// A detail the contract pins where the handout is silent.
    Contract,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Handout(_) => "handout",
            Source::Contract => "contract",
        }
    }
}

/// What a case needs of the target beyond connections to a server that is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A server of its own: it would disturb, or be disturbed by, a shared
    /// one (a full room, a `/list` of every channel, a shutdown).
    OwnServer,
    /// The server's stdout (status lines).
    Stdout,
    /// The server's stdin (typed commands such as bridge `/info`).
    Stdin,
    /// Signals sent to the server (SIGTERM, SIGINT, kill -9).
    Signal,
    /// These options, appended to the server's command line.
    Options(&'static [&'static str]),
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::OwnServer => f.write_str("a server of its own"),
            Need::Stdout => f.write_str("the server's stdout"),
            Need::Stdin => f.write_str("the server's stdin"),
            Need::Signal => f.write_str("to signal the server"),
            Need::Options(opts) => write!(f, "the server started with {}", opts.join(" ")),
        }
    }
}

/// What a case's function returns.
pub type Check = Result<(), Failure>;

/// One conformance case: data, and a small function over a [`Ctx`].
#[derive(Clone, Copy)]
pub struct Case {
    /// `dialect/feature/what`, e.g. `lobby/join/too-many-users`.
    pub id: &'static str,
    pub dialect: Dialect,
    pub side: Side,
    /// The rubric row it counts for (see [`Dialect::features`]).
    pub feature: &'static str,
    /// The requirement it checks, in one line.
    pub requirement: &'static str,
    pub source: Source,
    pub needs: &'static [Need],
    pub run: fn(&mut Ctx) -> Check,
}

impl Case {
    /// A server case with no needs; add them with [`Case::needs`].
    pub const fn server(
        dialect: Dialect,
        id: &'static str,
        feature: &'static str,
        requirement: &'static str,
        source: Source,
        run: fn(&mut Ctx) -> Check,
    ) -> Case {
        Case {
            id,
            dialect,
            side: Side::Server,
            feature,
            requirement,
            source,
            needs: &[],
            run,
        }
    }

    /// A client case: the checker plays the server.
    pub const fn client(
        dialect: Dialect,
        id: &'static str,
        feature: &'static str,
        requirement: &'static str,
        source: Source,
        run: fn(&mut Ctx) -> Check,
    ) -> Case {
        Case {
            side: Side::Client,
            ..Case::server(dialect, id, feature, requirement, source, run)
        }
    }

    pub const fn needs(self, needs: &'static [Need]) -> Case {
        Case { needs, ..self }
    }

    /// The options the case's server must be started with.
    pub fn options(&self) -> Vec<&'static str> {
        self.needs
            .iter()
            .flat_map(|n| match n {
                Need::Options(o) => o.iter().copied(),
                _ => [].iter().copied(),
            })
            .collect()
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("id", &self.id).finish()
    }
}

/// Why a case failed: what it expected and what it got instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in words ("reply to JOIN Alice").
    pub what: String,
    pub expected: Vec<u8>,
    pub received: Vec<u8>,
}

impl Failure {
    pub fn new(
        what: impl Into<String>,
        expected: impl AsRef<[u8]>,
        received: impl AsRef<[u8]>,
    ) -> Failure {
        Failure {
            what: what.into(),
            expected: expected.as_ref().to_vec(),
            received: received.as_ref().to_vec(),
        }
    }

    /// A failure that is not a comparison of bytes (a program that would
    /// not start, a port that would not bind).
    pub fn note(what: impl Into<String>) -> Failure {
        Failure::new(what, "", "")
    }
}

/// Fails with `what` unless `ok`.
pub fn ensure(ok: bool, what: impl Into<String>, expected: &str, received: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(Failure::new(what, expected, received))
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pass,
    Fail {
        failure: Failure,
        transcript: Vec<Entry>,
    },
    Skip {
        why: String,
    },
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail { .. } => "FAIL",
            Outcome::Skip { .. } => "SKIP",
        }
    }
}

/// How the cases run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest any expected reply, connection or exit may take.
    pub timeout: Duration,
    /// How long a process gets between SIGTERM and SIGKILL at case end.
    pub grace: Duration,
    /// Send text commands without a line end, one write each, as most
    /// course clients do (`sock.send(b"JOIN Alice")`); the checker then
    /// waits for each reply before the next command.
    pub bare_commands: bool,
    /// The server's answers to the sync probes, found once per run.
    pub sync: target::SyncCache,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(5),
            grace: Duration::from_secs(2),
            bare_commands: false,
            sync: target::SyncCache::default(),
        }
    }
}

/// Runs one case against `target`: sets up what it needs, runs it, ends
/// every process it started. Never panics on anything the target does; a
/// panic inside a case (a bug of the checker) is reported as a FAIL.
pub fn run_case(case: &Case, target: &Target, settings: &Settings) -> Outcome {
    if let Some(why) = target.cannot_run(case) {
        return Outcome::Skip { why };
    }
    let mut ctx = match Ctx::new(case, target, settings) {
        Ok(ctx) => ctx,
        Err(failure) => {
            return Outcome::Fail {
                failure,
                transcript: Vec::new(),
            }
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.begin().and_then(|()| (case.run)(&mut ctx))
    }));
    let result = match result {
        Ok(result) => result,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Failure::note(format!(
                "the checker's case panicked: {text}"
            )))
        }
    };
    let transcript = ctx.finish();
    match result {
        Ok(()) => Outcome::Pass,
        Err(failure) => Outcome::Fail {
            failure,
            transcript,
        },
    }
}

/// For the report's header: what the cases of `dialect` sync on against
/// `target` (found now, once for the run), or `None` when its cases use no
/// probe.
pub fn sync_header(dialect: Dialect, target: &Target, settings: &Settings) -> Option<String> {
    let probe = cases::sync_probe(dialect)?;
    if matches!(target, Target::Client(_)) {
        return None;
    }
    Some(match target::sync_reply(dialect, target, settings, probe) {
        Ok(reply) => target::sync_words(probe, &reply),
        Err(failure) => format!("sync: {}", failure.what),
    })
}

/// Which cases to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only cases whose requirement the handout states.
    pub handout_only: bool,
    /// Only cases whose id contains one of these (all when empty).
    pub substrings: Vec<String>,
}

impl Selection {
    pub fn admits(&self, case: &Case) -> bool {
        (!self.handout_only || matches!(case.source, Source::Handout(_)))
            && (self.substrings.is_empty() || self.substrings.iter().any(|s| case.id.contains(s)))
    }
}

/// The cases of one dialect and side, in the order they are listed.
pub fn cases_for(dialect: Dialect, side: Side) -> Vec<Case> {
    cases::all()
        .into_iter()
        .filter(|c| c.dialect == dialect && c.side == side)
        .collect()
}

/// Runs `cases` against `target`, `jobs` at a time (one at a time against a
/// running server, which they share), and hands each result to `done` in
/// the order of `cases` as soon as it and those before it are done.
pub fn run_cases<'a>(
    cases: &'a [Case],
    target: &Target,
    settings: &Settings,
    jobs: usize,
    mut done: impl FnMut(&report::Result<'a>),
) -> Vec<report::Result<'a>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let jobs = match target {
        Target::Running(_) => 1,
        _ => jobs.clamp(1, cases.len().max(1)),
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome, f64)>();
    let mut results: Vec<Option<report::Result<'a>>> = cases.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let started = std::time::Instant::now();
                let outcome = run_case(case, target, settings);
                if tx
                    .send((i, outcome, started.elapsed().as_secs_f64()))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(tx);
        let mut shown = 0;
        for (i, outcome, seconds) in rx {
            results[i] = Some(report::Result {
                case: &cases[i],
                outcome,
                seconds,
            });
            while let Some(Some(result)) = results.get(shown) {
                done(result);
                shown += 1;
            }
        }
    });
    results.into_iter().flatten().collect()
}
