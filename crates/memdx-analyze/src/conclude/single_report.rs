//! Rule `report.single`: a critical kernel report that no other rule joined is its own conclusion:
//! its explanation names the cause site; a crash dump's `bt` of the same task is the same crash.

use super::{covered, funcs, reclaim_driven, task, when, Conclusion, Confidence, Facts};
use memdx_core::Severity;
use memdx_log::Kind;

pub const NAME: &str = "report.single";

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    for rep in &facts.reports {
        let critical = match rep.r.kind {
            Kind::Oops | Kind::KernelBug | Kind::Panic | Kind::Kasan | Kind::Kfence | Kind::SlubDebug => true,
            Kind::CrashBt => true,
            Kind::Oom => rep.class() == Some("oom.global") && !super::oom_limits::is_memcg(rep.r),
            _ => false,
        };
        if !critical {
            continue;
        }
        // A crash dump's bt and the dmesg report of one crash are one conclusion: the dmesg report
        // (it has the time and the header) leads.
        let (lead, bt) = if rep.r.kind == Kind::CrashBt {
            let twin = facts.reports.iter().find(|o| {
                o.r.kind != Kind::CrashBt
                    && o.is_crash()
                    && o.r.pid.is_some()
                    && o.r.pid == rep.r.pid
                    && o.r.comm == rep.r.comm
            });
            match twin {
                Some(t) => (t, Some(rep.r)),
                None => (rep, None),
            }
        } else {
            (rep, facts.crash_bt_of(rep.r))
        };
        let mut keys = vec![lead.key()];
        if let Some(b) = bt {
            keys.push(format!("report:{}", b.signature));
        }
        if covered(out, &keys) {
            continue;
        }
        let r = lead.r;
        let summary = r.explanation.as_ref().map(|e| e.summary.trim()).filter(|s| !s.is_empty());
        let first = summary.map(|s| s.split(". ").next().unwrap_or(s).trim_end_matches('.').to_string());
        let cause = match first {
            Some(s) => format!("{}: {s}.", r.title),
            None => format!("{} ({}).", r.title, r.header.trim()),
        };
        let mut c = Conclusion::new(NAME, Severity::Critical, cause);
        let stack: Vec<&str> = funcs(r).take(6).collect();
        c.link(
            format!(
                "{}: {}{}{}",
                when(r),
                r.title,
                task(r).map(|t| format!(" in {t}")).unwrap_or_default(),
                if stack.is_empty() { String::new() } else { format!(" ({})", stack.join(" <- ")) }
            ),
            Some(&lead.finding_id()),
            Some(r.source.clone()),
        );
        if let Some(e) = &r.explanation {
            for f in e.facts.iter().filter(|f| f.label != "crash case").take(4) {
                c.link(format!("{}: {}", f.label, f.value), Some(&lead.finding_id()), None);
            }
            c.next_steps.extend(e.next_steps.iter().cloned());
        }
        if let Some(b) = bt.filter(|b| b.signature != r.signature) {
            let loc: Vec<String> = b
                .frames
                .iter()
                .filter_map(|f| f.location.as_deref().map(|l| format!("{} {l}", f.func)))
                .take(2)
                .collect();
            let mut fact = "the crash dump's `bt` is the same crash (same task)".to_string();
            if !loc.is_empty() {
                fact.push_str(&format!(": {}", loc.join(", ")));
            }
            c.link(fact, Some("log.crash_bt"), Some(b.source.clone()));
        }
        let aux = !r.aux_stacks.is_empty();
        c.confidence = if aux { Confidence::High } else { Confidence::Medium };
        c.confidence_why = if aux {
            "the report carries the stacks of the object's allocation and free".into()
        } else {
            "one report: it names where the kernel failed, not what made the state wrong earlier".into()
        };
        if r.frames.iter().all(|f| f.location.is_none()) && !r.frames.is_empty() {
            c.unknown(
                "source lines of the frames",
                format!(
                    "memdx diagnose --vmlinux vmlinux {} (debug info of this exact kernel)",
                    r.source.file
                ),
            );
        }
        c.crash = !matches!(r.kind, Kind::Oom);
        c.reclaim_driven = reclaim_driven(r);
        c.covers = keys;
        c.score = 1e5 + r.count as f64;
        out.push(c);
    }
}
