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
