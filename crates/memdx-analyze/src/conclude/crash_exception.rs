//! Rule `crash.null_member`: a crash session read as by hand (seed 003): the faulting instruction
//! dereferences a register that holds 0, the instruction before loaded that register from a struct
//! member, and the `struct` dump at that address shows the member NULL.

use super::{covered, funcs, Conclusion, Confidence, Facts};
use memdx_core::{Severity, SourceRef};
use memdx_log::Kind;

pub const NAME: &str = "crash.null_member";

/// Stack functions that tell what the kernel was doing, most specific first.
const DOING: &[(&str, &str)] = &[
    ("mem_cgroup_out_of_memory", "during a memory cgroup OOM"),
    ("out_of_memory", "during an OOM kill"),
    ("shrink_slab", "in memory reclaim (slab shrinkers)"),
    ("kswapd", "in kswapd (background reclaim)"),
    ("try_to_free_pages", "in direct reclaim"),
    ("rcu_process_callbacks", "in an RCU callback"),
    ("rcu_core", "in an RCU callback"),
];

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    for (i, log) in facts.case.logs.iter().enumerate() {
        let Some(crash) = &log.crash else { continue };
        let Some(e) = &crash.exception else { continue };
        let Some(nd) = &e.null_deref else { continue };
        let bt = log.reports.iter().find(|r| r.kind == Kind::CrashBt);
        let mut keys: Vec<String> = bt.iter().map(|b| format!("report:{}", b.signature)).collect();
        // The dmesg report of the same crash (same task), when given.
        let same: Vec<&memdx_log::Report> = facts
            .reports
            .iter()
            .filter(|r| r.log != i && r.is_crash() && bt.is_some_and(|b| b.pid.is_some() && r.r.pid == b.pid))
            .map(|r| r.r)
            .collect();
        keys.extend(same.iter().map(|r| format!("report:{}", r.signature)));
        if covered(out, &keys) {
            continue;
        }
        let func = e.pc.split('+').next().unwrap_or(&e.pc);
        let doing = bt
            .and_then(|b| DOING.iter().find(|(f, _)| funcs(b).any(|x| x == *f)))
            .map(|(_, d)| format!(" {d}"))
            .unwrap_or_default();
        let loc = e.instruction.as_ref().and_then(|d| d.location.as_deref()).map(short_path);
        let at = loc.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        let member = nd.member.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
        let cause = match (&nd.pointer, &nd.pointer_value) {
            (Some(p), v) => format!(
                "NULL pointer dereference in {func}{at}{doing}: `{}` was NULL{} when {func} read offset {:#x}{member} \
                 through it.",
                arrow(p),
                v.as_deref().map(|v| format!(" (the struct dump shows {v})")).unwrap_or_default(),
                nd.offset
            ),
            (None, _) => format!(
                "NULL pointer dereference in {func}{at}{doing}: %{} was 0 when the instruction read offset {:#x}{member} \
                 through it.",
                nd.register, nd.offset
            ),
        };
        let mut c = Conclusion::new(NAME, Severity::Critical, cause);
        let regv = e.register(&nd.register).unwrap_or(0);
        if let Some(d) = &e.instruction {
            c.link(
                format!(
                    "exception at {}: `{}`{} reads {:#x}(%{}) and %{} = {regv:#x}",
                    e.pc,
                    d.instruction,
                    loc.as_deref().map(|l| format!(" at {l}")).unwrap_or_default(),
                    nd.offset,
                    nd.register,
                    nd.register
                ),
                Some("crash.exception"),
                Some(d.source.clone()),
            );
        }
        if let Some(m) = &nd.member {
            let src = crash
                .structs
                .iter()
                .filter(|s| s.address.is_none())
                .flat_map(|s| s.members.iter().map(move |x| (s, x)))
                .find(|(s, x)| format!("{}.{}", s.name, x.name) == *m && x.offset == Some(nd.offset))
                .map(|(_, x)| x.source.clone());
            c.link(format!("offset {:#x} is {m} (struct layout)", nd.offset), Some("crash.struct"), src);
        }
        if let Some(l) = &nd.loaded_by {
            c.link(
                format!(
                    "%{} was loaded just before by `{}` ({}){}",
                    nd.register,
                    l.instruction,
                    l.symbol,
                    nd.pointer.as_deref().map(|p| format!(": that is {p}")).unwrap_or_default()
                ),
                Some("crash.exception"),
                Some(l.source.clone()),
            );
        }
        if let (Some(p), Some(v)) = (&nd.pointer, &nd.pointer_value) {
            let field = p.split_once('.').map(|(_, f)| f).unwrap_or(p);
            let src = crash
                .structs
                .iter()
                .filter(|s| s.address.is_some())
                .find_map(|s| s.member(field).filter(|_| p.starts_with(&format!("{}.", s.name))))
                .map(|m| m.source.clone());
            c.link(format!("the struct dump shows {p} = {v}"), Some("crash.struct"), src);
        }
        for n in
            e.notable.iter().filter(|n| Some(&n.label) != nd.pointer.as_ref() && !n.value.ends_with("(NULL)"))
        {
            let src = struct_member_source(crash, &n.label);
            c.link(
                format!("the same dump holds {} = {}: a sentinel, not a real value", n.label, n.value),
                Some("crash.struct"),
                src,
            );
        }
        if let Some(b) = bt {
            let stack: Vec<&str> = funcs(b).take(6).collect();
            c.link(
                format!("crash> bt: {}", stack.join(" <- ")),
                Some("log.crash_bt"),
                Some(b.source.clone()),
            );
        }
        let confirmed = nd.pointer_value.as_deref() == Some("0x0");
        c.confidence = if confirmed { Confidence::High } else { Confidence::Medium };
        c.confidence_why = if confirmed {
            "the register, the instruction that loaded it and the struct dump agree: the member is NULL in memory".into()
        } else if nd.pointer.is_some() {
            "the register and the loading instruction name the member, but no dump of the struct confirms its value".into()
        } else {
            "the register is 0 at the faulting load; which member held the NULL pointer is not in the session"
                .into()
        };
        if nd.loaded_by.is_none() {
            c.unknown(
                "where the NULL pointer was loaded from",
                format!("crash> dis -l {func} (the instructions before the fault), then struct <type> <address> -x"),
            );
        } else if nd.pointer.is_some() && nd.pointer_value.is_none() {
            c.unknown(
                "the member's value in memory",
                "crash> struct <type> <address> (the struct the register was loaded from)",
            );
        }
        if nd.member.is_none() {
            c.unknown(
                format!("which member is at offset {:#x}", nd.offset),
                "crash> struct <type> -ox (the type the register points to)",
            );
        }
        if let Some(l) = &loc {
            c.next_steps.push(format!(
                "read {l} and the fixes to {func} upstream since this kernel (git log -L on the function): the code \
                 assumes the member is set"
            ));
        }
        c.crash = true;
        c.covers = keys;
        c.score = 1e6;
        out.push(c);
    }
}

/// `/usr/src/debug/*/mm/oom_kill.c:393` -> `mm/oom_kill.c:393`.
fn short_path(p: &str) -> String {
    const TOP: &[&str] = &[
        "mm/",
        "fs/",
        "kernel/",
        "net/",
        "drivers/",
        "arch/",
        "include/",
        "block/",
        "lib/",
        "ipc/",
        "security/",
        "sound/",
        "virt/",
        "crypto/",
    ];
    for t in TOP {
        if let Some(i) = p.find(&format!("/{t}")) {
            return p[i + 1..].to_string();
        }
    }
    p.to_string()
}

/// `oom_control.chosen` -> `oom_control->chosen`.
fn arrow(p: &str) -> String {
    p.replacen('.', "->", 1)
}

fn struct_member_source(crash: &memdx_log::CrashCase, label: &str) -> Option<SourceRef> {
    let (s, m) = label.split_once('.')?;
    crash
        .structs
        .iter()
        .filter(|x| x.address.is_some() && x.name == s)
        .find_map(|x| x.member(m))
        .map(|m| m.source.clone())
}
