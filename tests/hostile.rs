//! Hostile local users and bad luck (issue 15): planted symlinks at output paths, bundles readable
//! by others, trace instances left armed by a killed run, signals during a live capture. The live
//! tests need root and tracefs (they skip with a reason otherwise) and remove what they create.

mod common;

use common::memdx;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memdx-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file of root's that a planted symlink points to: `victim` in `d`, holding "root's file".
fn victim_in(d: &Path) -> PathBuf {
    let victim = d.join("victim");
    std::fs::write(&victim, "root's file").unwrap();
    victim
}

/// Item 2: the snapshot bundle is 0600, and a symlink planted at its path is not followed.
#[test]
fn snapshot_bundle_is_private_and_follows_no_symlink() {
    let d = tmpdir("snap");
    let bundle = d.join("snap.tar.zst");
    let out = memdx().args(["snapshot", "--root", "testdata/store/root"]).arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777, 0o600);
    let victim = victim_in(&d);
    let planted = d.join("planted.tar.zst");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let out = memdx().args(["snapshot", "--root", "testdata/store/root"]).arg(&planted).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file");
    std::fs::remove_dir_all(&d).unwrap();
}

/// The tracefs these tests look into, held for one test at a time: a capture sweeps the instances
/// that dead owners left, so two live tests running at once would race to remove the same one.
/// When no tracefs is mounted (a fresh machine mounts none until asked), the test mounts one on a
/// directory of its own and unmounts it when done; every mount shows the same instances.
struct Tracefs {
    dir: PathBuf,
    mounted_here: bool,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Tracefs {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = Command::new("umount").arg(&self.dir).status();
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Held while a test uses tracefs or depends on whether it is mounted: the live tests mount one
/// (and sweep instances) while they run.
fn tracefs_unchanged() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The live tracefs, or None after printing why the test skips.
fn tracefs() -> Option<Tracefs> {
    if !common::is_root() {
        common::skip("live tracing needs root");
        return None;
    }
    let guard = tracefs_unchanged();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    // A private mount of a memdx run is not the system's: the next capture unmounts it when its
    // owner is gone (a killed run here leaves one), and the test would lose its view of tracefs.
    let found = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let private = f.get(1).is_some_and(|d| {
            Path::new(d).file_name().is_some_and(|n| n.to_string_lossy().starts_with("memdx-tracefs"))
        });
        (f.len() > 2 && f[2] == "tracefs" && !private).then(|| PathBuf::from(f[1]))
    });
    if let Some(dir) = found {
        return Some(Tracefs { dir, mounted_here: false, _one_at_a_time: guard });
    }
    let dir = tmpdir("tracefs");
    let ok =
        Command::new("mount").args(["-t", "tracefs", "nodev"]).arg(&dir).status().is_ok_and(|s| s.success());
    if !ok {
        let _ = std::fs::remove_dir(&dir);
        common::skip("tracefs is not mounted and cannot be mounted");
        return None;
    }
    Some(Tracefs { dir, mounted_here: true, _one_at_a_time: guard })
}

/// Instances of memdx runs whose PID is `pid`.
fn instances_of(tracefs: &Path, pid: u32) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(tracefs.join("instances")) else { return Vec::new() };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("memdx-") && n.contains(&format!("-{pid}-"))
        })
        .collect()
}

/// The instance of the capture `child`, once armed; a capture that ended first fails the test with
/// what it said.
fn wait_for_instance(tracefs: &Path, child: &mut std::process::Child) -> PathBuf {
    let pid = child.id();
    let t0 = Instant::now();
    loop {
        if let Some(p) = instances_of(tracefs, pid).into_iter().next() {
            // Armed: the capture writes tracing_on last.
            std::thread::sleep(Duration::from_millis(300));
            return p;
        }
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("the capture (PID {pid}) ended ({st}) before its instance appeared: {err}");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no instance of PID {pid} appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A 30 s live capture of reclaim events; its stderr is kept for [`wait_for_instance`] (it says
/// little: the pipe does not fill).
fn capture(extra: &[&str]) -> std::process::Child {
    memdx()
        .args(["trace", "reclaim", "--duration", "30s", "--buffer-kb", "1024"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

/// Item 5: SIGHUP (an SSH session dropped) and SIGQUIT end a live capture with the instance
/// removed, like SIGINT and SIGTERM.
#[test]
fn hangup_and_quit_during_a_capture_clean_up() {
    let Some(t) = tracefs() else { return };
    for sig in ["-HUP", "-QUIT"] {
        let mut child = capture(&[]);
        let pid = child.id();
        let inst = wait_for_instance(&t, &mut child);
        signal(pid, sig);
        let st = child.wait().unwrap();
        assert!(st.code().is_some(), "{sig}: killed by the signal ({st:?}), no cleanup");
        assert!(!inst.exists(), "{sig}: {} left behind", inst.display());
    }
}

/// Item 5: a SIGKILLed capture leaves its instance armed; `memdx trace --cleanup` (and every later
/// capture) tells the owner is dead by PID and start time and removes it, events, triggers and
/// all, while an instance whose owner lives is left alone.
#[test]
fn instances_of_killed_runs_are_removed() {
    let Some(t) = tracefs() else { return };
    let mut child = capture(&[]);
    let pid = child.id();
    let inst = wait_for_instance(&t, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(inst.exists(), "SIGKILL cannot clean up: the instance must still be there");
    // A planted-looking instance of a live owner (this test process, its real start time).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().to_string();
    let live = t.join("instances").join(format!("memdx-test-{}-{start}", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let out = memdx().args(["trace", "--cleanup"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let live_kept = live.exists();
    let _ = std::fs::remove_dir(&live);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!inst.exists(), "{} not removed: {err}", inst.display());
    assert!(err.contains(&format!("owner PID {pid} is gone")), "{err}");
    assert!(live_kept, "the instance of a live owner was removed");
}

/// A --root tree like the live one (meminfo, stat, vmstat copied from /proc) whose mounts list no
/// tracefs: a capture with it mounts a private tracefs of its own.
fn root_without_tracefs(d: &Path) -> PathBuf {
    let root = d.join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let no_tracefs: String =
        mounts.lines().filter(|l| !l.contains(" tracefs ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join("proc/mounts"), no_tracefs).unwrap();
    for f in ["meminfo", "stat", "vmstat"] {
        std::fs::copy(format!("/proc/{f}"), root.join("proc").join(f)).unwrap();
    }
    root
}

/// Item 5, noticed by the next capture without being asked: two captures are SIGKILLed, one in the
/// system's tracefs, one that mounted a private tracefs (a --root tree without one); the next
/// plain capture removes both instances and the private mount, and says whose they were.
#[test]
fn a_later_capture_removes_what_killed_captures_left() {
    let Some(t) = tracefs() else { return };
    let d = tmpdir("killed");
    let root = root_without_tracefs(&d);
    let root_s = root.display().to_string();
    let mut left = Vec::new();
    for extra in [&[][..], &["--root", &root_s]] {
        let mut child = capture(extra);
        let pid = child.id();
        let inst = wait_for_instance(&t, &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(inst.exists(), "SIGKILL cannot clean up: the instance must still be there");
        left.push((pid, inst));
    }
    let mounted = |pid: u32| {
        std::fs::read_to_string("/proc/mounts").unwrap().contains(&format!("/memdx-tracefs-{pid}-"))
    };
    assert!(mounted(left[1].0), "the private mount of the killed capture is not there");
    let out =
        memdx().args(["trace", "reclaim", "--duration", "200ms", "--buffer-kb", "1024"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for (pid, inst) in &left {
        assert!(!inst.exists(), "{} not removed: {err}", inst.display());
        assert!(
            err.contains("removed a leftover of a killed memdx run: instance")
                && err.contains(&format!("owner PID {pid} is gone")),
            "{err}"
        );
    }
    assert!(!mounted(left[1].0), "the private mount of the killed capture is still mounted: {err}");
    assert!(err.contains("removed a leftover of a killed memdx run: tracefs mount"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 5, the signal guard is armed before the mount: SIGINT at 25 moments of a capture's start
/// (before, during and after mounting a private tracefs) leaves no mount, mount point or instance.
#[test]
fn early_signals_leave_nothing_mounted() {
    let Some(t) = tracefs() else { return };
    let d = tmpdir("early");
    let root = root_without_tracefs(&d);
    let root_s = root.display().to_string();
    for i in 0..25u64 {
        let mut child = capture(&["--root", &root_s]);
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(i * 3));
        signal(pid, "-INT");
        child.wait().unwrap();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        assert!(!mounts.contains(&format!("/memdx-tracefs-{pid}-")), "run {i}: mount left: {mounts}");
        assert!(instances_of(&t, pid).is_empty(), "run {i}: instance left");
        let dirs = std::fs::read_dir(std::env::temp_dir()).unwrap().flatten();
        let prefix = format!("memdx-tracefs-{pid}-");
        assert!(
            !dirs.into_iter().any(|e| e.file_name().to_string_lossy().starts_with(&prefix)),
            "run {i}: mount point left"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 2: `--save` through a planted symlink is refused; the capture's temporary file has no
/// name anywhere.
#[test]
fn save_follows_no_symlink() {
    let Some(_t) = tracefs() else { return };
    let d = tmpdir("save");
    let victim = victim_in(&d);
    let planted = d.join("capture.trace");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let out = memdx()
        .args(["trace", "reclaim", "--duration", "200ms", "--buffer-kb", "1024", "--save"])
        .arg(&planted)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 7: `--buffer-kb` is bounded, by range and by memory.
#[test]
fn buffer_kb_is_bounded() {
    let out = memdx().args(["trace", "reclaim", "--buffer-kb", "20000000", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--buffer-kb"));
    let Some(_t) = tracefs() else { return };
    let out =
        memdx().args(["trace", "reclaim", "--buffer-kb", "1048576", "--duration", "1s"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Refused unless this machine has 4 GiB of MemAvailable per CPU.
    if out.status.code() == Some(2) {
        assert!(err.contains("quarter of MemAvailable"), "{err}");
    }
}

/// Item 6: a second recorder on the same database is refused and told who holds it; the first
/// keeps recording.
#[test]
fn second_recorder_is_refused() {
    let d = tmpdir("rec2");
    let db = d.join("h.db");
    let mut first = common::Guard(
        memdx()
            .args(["record", "--interval", "1s", "--root", "testdata/store/root", "--db"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while !db.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = memdx()
        .args(["record", "--once", "--root", "testdata/store/root", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("another recorder") && err.contains(&format!("PID {}", first.0.id())), "{err}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(first.0.try_wait().unwrap().is_none(), "the first recorder died");
    drop(first);
    // Once the first is gone, the lock is free.
    let out = memdx()
        .args(["record", "--once", "--root", "testdata/store/root", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 6: a damaged database is moved aside with a clear message and a sound one started,
/// instead of being appended to.
#[test]
fn damaged_database_is_rotated() {
    let d = tmpdir("damaged");
    let db = d.join("h.db");
    let rec = |db: &Path| {
        memdx().args(["record", "--once", "--root", "testdata/store/root", "--db"]).arg(db).output().unwrap()
    };
    assert!(rec(&db).status.success());
    // Overwrite everything after the first page (the schema pages) with garbage.
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for b in bytes[4096..].iter_mut() {
        *b = 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = rec(&db);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("was damaged") && err.contains("moved to"), "{err}");
    let aside: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("h.db.damaged-"))
        .collect();
    assert!(!aside.is_empty());
    let s = memdx_store::Store::open_read_only(&db).unwrap();
    s.integrity_check().unwrap();
    assert_eq!(s.summary().unwrap().0, 1);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A hostile tree: `proc/vmstat -> /dev/zero`, `proc/meminfo` -> a secret outside the tree,
/// `proc/zoneinfo` a FIFO, a walked input directory with the same plus a symlink inside the tree.
fn hostile_tree(d: &Path) -> (PathBuf, PathBuf) {
    let secret = d.join("secret");
    std::fs::write(&secret, "SECRET-SHADOW-LINE root:$6$abc\n").unwrap();
    let root = d.join("root");
    std::fs::create_dir_all(root.join("proc/sys/vm")).unwrap();
    std::fs::copy("testdata/store/root/proc/buddyinfo", root.join("proc/buddyinfo")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("proc/vmstat")).unwrap();
    std::os::unix::fs::symlink(&secret, root.join("proc/meminfo")).unwrap();
    std::os::unix::fs::symlink(&secret, root.join("proc/sys/vm/min_free_kbytes")).unwrap();
    assert!(Command::new("mkfifo").arg(root.join("proc/zoneinfo")).status().unwrap().success());
    let dir = d.join("report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("testdata/store/root/proc/meminfo", dir.join("meminfo.txt")).unwrap();
    std::os::unix::fs::symlink("meminfo.txt", dir.join("meminfo-link.txt")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("shadow.txt")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.join("environ.txt")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.txt")).unwrap();
    assert!(Command::new("mkfifo").arg(dir.join("fifo.txt")).status().unwrap().success());
    (root, dir)
}

/// Item 4: `--root DIR` and directory walks read regular files inside the tree only, capped; a
/// FIFO does not hang, /dev/zero does not grow memory, and nothing outside the tree is quoted.
#[test]
fn untrusted_trees_are_read_safely() {
    let d = tmpdir("tree");
    let (root, dir) = hostile_tree(&d);
    for args in [
        vec!["diagnose".to_string(), "--root".into(), root.display().to_string()],
        vec!["diagnose".to_string(), "--json".into(), "--verbose".into(), dir.display().to_string()],
        vec!["diagnose".to_string(), "--verbose".into(), dir.display().to_string()],
    ] {
        let mut child = memdx().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{args:?} hangs");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(matches!(out.status.code(), Some(0..=2)), "{args:?}: {:?}\n{all}", out.status);
        assert!(
            !all.contains("SECRET") && !all.contains("$6$"),
            "{args:?} quotes a file outside the tree:\n{all}"
        );
        assert!(!all.contains("PATH=") && !all.contains("HOME="), "{args:?} quotes /proc/self/environ");
        if args.contains(&"--root".to_string()) {
            assert!(all.contains("leading out of the tree"), "{all}");
        } else {
            // The symlink inside the tree is read; the others are named as skipped, with reasons.
            assert!(all.contains("meminfo-link.txt"), "{all}");
            assert!(all.contains("a FIFO") && all.contains("out of the tree"), "{all}");
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 7: `memdx log` keeps the results of the inputs it could read when another cannot be
/// opened (exit 2 for the error, with the reports printed).
#[test]
fn log_keeps_results_when_one_input_cannot_be_opened() {
    let out = memdx()
        .args(["log", "--json", "testdata/log/qemu61_global_oom.dmesg", "/nonexistent/memdx-missing.log"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("memdx-missing.log"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("qemu61_global_oom.dmesg"), "{v}");
    assert!(v.to_string().contains("Out of memory"), "{v}");
}

/// Item 7: a .tar.gz inside a .tar.gz is read (nesting is bounded, not refused at two levels).
#[test]
fn tar_gz_inside_tar_gz_is_read() {
    let d = tmpdir("nested");
    std::fs::create_dir_all(d.join("in/proc")).unwrap();
    std::fs::copy("testdata/store/root/proc/meminfo", d.join("in/proc/meminfo")).unwrap();
    let tar =
        |args: &[&str]| assert!(Command::new("tar").current_dir(&d).args(args).status().unwrap().success());
    tar(&["czf", "inner.tar.gz", "-C", "in", "proc"]);
    std::fs::create_dir_all(d.join("outer")).unwrap();
    std::fs::rename(d.join("inner.tar.gz"), d.join("outer/inner.tar.gz")).unwrap();
    tar(&["czf", "outer.tar.gz", "-C", "outer", "inner.tar.gz"]);
    let out = memdx().args(["diagnose", "--json"]).arg(d.join("outer.tar.gz")).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let formats: Vec<String> =
        v["inputs"].as_array().unwrap().iter().map(|i| i["format"].to_string()).collect();
    assert!(formats.iter().any(|f| f.contains("meminfo")), "{formats:?}\n{v}");
    assert!(!v.to_string().contains("nested too deep"), "{v}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A tar stream of `entries` (name, bytes from a reader) compressed with zstd into `path`: the
/// way a bomb is made (zstd keeps a 128 KiB block of zeros in a few bytes).
fn zstd_tar(path: &Path, entries: Vec<(String, u64, Box<dyn std::io::Read>)>) {
    let enc = zstd::stream::write::Encoder::new(std::fs::File::create(path).unwrap(), 1).unwrap();
    let mut b = tar::Builder::new(enc.auto_finish());
    for (name, size, r) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, r).unwrap();
    }
    b.into_inner().unwrap();
}

fn diags_of(v: &serde_json::Value) -> Vec<String> {
    v["diagnostics"].as_array().unwrap().iter().map(|d| d.to_string()).collect()
}

/// Issue 15, unpack limits: a zstd bomb (1 GiB of zeros in ~40 KB, a meminfo after it), a tar of
/// 3,000 empty entries and a bomb nested in an archive are each cut at the limit of their input,
/// with a warning naming them, while a plain meminfo and a small archive given after them are
/// still read. Limits are lowered here (--max-unpacked 64M, --max-entries 1000) so that the debug
/// build reaches them in seconds; the defaults are the same code with larger numbers.
#[test]
fn decompression_bombs_stop_at_the_limit_and_the_other_inputs_are_read() {
    let d = tmpdir("bomb");
    let meminfo = std::fs::read("testdata/store/root/proc/meminfo").unwrap();
    let slabinfo = std::fs::read("testdata/store/root/proc/slabinfo").unwrap();
    use std::io::Read;
    let zeros = || Box::new(std::io::repeat(0).take(1 << 30)) as Box<dyn std::io::Read>;
    let bomb = d.join("bomb.tar.zst");
    zstd_tar(
        &bomb,
        vec![
            ("sos/zeros.bin".into(), 1 << 30, zeros()),
            (
                "sos/proc/meminfo".into(),
                meminfo.len() as u64,
                Box::new(std::io::Cursor::new(meminfo.clone())),
            ),
        ],
    );
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 1 << 20, "a bomb is small: {size} bytes");
    let many = d.join("many.tar.zst");
    zstd_tar(
        &many,
        (0..3000)
            .map(|i| (format!("e/{i}"), 0, Box::new(std::io::empty()) as Box<dyn std::io::Read>))
            .collect(),
    );
    // The bomb inside another archive: the inner layers count too.
    let nested = d.join("nested.tar.zst");
    let inner = std::fs::read(&bomb).unwrap();
    zstd_tar(
        &nested,
        vec![("bomb.tar.zst".into(), inner.len() as u64, Box::new(std::io::Cursor::new(inner)))],
    );
    let small = d.join("small.tar.zst");
    zstd_tar(
        &small,
        vec![("proc/slabinfo".into(), slabinfo.len() as u64, Box::new(std::io::Cursor::new(slabinfo)))],
    );
    let plain = d.join("meminfo");
    std::fs::write(&plain, &meminfo).unwrap();
    let out = memdx()
        .args(["diagnose", "--json", "--max-unpacked", "64M", "--max-entries", "1000"])
        .args([&bomb, &many, &nested, &plain, &small])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    let diags = diags_of(&v);
    let inputs: Vec<String> =
        v["inputs"].as_array().unwrap().iter().map(|i| format!("{} {}", i["file"], i["format"])).collect();
    // The bomb: cut after 64 MiB of zeros, warned on stderr and as a diagnostic, its meminfo unread.
    let said = |what: String| assert!(err.contains(&what), "{what} not in:\n{err}");
    let bomb_s = bomb.display().to_string();
    said(format!("{bomb_s}: unpacked more than 64.0 MiB from this input (at {bomb_s}:sos/zeros.bin)"));
    assert!(
        diags.iter().any(|d| d.contains("unpacked more than 64.0 MiB") && d.contains(&bomb_s)),
        "{diags:?}"
    );
    assert!(!inputs.iter().any(|i| i.contains("bomb.tar.zst:sos/proc/meminfo")), "{inputs:?}");
    // 3,000 entries: stopped after 1,000.
    let many_s = many.display().to_string();
    said(format!("{many_s}: more than 1000 archive entries in this input"));
    // Nested: the inner bomb is cut the same way, named through its container.
    let nested_s = nested.display().to_string();
    said(format!("{nested_s}: unpacked more than 64.0 MiB from this input (at {nested_s}:bomb.tar.zst:sos/"));
    // The other inputs are read.
    assert!(
        inputs.iter().any(|i| i.contains(&plain.display().to_string()) && i.contains("meminfo")),
        "{inputs:?}"
    );
    assert!(inputs.iter().any(|i| i.contains("small.tar.zst:proc/slabinfo")), "{inputs:?}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    // The run's total is 4 times an input's: the fifth bomb is cut by it.
    let out =
        memdx().args(["diagnose", "--json", "--max-unpacked", "64M"]).args([&bomb; 5]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("unpacked more than 64.0 MiB from this input").count(), 4, "{err}");
    assert!(err.contains("this run unpacked more than 256.0 MiB from archives in all"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 15 item 7: a permission error says how to get the rights, once. As an unprivileged user
/// (setpriv to nobody), `memdx trace` fails on tracefs (the instance directory is root's) or on
/// mounting it (a root tree without tracefs in its mounts), and `memcg pins` on /proc/kpagecgroup;
/// each says to run as root and states the cause once (it was printed twice, once per error link).
#[test]
fn permission_errors_say_run_as_root() {
    if !common::is_root() {
        return common::skip("setpriv to an unprivileged user needs root");
    }
    // Whether tracefs is mounted decides the runs below: no live test may mount one meanwhile.
    let _unchanged = tracefs_unchanged();
    let d = tmpdir("noroot");
    std::fs::create_dir_all(d.join("proc")).unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let no_tracefs: String =
        mounts.lines().filter(|l| !l.contains(" tracefs ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("proc/mounts"), no_tracefs).unwrap();
    for f in ["meminfo", "stat"] {
        std::fs::copy(format!("/proc/{f}"), d.join("proc").join(f)).unwrap();
    }
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = d.display().to_string();
    let allocs = ["trace", "allocs", "--duration", "1s", "--root", &root];
    let mut runs: Vec<(&[&str], &str)> = vec![
        (&["trace", "reclaim", "--duration", "1s"], "run memdx trace as root"),
        (&allocs, "run memdx trace as root"),
        (&["trace", "slab", "kmalloc-64", "--duration", "1s"], "run memdx trace as root"),
        (&["memcg", "pins"], "run as root"),
    ];
    // Where tracefs is mounted, its instances are root's: --cleanup cannot tell whether any are left.
    if mounts.contains(" tracefs ") {
        runs.push((&["trace", "--cleanup"], "run memdx trace as root"));
    }
    for (args, hint) in runs {
        let out = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", env!("CARGO_BIN_EXE_memdx")])
            .args(args)
            .current_dir(&d)
            .output();
        let Ok(out) = out else { return common::skip("setpriv (util-linux) is not installed") };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
        let causes = err.to_lowercase().matches("permission denied").count()
            + err.matches("must be superuser").count()
            + err.matches("only root").count();
        assert_eq!(causes, 1, "{args:?}: the cause once: {err}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 15 item 7: an error states its cause once (an error type that prints its cause and also
/// returns it as its source printed it twice: "No such file or directory (os error 2): No such
/// file or directory (os error 2)").
#[test]
fn errors_state_their_cause_once() {
    let runs: [&[&str]; 3] = [
        &["symbolize", "--vmlinux", "/nonexistent/memdx-vmlinux", "testdata/log/qemu61_global_oom.dmesg"],
        &["trace", "reclaim", "/nonexistent/memdx-trace.txt"],
        &["history", "--db", "/nonexistent/memdx-history.db"],
    ];
    for args in runs {
        let out = memdx().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("/nonexistent/memdx-"), "{args:?}: {err}");
        assert!(err.matches("os error").count() <= 1, "{args:?}: the cause once: {err}");
    }
}

/// Issue 15 item 7: a memcg OOM report cut before its `oom-kill:` line (the constraint is unknown)
/// stays a memcg OOM at warning (the kernel's `memory: usage ... limit` and `Memory cgroup stats`
/// lines say so), not a critical machine-wide OOM.
#[test]
fn truncated_memcg_oom_is_not_a_global_oom() {
    let d = tmpdir("oomcut");
    let text = std::fs::read_to_string("testdata/log/live618_memcg_oom.dmesg").unwrap();
    let cut: String =
        text.lines().take_while(|l| !l.contains("oom-kill:")).map(|l| format!("{l}\n")).collect();
    assert!(cut.contains("Memory cgroup stats for") && !cut.contains("CONSTRAINT_MEMCG"));
    let f = d.join("cut.dmesg");
    std::fs::write(&f, cut).unwrap();
    let out = memdx().args(["diagnose", "--json"]).arg(&f).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let ids: Vec<String> = findings.iter().map(|f| format!("{} {}", f["id"], f["severity"])).collect();
    assert!(findings.iter().any(|f| f["id"] == "log.oom.memcg"), "{ids:?}");
    assert!(!findings.iter().any(|f| f["severity"] == "critical"), "{ids:?}");
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 15 item 2 for the history: the database holds root-only figures (slabinfo, cgroup names):
/// it is created 0600 (its WAL too), and a symlink planted at its path is not followed.
#[test]
fn history_database_is_private_and_follows_no_symlink() {
    let d = tmpdir("db");
    let db = d.join("h.db");
    let record = |db: &Path| {
        memdx().args(["record", "--once", "--root", "testdata/store/root", "--db"]).arg(db).output().unwrap()
    };
    let out = record(&db);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["h.db", "h.db-wal", "h.db-shm", "h.db.lock"] {
        if let Ok(m) = std::fs::metadata(d.join(f)) {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    let victim = victim_in(&d);
    let planted = d.join("planted.db");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let out = record(&planted);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Files removed when dropped (also when a test fails).
struct RemovedOnDrop(Vec<PathBuf>);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Item 2 as the attack is made: a local user plants symlinks in the temporary directory for the
/// next PIDs, at the names memdx used to create there (`memdx-<kind>-<pid>.trace` -> a file of
/// root's, `memdx-tracefs-<pid>` -> a directory of the user's choice), and root then runs a live
/// capture that has to mount tracefs itself (a --root tree whose mounts list no tracefs). Nothing
/// planted is followed: root's file keeps its content, nothing is mounted on the chosen directory
/// or created in it, and the capture's own mount is gone when it ends.
#[test]
fn symlinks_planted_in_tmp_for_the_next_pids_are_not_followed() {
    let Some(_t) = tracefs() else { return };
    let d = tmpdir("planted");
    let victim = victim_in(&d);
    let chosen = d.join("chosen");
    std::fs::create_dir(&chosen).unwrap();
    let root = root_without_tracefs(&d);
    let tmp = std::env::temp_dir();
    // Removed however the test ends: the links are in the shared temporary directory.
    let mut planted = RemovedOnDrop(Vec::new());
    let mut covered = false;
    for _try in 0..3 {
        let last: u32 =
            std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").unwrap().trim().parse().unwrap();
        for pid in last + 1..last + 400 {
            for (name, target) in [
                (format!("memdx-reclaim-{pid}.trace"), &victim),
                (format!("memdx-allocs-{pid}.trace"), &victim),
                (format!("memdx-slab-{pid}.trace"), &victim),
                (format!("memdx-tracefs-{pid}"), &chosen),
            ] {
                let p = tmp.join(name);
                if std::os::unix::fs::symlink(target, &p).is_ok() {
                    planted.0.push(p);
                }
            }
        }
        let child = memdx()
            .args(["trace", "reclaim", "--duration", "1s", "--buffer-kb", "1024", "--root"])
            .arg(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file");
        assert_eq!(std::fs::read_dir(&chosen).unwrap().count(), 0, "written into the chosen directory");
        let now = std::fs::read_to_string("/proc/mounts").unwrap();
        let chosen_s = chosen.display().to_string();
        assert!(!now.contains(&chosen_s), "tracefs left mounted on {chosen_s}");
        assert!(!now.lines().any(|l| l.contains(&format!("memdx-tracefs-{pid}-"))), "mount left: {now}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("reclaim"), "no report");
        if pid > last && pid < last + 400 {
            covered = true;
            break;
        }
    }
    drop(planted);
    std::fs::remove_dir_all(&d).unwrap();
    assert!(covered, "the capture never ran with a PID that had planted symlinks");
}

/// A zstd file made of frames (a decoder reads them as one stream): `head`, then `huge` (one
/// compressed frame shared by every file), then `tail`.
fn zstd_frames(path: &Path, head: &[u8], huge: &[u8], tail: &[u8]) {
    let mut bytes = zstd::encode_all(head, 1).unwrap();
    bytes.extend_from_slice(huge);
    bytes.extend(zstd::encode_all(tail, 1).unwrap());
    std::fs::write(path, bytes).unwrap();
}

/// The first and the remaining lines of a (possibly gzipped) test file, split after `n` lines.
fn split_lines(path: &str, n: usize) -> (Vec<u8>, Vec<u8>) {
    let raw = std::fs::read(path).unwrap();
    let text = if path.ends_with(".gz") {
        let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
        assert!(out.status.success());
        out.stdout
    } else {
        raw
    };
    let cut =
        text.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(n - 1).map_or(text.len(), |(i, _)| i + 1);
    (text[..cut].to_vec(), text[cut..].to_vec())
}

/// Peak RSS in kB of `memdx ARGS` (GNU time, from wait4) and its output; `stdin` is a zstd file
/// whose text is fed to its standard input.
fn peak_rss(args: &[&std::ffi::OsStr], stdin: Option<&Path>) -> Option<(u64, std::process::Output)> {
    let child = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kb %M", env!("CARGO_BIN_EXE_memdx")])
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        common::skip("GNU time (/usr/bin/time) is not installed");
        return None;
    };
    let feeder = stdin.map(|zst| {
        let (zst, mut to) = (zst.to_path_buf(), child.stdin.take().unwrap());
        std::thread::spawn(move || {
            let _ = zstd::stream::copy_decode(std::fs::File::open(zst).unwrap(), &mut to);
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let kb = err.lines().rev().find_map(|l| l.strip_prefix("peak-rss-kb ")).unwrap().trim().parse().unwrap();
    let shown: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    println!("memdx {}: peak RSS {kb} kB", shown.join(" "));
    Some((kb, out))
}

/// Item 3: one huge line (256 MiB without a newline, inside real inputs, zstd-compressed) in the
/// trace reader, the kernel log reader, the syslog/journal reader and symbolize costs the line
/// cap, not the line: peak RSS stays under 128 MB (it grew with the line: 2-4 GB for 2 GB), the
/// line is reported as cut, and the other inputs of the run are read.
#[test]
fn huge_lines_cost_the_cap_and_the_other_inputs_are_read() {
    const HUGE: usize = 256 << 20;
    const MAX_KB: u64 = 128 * 1024;
    let d = tmpdir("hugeline");
    let huge = zstd::encode_all(std::io::repeat(b'A').take(HUGE as u64), 1).unwrap();
    let inputs = [
        ("trace.zst", "testdata/trace/reclaim-6.18/swappiness0/trace.txt.gz", 2000),
        ("dmesg.zst", "testdata/log/qemu61_global_oom.dmesg", 20),
        ("syslog.zst", "testdata/slab/seed000/syslog", 5),
        ("kern.log.zst", "testdata/slab/seed000/kern.log.gz", 20),
    ];
    let mut files = Vec::new();
    for (name, src, n) in inputs {
        let (head, tail) = split_lines(src, n);
        let p = d.join(name);
        zstd_frames(&p, &head, &huge, &tail);
        files.push(p);
    }
    let meminfo = d.join("meminfo");
    std::fs::copy("testdata/store/root/proc/meminfo", &meminfo).unwrap();
    use std::io::Read;

    let mut args: Vec<&std::ffi::OsStr> = vec!["diagnose".as_ref(), "--json".as_ref()];
    args.extend(files.iter().map(|p| p.as_os_str()));
    args.push(meminfo.as_os_str());
    let Some((kb, out)) = peak_rss(&args, None) else { return };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(kb < MAX_KB, "diagnose: peak RSS {kb} kB\n{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    let inputs: Vec<String> =
        v["inputs"].as_array().unwrap().iter().map(|i| format!("{} {}", i["file"], i["format"])).collect();
    assert!(inputs.iter().any(|i| i.contains("meminfo\" \"meminfo")), "{inputs:?}");
    for f in &files {
        let name = f.display().to_string();
        assert!(inputs.iter().any(|i| i.contains(&name)), "{name} not read: {inputs:?}");
    }
    assert!(v.to_string().contains("longer than"), "no line reported as cut: {v}");

    // The kernel log and trace commands, and symbolize (its text on stdin, with a small program
    // built here as the vmlinux).
    let (log, trace) = (files[1].as_os_str(), files[0].as_os_str());
    let runs: [(&[&std::ffi::OsStr], Option<&Path>); 2] =
        [(&["log".as_ref(), log], None), (&["trace".as_ref(), "reclaim".as_ref(), trace], None)];
    let vmlinux = d.join("vmlinux");
    let built = Command::new("gcc")
        .args(["-g", "-O2", "-x", "c", "-o"])
        .arg(&vmlinux)
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"int main(void) { return 0; }\n")?;
            c.wait()
        })
        .is_ok_and(|s| s.success());
    let symbolize: [&std::ffi::OsStr; 3] = ["symbolize".as_ref(), "--vmlinux".as_ref(), vmlinux.as_os_str()];
    let mut runs = runs.to_vec();
    if built {
        runs.push((&symbolize, Some(files[1].as_path())));
    } else {
        common::skip("gcc is not installed: symbolize is not run");
    }
    for (args, stdin) in runs {
        let (kb, out) = peak_rss(args, stdin).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(kb < MAX_KB, "{args:?}: peak RSS {kb} kB\n{err}");
        // The report (stdout) or a warning (stderr) says a line was cut.
        let said = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
        assert!(said.contains("longer than"), "{args:?}: the cut line is not reported: {err}");
        assert!(!err.contains("panicked") && matches!(out.status.code(), Some(0 | 1)), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
