//! bridge cases: to be ported from tests/bridge.rs onto this framework.

use crate::Case;

pub const CASES: &[Case] = &[];
