//! Per-process resident sets from `<root>/proc/<pid>/status`, for the largest processes.

use memdx_core::SourceRef;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRss {
    pub pid: u32,
    pub name: String,
    pub rss_kb: u64,
}

impl ProcRss {
    /// `comm[pid]`: the series name `memdx record` stores.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.name, self.pid)
    }
}

/// The `n` processes with the largest VmRSS under `root/proc`, largest first. Processes that exit
/// while being read and kernel threads (no VmRSS) are left out; nothing here fails.
pub fn top_rss(root: &Path, n: usize) -> Vec<ProcRss> {
    let Ok(rd) = std::fs::read_dir(root.join("proc")) else { return Vec::new() };
    let mut v = Vec::new();
    for e in rd.filter_map(Result::ok) {
        let fname = e.file_name();
        let Some(pid) = fname.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let path = e.path().join("status");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let src = SourceRef::new(path.display().to_string());
        let Ok(p) = memdx_parse::proc_status::parse(&text, &src) else { continue };
        if let Some(rss) = p.value.vm_rss_kb.filter(|r| *r > 0) {
            v.push(ProcRss { pid: p.value.pid.unwrap_or(pid), name: p.value.name, rss_kb: rss });
        }
    }
    v.sort_by(|a, b| b.rss_kb.cmp(&a.rss_kb).then(a.pid.cmp(&b.pid)));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_captured_tree() {
        let root = std::env::temp_dir().join(format!("memdx-procs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (pid, name, rss) in
            [(1, "init", Some(100)), (812, "firewalld", Some(9000)), (7, "kworker/0:1", None)]
        {
            let d = root.join(format!("proc/{pid}"));
            std::fs::create_dir_all(&d).unwrap();
            let mut s = format!("Name:\t{name}\nPid:\t{pid}\n");
            if let Some(r) = rss {
                s.push_str(&format!("VmRSS:\t{r} kB\n"));
            }
            std::fs::write(d.join("status"), s).unwrap();
        }
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        let top = top_rss(&root, 5);
        assert_eq!(top.iter().map(ProcRss::label).collect::<Vec<_>>(), ["firewalld[812]", "init[1]"]);
        assert_eq!(top_rss(&root, 1).len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
