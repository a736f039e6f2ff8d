//! Live tests of `memdx memcg pins`: a memory cgroup reads a file, is removed (dying), and memdx finds
//! the pages pinning it at its live parent, the file, and the step that frees them; the counts are
//! checked against the kernel's own counters (the child's `memory.stat` before removal) and
//! util-linux `fincore` (mincore(2)), not against memdx. Each test skips with a printed reason
//! without root or a memory cgroup hierarchy, and removes everything it made.

mod common;

use common::memdx;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// A cgroup parent with one child, a file, removed on drop (child first, the file last).
struct Fixture {
    parent: PathBuf,
    child: PathBuf,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.child);
        let _ = std::fs::remove_dir(&self.parent);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stat(dir: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("memory.stat")).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')).map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {key} in {}/memory.stat", dir.display()))
}

/// Resident pages of a file according to util-linux fincore (mincore(2)).
fn fincore_pages(file: &Path) -> Option<u64> {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "-o", "RES"])
        .arg(file)
        .output()
        .ok()?;
    let bytes: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(bytes / 4096)
}

fn within(a: u64, b: u64, pct: u64) -> bool {
    a.abs_diff(b) * 100 <= b * pct
}

fn pins_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = memdx().args(["memcg", "pins", "--json"]).args(args).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn dying_memcgs(v: &serde_json::Value) -> u64 {
    v["dying_memcgs"].as_u64().expect("dying count")
}

/// The memory hierarchy of this machine: (mount, "v1" | "v2"), or why there is none.
fn hierarchy() -> Result<(PathBuf, &'static str), String> {
    let v1 = Path::new("/sys/fs/cgroup/memory");
    if v1.join("memory.usage_in_bytes").exists() {
        return Ok((v1.into(), "v1"));
    }
    let v2 = Path::new("/sys/fs/cgroup");
    if std::fs::read_to_string(v2.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
    {
        return Ok((v2.into(), "v2"));
    }
    Err("no memory cgroup hierarchy at /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2)".into())
}

#[test]
fn dying_memcg_is_found_with_its_file_and_freed_by_the_step_memdx_names() {
    if !is_root() {
        eprintln!("skipped: needs root (cgroups, /proc/kpagecgroup)");
        return;
    }
    if !Path::new("/proc/kpagecgroup").exists() {
        eprintln!("skipped: no /proc/kpagecgroup (CONFIG_MEMCG)");
        return;
    }
    let (mount, version) = match hierarchy() {
        Ok(h) => h,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let id = std::process::id();
    let fx = Fixture {
        parent: mount.join(format!("memdx-test-pins-{id}")),
        child: mount.join(format!("memdx-test-pins-{id}/job")),
        dir: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pins-{id}")),
    };
    std::fs::create_dir_all(&fx.dir).unwrap();
    std::fs::create_dir(&fx.parent).unwrap();
    if version == "v2" {
        std::fs::write(fx.parent.join("cgroup.subtree_control"), "+memory").unwrap();
    }
    std::fs::create_dir(&fx.child).unwrap();
    // 12 MiB on disk (not tmpfs: shmem is not dropped by fadvise), written outside the cgroup and
    // dropped from the cache, then read by a process inside the child so the child is charged.
    let file = fx.dir.join("data.bin");
    std::fs::write(&file, vec![0x5au8; 12 << 20]).unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg(r#"sync "$1" && dd if="$1" iflag=nocache count=0 status=none"#)
        .args(["sh", file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && exec cat "$2" > /dev/null"#)
        .args(["sh", fx.child.to_str().unwrap(), file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let key = if version == "v1" { "cache" } else { "file" };
    let charged = stat(&fx.child, key) / 4096;
    let cached = fincore_pages(&file);
    assert!(charged >= 3000, "the child was charged {charged} pages of its 3072-page file");
    std::fs::remove_dir(&fx.child).unwrap();
    let parent = format!("/memdx-test-pins-{id}");

    let (code, v) = pins_json(&["--files", fx.dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["hierarchy"], version);
    assert!(dying_memcgs(&v) >= 1, "{v}");
    let p = v["parents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == parent.as_str())
        .unwrap_or_else(|| panic!("{parent} not named as holding a dying memcg: {:#}", v["parents"]));
    let pinned = p["pinned_pages"].as_u64().unwrap();
    assert!(within(pinned, charged, 5), "memdx {pinned} pages, the child's memory.stat {charged}");
    if let Some(c) = cached {
        assert!(within(pinned, c, 5), "memdx {pinned} pages, fincore {c}");
    }
    let reported = p["reported_by_kpagecgroup"]["page cache"].as_u64().unwrap_or(0);
    assert!(within(reported, charged, 5), "kpagecgroup at the parent: {reported}, charged {charged}");
    if version == "v2" {
        assert_eq!(p["dying"], 1);
    }
    let f = &p["files"][0];
    assert_eq!(f["path"], file.to_str().unwrap());
    assert!(within(f["pages"].as_u64().unwrap(), charged, 5), "{f}");
    let step = p["next_steps"][0].as_str().unwrap();
    assert!(step.contains("iflag=nocache") && step.contains(file.to_str().unwrap()), "{step}");

    // The step memdx names frees the pages, and the memcg goes with them.
    let before = dying_memcgs(&v);
    let cmd = step.split("  #").next().unwrap();
    assert!(Command::new("sh").arg("-c").arg(cmd).status().unwrap().success(), "{cmd}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Other dying memcgs of the machine may remain: only this parent must be clear.
        let (_, v) = pins_json(&["--stat-only"]);
        let still = v["parents"].as_array().unwrap().iter().any(|p| p["path"] == parent.as_str());
        if !still && dying_memcgs(&v) < before {
            break;
        }
        assert!(Instant::now() < deadline, "still pinned or dying after the step: {v}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn without_root_the_message_says_so() {
    if !is_root() {
        // Already unprivileged: check directly.
        let out = memdx().args(["memcg", "pins"]).output().unwrap();
        if hierarchy().is_ok() {
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("root"));
        }
        return;
    }
    if hierarchy().is_err() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: no memory cgroup hierarchy or no setpriv (util-linux)");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("memdx-pins-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = tmp.join("memdx");
    std::fs::copy(env!("CARGO_BIN_EXE_memdx"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |extra: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(["memcg", "pins"])
            .args(extra)
            .env("NO_COLOR", "1")
            .current_dir(&tmp)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stat_only = run(&["--stat-only", "--json"]);
    std::fs::remove_dir_all(&tmp).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/kpagecgroup") && err.contains("root"), "{err}");
    // memory.stat alone works unprivileged.
    assert!(matches!(stat_only.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&stat_only.stderr));
    let v: serde_json::Value = serde_json::from_slice(&stat_only.stdout).unwrap();
    assert_eq!(v["pages_scanned"], serde_json::Value::Null);
}
