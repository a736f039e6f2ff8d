//! `memdx snapshot`: the live sources `diagnose` uses, written as a `.tar.zst` bundle that `diagnose`
//! reads back to the same findings.

use crate::live::{FILES, MEMCG_STAT, SLAB_DIR, SYSCTL_DIRS};
use std::io::Write;
use std::path::Path;

/// What a snapshot holds and what it could not read.
#[derive(Debug, Default)]
pub struct SnapshotSummary {
    pub files: usize,
    pub aliases: usize,
    pub unreadable: Vec<(String, String)>,
}

fn add_file<W: Write>(b: &mut tar::Builder<W>, rel: &str, data: &[u8], mtime: u64) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, rel, data)
}

/// Writes a snapshot of `root` (normally `/`) to `out` as tar + zstd. `now` is the capture time (unix
/// seconds) and `release` what `uname -r` says.
pub fn write(root: &Path, out: &Path, now: i64, release: &str) -> std::io::Result<SnapshotSummary> {
    // 0600 and never through a planted symlink: the bundle holds root-only data (slabinfo,
    // pagetypeinfo, the kernel log under dmesg_restrict).
    let file = crate::files::create_new(out)?;
    let enc = zstd::stream::write::Encoder::new(file, 3)?.auto_finish();
    let mut b = tar::Builder::new(enc);
    let mtime = now.max(0) as u64;
    let mut sum = SnapshotSummary::default();
    let header = format!("# time={now}\n# memdx snapshot {}\nrelease={release}\n", env!("CARGO_PKG_VERSION"));
    add_file(&mut b, "memdx-snapshot.txt", header.as_bytes(), mtime)?;
    add_file(&mut b, "uname-r.txt", format!("{release}\n").as_bytes(), mtime)?;
    let mut rels: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    rels.extend(MEMCG_STAT.iter().filter(|r| root.join(r).exists()).take(1).map(|s| s.to_string()));
    for dir in SYSCTL_DIRS {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            let mut names: Vec<String> =
                rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            rels.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
        }
    }
    for rel in rels {
        match std::fs::read(root.join(&rel)) {
            Ok(data) => {
                add_file(&mut b, &rel, &data, mtime)?;
                sum.files += 1;
            }
            Err(e) => {
                // Write-only sysctls (compact_memory, drop_caches) are expected to fail.
                if !rel.starts_with("proc/sys/vm/") {
                    sum.unreadable.push((format!("/{rel}"), e.to_string()));
                }
            }
        }
    }
    // The memcg walk: directories (live) cannot be counted again offline, and dying = counted - live.
    let cgroups = std::fs::read_to_string(root.join("proc/cgroups"))
        .ok()
        .and_then(|t| memdx_parse::cgroups::parse(&t, &memdx_core::SourceRef::new("/proc/cgroups")).ok())
        .map(|p| p.value);
    if let Some(m) = crate::memcg::scan(root, 10, cgroups.as_ref()) {
        add_file(&mut b, crate::memcg::BUNDLE_FILE, crate::memcg::to_text(&m).as_bytes(), mtime)?;
        sum.files += 1;
    }
    // The kernel log, as /dev/kmsg records (the log engine reads that framing).
    if root == Path::new("/") {
        match crate::live::read_kmsg(root) {
            Ok(bytes) => {
                add_file(&mut b, "dmesg.kmsg", &bytes, mtime)?;
                sum.files += 1;
            }
            Err(why) => sum.unreadable.push(("/dev/kmsg".into(), why)),
        }
    }
    if let Ok(rd) = std::fs::read_dir(root.join(SLAB_DIR)) {
        let mut links: Vec<(String, std::path::PathBuf)> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                std::fs::read_link(e.path()).ok().map(|t| (e.file_name().to_string_lossy().into_owned(), t))
            })
            .collect();
        links.sort();
        for (name, target) in links {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_mtime(mtime);
            b.append_link(&mut h, format!("{SLAB_DIR}/{name}"), &target)?;
            sum.aliases += 1;
        }
    }
    b.into_inner()?.flush()?;
    Ok(sum)
}
