use crate::SourceRef;
use serde::Serialize;
use std::fmt;

/// How bad a finding is. Ordered: `Info < Warning < Critical`. `memdx diagnose` exits 1 when any
/// finding is `Warning` or above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        })
    }
}

/// One conclusion, with the numbers behind it and what to do next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable dotted id, e.g. `slab.unreclaimable.large`. Scripts and alert rules key on it.
    pub id: String,
    pub severity: Severity,
    pub title: String,
    /// A few sentences for a person: what it means and why memdx believes it.
    pub explanation: String,
    pub evidence: Vec<Evidence>,
    /// Concrete commands or actions, most useful first.
    pub next_steps: Vec<String>,
    /// Ranking score within a severity (higher first); analyzers set it from the size of the problem.
    #[serde(skip)]
    pub score: f64,
}

impl Finding {
    pub fn new(id: &str, severity: Severity, title: impl Into<String>) -> Self {
        Finding {
            id: id.to_string(),
            severity,
            title: title.into(),
            explanation: String::new(),
            evidence: Vec::new(),
            next_steps: Vec::new(),
            score: 0.0,
        }
    }
    pub fn explain(mut self, text: impl Into<String>) -> Self {
        self.explanation = text.into();
        self
    }
    pub fn evidence(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }
    pub fn next(mut self, step: impl Into<String>) -> Self {
        self.next_steps.push(step.into());
        self
    }
    pub fn score(mut self, score: f64) -> Self {
        self.score = score;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EvidenceValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for EvidenceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvidenceValue::Int(v) => write!(f, "{v}"),
            EvidenceValue::Float(v) => {
                if v.abs() >= 100.0 {
                    write!(f, "{v:.0}")
                } else {
                    write!(f, "{v:.1}")
                }
            }
            EvidenceValue::Text(s) => f.write_str(s),
        }
    }
}

/// One number (or line) a finding rests on, and where it was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub label: String,
    pub value: EvidenceValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

impl Evidence {
    pub fn int(label: impl Into<String>, value: i64, unit: Option<&str>, source: Option<SourceRef>) -> Self {
        Evidence {
            label: label.into(),
            value: EvidenceValue::Int(value),
            unit: unit.map(str::to_string),
            source,
        }
    }
    pub fn float(
        label: impl Into<String>,
        value: f64,
        unit: Option<&str>,
        source: Option<SourceRef>,
    ) -> Self {
        Evidence {
            label: label.into(),
            value: EvidenceValue::Float(value),
            unit: unit.map(str::to_string),
            source,
        }
    }
    pub fn text(label: impl Into<String>, value: impl Into<String>, source: Option<SourceRef>) -> Self {
        Evidence { label: label.into(), value: EvidenceValue::Text(value.into()), unit: None, source }
    }
}
