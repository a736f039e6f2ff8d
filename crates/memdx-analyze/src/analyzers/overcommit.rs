//! Analyzer: overcommit (being written).

use crate::case::Case;
use crate::report::Output;

pub fn run(_case: &Case, _out: &mut Output) {}
