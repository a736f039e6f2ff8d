//! Every rule on real input (testdata/: the seeds' kernel output, 6.18 captures), where it must
//! fire and where it must not. Expected values come from the inputs themselves and the seeds'
//! hand analysis, not from memdx.

use super::Conclusion;
use crate::case::Case;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A case from files under testdata/ (gzip unpacked): tracepoint text through the trace engine,
/// kernel logs through the log engine, the rest sniffed.
pub fn case(files: &[&str]) -> Case {
    let mut c = Case::new();
    for f in files {
        let p = root().join(f);
        let mut bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if f.ends_with(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .expect("gunzip");
            bytes = out;
        }
        let head = &bytes[..bytes.len().min(16384)];
        if memdx_trace::sniff(head) {
            c.add_trace(f, memdx_trace::parse(&bytes[..], f));
        } else if memdx_log::sniff(head) {
            c.add_log(f, memdx_log::scan(&bytes[..], f));
        } else {
            c.ingest(f, &String::from_utf8_lossy(&bytes), None);
        }
    }
    c.finish();
    c
}

fn conclusions(files: &[&str]) -> Vec<Conclusion> {
    let c = case(files);
    super::conclude(&c, &crate::analyze(&c).findings)
}

fn rules(v: &[Conclusion]) -> Vec<&str> {
    v.iter().map(|c| c.rule.as_str()).collect()
}

fn chain(c: &Conclusion) -> String {
    c.chain.iter().map(|l| l.fact.as_str()).collect::<Vec<_>>().join("\n")
}

const SEED4_DMESG: &str = "log/seed004_warning_oops.dmesg";
const SEED4_CRASH: &str = "log/seed004_crash_session.txt";
const SEED4_SYSCTL: &str = "analyze/seed-004/sysctl_vm.txt";

/// Seed 004: the WARNING in dentry_free (kswapd, dcache shrinker) and, 48 ms later, the NULL
/// dereference in kmem_cache_free from ext4_i_callback are one double free of an ext4 inode; the
/// crash dump's bt is the same crash. Memory at the crash from `kmem -i`: FREE 28799 pages = 112.5
/// MiB of 3967057 pages (0.7%), TOTAL SWAP 0, CACHED 1387497 pages = 5.3 GiB; COMMITTED 7399654 /
/// COMMIT LIMIT 1983528 = 373%, with vm.overcommit_memory = 0 in the seed's sysctl output.
#[test]
fn seed004_one_double_free() {
    let v = conclusions(&[SEED4_DMESG, SEED4_CRASH, SEED4_SYSCTL]);
    assert_eq!(rules(&v), vec![super::double_free::NAME], "one conclusion: {v:#?}");
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::High);
    for want in ["ext4 inode", "ext4_inode_cache", "freed twice", "48 ms later", "kswapd0", "dentry_free"] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    let ch = chain(c);
    for want in [
        "112.5 MiB of 15.1 GiB (0.7%)",
        "no swap",
        "page cache 5.3 GiB",
        "mm/slab.h:229",
        "fs/ext4/super.c:1113",
    ] {
        assert!(ch.contains(want), "{want}:\n{ch}");
    }
    assert_eq!(c.chain[0].source.as_ref().and_then(|s| s.line), Some(1));
    assert_eq!(c.chain[1].source.as_ref().and_then(|s| s.line), Some(38));
    assert_eq!(c.ruled_out.len(), 1);
    assert!(c.ruled_out[0].what.contains("373%"), "{:?}", c.ruled_out);
    assert!(c.ruled_out[0].because.contains("= 0 (heuristic)"), "{:?}", c.ruled_out);
    assert!(c.unknown.iter().all(|u| !u.what.contains("overcommit")), "policy is given");
}

/// Without the sysctl output the policy is unknown: the ratio is still ruled out under the default,
/// and the command that tells is listed.
#[test]
fn seed004_policy_unknown() {
    let v = conclusions(&[SEED4_DMESG, SEED4_CRASH]);
    let c = &v[0];
    assert!(c.ruled_out[0].because.contains("not given"), "{:?}", c.ruled_out);
    assert!(c.unknown.iter().any(|u| u.collect.contains("sysctl vm.overcommit_memory")), "{:?}", c.unknown);
}

/// Must not fire: the slab crash alone (the warning cut away) and the crash next to a WARNING of
/// another kernel on another path (module_put, the kernel documentation's sample) are not a
/// double free joined across reports; the crash is concluded on alone. A WARNING alone concludes
/// nothing.
#[test]
fn double_free_needs_the_same_path() {
    let v = conclusions(&["log/seed004_oops_truncated.dmesg"]);
    assert_eq!(rules(&v), vec![super::single_report::NAME]);
    let v = conclusions(&["log/seed004_oops_truncated.dmesg", "log/doc612_warning.txt"]);
    assert_eq!(rules(&v), vec![super::single_report::NAME]);
    assert!(conclusions(&["log/doc612_warning.txt"]).is_empty());
}

/// Seed 003: `mov 0x8a4(%rdi),%edx` at oom_evaluate_task+291 with RDI = 0; 0x8a4 is
/// task_struct.exit_signal; %rdi was loaded from 0x28(%rbp), oom_control.chosen, and the dump of the
/// oom_control at RBP shows chosen = 0x0, chosen_points = LONG_MIN; the stack is a memcg OOM.
#[test]
fn seed003_null_chosen() {
    let v = conclusions(&["log/seed003_crash_session.txt"]);
    assert_eq!(rules(&v), vec![super::crash_exception::NAME]);
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::High);
    for want in ["oom_control->chosen", "NULL", "oom_evaluate_task", "mm/oom_kill.c:393", "memory cgroup OOM"]
    {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    let ch = chain(c);
    assert!(ch.contains("task_struct.exit_signal") && ch.contains("LONG_MIN"), "{ch}");
    // No memory state in the session: named as unknown with the command.
    assert!(c.unknown.iter().any(|u| u.collect.contains("kmem -i")), "{:?}", c.unknown);
}

/// Must not fire: a bt without `dis` output (seed 003's bt alone) or an exception whose instruction
/// is not in the session (seed 004's arm64 session) names no member.
#[test]
fn null_member_needs_the_instruction() {
    assert_eq!(rules(&conclusions(&["log/seed003_crash_bt.txt"])), vec![super::single_report::NAME]);
    assert_eq!(rules(&conclusions(&[SEED4_CRASH])), vec![super::single_report::NAME]);
}

/// A memcg OOM on 6.18 (testdata/log/README.md: cgroup /memdx-logperf, memory.limit_in_bytes 64 MiB,
/// python3 allocating 200 MiB in it): the kernel's `memory: usage 65536kB, limit 65536kB, failcnt
/// 2315` and the kill of python3.
#[test]
fn memcg_oom_names_the_limit() {
    let v = conclusions(&["log/live618_memcg_oom64m.dmesg"]);
    assert_eq!(rules(&v), vec![super::oom_limits::NAME]);
    let c = &v[0];
    assert!(c.cause.contains("64.0 MiB (65536 kB)") && c.cause.contains("python3"), "{}", c.cause);
    assert!(chain(c).contains("failcnt 2315"));
    assert_eq!(c.confidence, super::Confidence::High);
}

/// Must not fire: a global OOM (Debian 6.1 in a VM) with no cgroup limit given is not joined with a
/// limit; it is concluded on as one report.
#[test]
fn global_oom_without_limits() {
    let v = conclusions(&["log/qemu61_global_oom.dmesg"]);
    assert!(!rules(&v).contains(&super::oom_limits::NAME), "{:?}", rules(&v));
}

/// Must not join: a limit pasted for another cgroup (ingress-nginx-4756's pod limit of 20 MiB, a
/// dev incident) is not the limit of the 6.18 OOM in /memdx-logperf; the conclusion keeps the
/// limit the kernel printed.
#[test]
fn oom_limit_of_another_cgroup_is_not_joined() {
    let files = ["log/live618_memcg_oom64m.dmesg", "analyze/conclude/ingress_cgroup.txt"];
    assert_eq!(case(&files).memcg_files.len(), 2, "the pasted limit is read");
    let v = conclusions(&files);
    let c = v.iter().find(|c| c.rule == super::oom_limits::NAME).expect("memcg OOM conclusion");
    assert!(c.cause.contains("64.0 MiB") && !chain(c).contains("20.0 MiB"), "{c:#?}");
}

/// The host ran out below the container limit (a throwaway VM on Debian's 6.1, testdata/log/README.md:
/// memhog grew in cgroup /box with memory.max 1 GiB on 256 MiB of RAM): the kernel's
/// `oom-kill:constraint=CONSTRAINT_NONE,...,global_oom,task_memcg=/box` and the pasted
/// `memory.max` 1073741824 and `memory.peak` 135258112 (129.0 MiB) of /box; the zones manage
/// 15360 + 195144 kB = 205.6 MiB.
#[test]
fn global_oom_below_the_container_limit() {
    let v =
        conclusions(&["log/qemu61_global_oom_container.dmesg", "log/qemu61_global_oom_container.cgroup.txt"]);
    let c = v.iter().find(|c| c.rule == super::oom_limits::NAME).expect("the join");
    assert_eq!(c.severity, memdx_core::Severity::Critical);
    assert_eq!(c.confidence, super::Confidence::High);
    for want in [
        "host ran out",
        "/box (the killed task's cgroup)",
        "1.0 GiB",
        "above the host's memory (205.6 MiB)",
        "memhog (pid 95",
    ] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    let ch = chain(c);
    assert!(ch.contains("constraint=CONSTRAINT_NONE, task_memcg=/box"), "{ch}");
    assert!(ch.contains("(1073741824 bytes), peak usage 129.0 MiB"), "{ch}");
    assert!(
        c.ruled_out.iter().any(|r| r.because.contains("peak usage 129.0 MiB stayed below the limit 1.0 GiB")),
        "{:?}",
        c.ruled_out
    );
    // One conclusion for the OOM: the single-report rule does not repeat it.
    assert_eq!(rules(&v), vec![super::oom_limits::NAME]);
}

/// Must not join: the 6.1 global OOM of a task in the root cgroup (`task_memcg=/`) beside a limit
/// pasted for another cgroup (ingress-nginx-4756's pod); the global OOM is concluded on alone.
/// Nor does a memcg OOM (6.18, /memdx-logperf) take the host-ran-out branch with /box's limit.
#[test]
fn global_oom_with_another_cgroups_limit_is_not_joined() {
    let v = conclusions(&["log/qemu61_global_oom.dmesg", "analyze/conclude/ingress_cgroup.txt"]);
    assert!(!rules(&v).contains(&super::oom_limits::NAME), "{v:#?}");
    assert!(rules(&v).contains(&super::single_report::NAME), "{v:#?}");
    let v = conclusions(&["log/live618_memcg_oom64m.dmesg", "log/qemu61_global_oom_container.cgroup.txt"]);
    let c = v.iter().find(|c| c.rule == super::oom_limits::NAME).expect("memcg OOM conclusion");
    assert!(c.cause.contains("/memdx-logperf") && !c.cause.contains("host ran out"), "{}", c.cause);
    assert!(!chain(c).contains("/box"), "{c:#?}");
}

/// A memcg OOM beside the pasted limit of its cgroup (ingress-nginx-4756, kernel 5.0: the syslog
/// holds only the `Memory cgroup stats for` lines of the pod; `memory.limit_in_bytes` 20971520,
/// `memory.max_usage_in_bytes` 21028864): which limit was hit and how small it was.
#[test]
fn memcg_oom_joins_the_pasted_limit() {
    let v = conclusions(&[
        "pasted/ingress-nginx-4756-20mi-pod-limit-memcg-oom/syslog.txt",
        "pasted/ingress-nginx-4756-20mi-pod-limit-memcg-oom/cgroup.txt",
    ]);
    assert_eq!(rules(&v), vec![super::oom_limits::NAME]);
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::High);
    let pod = "/kubepods/burstable/poddfc7f441-06db-11ea-842a-0227fba247b6";
    assert!(c.cause.contains(pod) && c.cause.contains("limit of 20.0 MiB (20480 kB)"), "{}", c.cause);
    let ch = chain(c);
    assert!(ch.contains("20.0 MiB (20971520 bytes) (peak usage 20.1 MiB): the limit the OOM hit"), "{ch}");
    assert!(ch.contains("912 KiB anonymous, 264 KiB page cache"), "{ch}");
}

/// 4.14 prints no constraint (golang-29251, GKE): both OOM reports are memcg OOMs, the second by
/// mem_cgroup_out_of_memory on its stack; the log engine's findings and the conclusion agree.
#[test]
fn memcg_oom_before_4_19_agrees_with_the_log_engine() {
    let c = case(&["pasted/golang-29251-godoc-pod-memcg-oom/dmesg.txt"]);
    let r = crate::analyze(&c);
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["log.oom.memcg", "log.oom.memcg"], "{ids:?}");
    assert_eq!(rules(&r.conclusions), vec![super::oom_limits::NAME]);
    assert!(r.conclusions[0].cause.contains("(2 OOM reports)"), "{}", r.conclusions[0].cause);
    assert!(r.conclusions[0].unknown.iter().any(|u| u.what == "the cgroup's limit"));
}

/// An OOM excerpt cut after its first lines (the 6.18 memcg OOM's lines 1-2): the scope is unknown,
/// a warning that says so, and no conclusion claims memcg or host.
#[test]
fn oom_of_unknown_scope_is_not_concluded_on() {
    let text: String = std::fs::read_to_string(root().join("log/live618_memcg_oom64m.dmesg"))
        .expect("read")
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    let mut c = Case::new();
    c.add_log("cut.dmesg", memdx_log::scan(text.as_bytes(), "cut.dmesg"));
    c.finish();
    let r = crate::analyze(&c);
    assert_eq!(r.findings[0].id, "log.oom.unknown");
    assert_eq!(r.findings[0].severity, memdx_core::Severity::Warning);
    assert!(r.conclusions.iter().all(|c| c.rule != super::oom_limits::NAME), "{:?}", r.conclusions);
}

/// Seed 001's conditions reproduced on Debian's 6.1 (before the 6.7 shrinker_info rework; see
/// testdata/log/README.md): booted with `cgroup.memory=nokmem`, SwapTotal 0, /proc/cgroups counts
/// 602 memory cgroups (kubepods and its 600 children plus the root), kubepods limited to 64 MiB;
/// the trace holds 368 memcg reclaim episodes, none scanning an anonymous page, and
/// /proc/pressure/memory shows all tasks stalled (`full avg10=61.19`).
const QEMU61_RECLAIM: [&str; 7] = [
    "log/qemu61_memcg_reclaim.trace.gz",
    "log/qemu61_memcg_reclaim.cgroups",
    "log/qemu61_memcg_reclaim.cmdline",
    "log/qemu61_memcg_reclaim.meminfo",
    "log/qemu61_memcg_reclaim.uname",
    "log/qemu61_memcg_reclaim.pressure",
    "log/qemu61_memcg_reclaim.vmstat",
];

#[test]
fn reclaim_storm_with_its_amplifiers() {
    let v = conclusions(&QEMU61_RECLAIM);
    assert_eq!(rules(&v), vec![super::reclaim_storm::NAME], "{v:#?}");
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::High, "{c:#?}");
    for want in [
        "there is no swap",
        "602 memory cgroups",
        "cgroup.memory=nokmem on kernel 6.1.0 (before 6.7)",
        "307bececcd12",
    ] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    assert_eq!(c.severity, memdx_core::Severity::Critical);
    let ch = chain(c);
    for want in [
        "(memory PSI full)",
        "20702 of 44999 pages scanned were reclaimed (46%), 18529 reclaimed pages were read back",
        "meminfo SwapTotal 0: no swap",
        "602 memory cgroups (/proc/cgroups)",
        "kernel command line: cgroup.memory=nokmem",
    ] {
        assert!(ch.contains(want), "{want}:\n{ch}");
    }
    assert!(c.unknown.is_empty(), "{:?}", c.unknown);
    // The memcg audit's finding of the same combination is part of this conclusion.
    assert!(c.covers.iter().any(|k| k == "memcg.shrinker_walk"), "{:?}", c.covers);
}

/// Must not fire: the same machine's files without the trace and the pressure file: the
/// combination is a risk (the memcg audit's finding), not a storm seen happening.
#[test]
fn reclaim_storm_needs_reclaim_seen_failing() {
    let c = case(&QEMU61_RECLAIM[1..5]);
    assert!(c.traces.is_empty() && c.psi.is_empty());
    let r = crate::analyze(&c);
    assert!(r.findings.iter().any(|f| f.id == "memcg.shrinker_walk"), "{:?}", r.findings);
    assert!(r.conclusions.is_empty(), "{:#?}", r.conclusions);
}

/// The 6.18 captures (testdata/trace/README.md) beside the 6.18 snapshot of the same VM type
/// (SwapTotal 0, memory num_cgroups 82, no cgroup.memory on the command line).
const SNAP618: [&str; 5] = [
    "diagnose/live618_snapshot/inputs/proc_meminfo.txt",
    "diagnose/live618_snapshot/inputs/proc_cgroups.txt",
    "diagnose/live618_snapshot/inputs/proc_cmdline.txt",
    "diagnose/live618_snapshot/inputs/uname.txt",
    "diagnose/live618_snapshot/inputs/proc_pressure_memory.txt",
];

/// A memcg storm on 6.18 (scan efficiency 6.1%): no swap is the amplifier shown; 82 memory cgroups
/// and a command line without nokmem are ruled out with their numbers.
#[test]
fn reclaim_storm_on_618_rules_out_what_is_absent() {
    let mut files = vec!["trace/thrash-6.18/trace.txt.gz"];
    files.extend(SNAP618);
    let v = conclusions(&files);
    let c = v.iter().find(|c| c.rule == super::reclaim_storm::NAME).expect("storm conclusion");
    assert_eq!(c.confidence, super::Confidence::Medium, "{c:#?}");
    assert!(c.cause.contains("there is no swap") && !c.cause.contains("nokmem"), "{}", c.cause);
    let out: Vec<String> = c.ruled_out.iter().map(|r| format!("{}: {}", r.what, r.because)).collect();
    assert!(out.iter().any(|r| r.contains("82 memory cgroups (/proc/cgroups)")), "{out:?}");
    assert!(out.iter().any(|r| r.contains("has no cgroup.memory=nokmem")), "{out:?}");
}

/// Seed 001's own ftrace excerpt (4.18.0-372): one memcg reclaim of 1043 ms for 33 pages at
/// priority 8. The storm is seen; swap, memcg count and command line are not given: each is named
/// with the command that collects it.
#[test]
fn reclaim_storm_from_one_slow_episode() {
    let v = conclusions(&["trace/seed001/el8_372_memcg_episode.txt"]);
    assert_eq!(rules(&v), vec![super::reclaim_storm::NAME], "{v:#?}");
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::Low);
    assert!(chain(c).contains("took 1043 ms and reclaimed 33 pages, down to priority 8"), "{}", chain(c));
    let collect: Vec<&str> = c.unknown.iter().map(|u| u.collect.as_str()).collect();
    for want in ["/proc/meminfo", "/proc/cgroups", "/proc/cmdline"] {
        assert!(collect.iter().any(|x| x.contains(want)), "{want}: {collect:?}");
    }
}

/// Must not fire: reclaim that keeps up on 6.18 (the healthy capture, and dd's writeback-throttled
/// file-only reclaim at 60% efficiency) beside the same snapshot, whose memory PSI is 0.
#[test]
fn reclaim_storm_not_on_reclaim_that_keeps_up() {
    for t in ["trace/healthy-6.18/trace.txt.gz", "trace/reclaim-6.18/default_swappiness60/trace.txt.gz"] {
        let mut files = vec![t];
        files.extend(SNAP618);
        let v = conclusions(&files);
        assert!(v.iter().all(|c| c.rule != super::reclaim_storm::NAME), "{t}: {v:#?}");
    }
}

/// Must not fire: the memory state joins crashes only. The 6.18 memcg OOM beside the 6.18 snapshot's
/// meminfo gets no memory-at-the-crash link; beside seed 004's slab crash, that meminfo (taken at
/// another time: MemFree 24430884 kB of 24684100 kB) is context, never "memory was short at the crash".
#[test]
fn memory_state_only_for_crashes_and_only_when_taken_then() {
    let meminfo = "diagnose/live618_snapshot/inputs/proc_meminfo.txt";
    let v = conclusions(&["log/live618_memcg_oom64m.dmesg", meminfo]);
    assert!(!v.is_empty());
    assert!(v.iter().all(|c| c.chain.iter().all(|l| l.finding.as_deref() != Some("memory.state"))), "{v:#?}");
    let v = conclusions(&["log/seed004_oops_truncated.dmesg", meminfo]);
    let link =
        v[0].chain.iter().find(|l| l.finding.as_deref() == Some("memory.state")).expect("memory state");
    assert!(link.fact.contains("capture time not known") && !link.fact.contains("short"), "{}", link.fact);
}

const C3C: &str = "pasted/c3c-469-heuristic-overcommit-4gib-mmap-enomem";
const COREOS: &str = "pasted/coreos-489-overlayfs-xattr-order4-enomem";

/// c3c#469 (5.18.8): `mmap(NULL, 4294967296, ...) = -1 ENOMEM` at startup; the reporter's machine
/// has about 3.5 GB of RAM, which the artifacts do not give. Since 5.2 the heuristic check refuses
/// one request larger than RAM + swap: said, with RAM and policy named as unknown.
#[test]
fn enomem_of_a_mapping_larger_than_ram() {
    let v = conclusions(&[&format!("{C3C}/strace.txt"), &format!("{C3C}/uname.txt")]);
    assert_eq!(rules(&v), vec![super::enomem::NAME], "{v:#?}");
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::Low);
    assert!(
        c.cause.contains("mmap() of 4.0 GiB") && c.cause.contains("larger than total RAM + swap"),
        "{}",
        c.cause
    );
    assert!(
        chain(c).contains(
            "kernel 5.18.8: the heuristic overcommit check refuses one request larger than total RAM + swap"
        ),
        "{}",
        chain(c)
    );
    let collect: Vec<&str> = c.unknown.iter().map(|u| u.collect.as_str()).collect();
    assert!(collect.iter().any(|x| x.contains("MemTotal|SwapTotal")), "{collect:?}");
    assert!(collect.iter().any(|x| x.contains("sysctl vm.overcommit_memory")), "{collect:?}");
}

/// Must not blame overcommit: the same 4 GiB mmap beside a machine with 24684100 kB of RAM and no
/// swap (the 6.18 snapshot) fits under RAM + swap: the heuristic check is ruled out with the number.
#[test]
fn enomem_of_a_mapping_that_fits_is_not_overcommit() {
    let v = conclusions(&[
        &format!("{C3C}/strace.txt"),
        &format!("{C3C}/uname.txt"),
        "diagnose/live618_snapshot/inputs/proc_meminfo.txt",
    ]);
    let c = v.iter().find(|c| c.rule == super::enomem::NAME).expect("enomem conclusion");
    assert!(!c.cause.contains("was refused by"), "{}", c.cause);
    assert!(
        c.ruled_out.iter().any(|r| r.because.contains("smaller than RAM + swap (23.5 GiB)")),
        "{:?}",
        c.ruled_out
    );
}

/// coreos#489: docker's `open ...: cannot allocate memory` beside the host's meminfo (MemAvailable
/// 372596 kB of MemTotal 505456 kB, 74%): not a shortage; the commit ratio is ruled out.
#[test]
fn enomem_with_memory_available_is_not_a_shortage() {
    let v = conclusions(&[&format!("{COREOS}/docker-error.txt"), &format!("{COREOS}/meminfo.txt")]);
    assert_eq!(rules(&v), vec![super::enomem::NAME], "{v:#?}");
    let c = &v[0];
    assert!(c.cause.contains("(74% of RAM) was available: not a shortage"), "{}", c.cause);
    assert!(c.cause.contains("physically contiguous"), "{}", c.cause);
    assert!(chain(c).contains("MemAvailable 363.9 MiB of MemTotal 493.6 MiB (74%)"), "{}", chain(c));
    assert!(
        c.ruled_out.iter().any(|r| r.what == "overcommit: Committed_AS is 220% of CommitLimit"),
        "{:?}",
        c.ruled_out
    );
    assert!(c.unknown.iter().any(|u| u.collect.contains("/proc/buddyinfo")), "{:?}", c.unknown);
}

/// Must not fire: the program's error alone (no memory state, not a sized mapping) has nothing to
/// join; the finding says what it can.
#[test]
fn enomem_alone_is_not_concluded_on() {
    let v = conclusions(&[&format!("{COREOS}/docker-error.txt")]);
    assert!(v.iter().all(|c| c.rule != super::enomem::NAME), "{v:#?}");
}

/// The 6.18 memcg OOM run (testdata/trace/README.md, `anon_oom_swappiness100`: python3 touching 400
/// MiB of anonymous memory in a v1 memcg limited to 100 MiB, no swap): the trace holds 39 memcg
/// reclaim episodes of python3 pid 11452 (303.094-303.099 s), none reclaiming 32 pages, and the log
/// holds the OOM that pid 11452 invoked at 303.068 s in /memdx-test (the same run: the log is the
/// run's `dmesg_oom_report.txt`), and the trace's `oom:mark_victim` of pid 11452. One conclusion: the storm is how the cgroup reached its OOM.
#[test]
fn reclaim_storm_joined_with_the_memcg_oom_it_ends_in() {
    let v = conclusions(&[
        "trace/reclaim-6.18/anon_oom_swappiness100/trace.txt.gz",
        "log/live618_memcg_oom.dmesg",
    ]);
    assert_eq!(rules(&v), vec![super::storm_oom::NAME], "{v:#?}");
    let c = &v[0];
    assert_eq!(c.confidence, super::Confidence::High);
    assert_eq!(c.severity, memdx_core::Severity::Critical);
    for want in
        ["python3 (pid 11452)", "/memdx-test", "39 of 39 episodes", "100.0 MiB (102400 kB)", "0 B page cache"]
    {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    let ch = chain(c);
    assert!(
        ch.contains("failcnt 117") && ch.contains("oom:mark_victim names the same victim (pid 11452)"),
        "{ch}"
    );
}

/// Must not join: the storm of `cat` on 6.18 (trace/thrash-6.18, 3217-3219 s) beside the memcg OOM
/// of another run (python3 pid 8300 at 2393.9 s), and the OOM run's trace (python3 pid 11452 at
/// 303 s) beside that other run's OOM (same name, another pid and time): two conclusions each.
#[test]
fn reclaim_storm_and_an_unrelated_memcg_oom_stay_apart() {
    for t in ["trace/thrash-6.18/trace.txt.gz", "trace/reclaim-6.18/anon_oom_swappiness100/trace.txt.gz"] {
        let v = conclusions(&[t, "log/live618_memcg_oom64m.dmesg"]);
        let r = rules(&v);
        assert!(!r.contains(&super::storm_oom::NAME), "{t}: {r:?}");
        assert!(
            r.contains(&super::oom_limits::NAME) && r.contains(&super::reclaim_storm::NAME),
            "{t}: {r:?}"
        );
    }
}

const RPI2293: &str = "pasted/raspberrypi-linux-2293-vc4-fence-kmalloc-128-kmemleak";

/// raspberrypi-linux#2293 (4.14, a dev incident): kmemleak's unreferenced 128-byte object allocated
/// by kodi.bin in vc4_submit_cl_ioctl (kmem_cache_alloc_trace: a kmalloc object) and the pasted
/// slabinfo row `kmalloc-128 84916 84924 384 21 2 ... 4044 4044` (4044 slabs x 2 pages x 4 KiB =
/// 31.6 MiB; object size 384 with slub_debug): the leak is what fills kmalloc-128.
#[test]
fn kmemleak_joined_with_its_cache() {
    let v = conclusions(&[&format!("{RPI2293}/kmemleak.txt"), &format!("{RPI2293}/slabinfo.txt")]);
    assert_eq!(rules(&v), vec![super::leak_cache::NAME], "{v:#?}");
    let c = &v[0];
    for want in [
        "128-byte object",
        "vc4_submit_cl_ioctl",
        "kodi.bin",
        "kmalloc-128",
        "84916 active objects",
        "31.6 MiB",
    ] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    assert!(chain(c).contains("object size 384 bytes: larger than the object"), "{}", chain(c));
    assert!(c.unknown.iter().any(|u| u.what.contains("keeps growing")), "{:?}", c.unknown);
}

/// Must not join: zfs-6159's unreferenced 128-byte object (a dev incident) beside the 6.18
/// snapshot's slabinfo, where kmalloc-128 holds 31 slabs (124 KiB, far from the largest caches);
/// nor the 2293 leak alone, with no slab table.
#[test]
fn kmemleak_not_joined_with_a_small_cache() {
    let v = conclusions(&[
        "pasted/zfs-6159-zvol-minor-ida-kmemleak/kmemleak.txt",
        "diagnose/live618_snapshot/inputs/proc_slabinfo.txt",
    ]);
    assert!(v.iter().all(|c| c.rule != super::leak_cache::NAME), "{v:#?}");
    let v = conclusions(&[&format!("{RPI2293}/kmemleak.txt")]);
    assert!(v.iter().all(|c| c.rule != super::leak_cache::NAME), "{v:#?}");
}

const ZFS4953: &str = "pasted/zfs-4953-buddyinfo-external-fragmentation";

/// zfs#4953 (a dev incident): two buddyinfo samples of a 12 GB box. In buddyinfo-after.txt the
/// Normal zone has `77836 36734 123 35 2 1 0 0 0 0 0` free blocks: 152140 pages (594.3 MiB) free,
/// none above order 5 (128 KiB); in buddyinfo-before.txt it has 1965 order-10 blocks and
/// 154 + 31 + 8 + 5 + 1965 = 2163 blocks of order 6 or above. DMA32 after: largest order 8;
/// before: 619 order-10 blocks.
#[test]
fn fragmentation_joined_across_buddyinfo_samples() {
    let v =
        conclusions(&[&format!("{ZFS4953}/buddyinfo-after.txt"), &format!("{ZFS4953}/buddyinfo-before.txt")]);
    assert_eq!(rules(&v), vec![super::frag_samples::NAME], "{v:#?}");
    let c = &v[0];
    for want in [
        "zone Normal has 594.3 MiB free",
        "the largest free block is order 5 (128 KiB)",
        "1965 free blocks of order 10 (4.0 MiB) and 2163 of order 6 or above",
        "External fragmentation",
    ] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    assert!(c.ruled_out.iter().any(|r| r.because.contains("594.3 MiB is still free")), "{:?}", c.ruled_out);
    // The order the files are given in does not matter.
    let w =
        conclusions(&[&format!("{ZFS4953}/buddyinfo-before.txt"), &format!("{ZFS4953}/buddyinfo-after.txt")]);
    assert_eq!(w[0].cause, c.cause);
}

/// Must not fire: one fragmented sample alone (the same after-sample; el7's fragmented Normal zone,
/// testdata/analyze/el7-3.10-pressure) has nothing to be compared with, and the unfragmented sample
/// alone has no finding to join.
#[test]
fn fragmentation_needs_two_samples() {
    for f in [
        format!("{ZFS4953}/buddyinfo-after.txt"),
        format!("{ZFS4953}/buddyinfo-before.txt"),
        "analyze/el7-3.10-pressure/proc_buddyinfo.txt".into(),
    ] {
        let v = conclusions(&[&f]);
        assert!(v.iter().all(|c| c.rule != super::frag_samples::NAME), "{f}: {v:#?}");
    }
}

const RPI153: &str = "pasted/raspberrypi-linux-153-smsc95xx-order3-atomic-rx";

/// raspberrypi-linux#153 (3.2.27, a dev incident): the same `page allocation failure: order:3,
/// mode:0x20` in __alloc_skb <- rx_submit <- usb_hcd_giveback_urb, once in swapper (syslog-1.txt)
/// and once in kswapd0 (syslog-2.txt); 0x20 is __GFP_HIGH alone, without __GFP_WAIT (0x10): an
/// atomic request. No free lists in either excerpt.
#[test]
fn high_order_failures_joined_across_logs() {
    let v = conclusions(&[&format!("{RPI153}/syslog-1.txt"), &format!("{RPI153}/syslog-2.txt")]);
    assert_eq!(rules(&v), vec![super::alloc_failure::NAME], "{v:#?}");
    let c = &v[0];
    for want in [
        "Order-3 allocations (32 KiB physically contiguous)",
        "__alloc_skb <- rx_submit <- usb_hcd_giveback_urb",
        "2 reports in 2 inputs, in swapper and kswapd0",
        "interrupt or softirq context",
        "mode 0x20 has no direct reclaim",
        "vm.min_free_kbytes",
    ] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    assert_eq!(c.confidence, super::Confidence::High);
    assert!(c.unknown.iter().any(|u| u.collect.contains("/proc/buddyinfo")), "{:?}", c.unknown);
}

/// The order-10 failure of Debian's 6.1 (testdata/log/README.md: sock_kmalloc of 4 MiB, GFP_KERNEL,
/// about 80 MiB free, all order-0) with its own Mem-Info: fragmentation, not a shortage.
#[test]
fn high_order_failure_with_its_free_lists() {
    let v = conclusions(&["log/qemu61_global_oom.dmesg"]);
    let c = v.iter().find(|c| c.rule == super::alloc_failure::NAME).expect("alloc conclusion");
    assert!(
        c.cause.contains("Order-10 allocations (4.0 MiB") && c.cause.contains("sock_kmalloc"),
        "{}",
        c.cause
    );
    assert!(c.cause.contains("fragmentation, not a shortage"), "{}", c.cause);
    assert!(c.cause.contains("allows reclaim and compaction"), "{}", c.cause);
}

/// Must not fire: one failure with neither a second copy nor free lists (syslog-1.txt alone).
#[test]
fn one_high_order_failure_alone_is_not_concluded_on() {
    let v = conclusions(&[&format!("{RPI153}/syslog-1.txt")]);
    assert!(v.iter().all(|c| c.rule != super::alloc_failure::NAME), "{v:#?}");
}

const CLICKHOUSE: &str = "pasted/clickhouse-backup-279-upload-concurrency-global-oom";

/// clickhouse-backup#279 (a dev incident): the global OOM kill of clickhouse-back (pid 3560879,
/// anon-rss 136014520 kB) in dmesg.txt and the client's own output ending `"status": 137}` in
/// upload-log.txt: the exit is that kill (the only OOM kill given; the line does not name the
/// program, so "probably").
#[test]
fn program_exit_137_joined_with_the_oom_kill() {
    let v = conclusions(&[&format!("{CLICKHOUSE}/dmesg.txt"), &format!("{CLICKHOUSE}/upload-log.txt")]);
    assert_eq!(v.len(), 1, "{v:#?}");
    let c = &v[0];
    assert!(
        c.cause.contains("exit by SIGKILL (status 137 = 128 + 9)") && c.cause.contains("upload-log.txt"),
        "{}",
        c.cause
    );
    let ch = chain(c);
    assert!(ch.contains("probably the OOM kill of clickhouse-back (pid 3560879)"), "{ch}");
}

/// Must not join: the same output beside two OOM kills (the two 6.18 memcg OOM logs: python3 pid
/// 11452 and python3 pid 8300) names neither victim; and alone, with no OOM kill, it concludes
/// nothing.
#[test]
fn program_exit_137_not_joined_when_the_victim_is_ambiguous() {
    let v = conclusions(&[
        "log/live618_memcg_oom.dmesg",
        "log/live618_memcg_oom64m.dmesg",
        &format!("{CLICKHOUSE}/upload-log.txt"),
    ]);
    assert!(!v.is_empty());
    assert!(v.iter().all(|c| !chain(c).contains("SIGKILL")), "{v:#?}");
    assert!(conclusions(&[&format!("{CLICKHOUSE}/upload-log.txt")]).is_empty());
}

const SUPERUSER: &str = "pasted/superuser-1137416-zfs-arc-counted-as-used/free-and-arcstats.txt";

/// superuser#1137416 (a dev incident): `free -m` used 16808 MiB after buffers/cache and arcstats
/// `size` 8138.73 MiB: the ARC is 48% of used; 16808 - 8139 = 8669 MiB for everything else.
#[test]
fn arc_counted_as_used_is_not_a_shortage() {
    let v = conclusions(&[SUPERUSER]);
    assert_eq!(rules(&v), vec![super::cache_as_used::NAME], "{v:#?}");
    let c = &v[0];
    for want in ["16808 MiB (16.4 GiB)", "8139 MiB (7.9 GiB) (48%) is the ZFS ARC", "about 8669 MiB"] {
        assert!(c.cause.contains(want), "{want}: {}", c.cause);
    }
    assert_eq!(c.confidence, super::Confidence::High);
}

/// Must not fire: the ARC's size without `free` (the same session's arcstats lines alone,
/// testdata/analyze/conclude/superuser_arcstats_size.txt): no used figure to weigh it against.
#[test]
fn arc_size_alone_is_not_concluded_on() {
    let c = case(&["analyze/conclude/superuser_arcstats_size.txt"]);
    assert!(c.arcstats.is_some(), "the ARC size is read");
    let v = conclusions(&["analyze/conclude/superuser_arcstats_size.txt"]);
    assert!(v.iter().all(|c| c.rule != super::cache_as_used::NAME), "{v:#?}");
}
