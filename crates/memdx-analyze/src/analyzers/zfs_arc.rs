//! Analyzer: the ZFS ARC. ZFS on Linux allocates its cache (the ARC) as ordinary kernel memory, so
//! `free` and meminfo count it as used, not as buff/cache, although it shrinks under pressure like a
//! cache (down to `c_min`). A machine with a large ARC looks short of memory when it is not.

use crate::case::Case;
use memdx_core::Report;
use memdx_core::{Evidence, Finding, Severity};

fn mib(b: f64) -> String {
    format!("{:.0} MiB ({:.1} GiB)", b / 1048576.0, b / 1073741824.0)
}

pub fn run(case: &Case, out: &mut Report) {
    let Some(a) = &case.arcstats else { return };
    let Some(size) = a.get("size") else { return };
    let src = |line: u32| Some(a.source.at(line as usize));
    let mut expl = format!(
        "The ARC holds {}. ZFS allocates it as kernel memory, so `free` counts it in `used` and not in \
         buff/cache, and MemAvailable does not include it, although it is a cache that shrinks under memory pressure.",
        mib(size.value)
    );
    let mut f_used = None;
    if let Some(fr) = case.frees.last() {
        // Used without page cache: the old layout prints it; the new one's `used` already excludes it.
        let used = fr.used_without_cache.unwrap_or(fr.mem_used) as f64;
        if used > 0.0 {
            let share = size.value * 100.0 / used;
            let rest = (used - size.value).max(0.0);
            expl.push_str(&format!(
                " Of the {} that `free` reports used{}, the ARC is {share:.0}%: processes and the rest of the kernel use \
                 about {}.",
                mib(used),
                if fr.used_without_cache.is_some() { " after buffers/cache" } else { "" },
                mib(rest)
            ));
            f_used = Some((fr, used, share));
        }
    }
    if let (Some(c_max), true) = (a.get("c_max"), true) {
        expl.push_str(&format!(" Its ceiling c_max is {} (zfs_arc_max).", mib(c_max.value)));
    }
    if let (Some(mu), Some(ml)) = (a.get("arc_meta_used"), a.get("arc_meta_limit")) {
        expl.push_str(&format!(
            " Metadata: arc_meta_used {} of arc_meta_limit {}.",
            mib(mu.value),
            mib(ml.value)
        ));
    }
    if a.derived {
        expl.push_str(
            " (Values read from a filtered excerpt of arcstats, scaled back as the command printed them.)",
        );
    }
    let big = f_used.is_some_and(|(_, _, share)| share >= 25.0);
    let mut f = Finding::new(
        "zfs.arc",
        if big { Severity::Warning } else { Severity::Info },
        format!("ZFS ARC holds {}, counted by free as used memory, not cache", mib(size.value)),
    )
    .explain(expl)
    .evidence(Evidence::float("ARC size", size.value / 1048576.0, Some("MiB"), src(size.line)));
    if let Some((fr, used, _)) = f_used {
        f = f.evidence(Evidence::float(
            "used (free)",
            used / 1048576.0,
            Some("MiB"),
            Some(fr.source.at(fr.line as usize)),
        ));
    }
    f = f
        .next("cat /proc/spl/kstat/zfs/arcstats (size, c_max, c_min) or arc_summary: what the ARC holds and may grow to")
        .next("to leave more memory to applications, cap the ARC: echo BYTES > /sys/module/zfs/parameters/zfs_arc_max (options zfs zfs_arc_max=BYTES to keep it)")
        .score(size.value);
    out.findings.push(f);
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn arc_in_used() {
        // superuser.com question 1137416, as posted.
        let t = "$ free -m\n             total       used       free     shared    buffers     cached\nMem:         32194      17948      14245          0        158        982\n-/+ buffers/cache:      16808      15386\nSwap:        49152          0      49152\n$ awk '/^size/ { print $1 \" \" $3 / 1048576 }' < /proc/spl/kstat/zfs/arcstats\nsize 8138.73\n$\n";
        let mut c = Case::new();
        c.ingest("free-and-arcstats.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "zfs.arc").expect("arc");
        // The answer's own figures: 8139 MB ARC, 16808 - 8139 = 8669 MB for the rest.
        assert!(f.title.contains("8139 MiB"), "{}", f.title);
        assert!(f.explanation.contains("8669 MiB"), "{}", f.explanation);
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(7));
    }
}
