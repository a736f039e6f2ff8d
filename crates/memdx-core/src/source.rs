use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Where a fact came from: a file (as the user named it, or `bundle.tar.gz:proc/meminfo` inside an
/// archive, or `/proc/meminfo` on the live machine) and, when it applies, a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SourceRef {
    pub file: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl SourceRef {
    pub fn new(file: impl Into<Arc<str>>) -> Self {
        SourceRef { file: file.into(), line: None }
    }

    /// The same file at a 1-based line.
    pub fn at(&self, line: usize) -> Self {
        SourceRef { file: self.file.clone(), line: Some(u32::try_from(line).unwrap_or(u32::MAX)) }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}", self.file, l),
            None => write!(f, "{}", self.file),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagLevel {
    /// Something was skipped or assumed; the result is still right.
    Note,
    /// Part of the input was damaged or not understood and was left out.
    Warning,
    /// The whole input could not be used.
    Error,
}

/// A problem met while reading one input: parsers return these beside their records and never fail
/// as a whole on damaged input (a damaged line is skipped and named here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diag {
    pub level: DiagLevel,
    pub source: SourceRef,
    pub message: String,
}

impl Diag {
    pub fn warning(source: SourceRef, message: impl Into<String>) -> Self {
        Diag { level: DiagLevel::Warning, source, message: message.into() }
    }
    pub fn error(source: SourceRef, message: impl Into<String>) -> Self {
        Diag { level: DiagLevel::Error, source, message: message.into() }
    }
    pub fn note(source: SourceRef, message: impl Into<String>) -> Self {
        Diag { level: DiagLevel::Note, source, message: message.into() }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lvl = match self.level {
            DiagLevel::Note => "note",
            DiagLevel::Warning => "warning",
            DiagLevel::Error => "error",
        };
        write!(f, "{}: {}: {}", self.source, lvl, self.message)
    }
}
