//! Analyzer: every report the log engine found in the kernel logs (oops, WARNING, BUG, OOM kill,
//! allocation failure, ...), one finding per signature, with the log engine's memory explanation.

use crate::case::Case;
use memdx_core::Table;
use memdx_core::{Evidence, Finding, Severity};
use memdx_log::{Kind, Report};

/// How bad each kind of report is. A memcg OOM is the limit doing its job, but it still killed a task;
/// an OOM whose excerpt ends before its scope shows is not called a host-wide shortage either.
fn severity(r: &Report) -> Severity {
    match r.kind {
        Kind::Oops
        | Kind::KernelBug
        | Kind::Panic
        | Kind::Kasan
        | Kind::Kfence
        | Kind::SlubDebug
        | Kind::CrashBt => Severity::Critical,
        Kind::Oom => match r.explanation.as_ref().map(|e| e.class.as_str()) {
            Some("oom.memcg" | "oom.unknown") => Severity::Warning,
            _ => Severity::Critical,
        },
        Kind::Bug
        | Kind::Warning
        | Kind::Ubsan
        | Kind::Kmemleak
        | Kind::HungTask
        | Kind::SoftLockup
        | Kind::HardLockup
        | Kind::RcuStall
        | Kind::AllocFailure => Severity::Warning,
        Kind::StackDump | Kind::Unknown => Severity::Info,
    }
}

fn when(r: &Report) -> String {
    let s = |st: &memdx_log::Stamp| match (&st.wall, st.monotonic) {
        (Some(w), _) => w.clone(),
        (None, Some(m)) => format!("{m:.6} s after boot"),
        (None, None) => "time unknown".into(),
    };
    if r.count > 1 {
        format!("{} times, first {}, last {}", r.count, s(&r.first_seen), s(&r.last_seen))
    } else {
        s(&r.time)
    }
}

/// Reports folded across logs: the same report usually appears in several files of one bug report
/// (dmesg, /var/log/messages, the journal). One finding per signature; the repeat count is the
/// largest any one file saw (the files overlap, so counts are not added), and the other files are
/// named.
fn fold(case: &Case) -> Vec<(&Report, Vec<&Report>)> {
    let mut groups: Vec<(&Report, Vec<&Report>)> = Vec::new();
    for r in case.logs.iter().flat_map(|s| s.reports.iter()) {
        match groups.iter_mut().find(|(g, _)| g.signature == r.signature) {
            // Keep the most complete copy (intact, then most frames) as the one shown.
            Some((g, others)) => {
                let better = (g.corrupted.is_some() && r.corrupted.is_none())
                    || (g.corrupted.is_some() == r.corrupted.is_some() && r.frames.len() > g.frames.len());
                if better {
                    others.push(*g);
                    *g = r;
                } else {
                    others.push(r);
                }
            }
            None => groups.push((r, Vec::new())),
        }
    }
    groups
}

pub fn run(case: &Case, out: &mut memdx_core::Report) {
    let mut rows = Vec::new();
    for (r, others) in fold(case) {
        {
            let count = std::iter::once(r).chain(others.iter().copied()).map(|x| x.count).max().unwrap_or(1);
            let sev = severity(r);
            let class =
                r.explanation.as_ref().map(|e| e.class.clone()).unwrap_or_else(|| r.kind.name().to_string());
            rows.push(vec![r.title.clone(), count.to_string(), when(r), r.source.to_string()]);
            let mut title = r.title.clone();
            if count > 1 {
                title.push_str(&format!(" (x{count})"));
            }
            let mut f = Finding::new(&format!("log.{class}"), sev, title);
            let mut explanation = match &r.explanation {
                Some(e) => e.summary.clone(),
                None => format!("The kernel logged `{}`.", r.header.trim()),
            };
            if let Some(c) = &r.corrupted {
                explanation.push_str(&format!(" The report is incomplete or mixed with other lines: {c}."));
            }
            f = f.evidence(Evidence::text("report", r.header.trim(), Some(r.source.clone())));
            f = f.evidence(Evidence::text("when", when(r), None));
            for o in others.iter().take(5) {
                let n = if o.count > 1 { format!(" ({} times)", o.count) } else { String::new() };
                f = f.evidence(Evidence::text(
                    "also logged in",
                    format!("{}{n}", o.source.file),
                    Some(o.source.clone()),
                ));
            }
            if let (Some(comm), pid) = (&r.comm, r.pid) {
                let task = match pid {
                    Some(p) => format!("{comm} (pid {p})"),
                    None => comm.clone(),
                };
                f = f.evidence(Evidence::text("task", task, None));
            }
            if let Some(k) = &r.kernel {
                let taint = r
                    .taint
                    .as_deref()
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| format!(", tainted {}", t.trim()))
                    .unwrap_or_default();
                f = f.evidence(Evidence::text("kernel", format!("{k}{taint}"), None));
            }
            if let Some(g) = &r.guilty_frame {
                f = f.evidence(Evidence::text("guilty frame", g.clone(), None));
            }
            // The stack from the guilty frame down (the frames above it are the reporting machinery).
            let start = r
                .guilty_frame
                .as_ref()
                .and_then(|g| r.frames.iter().position(|fr| &fr.func == g))
                .unwrap_or(0);
            let frames: Vec<&memdx_log::Frame> =
                r.frames.iter().skip(start).filter(|fr| fr.reliable).take(8).collect();
            if frames.iter().any(|fr| fr.location.is_some()) {
                // Symbolized: one evidence line per frame, with file:line and inline chain.
                for (i, fr) in frames.iter().enumerate() {
                    let loc = fr.location.as_deref().map(|l| format!(" {l}")).unwrap_or_default();
                    f = f.evidence(Evidence::text(format!("frame #{i}"), format!("{}{loc}", fr.func), None));
                }
            } else if !frames.is_empty() {
                let stack: Vec<&str> = frames.iter().map(|fr| fr.func.as_str()).collect();
                f = f.evidence(Evidence::text("call trace", stack.join(" <- "), None));
            }
            if let Some(e) = &r.explanation {
                for fact in &e.facts {
                    f = f.evidence(Evidence::text(fact.label.clone(), fact.value.clone(), None));
                }
                for n in &e.next_steps {
                    f = f.next(n.clone());
                }
            }
            if !r.frames.is_empty() && r.frames.iter().all(|fr| fr.location.is_none()) {
                f = f.next(format!(
                    "memdx symbolize --vmlinux vmlinux {}  # file:line and inline chain for every frame",
                    r.source.file
                ));
            }
            let rank = match sev {
                Severity::Critical => 3.0,
                Severity::Warning => 2.0,
                Severity::Info => 1.0,
            };
            out.findings.push(f.explain(explanation).score(rank * 1e6 + count as f64));
        }
    }
    if !rows.is_empty() {
        out.tables.push(Table {
            id: "log.reports".into(),
            title: "Kernel reports (one row per signature)".into(),
            columns: ["report", "count", "when", "first at"].map(String::from).to_vec(),
            rows,
            notes: vec!["memdx log FILE prints each report in full: frames, registers, code".into()],
        });
    }
}
