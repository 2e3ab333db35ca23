//! room cases: to be ported from tests/room.rs onto this framework.

use crate::Case;

pub const CASES: &[Case] = &[];
