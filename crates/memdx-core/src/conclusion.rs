//! Conclusions: the most likely root cause of one problem, joined across every input, with its chain
//! of evidence, confidence, what is ruled out and what is unknown. Drawn by memdx-analyze's
//! correlation rules (`conclude::RULES`), carried in [`crate::Report`], rendered by memdx-render.
//! Part of the JSON output schema (`docs/json-schema.md`).

use crate::{Severity, SourceRef};
use serde::Serialize;

/// How sure a conclusion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl std::fmt::Display for Confidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

/// One link of the chain of evidence: a fact, the finding it comes from, where it was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub fact: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

/// Something a reader might suspect, and the number that rules it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuledOut {
    pub what: String,
    pub because: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
}

/// What stays unknown because an input is missing, and the command that collects it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unknown {
    pub what: String,
    pub collect: String,
}

/// The most likely root cause of one problem, with its chain of evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conclusion {
    /// The rule that drew it (see [`RULES`]).
    pub rule: String,
    pub severity: Severity,
    /// The root cause in one or two sentences.
    pub cause: String,
    pub chain: Vec<Link>,
    pub confidence: Confidence,
    pub confidence_why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ruled_out: Vec<RuledOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    /// Ranking within a severity (higher first).
    #[serde(skip)]
    pub score: f64,
    /// Report signatures and finding ids this conclusion accounts for.
    #[serde(skip)]
    pub covers: Vec<String>,
    /// The conclusion is about a crash (context rules add the memory state at the crash).
    #[serde(skip)]
    pub crash: bool,
    /// Reports in the chain are driven by memory reclaim (kswapd, shrinkers, direct reclaim).
    #[serde(skip)]
    pub reclaim_driven: bool,
}

impl Conclusion {
    pub fn new(rule: &str, severity: Severity, cause: impl Into<String>) -> Self {
        Conclusion {
            rule: rule.to_string(),
            severity,
            cause: cause.into(),
            chain: Vec::new(),
            confidence: Confidence::Medium,
            confidence_why: String::new(),
            ruled_out: Vec::new(),
            unknown: Vec::new(),
            next_steps: Vec::new(),
            score: 0.0,
            covers: Vec::new(),
            crash: false,
            reclaim_driven: false,
        }
    }

    pub fn link(&mut self, fact: impl Into<String>, finding: Option<&str>, source: Option<SourceRef>) {
        self.chain.push(Link { fact: fact.into(), finding: finding.map(str::to_string), source });
    }

    pub fn unknown(&mut self, what: impl Into<String>, collect: impl Into<String>) {
        let what = what.into();
        if !self.unknown.iter().any(|u| u.what == what) {
            self.unknown.push(Unknown { what, collect: collect.into() });
        }
    }

    /// True when this conclusion accounts for any of `keys`.
    pub fn covers_any(&self, keys: &[String]) -> bool {
        keys.iter().any(|k| self.covers.contains(k))
    }
}
