//! Live tests of `memdx memcg pins`: a memory cgroup reads a file, is removed (dying), and memdx finds
//! the pages pinning it at its live parent, the file, and the step that frees them; the counts are
//! checked against the kernel's own counters (the child's `memory.stat` before removal) and
//! util-linux `fincore` (mincore(2)), not against memdx. Each test skips with a printed reason
//! without root or a memory cgroup hierarchy, and removes everything it made.
//!
//! The file's pages are held with `vmtouch -l` (mlock) while memdx measures: on a loaded machine
//! kswapd, and here DAMON's pageout of cold page cache, reclaimed some of the once-read pages between
//! the kernel's count and memdx's (a 12 MiB file lost pages within 10 s on the shared 6.18 machine),
//! which made every later comparison, and the "still dying before the step" check, fail at random.
//! Locked pages cannot be reclaimed; the lock goes before the freeing step memdx names.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// memdx keeping its state (the names of the cgroups it sees) in this test process's own directory,
/// removed with the fixture.
fn memdx() -> Command {
    let mut c = common::memdx();
    c.env("MEMDX_STATE_DIR", state_dir());
    c
}

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pins-state-{}", std::process::id()))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// A cgroup parent with two children (`job`, removed by the test, and `keeper`, where the page
/// locker lives on), a file, removed on drop (the locker first, the children, the file last).
struct Fixture {
    parent: PathBuf,
    child: PathBuf,
    keeper: PathBuf,
    dir: PathBuf,
    locker: Option<common::Guard>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.locker.take());
        let _ = std::fs::remove_dir(&self.child);
        let _ = std::fs::remove_dir(&self.keeper);
        let _ = std::fs::remove_dir(&self.parent);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(state_dir());
    }
}

/// A private tracefs instance (removed on drop) watching the percpu allocator: the percpu counters a
/// memcg allocates when it is created are freed only when the memcg itself is freed
/// (`__mem_cgroup_free`), so their `percpu_free_percpu` events tell that this one memcg is gone, which
/// the machine-wide dying count cannot while other cgroups come and go.
/// Where tracefs is not mounted, memdx-source mounts it privately for the test (unmounted on drop,
/// after the instance is removed).
struct PercpuWatch {
    dir: PathBuf,
    _tracefs: memdx_source::tracefs::Tracefs,
}

impl PercpuWatch {
    fn new(name: &str) -> Option<PercpuWatch> {
        let tracefs = memdx_source::tracefs::Tracefs::open(Path::new("/"), false)
            .map_err(|e| eprintln!("tracefs: {e}"))
            .ok()?;
        let dir = tracefs.dir().join("instances").join(name);
        std::fs::create_dir(&dir).ok()?;
        let w = PercpuWatch { dir, _tracefs: tracefs };
        w.dir.join("events/percpu/percpu_alloc_percpu").exists().then_some(w)
    }
    fn set(&self, event: &str, file: &str, v: &str) {
        std::fs::write(self.dir.join("events/percpu").join(event).join(file), v).unwrap();
    }
    fn trace(&self) -> String {
        std::fs::read_to_string(self.dir.join("trace")).unwrap()
    }
}

impl Drop for PercpuWatch {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("events/enable"), "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// This thread's id, as tracefs `common_pid` has it.
fn tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
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

/// Pages `memdx history --json` shows pinning dying memcgs at `parent` (its `history.memcg_pinned`
/// row, at the latest sample).
pub fn history_pinned_pages(db: &Path, parent: &str) -> u64 {
    let out = memdx().args(["history", "--json", "--db"]).arg(db).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("history --json ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    common::history_pinned_pages(&v, parent)
}

fn dying_memcgs(v: &serde_json::Value) -> u64 {
    v["dying_memcgs"].as_u64().expect("dying count")
}

/// The memory hierarchy of this machine: (mount, "v1" | "v2"), or why there is none.
fn hierarchy() -> Result<(PathBuf, &'static str), String> {
    let v1 = Path::new("/sys/fs/cgroup/memory");
    if v1.join("memory.usage_in_bytes").exists() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| why_not_v2(v1));
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

/// Says why this live test cannot run on cgroup v2 on a machine whose memory controller is bound to
/// a v1 hierarchy (`memcg_v2_vm.rs` runs it in a VM). Printed, not a skip.
fn why_not_v2(v1: &Path) {
    let children: Vec<String> = std::fs::read_dir(v1)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    println!(
        "note: cgroup v2 is not tested live here: the memory controller is bound to the v1 hierarchy at {} \
         (child cgroups: {}). A controller moves to cgroup v2 only once its v1 hierarchy has no child cgroups \
         and is unmounted, which would take memory accounting away from the machine's own cgroups (here PID 1 \
         makes one per command). cgroup v2 is tested live in a VM instead: tests/memcg_v2_vm.rs.",
        v1.display(),
        if children.is_empty() { "none".into() } else { children.join(", ") }
    );
}

#[test]
fn dying_memcg_is_found_with_its_file_and_freed_by_the_step_memdx_names() {
    if !is_root() {
        common::skip("needs root (cgroups, /proc/kpagecgroup)");
        return;
    }
    if !Path::new("/proc/kpagecgroup").exists() {
        common::skip("no /proc/kpagecgroup (CONFIG_MEMCG)");
        return;
    }
    let (mount, version) = match hierarchy() {
        Ok(h) => h,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    if Command::new("vmtouch").arg("-h").output().is_err() {
        common::skip("vmtouch is not installed (it holds the test's pages against reclaim)");
        return;
    }
    let id = std::process::id();
    let mut fx = Fixture {
        parent: mount.join(format!("memdx-test-pins-{id}")),
        child: mount.join(format!("memdx-test-pins-{id}/job")),
        keeper: mount.join(format!("memdx-test-pins-{id}/keeper")),
        dir: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pins-{id}")),
        locker: None,
    };
    std::fs::create_dir_all(&fx.dir).unwrap();
    std::fs::create_dir(&fx.parent).unwrap();
    if version == "v2" {
        std::fs::write(fx.parent.join("cgroup.subtree_control"), "+memory").unwrap();
    }
    // The memcg's own percpu counters, allocated by this thread's mkdir (pointers as tracefs prints them).
    // Not named memdx-*: memdx's sweep of dead owners' instances (run by `diagnose` below) would take
    // the test process, which is not memdx, for a dead owner.
    let watch = PercpuWatch::new(&format!("pins-test-{id}"));
    if let Some(w) = &watch {
        w.set("percpu_alloc_percpu", "filter", &format!("common_pid == {}", tid()));
        w.set("percpu_alloc_percpu", "enable", "1");
    }
    std::fs::create_dir(&fx.child).unwrap();
    let memcg_ptrs: Vec<String> = watch
        .as_ref()
        .map(|w| {
            w.set("percpu_alloc_percpu", "enable", "0");
            w.set("percpu_free_percpu", "enable", "1");
            w.trace()
                .lines()
                .filter(|l| l.contains("call_site=mem_cgroup_css_alloc"))
                .filter_map(|l| l.split("ptr=").nth(1)?.split_whitespace().next().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if watch.is_some() {
        assert!(!memcg_ptrs.is_empty(), "no percpu allocation by mem_cgroup_css_alloc seen");
    } else {
        eprintln!("no tracefs instance: the memcg's end is checked with the machine-wide dying count");
    }
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
    // vmtouch reads and mlocks the file from inside the child (so the child is charged), then moves
    // to `keeper`: charges stay where they were made (v1 moves none by default, v2 never), and the
    // locked pages cannot be reclaimed while memdx measures them.
    std::fs::create_dir(&fx.keeper).unwrap();
    let locker = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && exec vmtouch -q -l "$2""#)
        .args(["sh", fx.child.to_str().unwrap(), file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let locker_pid = locker.id();
    fx.locker = Some(common::Guard(locker));
    let deadline = Instant::now() + Duration::from_secs(60);
    while stat(&fx.child, "unevictable") < 12 << 20 {
        assert!(Instant::now() < deadline, "vmtouch did not lock the file in the child");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(fx.keeper.join("cgroup.procs"), locker_pid.to_string()).unwrap();
    let key = if version == "v1" { "cache" } else { "file" };
    let charged = stat(&fx.child, key) / 4096;
    let cached = fincore_pages(&file);
    assert!(charged >= 3000, "the child was charged {charged} pages of its 3072-page file");
    // A live memdx run sees the child alive (and remembers it) before it is removed.
    let seen_before = common::unix_now();
    let (_, before) = pins_json(&["--stat-only"]);
    assert!(before["walk_truncated"] == false, "{before}");
    let child_path = format!("/memdx-test-pins-{id}/job");
    std::fs::remove_dir(&fx.child).unwrap();
    // The parent's memory.stat after the removal: its subtree's page cache less its own and the live
    // child's is what the dying child holds (v2 has no own counters: a parent has no processes).
    let residual = if version == "v1" {
        stat(&fx.parent, "total_cache")
            .saturating_sub(stat(&fx.parent, "cache"))
            .saturating_sub(stat(&fx.keeper, "total_cache"))
    } else {
        stat(&fx.parent, "file").saturating_sub(stat(&fx.keeper, "file"))
    } / 4096;
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
    assert!(within(pinned, residual, 5), "memdx {pinned} pages, the parent's memory.stat {residual}");
    if let Some(c) = cached {
        assert!(within(pinned, c, 5), "memdx {pinned} pages, fincore {c}");
    }
    let reported = p["reported_by_kpagecgroup"]["page cache"].as_u64().unwrap_or(0);
    assert!(within(reported, charged, 5), "kpagecgroup at the parent: {reported}, charged {charged}");
    if version == "v2" {
        assert_eq!(p["dying"], 1);
    }
    // memdx names the removed cgroup itself, as it last saw it alive.
    let named = &p["removed_cgroups"];
    assert_eq!(named.as_array().map(Vec::len), Some(1), "{p:#}");
    assert_eq!(named[0]["path"], child_path.as_str(), "{p:#}");
    let last_seen = named[0]["last_seen"].as_i64().unwrap();
    assert!(last_seen >= seen_before && last_seen <= common::unix_now(), "{named}");
    let f = &p["files"][0];
    assert_eq!(f["path"], file.to_str().unwrap());
    assert!(within(f["pages"].as_u64().unwrap(), charged, 5), "{f}");
    println!("memdx names the removed cgroup: {}", named[0]);
    println!(
        "cgroup {version}: memdx {pinned} pinned pages at {parent}, the child's memory.stat {charged}, the \
         parent's {residual}, fincore {}, \
         kpagecgroup {reported}; file {} pages",
        cached.map_or("not run".into(), |c| c.to_string()),
        f["pages"]
    );
    // The report says what the kernel does not let it attribute.
    let notes = v["notes"].to_string();
    assert!(notes.contains("closest live ancestor") && notes.contains("Cannot be attributed"), "{notes}");
    let step = p["next_steps"][0].as_str().unwrap();
    assert!(step.contains("iflag=nocache") && step.contains(file.to_str().unwrap()), "{step}");

    // The same numbers in live diagnose, the exporter and the recorder.
    let out = memdx().args(["diagnose", "--json"]).output().unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let table =
        d["tables"].as_array().unwrap().iter().find(|t| t["id"] == "memcg.pins").expect("memcg.pins table");
    let row = table["rows"].as_array().unwrap().iter().find(|r| r[0] == parent.as_str()).expect("parent row");
    assert!(row[4].as_str().unwrap().contains("memory."), "{row}");
    let dying_cell = row[1].as_str().unwrap();
    assert!(dying_cell.contains(&format!("{child_path} (removed; last seen at ")), "{row}");
    let out = memdx().args(["memcg", "pins", "--stat-only"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("  dying: {child_path} (removed; last seen at ")), "{text}");
    let (_server, addr) = common::serve(&[]);
    let (code, body) = common::http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    let key = format!("memdx_memcg_dying_pinned_bytes{{parent=\"{parent}\",kind=\"page_cache\"}} ");
    let exported: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in the exposition"))
        .parse()
        .unwrap();
    assert!(within(exported / 4096, charged, 5), "exported {exported} bytes, charged {charged} pages");
    common::promtool_check_metrics(&body);
    drop(_server);
    let db = fx.dir.join("history.db");
    let out = memdx().args(["record", "--once", "--db"]).arg(&db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = memdx_store::Store::open_read_only(&db).unwrap();
    let names = store.names(memdx_store::sample::kind::MEMCG_PINNED).unwrap();
    assert!(names.contains(&parent), "recorded parents: {names:?}");
    drop(store);
    let history = history_pinned_pages(&db, &parent);
    assert!(within(history, charged, 5), "memdx history {history} pages, charged {charged}");
    println!("exporter {} pages, memdx history {history} pages", exported / 4096);

    // The step memdx names frees the pages, and the memcg goes with them.
    let freed = |t: &str, p: &String| {
        t.lines().any(|l| l.contains("percpu_free_percpu") && l.ends_with(&format!("ptr={p}")))
    };
    if let Some(w) = &watch {
        let t = w.trace();
        assert!(
            !memcg_ptrs.iter().all(|p| freed(&t, p)),
            "the removed memcg was freed before the step: not dying"
        );
    }
    let before = dying_memcgs(&v);
    // The lock goes (munlock at exit): the pages are only pinned by their dying memcg again.
    drop(fx.locker.take());
    // memdx's steps in order (the commands; the rest is advice), until the memcg is gone.
    let cmds: Vec<&str> = p["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str()?.split_once("  #").map(|(c, _)| c))
        .collect();
    let mut needed = 0;
    for cmd in &cmds {
        needed += 1;
        assert!(Command::new("sh").arg("-c").arg(cmd).status().unwrap().success(), "{cmd}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let (clear, gone, v) = loop {
            // Other dying memcgs of the machine may remain: only this parent must be clear.
            let (_, v) = pins_json(&["--stat-only"]);
            let clear = !v["parents"].as_array().unwrap().iter().any(|p| p["path"] == parent.as_str());
            let gone = match &watch {
                Some(w) => {
                    let t = w.trace();
                    memcg_ptrs.iter().all(|p| freed(&t, p))
                }
                None => dying_memcgs(&v) < before,
            };
            if clear && gone || Instant::now() > deadline {
                break (clear, gone, v);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        if clear && gone {
            break;
        }
        assert!(
            needed < cmds.len(),
            "after memdx's {needed} steps {cmds:?}: parent clear {clear}, memcg freed {gone}: {v}"
        );
    }
    println!("the memcg was freed after {needed} of memdx's steps: {:?}", &cmds[..needed]);
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
    if hierarchy().is_err() {
        common::skip("no memory cgroup hierarchy");
        return;
    }
    let (Some(out), Some(stat_only)) = (
        common::memdx_as_nobody(&["memcg", "pins"]),
        common::memdx_as_nobody(&["memcg", "pins", "--stat-only", "--json"]),
    ) else {
        common::skip("setpriv (util-linux) not installed");
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/kpagecgroup") && err.contains("root"), "{err}");
    // memory.stat alone works unprivileged.
    assert!(matches!(stat_only.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&stat_only.stderr));
    let v: serde_json::Value = serde_json::from_slice(&stat_only.stdout).unwrap();
    assert_eq!(v["pages_scanned"], serde_json::Value::Null);
}
