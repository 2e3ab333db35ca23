//! The cases, one module per dialect, each with its server cases and its
//! client cases. A module exposes `CASES`, a list of [`Case`] values; the
//! functions they point to are private to it.

use crate::target::SyncProbe;
use crate::{Case, Dialect};

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

/// `--help` and `--version` (added to the server's command, without its
/// port) each print to stdout and exit 0: every dialect's server case
/// `<dialect>/server/help-version`.
pub fn help_and_version(ctx: &mut crate::Ctx) -> crate::Check {
    for flag in ["--help", "--version"] {
        let ran = ctx.run_server_with(None, &[flag])?;
        crate::ensure(
            ran.code == Some(0),
            format!("exit status with {flag}"),
            "0",
            &format!("{:?}", ran.code),
        )?;
        crate::ensure(
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
pub fn option_out_of_range(ctx: &mut crate::Ctx) -> crate::Check {
    for (option, value) in [
        ("--login-timeout", "18446744073709551615"),
        ("--sendq", "99999999999999999999999"),
        ("--max-connections", "-1"),
    ] {
        let port = crate::target::free_port()?;
        let ran = ctx.run_server_with(Some(port), &[option, value])?;
        crate::ensure(
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
