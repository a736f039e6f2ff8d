//! Rule `oom.against_limits`: OOM kills joined with the limits given beside them. A memcg OOM is the
//! cgroup reaching its own limit (how small it was, what was killed); a global OOM while a container
//! limit is set means the host ran out first, below the container's limit.

use super::{covered, task, when, Conclusion, Confidence, Facts, Rep, RuledOut};
use memdx_core::units::kib;
use memdx_core::{Severity, SourceRef};
use memdx_log::{Kind, OomScope};

pub const NAME: &str = "oom.against_limits";

/// A limit given beside the log (a cgroup tree, pasted `memory.limit_in_bytes` / `memory.max`).
struct Limit {
    path: String,
    limit_kb: u64,
    usage_kb: Option<u64>,
    /// What `usage_kb` is: `peak usage` (`memory.max_usage_in_bytes`, `memory.peak`) or `usage`.
    usage_what: &'static str,
    source: SourceRef,
}

/// Usage files beside a pasted limit, the peak first, with how a link names them.
const USAGE_FILES: &[(&str, &str)] = &[
    ("memory.max_usage_in_bytes", "peak usage"),
    ("memory.peak", "peak usage"),
    ("memory.usage_in_bytes", "usage"),
    ("memory.current", "usage"),
];

fn given_limits(facts: &Facts) -> Vec<Limit> {
    let mut v = Vec::new();
    // Control files pasted with the command that read them (`cat .../memory.limit_in_bytes`).
    let files = &facts.case.memcg_files;
    for f in files.iter().filter(|f| matches!(f.name.as_str(), "memory.limit_in_bytes" | "memory.max")) {
        let Some(lim) = f.bytes().filter(|&b| b > 0) else { continue };
        // The peak tells whether the limit was reached; the current usage only where it is now.
        let usage = USAGE_FILES.iter().find_map(|(name, what)| {
            files
                .iter()
                .filter(|u| u.dir == f.dir && u.name == *name)
                .find_map(|u| u.bytes())
                .map(|b| (b, *what))
        });
        let path = f.dir.strip_prefix("/sys/fs/cgroup").unwrap_or(&f.dir);
        let path = path.strip_prefix("/memory").unwrap_or(path);
        v.push(Limit {
            path: if path.is_empty() { "/".into() } else { path.to_string() },
            limit_kb: lim / 1024,
            usage_kb: usage.map(|u| u.0 / 1024),
            usage_what: usage.map_or("usage", |u| u.1),
            source: f.source.at(f.line as usize),
        });
    }
    if let Some(m) = &facts.case.memcgs {
        for l in &m.limits {
            if let Some(lim) = l.limit.filter(|&x| x > 0 && x < (1u64 << 62)) {
                v.push(Limit {
                    path: l.path.clone(),
                    limit_kb: lim / 1024,
                    usage_kb: Some(l.usage / 1024),
                    usage_what: "usage",
                    source: m.source.clone(),
                });
            }
        }
    }
    v
}

/// The given limit of the OOM's cgroup: the same path, or one path a suffix of the other (a
/// container's view of its own cgroup is `/`-rooted differently from the host's).
fn matching<'l>(limits: &'l [Limit], memcg: Option<&str>) -> Option<&'l Limit> {
    let m = memcg?.trim_end_matches('/');
    if m.is_empty() {
        // The root cgroup has no limit of its own.
        return None;
    }
    limits.iter().find(|l| {
        let p = l.path.trim_end_matches('/');
        !p.is_empty() && (p == m || m.ends_with(p) || p.ends_with(m))
    })
}

fn victim(r: &memdx_log::Report) -> Option<String> {
    let m = r.mem.as_ref()?;
    let v = m.victim.as_deref()?;
    let mut s = v.to_string();
    if let Some(p) = m.victim_pid {
        s.push_str(&format!(" (pid {p}"));
        if let Some(a) = m.victim_anon_rss_kb {
            s.push_str(&format!(", anon-rss {}", kib(a)));
        }
        s.push(')');
    }
    Some(s)
}

/// The OOM was confined to a memory cgroup, as the log engine decided from the report's lines and
/// stack (`MemReport::oom_scope`, one rule for every kernel version).
pub fn is_memcg(r: &memdx_log::Report) -> bool {
    r.mem.as_ref().is_some_and(|m| m.oom_scope == Some(OomScope::Memcg))
}

fn memcg_oom(reps: &[&Rep], limits: &[Limit]) -> Option<Conclusion> {
    reps.first()?;
    let mems: Vec<&memdx_log::MemReport> = reps.iter().filter_map(|r| r.r.mem.as_ref()).collect();
    let memcg = mems.iter().find_map(|m| m.oom_memcg.as_deref());
    let given =
        matching(limits, memcg).or_else(|| (memcg.is_none() && limits.len() == 1).then(|| &limits[0]));
    let stated = mems.iter().find_map(|m| m.memcg_limit_kb);
    let limit_kb = stated.or(given.map(|g| g.limit_kb));
    let path = memcg.map(str::to_string).or(given.map(|g| g.path.clone()));
    let what =
        path.as_deref().map(|p| format!("memory cgroup {p}")).unwrap_or_else(|| "memory cgroup".into());
    let victims: Vec<String> = reps.iter().filter_map(|r| victim(r.r)).collect();
    let killed = match victims.len() {
        0 => String::new(),
        1 => format!(" The kernel killed {} inside it.", victims[0]),
        n => format!(" The kernel killed {n} tasks inside it: {}.", victims.join(", ")),
    };
    let times = if reps.len() > 1 { format!(" ({} OOM reports)", reps.len()) } else { String::new() };
    let cause = match limit_kb {
        Some(l) => format!(
            "The {what} reached its memory limit of {} ({l} kB){times}: a memcg OOM, not a host shortage.{killed}              The workload needs more than its limit, or grows inside it.",
            kib(l)
        ),
        None => format!("The {what} reached its memory limit{times}: a memcg OOM, not a host shortage.{killed}"),
    };
    let mut c = Conclusion::new(NAME, Severity::Warning, cause);
    for rep in reps {
        let r = rep.r;
        c.link(
            format!(
                "{}: {}{}{}",
                when(r),
                r.title,
                task(r).map(|t| format!(", {t} asked for memory")).unwrap_or_default(),
                victim(r).map(|v| format!(", killed {v}")).unwrap_or_default()
            ),
            Some(&rep.finding_id()),
            Some(r.source.clone()),
        );
        if let Some(m) = &r.mem {
            if let (Some(u), Some(l)) = (m.memcg_usage_kb, m.memcg_limit_kb) {
                let fail = m.memcg_failcnt.map(|f| format!(", failcnt {f}")).unwrap_or_default();
                c.link(
                    format!("the kernel's memcg line: usage {} of limit {}{fail}", kib(u), kib(l)),
                    Some(&rep.finding_id()),
                    Some(r.source.clone()),
                );
            }
            if let Some((anon, file)) = m.memcg_charged() {
                c.link(
                    format!(
                        "charged to the cgroup (the report's memcg stats): {} anonymous, {} page cache",
                        memdx_core::units::bytes(anon),
                        memdx_core::units::bytes(file)
                    ),
                    Some(&rep.finding_id()),
                    Some(r.source.clone()),
                );
            }
        }
    }
    if let Some(g) = given {
        let usage = g.usage_kb.map(|u| format!(" ({} {})", g.usage_what, kib(u))).unwrap_or_default();
        let agree = match stated {
            Some(l) if l.abs_diff(g.limit_kb) <= 4 => ": the limit the OOM report states".to_string(),
            Some(l) => format!(": the OOM report states {}, so the limit was changed in between", kib(l)),
            None => ": the limit the OOM hit".to_string(),
        };
        c.link(
            format!(
                "given limit of {}: {} ({} bytes){usage}{agree}",
                g.path,
                kib(g.limit_kb),
                g.limit_kb * 1024
            ),
            Some("memcg.limit"),
            Some(g.source.clone()),
        );
    }
    let by = mems.iter().find_map(|m| m.oom_scope_by.as_deref()).unwrap_or("its report");
    c.confidence = if limit_kb.is_some() { Confidence::High } else { Confidence::Medium };
    c.confidence_why = if limit_kb.is_some() {
        format!("the kernel's report says the OOM was confined to the cgroup ({by}) and the limit is known")
    } else {
        format!("the kernel's report says the OOM was confined to the cgroup ({by}); its limit is not in the inputs")
    };
    if limit_kb.is_none() {
        c.unknown(
            "the cgroup's limit",
            format!(
                "cat /sys/fs/cgroup/{}/memory.max (v2) or memory.limit_in_bytes (v1)",
                path.as_deref().unwrap_or("<cgroup>").trim_start_matches('/')
            ),
        );
    }
    if victims.is_empty() {
        c.unknown(
            "which task was killed and its size",
            "the `Killed process` line after the report: dmesg | grep -A2 'oom-kill'",
        );
    }
    c.next_steps.push(
        "raise the cgroup's limit (pod/container memory limit) if the workload needs it; otherwise find the growth: \
         memory.stat of the cgroup over time"
            .into(),
    );
    c.covers = reps.iter().map(|r| r.key()).collect();
    c.score = 1e4 + reps.len() as f64;
    Some(c)
}

/// A global OOM beside the limit of the victim's cgroup (`task_memcg=`, since 4.19; before it, the
/// one limit given when only one is) that the cgroup had not reached: the host ran out first.
fn global_oom(facts: &Facts, rep: &Rep, limits: &[Limit]) -> Option<Conclusion> {
    let r = rep.r;
    let m = r.mem.as_ref()?;
    let task_memcg = m.task_memcg.as_deref();
    let l = match task_memcg {
        Some(t) => matching(limits, Some(t))?,
        None if limits.len() == 1 => &limits[0],
        None => return None,
    };
    // A cgroup at its limit during a global OOM is not "below its limit": no join.
    if l.usage_kb.is_some_and(|u| u.saturating_add(4) >= l.limit_kb) {
        return None;
    }
    let (host_kb, host_what, host_src) =
        match facts.case.meminfo.as_ref().and_then(|mi| Some((mi.kb("MemTotal")?, mi))) {
            Some((t, mi)) => (Some(t), "MemTotal", Some(mi.source.clone())),
            None => {
                let s: u64 = m.zones.iter().filter_map(|z| z.managed_kb).sum();
                ((s > 0).then_some(s), "memory the zones in the report manage", Some(r.source.clone()))
            }
        };
    let whose =
        if task_memcg.is_some() { "the killed task's cgroup" } else { "the cgroup whose limit is given" };
    let killed = victim(r).map(|v| format!(" The kernel killed {v}.")).unwrap_or_default();
    let why = match host_kb {
        Some(h) if l.limit_kb > h => {
            format!(" The limit is above the host's memory ({}), so it can never be reached first.", kib(h))
        }
        _ => " What runs on the host together needed more than it has before this cgroup reached its limit."
            .into(),
    };
    let cause = format!(
        "The host ran out of memory (a global OOM) while {} ({whose}) was below its limit of {}: a container limit \
         does not protect against the host running out.{why}{killed}",
        l.path,
        kib(l.limit_kb),
    );
    let mut c = Conclusion::new(NAME, Severity::Critical, cause);
    c.link(
        format!("{}: {}{}", when(r), r.title, victim(r).map(|v| format!(", killed {v}")).unwrap_or_default()),
        Some(&rep.finding_id()),
        Some(r.source.clone()),
    );
    if let Some(by) = &m.oom_scope_by {
        let t = task_memcg.map(|t| format!(", task_memcg={t}")).unwrap_or_default();
        c.link(format!("the OOM was global: {by}{t}"), Some(&rep.finding_id()), Some(r.source.clone()));
    }
    c.link(
        format!(
            "given limit of {}: {} ({} bytes){}",
            l.path,
            kib(l.limit_kb),
            l.limit_kb.saturating_mul(1024),
            l.usage_kb.map(|u| format!(", {} {}", l.usage_what, kib(u))).unwrap_or_default()
        ),
        Some("memcg.limit"),
        Some(l.source.clone()),
    );
    if let Some(h) = host_kb {
        c.link(format!("host memory: {} ({host_what})", kib(h)), None, host_src);
    }
    if let Some(u) = l.usage_kb {
        c.ruled_out.push(RuledOut {
            what: format!("the limit of {}", l.path),
            because: format!("its {} {} stayed below the limit {}", l.usage_what, kib(u), kib(l.limit_kb)),
            source: Some(l.source.clone()),
        });
    } else {
        c.unknown(
            format!("how close {} came to its limit", l.path),
            format!(
                "cat /sys/fs/cgroup/{}/memory.peak (v2) or memory.max_usage_in_bytes (v1)",
                l.path.trim_start_matches('/')
            ),
        );
    }
    if task_memcg.is_none() {
        c.unknown(
            "which cgroup the killed task was in (kernels before 4.19 do not print it)",
            "cat /proc/<pid>/cgroup of the workload",
        );
    }
    c.confidence =
        if task_memcg.is_some() && l.usage_kb.is_some() { Confidence::High } else { Confidence::Medium };
    c.confidence_why = format!(
        "the kernel's report says the OOM was global{}{}",
        if task_memcg.is_some() {
            " and names the killed task's cgroup"
        } else {
            "; the cgroup is the only one whose limit is given"
        },
        if l.usage_kb.is_some() { ", whose usage stayed below its limit" } else { "" }
    );
    c.next_steps.push(
        "keep the sum of container limits below the host's memory (or reserve memory for the host: kubelet \
         --system-reserved, eviction thresholds); find what else grew: the task table of the OOM report"
            .into(),
    );
    c.covers = vec![rep.key()];
    c.score = 1e4;
    Some(c)
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let limits = given_limits(facts);
    let ooms: Vec<&Rep> =
        facts.reports.iter().filter(|r| r.r.kind == Kind::Oom && !covered(out, &[r.key()])).collect();
    // Memcg OOMs grouped by cgroup (reports that do not name it go with the others).
    let mut groups: Vec<(Option<&str>, Vec<&Rep>)> = Vec::new();
    for r in ooms.iter().copied().filter(|r| is_memcg(r.r)) {
        let cg = r.r.mem.as_ref().and_then(|m| m.oom_memcg.as_deref());
        match groups.iter_mut().find(|(g, _)| *g == cg || g.is_none() || cg.is_none()) {
            Some((g, v)) => {
                if g.is_none() {
                    *g = cg;
                }
                v.push(r);
            }
            None => groups.push((cg, vec![r])),
        }
    }
    for (_, reps) in &groups {
        out.extend(memcg_oom(reps, &limits));
    }
    for r in ooms.iter().filter(|r| !is_memcg(r.r) && r.class() == Some("oom.global")) {
        out.extend(global_oom(facts, r, &limits));
    }
}
