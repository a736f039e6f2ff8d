use crate::analyzers::ANALYZERS;
use crate::case::Case;
use memdx_core::Report;

/// Runs every analyzer over `case`: findings ranked (severity, then score), and their tables in
/// registry order.
pub fn analyze(case: &Case) -> Report {
    let mut out = Report::default();
    for a in ANALYZERS {
        (a.run)(case, &mut out);
    }
    out.rank();
    out
}
