//! The cases, one module per dialect, each with its server cases and its
//! client cases. A module exposes `CASES`, a list of [`Case`] values; the
//! functions they point to are private to it.

use crate::target::SyncProbe;
use crate::{ensure, Case, Check, Ctx, Dialect, Failure};

pub mod bridge;
pub mod channels;
pub mod direct;
pub mod lobby;
pub mod room;

/// Every case, dialect by dialect, in the order they are listed and run.
pub fn all() -> Vec<Case> {
    [
        lobby::CASES,
        room::CASES,
        channels::CASES,
        direct::CASES,
        bridge::CASES,
    ]
    .concat()
}

/// Without the argument holding `{port}`: a usage statement, exit 2.
pub fn usage(ctx: &mut Ctx) -> Check {
    usage_then(ctx, "2", |code| code == Some(2))
}

/// Without the argument holding `{port}`: a usage statement, and an exit
/// status that `status_ok` accepts (`expected`, in words).
pub fn usage_then(ctx: &mut Ctx, expected: &str, status_ok: fn(Option<i32>) -> bool) -> Check {
    let ran = ctx.run_server_to_end(None)?;
    let all = [ran.stdout, ran.stderr].concat();
    ensure(
        String::from_utf8_lossy(&all)
            .to_lowercase()
            .contains("usage"),
        "output without a port",
        "a usage statement",
        &String::from_utf8_lossy(&all),
    )?;
    ensure(
        status_ok(ran.code),
        "exit status without a port",
        expected,
        &format!("{:?}", ran.code),
    )
}

/// A port in use: the contract's exact stderr line, exit 1.
pub fn port_in_use(ctx: &mut Ctx) -> Check {
    let holder = std::net::TcpListener::bind("0.0.0.0:0")
        .map_err(|e| Failure::note(format!("cannot hold a port: {e}")))?;
    let port = holder
        .local_addr()
        .map_err(|e| Failure::note(e.to_string()))?
        .port();
    let ran = ctx.run_server_to_end(Some(port))?;
    let text = String::from_utf8_lossy(&ran.stderr).into_owned();
    let ok = text
        .lines()
        .any(|l| l.starts_with("error: cannot listen on ") && l.contains(&format!(":{port}: ")));
    ensure(
        ok,
        "stderr for a port in use",
        &format!("error: cannot listen on ADDR:{port}: <reason>"),
        &text,
    )?;
    ensure(
        ran.code == Some(1),
        "exit status for a port in use",
        "1",
        &format!("{:?}", ran.code),
    )
}

/// `--help` and `--version` (added to the server's command, without its
/// port) each print to stdout and exit 0: every dialect's server case
/// `<dialect>/server/help-version`.
pub fn help_and_version(ctx: &mut Ctx) -> Check {
    for flag in ["--help", "--version"] {
        let ran = ctx.run_server_with(None, &[flag])?;
        ensure(
            ran.code == Some(0),
            format!("exit status with {flag}"),
            "0",
            &format!("{:?}", ran.code),
        )?;
        ensure(
            !ran.stdout.is_empty(),
            format!("stdout with {flag}"),
            "some text",
            "nothing",
        )?;
    }
    Ok(())
}

/// A numeric option past what the machine can hold (a login timeout too
/// large to add to the clock, a queue bound past any address space) is a
/// usage error: exit 2, not a panic, not a server that starts anyway.
pub fn option_out_of_range(ctx: &mut Ctx) -> Check {
    for (option, value) in [
        ("--login-timeout", "18446744073709551615"),
        ("--sendq", "99999999999999999999999"),
        ("--max-connections", "-1"),
    ] {
        let port = crate::target::free_port()?;
        let ran = ctx.run_server_with(Some(port), &[option, value])?;
        ensure(
            ran.code == Some(2),
            format!("exit status with {option} {value}"),
            "2",
            &format!("{:?}", ran.code),
        )?;
    }
    Ok(())
}

/// The probe a dialect's server cases sync on, if they use one.
pub fn sync_probe(dialect: Dialect) -> Option<&'static SyncProbe> {
    match dialect {
        Dialect::Lobby => Some(&lobby::SYNC),
        Dialect::Channels => Some(&channels::SYNC),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_their_dialect_and_feature() {
        let cases = all();
        let mut ids: Vec<&str> = cases.iter().map(|c| c.id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "a case id appears twice");
        for case in &cases {
            assert!(
                case.id.starts_with(&format!("{}/", case.dialect)),
                "{} is not under {}/",
                case.id,
                case.dialect
            );
            assert!(!case.requirement.is_empty() && !case.requirement.contains('\n'));
            if let crate::Source::Handout(words) = case.source {
                assert!(!words.is_empty(), "{} quotes nothing", case.id);
            }
        }
    }
}
