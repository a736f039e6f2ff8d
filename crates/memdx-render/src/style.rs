//! Terminal styling: ANSI colour when writing to a terminal and `NO_COLOR` is unset. Written by hand:
//! four escape codes do not justify a dependency.

use memdx_core::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn severity(&self, s: Severity) -> String {
        let label = format!("{s:<8}");
        if !self.color {
            return label;
        }
        let code = match s {
            Severity::Critical => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    }
    pub fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn dim(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}
