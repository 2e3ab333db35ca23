//! direct cases: to be ported from tests/direct.rs onto this framework.

use crate::Case;

pub const CASES: &[Case] = &[];
