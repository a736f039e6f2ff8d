//! Live test of `memdx memcg pins` on cgroup v2, in a virtual machine.
//!
//! Why a VM: the kernel binds a controller to one hierarchy at a time, and moves the memory
//! controller to cgroup v2 only once its v1 hierarchy has no child cgroups and is unmounted. A host
//! that mounts memory on cgroup v1 (this project's machines do: their cgroup2 mount has no
//! controllers) cannot run a cgroup v2 memory test without taking accounting away from its own
//! cgroups. A VM boots the distribution's kernel (Debian's `linux-image-amd64`) with cgroup v2 alone.
//!
//! The test builds, in a directory of its own: an initramfs (busybox, the kernel modules of virtio
//! block and ext4 from `/lib/modules/VERSION`, util-linux `fincore`, coreutils `dd`/`sync`, `dash`,
//! their shared libraries as `ldd` lists them, and `tests/vm/memcg-v2-init` as `/init`), and an ext4
//! disk image (`mke2fs -d`) holding a 12 MiB file and the memdx binary. The disk gives the file a real
//! page cache (tmpfs pages are shmem, which fadvise cannot drop). `/init` mounts cgroup2 with the
//! memory controller enabled at the root, reads the file from inside a child cgroup, removes it,
//! runs `memdx memcg pins --files /mnt/data --json`, reads the exporter (`memdx serve` on the guest's
//! loopback) and the recorder's database (`memdx record --once`, sent back in hex), then runs the
//! steps memdx names in order until the dying cgroup is gone, and prints what it saw on the second
//! serial port; this test reads that and checks memdx against the kernel's counters (the child's
//! `memory.stat` before removal, the parent's after, `cgroup.stat` `nr_dying_descendants`) and
//! against `fincore` (mincore(2)), never against memdx.
//!
//! Runs under KVM when `/dev/kvm` works (a nested KVM that does not boot within
//! [`KVM_BOOT_WAIT`] is given up for TCG, qemu's emulator, slower but the same kernel).
//! Missing qemu, kernel, busybox or mke2fs skips with a reason (fails under MEMDX_REQUIRE_PEERS=1;
//! `.ci/run` installs them). Needs root: Debian's `/boot/vmlinuz-*` is readable by root only.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a KVM guest gets to reach `/init` before the test falls back to TCG.
const KVM_BOOT_WAIT: Duration = Duration::from_secs(10);
/// The bound on one VM run (TCG on a loaded 2-core machine); not a speed check.
const VM_DEADLINE: Duration = Duration::from_secs(300);
/// The file the cgroup reads: 3072 pages.
const FILE_BYTES: usize = 12 << 20;
const PAGE: u64 = 4096;
/// Modules the guest needs for a virtio disk with ext4 (with their dependencies from modules.dep).
const MODULES: &[&str] = &["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"];

/// Removes the work directory on drop.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A qemu process, killed on drop.
struct Vm(std::process::Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A newc cpio archive (the initramfs format), built in memory.
#[derive(Default)]
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
    dirs: BTreeSet<String>,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields =
            [self.ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    /// A directory and its parents (names without the leading `/`).
    fn dir(&mut self, name: &str) {
        let mut path = String::new();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(part);
            if self.dirs.insert(path.clone()) {
                let p = path.clone();
                self.entry(&p, 0o040755, (0, 0), &[]);
            }
        }
    }
    fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        let name = path.trim_start_matches('/');
        if let Some((parent, _)) = name.rsplit_once('/') {
            self.dir(parent);
        }
        if !self.dirs.contains(name) {
            self.entry(name, 0o100000 | mode, (0, 0), data);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.buf
    }
}

/// The newest `/boot/vmlinuz-VERSION` with its modules at `/lib/modules/VERSION`.
fn kernel() -> Result<(PathBuf, PathBuf), String> {
    let mut found: Vec<(Vec<u64>, String)> = std::fs::read_dir("/boot")
        .map_err(|e| format!("/boot: {e}"))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(String::from))
        .filter(|v| Path::new("/lib/modules").join(v).join("modules.dep").exists())
        .map(|v| (v.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect(), v))
        .collect();
    found.sort();
    let (_, v) = found.pop().ok_or(
        "no /boot/vmlinuz-VERSION with /lib/modules/VERSION/modules.dep (Debian: apt-get install linux-image-amd64)",
    )?;
    Ok((PathBuf::from("/boot").join(format!("vmlinuz-{v}")), PathBuf::from("/lib/modules").join(v)))
}

/// The module files to load for `wanted`, dependencies first (modules.dep lists each module's
/// dependencies; built-in ones are in modules.builtin and need nothing).
fn module_files(dir: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>, String> {
    let stem = |p: &str| -> String {
        let f = p.rsplit('/').next().unwrap_or(p);
        f.split(".ko").next().unwrap_or(f).replace('-', "_")
    };
    let dep = std::fs::read_to_string(dir.join("modules.dep")).map_err(|e| format!("modules.dep: {e}"))?;
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep.lines() {
        if let Some((m, d)) = line.split_once(':') {
            deps.insert(stem(m), (m.to_string(), d.split_whitespace().map(&stem).collect()));
        }
    }
    let builtin: BTreeSet<String> =
        std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default().lines().map(&stem).collect();
    fn visit(
        m: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        out: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Option<()> {
        if !seen.insert(m.to_string()) {
            return Some(());
        }
        let (path, ds) = deps.get(m)?;
        for d in ds {
            visit(d, deps, out, seen)?;
        }
        out.push(path.clone());
        Some(())
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for w in wanted {
        if builtin.contains(*w) {
            continue;
        }
        visit(w, &deps, &mut out, &mut seen)
            .ok_or_else(|| format!("module {w} (or a dependency) is neither in modules.dep nor built in"))?;
    }
    Ok(out.into_iter().map(|p| dir.join(p)).collect())
}

/// A module file's contents, decompressed by the matching tool when the distribution compresses them.
fn module_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let name = path.to_string_lossy();
    let tool = ["xz", "zstd", "gzip"].into_iter().find(|t| {
        name.ends_with(match *t {
            "xz" => ".ko.xz",
            "zstd" => ".ko.zst",
            _ => ".ko.gz",
        })
    });
    match tool {
        None => std::fs::read(path).map_err(|e| format!("{name}: {e}")),
        Some(t) => {
            let out = Command::new(t).arg("-dc").arg(path).output().map_err(|e| format!("{t}: {e}"))?;
            if out.status.success() {
                Ok(out.stdout)
            } else {
                Err(format!("{t} -dc {name} failed"))
            }
        }
    }
}

/// A binary and the shared libraries `ldd` lists for it (nothing for a static one).
fn with_libs(bin: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd").arg(bin).output().map_err(|e| format!("ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = vec![bin.to_path_buf()];
    if out.status.success() {
        v.extend(
            text.split_whitespace().filter(|w| w.starts_with('/')).map(PathBuf::from).filter(|p| p.exists()),
        );
    }
    Ok(v)
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// What the guest printed on its second serial port.
#[derive(Debug, Default)]
struct Results {
    /// `memdx-vm: KEY VALUE` lines, in order.
    lines: Vec<(String, String)>,
    /// JSON documents printed between `json-begin NAME` and `json-end`.
    json: BTreeMap<String, serde_json::Value>,
    /// Files printed in hex (`od -An -tx1`) between `hex-begin NAME` and `hex-end`.
    files: BTreeMap<String, Vec<u8>>,
    /// Text files printed between `text-begin NAME` and `text-end`.
    texts: BTreeMap<String, String>,
}

impl Results {
    fn parse(text: &str) -> Results {
        let mut r = Results::default();
        let mut doc: Option<(String, String)> = None;
        for line in text.lines().map(|l| l.trim_end_matches('\r')) {
            if let Some(rest) = line.strip_prefix("memdx-vm: ") {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                match (k, doc.take()) {
                    ("json-begin" | "hex-begin" | "text-begin", _) => {
                        doc = Some((v.to_string(), String::new()))
                    }
                    ("text-end", Some((name, body))) => {
                        r.texts.insert(name, body);
                    }
                    ("json-end", Some((name, body))) => {
                        let parsed = serde_json::from_str(&body)
                            .unwrap_or_else(|e| panic!("guest JSON {name} ({e}):\n{body}"));
                        r.json.insert(name, parsed);
                    }
                    ("hex-end", Some((name, body))) => {
                        let bytes = body
                            .split_whitespace()
                            .map(|b| {
                                u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("{name}: byte {b:?}"))
                            })
                            .collect();
                        r.files.insert(name, bytes);
                    }
                    (_, d) => {
                        doc = d;
                        r.lines.push((k.to_string(), v.to_string()));
                    }
                }
            } else if let Some((_, body)) = doc.as_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        r
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn num(&self, key: &str) -> u64 {
        let v = self.get(key).unwrap_or_else(|| panic!("the guest printed no {key}: {:?}", self.lines));
        v.trim().parse().unwrap_or_else(|_| panic!("{key}: {v:?}"))
    }
}

fn within(a: u64, b: u64, pct: u64) -> bool {
    a.abs_diff(b) * 100 <= b * pct
}

/// Boots the VM once; `Ok(None)` when KVM did not reach `/init` in time (the caller retries on TCG).
fn boot(work: &Path, kernel: &Path, kvm: bool) -> Result<Option<(String, String, &'static str)>, String> {
    let console = work.join("console.log");
    let results = work.join("results.log");
    let _ = std::fs::remove_file(&console);
    let _ = std::fs::remove_file(&results);
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(if kvm { ["-accel", "kvm"] } else { ["-accel", "tcg"] })
        .args(["-m", "512M", "-smp", "2", "-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(work.join("initramfs.cpio"))
        .args(["-append", "console=ttyS0 quiet loglevel=1 panic=-1"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio,readonly=on", work.join("disk.img").display()))
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut vm = Vm(cmd.spawn().map_err(|e| format!("qemu-system-x86_64: {e}"))?);
    let start = Instant::now();
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    loop {
        if let Some(status) = vm.0.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            if let Some(mut e) = vm.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            if kvm && !read(&results).contains("memdx-vm: boot") {
                eprintln!("KVM did not boot ({status}: {}), using TCG", err.trim());
                return Ok(None);
            }
            return Ok(Some((read(&results), read(&console), if kvm { "kvm" } else { "tcg" })));
        }
        if kvm && start.elapsed() > KVM_BOOT_WAIT && !read(&results).contains("memdx-vm: boot") {
            eprintln!("KVM did not reach /init within {KVM_BOOT_WAIT:?}: using TCG");
            return Ok(None);
        }
        if start.elapsed() > VM_DEADLINE {
            return Err(format!(
                "the VM did not finish within {VM_DEADLINE:?}; its console ends with:\n{}\nresults:\n{}",
                tail(&read(&console)),
                read(&results)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Everything the guest needs, or why it cannot be built here.
fn build(work: &Path) -> Result<PathBuf, String> {
    if which("qemu-system-x86_64").is_none() {
        return Err("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)".into());
    }
    let busybox = which("busybox").ok_or("busybox is not installed (Debian: busybox-static)")?;
    let mke2fs = which("mke2fs").ok_or("mke2fs is not installed (Debian: e2fsprogs)")?;
    let (vmlinuz, moddir) = kernel()?;
    std::fs::File::open(&vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
    let mut cpio = Cpio::default();
    for d in ["proc", "sys", "dev", "tmp", "mnt", "bin", "tools", "modules"] {
        cpio.dir(d);
    }
    cpio.entry("dev/console", 0o020600, (5, 1), &[]);
    cpio.file(
        "/init",
        0o755,
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/memcg-v2-init"))
            .map_err(|e| e.to_string())?,
    );
    for p in with_libs(&busybox)? {
        let dest = if p == busybox { PathBuf::from("/bin/busybox") } else { p.clone() };
        cpio.file(&dest.to_string_lossy(), 0o755, &std::fs::read(&p).map_err(|e| e.to_string())?);
    }
    for tool in ["fincore", "dd", "sync", "dash"] {
        let bin = which(tool).ok_or(format!("{tool} is not installed"))?;
        for p in with_libs(&bin)? {
            let dest = if p == bin { PathBuf::from("/tools").join(tool) } else { p.clone() };
            cpio.file(&dest.to_string_lossy(), 0o755, &std::fs::read(&p).map_err(|e| e.to_string())?);
        }
    }
    let memdx = PathBuf::from(env!("CARGO_BIN_EXE_memdx"));
    for p in with_libs(&memdx)?.into_iter().skip(1) {
        cpio.file(&p.to_string_lossy(), 0o755, &std::fs::read(&p).map_err(|e| e.to_string())?);
    }
    let mut load = String::new();
    for m in module_files(&moddir, MODULES)? {
        let name = m.file_name().unwrap().to_string_lossy();
        let name = format!("{}.ko", name.split(".ko").next().unwrap());
        cpio.file(&format!("/modules/{name}"), 0o644, &module_bytes(&m)?);
        load.push_str(&name);
        load.push('\n');
    }
    cpio.file("/modules.load", 0o644, load.as_bytes());
    std::fs::write(work.join("initramfs.cpio"), cpio.finish()).map_err(|e| e.to_string())?;

    // The disk: the file the cgroup reads, and memdx (too large for the initramfs of a small VM).
    let src = work.join("disk");
    std::fs::create_dir_all(src.join("data")).unwrap();
    std::fs::create_dir_all(src.join("tools")).unwrap();
    std::fs::write(src.join("data/data.bin"), vec![0x5au8; FILE_BYTES]).unwrap();
    std::fs::copy(&memdx, src.join("tools/memdx")).map_err(|e| e.to_string())?;
    let mib = (std::fs::metadata(&memdx).map(|m| m.len()).unwrap_or(0) + FILE_BYTES as u64) / (1 << 20) * 3
        / 2
        + 32;
    let out = Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&src)
        .arg(work.join("disk.img"))
        .arg(format!("{mib}M"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("mke2fs -d failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    std::fs::remove_dir_all(&src).unwrap();
    Ok(vmlinuz)
}

#[test]
fn dying_memcg_on_cgroup_v2_is_found_with_its_file_and_freed_in_a_vm() {
    if !common::is_root() {
        common::skip("needs root (the distribution kernel in /boot is readable by root only)");
        return;
    }
    let work = WorkDir(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("memcg-v2-vm-{}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).unwrap();
    let kernel = match build(&work.0) {
        Ok(k) => k,
        Err(why) => {
            common::skip(&format!("cannot run the cgroup v2 VM: {why}"));
            return;
        }
    };
    let kvm = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    let run = match boot(&work.0, &kernel, kvm) {
        Ok(Some(r)) => r,
        Ok(None) => boot(&work.0, &kernel, false).unwrap().expect("TCG run"),
        Err(e) => panic!("{e}"),
    };
    let (results, console, accel) = run;
    let r = Results::parse(&results);
    let ctx = || format!("guest results:\n{results}\nconsole:\n{}", tail(&console));
    assert!(r.get("done").is_some(), "the guest did not finish: {}", ctx());
    let errors: Vec<_> = r.lines.iter().filter(|(k, _)| k == "error" || k == "insmod-failed").collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", ctx());
    assert!(r.get("controllers").unwrap_or("").split_whitespace().any(|c| c == "memory"), "{}", ctx());

    // The kernel's counts: the child's page cache before removal, mincore's, the parent's after.
    let child = r.num("child-file") / PAGE;
    let fincore = r.num("fincore") / PAGE;
    let parent = r.num("parent-file") / PAGE;
    assert_eq!(fincore, FILE_BYTES as u64 / PAGE, "{}", ctx());
    assert!(child >= fincore, "the child was charged {child} pages of its {fincore}-page file");
    assert_eq!(r.num("parent-dying"), 1, "cgroup.stat of the parent after rmdir");

    let v = &r.json["pins"];
    assert_eq!(r.get("pins-exit"), Some("1"), "{v:#}");
    assert_eq!(v["hierarchy"], "v2");
    assert_eq!(v["dying_memcgs"], 1, "{v:#}");
    let p = &v["parents"][0];
    assert_eq!(p["path"], "/memdx-test-pins", "{v:#}");
    assert_eq!(p["dying"], 1, "{p:#}");
    let pinned = p["pinned_pages"].as_u64().unwrap();
    assert!(within(pinned, child, 5), "memdx {pinned} pages, the child's memory.stat {child}");
    assert!(within(pinned, parent, 5), "memdx {pinned} pages, the parent's memory.stat {parent}");
    assert!(within(pinned, fincore, 5), "memdx {pinned} pages, fincore {fincore}");
    let reported = p["reported_by_kpagecgroup"]["page cache"].as_u64().unwrap_or(0);
    assert!(within(reported, child, 5), "kpagecgroup at the parent: {reported}, charged {child}");
    // memdx names the removed cgroup itself (seen alive by the diagnose run before rmdir), and no
    // dying memcg below the parent is left unnamed.
    assert!(matches!(r.get("diagnose-exit"), Some("0" | "1")), "{}", ctx());
    let named = &p["removed_cgroups"];
    assert_eq!(named.as_array().map(Vec::len), Some(1), "{p:#}");
    assert_eq!(named[0]["path"], "/memdx-test-pins/job", "{p:#}");
    assert!(named[0]["last_seen"].as_i64().unwrap() >= r.num("seen-before") as i64, "{named}");
    assert_eq!(p["unnamed_dying"], 0, "{p:#}");
    let f = &p["files"][0];
    assert_eq!(f["path"], "/mnt/data/data.bin", "{p:#}");
    assert!(within(f["pages"].as_u64().unwrap(), fincore, 5), "{f}");

    // The exporter gives the same numbers: dying memcgs by parent (cgroup.stat) and their pages.
    let metric = |name: &str| -> u64 {
        let v = r
            .lines
            .iter()
            .filter(|(k, _)| k == "metric")
            .find_map(|(_, l)| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in the guest's exposition: {}", ctx()));
        v.trim().parse::<f64>().unwrap() as u64
    };
    assert_eq!(metric("memdx_memcg_dying_by_parent{parent=\"/memdx-test-pins\"}"), 1);
    let exported =
        metric("memdx_memcg_dying_pinned_bytes{parent=\"/memdx-test-pins\",kind=\"page_cache\"}") / PAGE;
    assert!(within(exported, child, 5), "exported {exported} pages, charged {child}");
    common::promtool_check_metrics(
        r.texts.get("metrics").unwrap_or_else(|| panic!("no exposition: {}", ctx())),
    );

    // The recorder's database holds the same numbers.
    assert_eq!(r.get("record-exit"), Some("0"), "{}", ctx());
    let db = work.0.join("history.db");
    std::fs::write(&db, &r.files["record"]).unwrap();
    let store = memdx_store::Store::open_read_only(&db).unwrap();
    let h = store
        .load(&memdx_store::Query {
            since: None,
            kinds: vec![
                memdx_store::sample::kind::MEMCG_PINNED.into(),
                memdx_store::sample::kind::MEMCG_DYING_BY_PARENT.into(),
            ],
            name: Some("/memdx-test-pins".into()),
        })
        .unwrap();
    let recorded = |kind: &str| {
        h.get(kind, "/memdx-test-pins").and_then(|s| s.last()).unwrap_or_else(|| panic!("no {kind}: {h:?}"))
    };
    let recorded_pages = recorded(memdx_store::sample::kind::MEMCG_PINNED) as u64 / PAGE;
    assert!(within(recorded_pages, child, 5), "recorded {recorded_pages} pages, charged {child}");
    assert_eq!(recorded(memdx_store::sample::kind::MEMCG_DYING_BY_PARENT), 1.0);
    drop(store);
    // `memdx history` shows them from that database.
    let out = common::memdx().args(["history", "--json", "--db"]).arg(&db).output().unwrap();
    let hv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let history_pages = common::history_pinned_pages(&hv, "/memdx-test-pins");
    assert!(within(history_pages, child, 5), "memdx history {history_pages} pages, charged {child}");
    let table = hv["tables"].as_array().unwrap().iter().find(|t| t["id"] == "history.memcg_pinned").unwrap();
    let row = table["rows"].as_array().unwrap().iter().find(|r| r[0] == "/memdx-test-pins").unwrap();
    assert_eq!(row[1], "1", "dying below /memdx-test-pins in memdx history: {row}");

    // The guest ran memdx's steps in order, as printed, until the memcg was gone.
    let steps: Vec<&str> = p["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().split("  #").next().unwrap())
        .collect();
    assert!(
        steps[0].starts_with("sync /mnt/data/data.bin && dd if=/mnt/data/data.bin iflag=nocache"),
        "{steps:?}"
    );
    let ran: Vec<(&str, &str)> =
        r.lines.iter().filter(|(k, _)| k == "step").map(|(_, v)| v.split_once(' ').unwrap()).collect();
    assert!(!ran.is_empty(), "{}", ctx());
    for (i, (n, cmd)) in ran.iter().enumerate() {
        assert_eq!(*n, (i + 1).to_string());
        assert_eq!(*cmd, steps[i], "step {n}");
    }
    let exits: Vec<&str> =
        r.lines.iter().filter(|(k, _)| k == "step-exit").map(|(_, v)| v.as_str()).collect();
    for (i, e) in exits.iter().enumerate() {
        assert_eq!(*e, format!("{} 0", i + 1), "step {} failed: {}", i + 1, ctx());
    }
    let after: Vec<&str> =
        r.lines.iter().filter(|(k, _)| k == "after-step").map(|(_, v)| v.as_str()).collect();
    let last = after.last().unwrap();
    assert!(
        last.contains(" dying 0 "),
        "the memcg is still dying after memdx's {} steps: {after:?}",
        ran.len()
    );
    let a = &r.json["after"];
    assert_eq!(a["dying_memcgs"], 0, "{a:#}");
    assert!(a["parents"].as_array().unwrap().is_empty(), "{a:#}");
    // The state is private, and the freed memcg's name is forgotten once the parent has no dying one.
    assert_eq!(r.get("state-mode"), Some("700 600"), "{}", ctx());
    let state = r.texts.get("state").unwrap_or_else(|| panic!("no state file: {}", ctx()));
    assert!(state.lines().any(|l| l.ends_with("\t/memdx-test-pins")), "{state}");
    assert!(!state.contains("/memdx-test-pins/job"), "{state}");
    println!(
        "cgroup v2 VM ({accel}, kernel {}): memdx {pinned} pinned pages at /memdx-test-pins (1 dying: {}), the child's \
         memory.stat {child}, the parent's {parent}, fincore {fincore}, kpagecgroup {reported}, exporter \
         {exported}, recorder {recorded_pages}, history {history_pages}; file {} pages; \
         freed after {} of memdx's {} steps: {after:?}",
        r.get("boot").unwrap_or("?"),
        named[0],
        f["pages"],
        ran.len(),
        steps.len()
    );
}
