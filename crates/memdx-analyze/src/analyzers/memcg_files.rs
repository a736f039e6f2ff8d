//! Analyzer: memory cgroup control files pasted with the command that read them
//! (`memory.limit_in_bytes`, `memory.max_usage_in_bytes`, `memory.max`, `memory.peak`,
//! `memory.events`, ...). A peak or usage at the limit, a non-zero failcnt or oom_kill count says the
//! cgroup hit its limit: the limit, not the machine, decided.

use crate::case::Case;
use memdx_core::units::bytes;
use memdx_core::Report;
use memdx_core::{Evidence, Finding, Severity};
use memdx_parse::memcg_file::{MemcgFile, MemcgValue};

pub fn run(case: &Case, out: &mut Report) {
    let mut dirs: Vec<&str> = Vec::new();
    for f in &case.memcg_files {
        if !dirs.contains(&f.dir.as_str()) {
            dirs.push(&f.dir);
        }
    }
    for dir in dirs {
        let files: Vec<&MemcgFile> = case.memcg_files.iter().filter(|f| f.dir == dir).collect();
        // The last value of each file (a file shown twice is two samples; the later one counts).
        let get = |names: &[&str]| files.iter().rev().find(|f| names.contains(&f.name.as_str())).copied();
        let limit = get(&["memory.limit_in_bytes", "memory.max"]);
        let peak = get(&["memory.max_usage_in_bytes", "memory.peak"]);
        let usage = get(&["memory.usage_in_bytes", "memory.current"]);
        let failcnt = get(&["memory.failcnt"]).and_then(|f| f.bytes());
        let oom_kills = get(&["memory.events", "memory.events.local"]).and_then(|f| match &f.value {
            MemcgValue::Counters(c) => c.iter().find(|(k, _)| k == "oom_kill").map(|(_, v)| *v),
            _ => None,
        });
        let limit_b = limit.and_then(|f| f.bytes());
        let near = |f: Option<&MemcgFile>| {
            f.and_then(|f| f.bytes())
                .zip(limit_b)
                .is_some_and(|(v, l)| l > 0 && v.saturating_mul(100) >= l.saturating_mul(98))
        };
        let hit =
            near(peak) || near(usage) || failcnt.is_some_and(|n| n > 0) || oom_kills.is_some_and(|n| n > 0);
        let name = if dir.is_empty() { "(cgroup not named)".to_string() } else { dir.to_string() };
        let lim_text = match (limit, limit_b) {
            (Some(_), Some(l)) => format!("{l} bytes ({})", bytes(l)),
            (Some(_), None) => "unlimited".to_string(),
            (None, _) => "not shown".to_string(),
        };
        let title = if hit {
            format!("memory cgroup {name} reached its limit of {lim_text}")
        } else {
            format!("memory cgroup {name}: limit {lim_text}")
        };
        let mut parts = Vec::new();
        if let Some(p) = peak.and_then(|f| f.bytes()) {
            parts.push(format!("peak usage {p} bytes ({})", bytes(p)));
        }
        if let Some(u) = usage.and_then(|f| f.bytes()) {
            parts.push(format!("usage {u} bytes ({})", bytes(u)));
        }
        if let Some(n) = failcnt {
            parts.push(format!("failcnt {n}"));
        }
        if let Some(n) = oom_kills {
            parts.push(format!("oom_kill {n}"));
        }
        let ooms_here = case.logs.iter().flat_map(|l| &l.reports).filter(|r| {
            r.mem
                .as_ref()
                .and_then(|m| m.oom_memcg.as_deref())
                .is_some_and(|m| !m.is_empty() && m != "/" && dir.ends_with(m.trim_end_matches('/')))
        });
        let oom_note = match ooms_here.count() {
            0 => String::new(),
            n => format!(" The kernel log has {n} memory cgroup OOM report(s) for this cgroup."),
        };
        let mut f = Finding::new("memcg.limit", if hit { Severity::Warning } else { Severity::Info }, title).explain(
            format!(
                "{}{}{oom_note}",
                if parts.is_empty() { String::new() } else { format!("{}. ", parts.join(", ")) },
                if hit {
                    "A memory cgroup at its limit reclaims its own pages and, when that fails, the memcg OOM killer \
                     kills inside it while the rest of the machine may have plenty free: the limit decided, so raise or \
                     correct this cgroup's limit (or find what in it grew). Identify the workload by this cgroup path, \
                     not by the process name."
                } else {
                    "The cgroup has not reached its limit in these values."
                }
            ),
        );
        for x in [limit, peak, usage].into_iter().flatten() {
            let v = match x.bytes() {
                Some(b) => {
                    Evidence::int(x.name.clone(), b as i64, Some("bytes"), Some(x.source.at(x.line as usize)))
                }
                None => Evidence::text(x.name.clone(), "unlimited", Some(x.source.at(x.line as usize))),
            };
            f = f.evidence(v);
        }
        f = f
            .next(format!("cat {dir}/memory.stat: what the charged memory is (anon, file, kernel)"))
            .score(limit_b.map(|l| l as f64).unwrap_or(0.0));
        out.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn limit_reached() {
        // kubernetes/ingress-nginx#4756, as posted.
        let t = "$ cat /sys/fs/cgroup/memory/kubepods/burstable/poddfc7f441-06db-11ea-842a-0227fba247b6/memory.max_usage_in_bytes\n21028864\n$ cat /sys/fs/cgroup/memory/kubepods/burstable/poddfc7f441-06db-11ea-842a-0227fba247b6/memory.limit_in_bytes\n20971520\n\n$ echo \"20971520/1024\" | bc\n20480\n";
        let mut c = Case::new();
        c.ingest("cgroup.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "memcg.limit").expect("finding");
        assert_eq!(f.severity, memdx_core::Severity::Warning);
        assert!(f.title.contains("20971520 bytes (20.0 MiB)"), "{}", f.title);
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(4));
    }
}
