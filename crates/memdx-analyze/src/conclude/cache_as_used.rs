//! Rule `memory.cache_counted_as_used`: a cache the kernel does not count as cache, joined with the
//! `used` figure it inflates. The ZFS ARC is allocated as ordinary kernel memory: `free` counts it
//! in `used` (not in buff/cache) and MemAvailable leaves it out, yet ZFS shrinks it under memory
//! pressure (down to `c_min`). When it is a large share of what `free` calls used, the machine is
//! not short of memory and nothing leaks: the conclusion says how much the processes really use.
//!
//! Fires on the ARC analyzer's finding when it has joined `free` (the share is known and at least a
//! quarter: the finding is then a warning); the ARC size alone is context, not a conclusion.

use super::{Conclusion, Confidence, Facts, RuledOut};
use memdx_core::{EvidenceValue, Severity};

pub const NAME: &str = "memory.cache_counted_as_used";

const FINDING: &str = "zfs.arc";

fn mib(v: f64) -> String {
    format!("{v:.0} MiB ({:.1} GiB)", v / 1024.0)
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let Some(f) = facts.finding(FINDING).filter(|f| f.severity >= Severity::Warning) else { return };
    let ev = |label: &str| f.evidence.iter().find(|e| e.label == label);
    let (Some(arc), Some(used)) = (ev("ARC size"), ev("used (free)")) else { return };
    let num = |v: &EvidenceValue| match v {
        EvidenceValue::Float(x) => Some(*x),
        EvidenceValue::Int(x) => Some(*x as f64),
        EvidenceValue::Text(_) => None,
    };
    let (Some(arc_mib), Some(used_mib)) = (num(&arc.value), num(&used.value)) else { return };
    if !arc_mib.is_finite() || !used_mib.is_finite() {
        return;
    }
    if used_mib <= 0.0 {
        return;
    }
    let share = arc_mib * 100.0 / used_mib;
    let rest = (used_mib - arc_mib).max(0.0);
    let cause = format!(
        "Not a shortage and not a leak: of the {} that `free` reports used, {} ({share:.0}%) is the ZFS ARC, a \
         cache that ZFS allocates as kernel memory (so `free` shows it as used, not as buff/cache, and \
         MemAvailable leaves it out) and gives back under memory pressure. Processes and the rest of the kernel \
         use about {}. Cap the ARC (zfs_arc_max) only if applications need that memory sooner than ZFS releases it.",
        mib(used_mib),
        mib(arc_mib),
        mib(rest)
    );
    let mut c = Conclusion::new(NAME, Severity::Warning, cause);
    c.link(format!("arcstats size: {}", mib(arc_mib)), Some(FINDING), arc.source.clone());
    c.link(format!("`free` used: {}", mib(used_mib)), Some(FINDING), used.source.clone());
    c.ruled_out.push(RuledOut {
        what: "processes or a kernel leak holding the memory `free` reports used".into(),
        because: format!("{share:.0}% of it is the ARC; the rest is about {}", mib(rest)),
        source: used.source.clone(),
    });
    c.confidence = Confidence::High;
    c.confidence_why = "the ARC's own size (arcstats) and the used figure (free) are both given".into();
    c.unknown(
        "how far the ARC can shrink (c_min) and grow (c_max)",
        "grep -E '^(size|c_min|c_max) ' /proc/spl/kstat/zfs/arcstats",
    );
    c.next_steps.extend(f.next_steps.iter().cloned());
    c.covers = vec![FINDING.into()];
    c.score = 1e3;
    out.push(c);
}
