//! What every analysis produces: findings and the tables shown beside them, and for diagnose the
//! conclusions and timeline drawn from them. One type for the diagnose analyzers, the history
//! analysis and anything else that reports findings, so renderers take one shape and compute nothing.

use crate::conclusion::Conclusion;
use crate::timeline::Timeline;
use crate::{Finding, Severity};

/// A table an analyzer wants shown beside its findings (slab top, zone watermarks, ...).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Short remarks printed under the table (units, assumptions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Findings, tables, conclusions and the timeline. Analyzers push into one; [`Report::rank`] orders the findings for output.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub tables: Vec<Table>,
    /// Root causes joined across findings and inputs, ranked (diagnose; empty elsewhere).
    pub conclusions: Vec<Conclusion>,
    /// Every dated event on one clock (diagnose; empty elsewhere).
    pub timeline: Timeline,
}

impl Report {
    /// The most severe finding's severity, `None` when there is no finding.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Orders findings by severity, then score (both descending); ties keep their push order.
    pub fn rank(&mut self) {
        self.findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.score.total_cmp(&a.score)));
    }
}
