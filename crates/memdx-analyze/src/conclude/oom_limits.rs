//! Rule `oom.against_limits`: OOM kills joined with the limits given beside them. A memcg OOM is the
//! cgroup reaching its own limit (how small it was, what was killed); a global OOM while a container
//! limit is set means the host ran out first, below the container's limit.

use super::{covered, funcs, task, when, Conclusion, Confidence, Facts, Rep};
use memdx_core::units::kib;
use memdx_core::{Severity, SourceRef};
use memdx_log::Kind;

pub const NAME: &str = "oom.against_limits";

/// A limit given beside the log (a cgroup tree, pasted `memory.limit_in_bytes` / `memory.max`).
struct Limit {
    path: String,
    limit_kb: u64,
    usage_kb: Option<u64>,
    source: SourceRef,
}

fn given_limits(facts: &Facts) -> Vec<Limit> {
    let mut v = Vec::new();
    // Control files pasted with the command that read them (`cat .../memory.limit_in_bytes`).
    let files = &facts.case.memcg_files;
    for f in files.iter().filter(|f| matches!(f.name.as_str(), "memory.limit_in_bytes" | "memory.max")) {
        let Some(lim) = f.bytes().filter(|&b| b > 0) else { continue };
        let usage = files
            .iter()
            .filter(|u| u.dir == f.dir)
            .find(|u| {
                matches!(
                    u.name.as_str(),
                    "memory.max_usage_in_bytes" | "memory.peak" | "memory.usage_in_bytes" | "memory.current"
                )
            })
            .and_then(|u| u.bytes());
        let path = f.dir.strip_prefix("/sys/fs/cgroup").unwrap_or(&f.dir);
        let path = path.strip_prefix("/memory").unwrap_or(path);
        v.push(Limit {
            path: if path.is_empty() { "/".into() } else { path.to_string() },
            limit_kb: lim / 1024,
            usage_kb: usage.map(|u| u / 1024),
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

/// The OOM was constrained to a memory cgroup: the kernel says so (`constraint=CONSTRAINT_MEMCG`,
/// `Memory cgroup out of memory`), or the stack went through the memcg charge path (kernels before
/// 4.19 print no constraint).
pub fn is_memcg(r: &memdx_log::Report) -> bool {
    r.explanation.as_ref().is_some_and(|e| e.class == "oom.memcg")
        || r.mem.as_ref().is_some_and(|m| m.oom_memcg.is_some())
        || funcs(r).any(|f| MEMCG_FRAMES.contains(&f))
}

const MEMCG_FRAMES: &[&str] =
    &["mem_cgroup_out_of_memory", "mem_cgroup_oom_synchronize", "mem_cgroup_oom", "try_charge_memcg"];

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
        }
    }
    if let Some(g) = given {
        let usage = g.usage_kb.map(|u| format!(" (usage {})", kib(u))).unwrap_or_default();
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
    c.confidence = if limit_kb.is_some() { Confidence::High } else { Confidence::Medium };
    c.confidence_why = if limit_kb.is_some() {
        "the kernel says the OOM was constrained to the cgroup and the limit is known".into()
    } else {
        "the kernel says the OOM was constrained to the cgroup (memcg charge path); its limit is not in the inputs".into()
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

fn global_oom(facts: &Facts, rep: &Rep, limits: &[Limit]) -> Option<Conclusion> {
    let r = rep.r;
    let host_kb = facts.case.meminfo.as_ref().and_then(|m| m.kb("MemTotal")).or_else(|| {
        let z = &r.mem.as_ref()?.zones;
        let s: u64 = z.iter().filter_map(|z| z.managed_kb).sum();
        (s > 0).then_some(s)
    });
    let above: Vec<&Limit> =
        limits.iter().filter(|l| host_kb.is_none_or(|h| l.limit_kb > 0 && l.limit_kb <= h * 4)).collect();
    let l = above.first()?;
    let killed = victim(r).map(|v| format!(" The kernel killed {v}.")).unwrap_or_default();
    let cause = format!(
        "The host ran out of memory (a global OOM, no cgroup limit reached) while {} was still below its limit of {}: \
         container limits do not protect against the host running out; the sum of what runs there exceeds RAM{}.{killed}",
        l.path,
        kib(l.limit_kb),
        host_kb.map(|h| format!(" ({})", kib(h))).unwrap_or_default()
    );
    let mut c = Conclusion::new(NAME, Severity::Critical, cause);
    c.link(format!("{}: {}", when(r), r.title), Some(&rep.finding_id()), Some(r.source.clone()));
    c.link(
        format!(
            "given limit of {}: {}{}",
            l.path,
            kib(l.limit_kb),
            l.usage_kb.map(|u| format!(", usage {}", kib(u))).unwrap_or_default()
        ),
        Some("memcg.limit"),
        Some(l.source.clone()),
    );
    c.confidence = Confidence::High;
    c.confidence_why = "the kernel says the OOM was global (not constrained to a cgroup) and the cgroup's limit was not reached".into();
    c.next_steps.push("lower the sum of container limits below RAM (or reserve memory for the host: kubelet --system-reserved / eviction thresholds)".into());
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
