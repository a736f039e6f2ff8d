//! Analyzer: memory per NUMA node from `numastat -m`. A node nearly out of free memory while another
//! has plenty is a shortage the machine-wide figures hide: tasks bound to that node (cpuset.mems,
//! `numactl --membind`, a mempolicy, or `vm.zone_reclaim_mode`) reclaim, swap or OOM there while
//! `free` shows memory to spare.

use crate::case::Case;
use memdx_core::{Evidence, Finding, Report, Severity, Table};

/// A node with less free than this share of its memory is short...
const LOW_PCT: f64 = 5.0;
/// ...when another node has at least this share free.
const HIGH_PCT: f64 = 20.0;

pub fn run(case: &Case, out: &mut Report) {
    let Some(n) = &case.numastat else { return };
    let (Some(total), Some(free)) = (n.row("MemTotal"), n.row("MemFree")) else { return };
    let pct: Vec<f64> =
        total.iter().zip(free).map(|(t, f)| if *t > 0.0 { f * 100.0 / t } else { 0.0 }).collect();
    out.tables.push(Table {
        id: "numa.nodes".into(),
        title: "Memory per NUMA node (numastat -m)".into(),
        columns: ["node", "total MiB", "free MiB", "free %", "file MiB", "anon MiB", "slab MiB"]
            .map(String::from)
            .to_vec(),
        rows: n
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let v = |row: &str| {
                    n.row(row).and_then(|r| r.get(i)).map(|x| format!("{x:.0}")).unwrap_or_else(|| "?".into())
                };
                vec![
                    node.to_string(),
                    v("MemTotal"),
                    v("MemFree"),
                    format!("{:.1}", pct[i]),
                    v("FilePages"),
                    v("AnonPages"),
                    v("Slab"),
                ]
            })
            .collect(),
        notes: vec![],
    });
    let Some((lo, lo_pct)) = pct.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return;
    };
    let Some((hi, hi_pct)) = pct.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return;
    };
    if n.nodes.len() < 2 || lo_pct >= LOW_PCT || hi_pct < HIGH_PCT {
        return;
    }
    let (lo_n, hi_n) = (n.nodes[lo], n.nodes[hi]);
    let src = n.source.at(n.line("MemFree").unwrap_or(0) as usize);
    out.findings.push(
        Finding::new(
            "numa.imbalance",
            Severity::Warning,
            format!("NUMA node {lo_n} has {lo_pct:.1}% of its memory free while node {hi_n} has {hi_pct:.0}%"),
        )
        .explain(format!(
            "Node {lo_n} has {:.0} MiB free of {:.0} MiB and node {hi_n} {:.0} MiB of {:.0} MiB. Machine-wide figures \
             average the nodes: tasks whose memory must come from node {lo_n} (cpuset.mems, numactl --membind, an \
             mbind/set_mempolicy policy, or vm.zone_reclaim_mode=1 preferring local reclaim) reclaim, swap or are \
             OOM-killed there while the machine shows free memory.",
            free[lo], total[lo], free[hi], total[hi]
        ))
        .evidence(Evidence::float(format!("node {lo_n} free"), free[lo], Some("MiB"), Some(src.clone())))
        .evidence(Evidence::float(format!("node {hi_n} free"), free[hi], Some("MiB"), Some(src)))
        .next("numastat -p <pid> of the large processes: which node their memory is on")
        .next("cat /proc/sys/vm/zone_reclaim_mode; grep -r . /sys/fs/cgroup/*/cpuset.mems; numactl --show")
        .score(hi_pct - lo_pct),
    );
}

#[cfg(test)]
mod tests {
    use crate::Case;

    #[test]
    fn one_node_short() {
        // numastat(8)'s layout with node 0 nearly full.
        let t = "$ numastat -m\n\nPer-node system memory usage (in MBs):\n                          Node 0          Node 1           Total\n                 --------------- --------------- ---------------\nMemTotal                64437.50        64509.36       128946.86\nMemFree                   210.23        40123.11        40333.34\nFilePages                1000.00         2000.00         3000.00\n";
        let mut c = Case::new();
        c.ingest("numa.txt", t, None);
        let r = crate::analyze(&c);
        let f = r.findings.iter().find(|f| f.id == "numa.imbalance").expect("imbalance");
        assert_eq!(f.title, "NUMA node 0 has 0.3% of its memory free while node 1 has 62%");
        assert_eq!(f.evidence[0].source.as_ref().and_then(|s| s.line), Some(7));
        // The real one-node machine: a table, no finding.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/formats");
        let mut c = Case::new();
        c.ingest("n.txt", &std::fs::read_to_string(dir.join("numastat_m.txt")).unwrap(), None);
        let r = crate::analyze(&c);
        assert!(r.tables.iter().any(|t| t.id == "numa.nodes"));
        assert!(!r.findings.iter().any(|f| f.id == "numa.imbalance"));
    }
}
