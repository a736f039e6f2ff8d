use crate::analyzers::ANALYZERS;
use crate::case::Case;
use memdx_core::Report;

/// Runs every analyzer over `case`: findings ranked (severity, then score), their tables in
/// registry order, the conclusions drawn from the findings and the reports, and the timeline.
pub fn analyze(case: &Case) -> Report {
    let mut out = Report::default();
    for a in ANALYZERS {
        (a.run)(case, &mut out);
    }
    out.rank();
    out.conclusions = crate::conclude::conclude(case, &out.findings);
    out.timeline = crate::timeline::build(case);
    out
}
