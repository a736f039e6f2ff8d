use crate::analyzers;
use crate::case::Case;
use memdx_core::{Finding, Severity};

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

#[derive(Debug, Default)]
pub struct Output {
    pub findings: Vec<Finding>,
    pub tables: Vec<Table>,
}

pub struct Analyzer {
    pub name: &'static str,
    pub run: fn(&Case, &mut Output),
}

/// Every analyzer, in the order their tables are shown.
pub static ANALYZERS: &[Analyzer] = &[
    Analyzer { name: "kernel_log", run: analyzers::kernel_log::run },
    Analyzer { name: "accounting", run: analyzers::accounting::run },
    Analyzer { name: "slab", run: analyzers::slab::run },
    Analyzer { name: "slab_leak", run: analyzers::slab_leak::run },
    Analyzer { name: "watermarks", run: analyzers::watermarks::run },
    Analyzer { name: "fragmentation", run: analyzers::fragmentation::run },
    Analyzer { name: "overcommit", run: analyzers::overcommit::run },
    Analyzer { name: "reclaim", run: analyzers::reclaim::run },
    Analyzer { name: "memcg", run: analyzers::memcg::run },
];

/// Findings ranked (severity, then score), and the analyzers' tables.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub tables: Vec<Table>,
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

pub fn analyze(case: &Case) -> Report {
    let mut out = Output::default();
    for a in ANALYZERS {
        (a.run)(case, &mut out);
    }
    let mut findings = out.findings;
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.score.total_cmp(&a.score)));
    Report { findings, tables: out.tables }
}
