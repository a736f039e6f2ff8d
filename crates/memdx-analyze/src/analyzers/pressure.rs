//! Analyzer: pressure stall information. Memory PSI `full` is the share of time in which every
//! non-idle task was stalled on memory at once (reclaim, refaults, swap-in): above a few percent the
//! machine is thrashing, whatever CPU and free memory say. A cgroup's own `<res>.pressure` files say
//! which workload the stalls belong to.

use crate::case::Case;
use memdx_core::Report;
use memdx_core::{Evidence, Finding, Severity};
use memdx_parse::psi::Psi;

/// `full avg10` (percent) at which memory stalls are a thrash, not a blip.
const FULL_THRASH: f64 = 10.0;
/// `some avg10` (percent) worth a warning.
const SOME_WARN: f64 = 20.0;
/// Pressure worth naming for a cgroup, any resource.
const CGROUP_NOTE: f64 = 20.0;

fn worst(p: &Psi) -> f64 {
    [p.some, p.full].iter().flatten().map(|l| l.avg10.max(l.avg60)).fold(0.0, f64::max)
}

fn describe(p: &Psi) -> String {
    let mut s = Vec::new();
    for (name, l) in [("some", p.some), ("full", p.full)] {
        if let Some(l) = l {
            s.push(format!("{name} avg10={:.2} avg60={:.2} avg300={:.2}", l.avg10, l.avg60, l.avg300));
        }
    }
    s.join(", ")
}

pub fn run(case: &Case, out: &mut Report) {
    // Cgroups with pressure, named in the machine's finding and in their own.
    let mut cgroups: Vec<&str> = Vec::new();
    for p in &case.psi {
        if let Some(c) = p.cgroup.as_deref() {
            if !cgroups.contains(&c) {
                cgroups.push(c);
            }
        }
    }
    let busy: Vec<(&str, Vec<&Psi>)> = cgroups
        .iter()
        .map(|c| (*c, case.psi.iter().filter(|p| p.cgroup.as_deref() == Some(*c)).collect::<Vec<_>>()))
        .filter(|(_, ps)| ps.iter().any(|p| worst(p) >= CGROUP_NOTE))
        .collect();
    let names = |ps: &[&Psi]| {
        ps.iter()
            .filter(|p| worst(p) >= CGROUP_NOTE)
            .map(|p| format!("{} {:.0}%", p.resource.as_deref().unwrap_or("?"), worst(p)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let machine_mem =
        case.psi.iter().rfind(|p| p.cgroup.is_none() && p.resource.as_deref() == Some("memory"));
    if let Some(p) = machine_mem {
        let full = p.full.map(|l| l.avg10.max(l.avg60)).unwrap_or(0.0);
        let some = p.some.map(|l| l.avg10.max(l.avg60)).unwrap_or(0.0);
        if full >= FULL_THRASH || some >= SOME_WARN {
            let thrash = full >= FULL_THRASH;
            let title = if thrash {
                format!("memory thrashing: all non-idle tasks stalled on memory {full:.1}% of the time (memory PSI full)")
            } else {
                format!(
                    "memory pressure: some tasks stalled on memory {some:.1}% of the time (memory PSI some)"
                )
            };
            let mut expl = format!(
                "/proc/pressure/memory: {}. Stalls on memory are reclaim, refaults of evicted page cache and swap-in; \
                 `full` means no task could run at all meanwhile. {}",
                describe(p),
                if thrash {
                    "This is a reclaim/thrash state: the working set does not fit, and CPU or I/O figures that look \
                     saturated are the symptom, not the cause."
                } else {
                    "Some work is waiting on memory; a rising full figure turns it into thrashing."
                }
            );
            for r in ["io", "cpu"] {
                if let Some(o) =
                    case.psi.iter().rfind(|x| x.cgroup.is_none() && x.resource.as_deref() == Some(r))
                {
                    expl.push_str(&format!(" {r} pressure: {}.", describe(o)));
                }
            }
            if !busy.is_empty() {
                let list: Vec<String> = busy.iter().map(|(c, ps)| format!("{c} ({})", names(ps))).collect();
                expl.push_str(&format!(" Cgroups under pressure: {}.", list.join("; ")));
            }
            let mut f = Finding::new(
                "pressure.memory",
                if thrash { Severity::Critical } else { Severity::Warning },
                title,
            )
            .explain(expl);
            for (name, l) in [("memory some avg10", p.some), ("memory full avg10", p.full)] {
                if let Some(l) = l {
                    f = f.evidence(Evidence::float(
                        name,
                        l.avg10,
                        Some("%"),
                        Some(p.source.at(l.line as usize)),
                    ));
                }
            }
            f = f
                .next("find the cgroup that stalls: cat /sys/fs/cgroup/*/memory.pressure (and below), memdx diagnose on the host")
                .next("contain it: MemoryHigh=/MemoryMax= on the slice or unit, or systemd-oomd ManagedOOMMemoryPressure=kill")
                .score(full.max(some));
            out.findings.push(f);
        }
    }
    for (c, ps) in &busy {
        let has_mem = ps.iter().any(|p| p.resource.as_deref() == Some("memory"));
        let mut f = Finding::new(
            "pressure.cgroup",
            Severity::Warning,
            format!("cgroup {c} under pressure: {}", names(ps)),
        )
        .explain(format!(
            "The pressure files of {c} show its own tasks stalling: {}.{} When the machine's memory pressure is high \
             too, this cgroup's workload is the one competing for memory: contain or stop its runaway jobs.",
            ps.iter()
                .map(|p| format!("{} {}", p.resource.as_deref().unwrap_or("?"), describe(p)))
                .collect::<Vec<_>>()
                .join("; "),
            if has_mem { "" } else { " Its memory.pressure is not in the inputs." }
        ));
        for p in ps {
            if let Some(l) = p.some.or(p.full) {
                f = f.evidence(Evidence::float(
                    format!("{} pressure avg10", p.resource.as_deref().unwrap_or("?")),
                    l.avg10,
                    Some("%"),
                    Some(p.source.at(l.line as usize)),
                ));
            }
        }
        f = f
            .next(format!("cat {c}/memory.pressure {c}/memory.current {c}/memory.max"))
            .score(ps.iter().map(|p| worst(p)).fold(0.0, f64::max));
        out.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn thrash_and_cgroup() {
        // systemd/systemd#25853, as posted (`head` of the PSI files).
        let sys = "==> /proc/pressure/io <==\nsome avg10=99.72 avg60=99.81 avg300=99.83 total=64093890614\nfull avg10=2.03 avg60=1.97 avg300=1.42 total=48637928811\n\n==> /proc/pressure/memory <==\nsome avg10=99.47 avg60=99.37 avg300=99.37 total=8917504840\nfull avg10=86.55 avg60=87.90 avg300=91.54 total=8171112563\n";
        let slice = "==> /sys/fs/cgroup/user.slice/user-12345.slice/io.pressure <==\nsome avg10=100.00 avg60=99.99 avg300=100.00 total=5207715255\nfull avg10=1.62 avg60=1.96 avg300=2.49 total=117575245\n";
        let mut c = Case::new();
        c.ingest("system.txt", sys, None);
        c.ingest("slice.txt", slice, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "pressure.memory").expect("memory");
        assert_eq!(f.severity, memdx_core::Severity::Critical);
        assert_eq!(f.evidence[1].source.as_ref().and_then(|s| s.line), Some(7));
        assert!(f.explanation.contains("user-12345.slice"));
        assert!(r.findings.iter().any(|f| f.id == "pressure.cgroup"));
    }
}
