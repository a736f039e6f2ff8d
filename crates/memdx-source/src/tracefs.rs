//! Private tracefs instances with a restore guard.
//!
//! [`Tracefs::open`] finds tracefs in `<root>/proc/mounts` (or mounts it on a private temporary
//! directory when it is not mounted); [`Instance::create`] makes `instances/<name>`, sets the
//! buffer size, options, per-event filters and triggers, and enables the events. Whatever happens
//! afterwards (normal end, error, panic: `Drop` runs on unwind; SIGINT/SIGTERM: the capture loop
//! polls [`stop_flag`] and returns), the guard disables the events, removes triggers explicitly
//! (on 6.18 a `stacktrace` trigger stays armed after its event is disabled), clears filters,
//! removes the instance and unmounts what it mounted. With `dry_run`, nothing is written: the
//! writes are recorded as shell commands ([`Instance::writes`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How to get the rights live tracing needs, said with every permission error.
const NEEDS_ROOT: &str = "live tracing needs root (CAP_SYS_ADMIN): run memdx trace as root, e.g. with sudo";

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    /// The cause is in the message, not a `source()`: printed once, not once per chain link.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    #[error("{0}: permission denied: {NEEDS_ROOT}")]
    Permission(PathBuf),
    #[error("tracefs is not mounted and mounting it on {0} failed: {1}{hint}", hint = mount_hint(.1))]
    Mount(PathBuf, String),
    #[error("{0}")]
    Spec(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TracefsError + '_ {
    move |err| match err.kind() {
        // EACCES and EPERM.
        io::ErrorKind::PermissionDenied => TracefsError::Permission(path.to_path_buf()),
        _ => TracefsError::Io { path: path.to_path_buf(), err },
    }
}

/// What to do when mounting tracefs failed: as a user, become root; as root (a container without
/// CAP_SYS_ADMIN), mount it from the host.
fn mount_hint(msg: &str) -> String {
    let m = msg.to_ascii_lowercase();
    if m.contains("root")
        || m.contains("permission")
        || m.contains("not permitted")
        || m.contains("superuser")
    {
        format!(
            " ({NEEDS_ROOT}; in a container, mount tracefs on the host: mount -t tracefs nodev \
             /sys/kernel/tracing)"
        )
    } else {
        " (mount it: mount -t tracefs nodev /sys/kernel/tracing; the kernel needs CONFIG_TRACING)".into()
    }
}

/// Finds the tracefs mount point in `<root>/proc/mounts` (tracefs itself, or `tracing/` inside a
/// debugfs mount on kernels before 4.1), as a path under `root`.
pub fn locate(root: &Path) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string(root.join("proc/mounts")).ok()?;
    let under = |p: &str| root.join(p.trim_start_matches('/'));
    // Only an existing tracefs mount is used. `debugfs/tracing` is not probed: touching it
    // automounts tracefs there, which would leave the system changed; memdx mounts its own instead.
    // Another memdx run's private mount is not the system's: that run unmounts it when it ends
    // (its unmount then fails while this run has files open in it, leaving the mount behind).
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_, dir, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == "tracefs" && !is_private_mount(Path::new(dir))).then(|| under(dir))
    })
}

/// Whether `dir` (as `/proc/mounts` lists it) is a memdx run's private tracefs mount point.
fn is_private_mount(dir: &Path) -> bool {
    let private_name = dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(MOUNT_PREFIX));
    private_name && dir.parent() == Some(std::env::temp_dir().as_path())
}

/// A stop flag for capture loops, set by SIGINT, SIGTERM, SIGHUP (a dropped SSH session) or
/// SIGQUIT: their default action, killing the process without cleanup, is replaced. Install it
/// before mounting or arming anything, so that no signal can leave tracefs changed.
pub fn stop_flag() -> io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// Prefix of memdx's private tracefs mount points in the temporary directory.
const MOUNT_PREFIX: &str = "memdx-tracefs";

/// Start time of a process in clock ticks after boot (field 22 of `/proc/PID/stat`).
fn start_time(root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(root.join(format!("proc/{pid}/stat"))).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `<pid>-<start time>` of this process: who owns an instance or mount, told apart from a later
/// process that reuses the PID.
fn owner_tag() -> String {
    let pid = std::process::id();
    format!("{pid}-{}", start_time(Path::new("/"), pid).unwrap_or(0))
}

/// The name of a private instance for a capture of `kind`: `memdx-<kind>-<pid>-<start time>`.
pub fn instance_name(kind: &str) -> String {
    format!("memdx-{kind}-{}", owner_tag())
}

/// The owner of a memdx instance or mount name: (pid, start time). Names of older memdx versions
/// (`memdx-reclaim-<pid>`) have no start time.
fn owner_of(name: &str) -> Option<(u32, Option<u64>)> {
    let rest = name.strip_prefix("memdx-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let num = |s: &str| s.parse::<u64>().ok();
    match parts.as_slice() {
        [.., pid, start] if num(pid).is_some() && num(start).is_some() && parts.len() >= 3 => {
            Some((pid.parse().ok()?, num(start)))
        }
        [.., pid] if parts.len() >= 2 => Some((pid.parse().ok()?, None)),
        _ => None,
    }
}

/// Whether the owner of a memdx name is gone: no such process, another process with its PID
/// (other start time), or, for names without a start time, a PID that is no longer memdx.
fn owner_dead(root: &Path, pid: u32, start: Option<u64>) -> bool {
    if pid == std::process::id() {
        return false;
    }
    match (start_time(root, pid), start) {
        (None, _) => true,
        (Some(now), Some(then)) => now != then,
        (Some(_), None) => std::fs::read_to_string(root.join(format!("proc/{pid}/comm")))
            .map_or(true, |c| c.trim() != "memdx"),
    }
}

/// What [`cleanup_stale`] found: one line per leftover (removed, or why it could not be).
#[derive(Debug, Default)]
pub struct Stale {
    pub removed: Vec<String>,
    pub failed: Vec<String>,
    /// The instances could not be listed (not root): nothing is known about leftovers.
    pub unlisted: Option<String>,
}

/// Removes what dead memdx processes left (a SIGKILL, a power cut of the SSH session before
/// SIGHUP was handled): private instances in the tracefs under `root`, with their triggers and
/// events, and private tracefs mounts in the temporary directory. Instances of live owners are
/// left alone.
pub fn cleanup_stale(root: &Path) -> Stale {
    let mut out = Stale::default();
    if let Some(t) = locate(root) {
        let rd = match std::fs::read_dir(t.join("instances")) {
            Ok(rd) => rd,
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    out.unlisted = Some(TracefsError::Permission(t.join("instances")).to_string());
                }
                return out;
            }
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let Some((pid, start)) = owner_of(&name) else { continue };
            if !owner_dead(root, pid, start) {
                continue;
            }
            match remove_instance(&ent.path()) {
                // Removed by its owner on the way out, between the listing and now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Ok(()) => {
                    out.removed.push(format!("instance {} (owner PID {pid} is gone)", ent.path().display()))
                }
                Err(e) => out.failed.push(format!("instance {}: {e}", ent.path().display())),
            }
        }
    }
    // Private mounts of dead owners (only on the live system: mounts are not under a --root).
    if root == Path::new("/") {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for l in mounts.lines() {
            let mut f = l.split_whitespace();
            let (Some(_), Some(dir), Some("tracefs")) = (f.next(), f.next(), f.next()) else { continue };
            let dir = Path::new(dir);
            let Some(name) = dir.file_name().and_then(|n| n.to_str()) else { continue };
            if !is_private_mount(dir) {
                continue;
            }
            let tag = name.trim_start_matches(MOUNT_PREFIX).trim_start_matches('-');
            let mut parts = tag.split('-');
            let (Some(pid), Some(start)) =
                (parts.next().and_then(|p| p.parse().ok()), parts.next().and_then(|s| s.parse().ok()))
            else {
                continue;
            };
            if !owner_dead(root, pid, Some(start)) {
                continue;
            }
            let ok = std::process::Command::new("umount").arg(dir).status().is_ok_and(|s| s.success());
            if ok && std::fs::remove_dir(dir).is_ok() {
                out.removed.push(format!("tracefs mount {} (owner PID {pid} is gone)", dir.display()));
            } else {
                out.failed.push(format!("tracefs mount {}: umount failed", dir.display()));
            }
        }
    }
    out
}

/// Disarms and removes one instance: tracing off, every trigger removed (a `stacktrace` trigger
/// stays armed after its event is disabled), every event disabled, then rmdir.
fn remove_instance(dir: &Path) -> io::Result<()> {
    let _ = std::fs::write(dir.join("tracing_on"), "0");
    if let Ok(systems) = std::fs::read_dir(dir.join("events")) {
        for sys in systems.flatten().filter(|e| e.path().is_dir()) {
            let Ok(events) = std::fs::read_dir(sys.path()) else { continue };
            for ev in events.flatten() {
                let trig = ev.path().join("trigger");
                let Ok(text) = std::fs::read_to_string(&trig) else { continue };
                for t in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
                    // `stacktrace:unlimited if ...` is removed as `!stacktrace if ...`.
                    let t = t.split_once(" if ").map_or_else(
                        || t.split(':').next().unwrap_or(t).to_string(),
                        |(a, b)| format!("{} if {b}", a.split(':').next().unwrap_or(a)),
                    );
                    let _ = std::fs::write(&trig, format!("!{t}"));
                }
            }
        }
    }
    let _ = std::fs::write(dir.join("events/enable"), "0");
    // The kernel refuses to remove an instance while any of its files is open (EBUSY): another
    // memdx sweeping the same leftover, or the dead owner's reader still being released. Both
    // pass within milliseconds, so retry briefly before reporting failure.
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::ResourceBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

/// Reads a file under `root` (e.g. `proc/vmstat`), for the samples taken around a capture.
pub fn read_rooted(root: &Path, rel: &str) -> Result<String, TracefsError> {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::read_to_string(&p).map_err(io_err(&p))
}

/// A tracefs mount (found, or mounted privately by memdx and unmounted on drop).
#[derive(Debug)]
pub struct Tracefs {
    dir: PathBuf,
    mounted_by_us: bool,
    dry_run: bool,
    writes: Vec<String>,
}

impl Tracefs {
    /// Finds tracefs under `root`, or mounts it on a new directory in the temporary directory.
    pub fn open(root: &Path, dry_run: bool) -> Result<Tracefs, TracefsError> {
        if let Some(dir) = locate(root) {
            return Ok(Tracefs { dir, mounted_by_us: false, dry_run, writes: Vec::new() });
        }
        // A fresh 0700 directory (never one that exists: a planted symlink or directory would put
        // tracefs where another user chose).
        let tmp = std::env::temp_dir();
        let mut dir = tmp.join(format!("{MOUNT_PREFIX}-{}-XXXX", owner_tag()));
        if !dry_run {
            dir = crate::files::private_dir(&tmp, &format!("{MOUNT_PREFIX}-{}", owner_tag()))
                .map_err(io_err(&tmp))?;
        }
        let mut writes = vec![
            format!("mkdir -m 700 {}", dir.display()),
            format!("mount -t tracefs nodev {}", dir.display()),
        ];
        if !dry_run {
            // `mount(8)` rather than mount(2): the workspace denies unsafe code.
            let out = std::process::Command::new("mount")
                .args(["-t", "tracefs", "nodev"])
                .arg(&dir)
                .output()
                .map_err(|e| TracefsError::Mount(dir.clone(), e.to_string()))?;
            if !out.status.success() {
                let _ = std::fs::remove_dir(&dir);
                // mount(8)'s first line says why; the next one points to dmesg.
                let why =
                    String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
                return Err(TracefsError::Mount(dir, why));
            }
        }
        writes.shrink_to_fit();
        Ok(Tracefs { dir, mounted_by_us: true, dry_run, writes })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted_by_us && !self.dry_run {
            let _ = std::process::Command::new("umount").arg(&self.dir).status();
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// What to set up in a private instance. Event names are `system` (all its events) or
/// `system/event`.
#[derive(Debug, Clone, Default)]
pub struct InstanceSpec {
    pub name: String,
    pub events: Vec<String>,
    /// (event, filter expression), e.g. `("kmem/kmalloc", "bytes_req >= 4096")`.
    pub filters: Vec<(String, String)>,
    /// (event, trigger), e.g. `("kmem/kmem_cache_alloc", "stacktrace if name == \"kmalloc-128\"")`.
    pub triggers: Vec<(String, String)>,
    /// Instance options (`options/<name>`), e.g. `("stacktrace", true)`.
    pub options: Vec<(String, bool)>,
    /// Per-CPU ring buffer size (`buffer_size_kb`).
    pub buffer_kb: u32,
}

/// Ring-buffer counters of one CPU (`per_cpu/cpuN/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuBufferStats {
    pub cpu: u32,
    pub entries: u64,
    pub overrun: u64,
    pub dropped: u64,
}

/// A live private instance; cleaned up on drop.
#[derive(Debug)]
pub struct Instance {
    tracefs: Tracefs,
    dir: PathBuf,
    spec: InstanceSpec,
    pipe: Option<File>,
    created: bool,
    armed_triggers: Vec<(String, String)>,
    set_filters: Vec<String>,
    enabled: Vec<String>,
}

impl Instance {
    /// Creates and arms the instance. On error, whatever was set up is removed before returning.
    pub fn create(tracefs: Tracefs, spec: InstanceSpec) -> Result<Instance, TracefsError> {
        if spec.name.is_empty() || spec.name.contains('/') || spec.name.starts_with('.') {
            return Err(TracefsError::Spec(format!("bad instance name {:?}", spec.name)));
        }
        let dir = tracefs.dir.join("instances").join(&spec.name);
        let mut inst = Instance {
            tracefs,
            dir,
            spec,
            pipe: None,
            created: false,
            armed_triggers: Vec::new(),
            set_filters: Vec::new(),
            enabled: Vec::new(),
        };
        inst.arm()?;
        Ok(inst)
    }

    fn arm(&mut self) -> Result<(), TracefsError> {
        self.mkdir()?;
        self.created = true;
        let spec = self.spec.clone();
        self.write("tracing_on", "0")?;
        if spec.buffer_kb > 0 {
            self.write("buffer_size_kb", &spec.buffer_kb.to_string())?;
        }
        for (opt, on) in &spec.options {
            self.write(&format!("options/{opt}"), if *on { "1" } else { "0" })?;
        }
        for (ev, f) in &spec.filters {
            self.write(&format!("events/{ev}/filter"), f)?;
            self.set_filters.push(ev.clone());
        }
        for (ev, t) in &spec.triggers {
            self.write(&format!("events/{ev}/trigger"), t)?;
            self.armed_triggers.push((ev.clone(), t.clone()));
        }
        for ev in &spec.events {
            self.write(&format!("events/{ev}/enable"), "1")?;
            self.enabled.push(ev.clone());
        }
        self.write("tracing_on", "1")?;
        Ok(())
    }

    fn mkdir(&mut self) -> Result<(), TracefsError> {
        self.tracefs.writes.push(format!("mkdir {}", self.dir.display()));
        if self.tracefs.dry_run {
            return Ok(());
        }
        std::fs::create_dir(&self.dir).map_err(io_err(&self.dir))
    }

    fn write(&mut self, rel: &str, value: &str) -> Result<(), TracefsError> {
        let p = self.dir.join(rel);
        self.tracefs.writes.push(format!("echo '{}' > {}", value, p.display()));
        if self.tracefs.dry_run {
            return Ok(());
        }
        std::fs::write(&p, value).map_err(io_err(&p))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dry_run(&self) -> bool {
        self.tracefs.dry_run
    }

    /// Every write made (or, in dry-run, that would be made), as shell commands.
    pub fn writes(&self) -> &[String] {
        &self.tracefs.writes
    }

    /// The `format` file of one event in this instance.
    pub fn event_format(&self, event: &str) -> Result<String, TracefsError> {
        let p = self.dir.join("events").join(event).join("format");
        std::fs::read_to_string(&p).map_err(io_err(&p))
    }

    /// Reads what `trace_pipe` has now, without blocking: `Ok(0)` when it is empty (or in dry-run).
    pub fn read_pipe(&mut self, buf: &mut [u8]) -> Result<usize, TracefsError> {
        if self.tracefs.dry_run {
            return Ok(0);
        }
        if self.pipe.is_none() {
            let p = self.dir.join("trace_pipe");
            let f =
                OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&p).map_err(io_err(&p))?;
            self.pipe = Some(f);
        }
        let Some(pipe) = self.pipe.as_mut() else { return Ok(0) };
        match pipe.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                Ok(0)
            }
            Err(e) => Err(io_err(&self.dir.join("trace_pipe"))(e)),
        }
    }

    /// Stops recording (`tracing_on` 0); the buffer can still be drained.
    pub fn stop(&mut self) -> Result<(), TracefsError> {
        self.write("tracing_on", "0")
    }

    /// Per-CPU ring-buffer counters (entries, overrun, dropped events).
    pub fn buffer_stats(&self) -> Vec<CpuBufferStats> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.dir.join("per_cpu")) else { return out };
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(cpu) = name.to_str().and_then(|n| n.strip_prefix("cpu")).and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(ent.path().join("stats")) else { continue };
            let mut s = CpuBufferStats { cpu, ..Default::default() };
            for l in text.lines() {
                let Some((k, v)) = l.split_once(':') else { continue };
                let v = v.trim().parse().unwrap_or(0);
                match k.trim() {
                    "entries" => s.entries = v,
                    "overrun" => s.overrun = v,
                    "dropped events" => s.dropped = v,
                    _ => {}
                }
            }
            out.push(s);
        }
        out.sort_by_key(|s| s.cpu);
        out
    }

    /// Disables events, removes triggers and filters, removes the instance. Idempotent; returns
    /// the steps that failed.
    pub fn cleanup(&mut self) -> Result<(), Vec<String>> {
        if !self.created {
            return Ok(());
        }
        self.pipe = None;
        let mut errors = Vec::new();
        let mut step = |me: &mut Instance, rel: String, v: String| {
            if let Err(e) = me.write(&rel, &v) {
                errors.push(e.to_string());
            }
        };
        step(self, "tracing_on".into(), "0".into());
        for ev in std::mem::take(&mut self.enabled) {
            step(self, format!("events/{ev}/enable"), "0".into());
        }
        for (ev, t) in std::mem::take(&mut self.armed_triggers) {
            step(self, format!("events/{ev}/trigger"), format!("!{t}"));
        }
        for ev in std::mem::take(&mut self.set_filters) {
            step(self, format!("events/{ev}/filter"), "0".into());
        }
        self.tracefs.writes.push(format!("rmdir {}", self.dir.display()));
        if !self.tracefs.dry_run {
            if let Err(e) = std::fs::remove_dir(&self.dir) {
                errors.push(format!("{}: {e}", self.dir.display()));
            }
        }
        self.created = false;
        if self.tracefs.mounted_by_us {
            self.tracefs.writes.push(format!("umount {}", self.tracefs.dir.display()));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.cleanup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_reads_mounts_under_root() {
        let root = std::env::temp_dir().join(format!("memdx-tracefs-test-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(
            root.join("proc/mounts"),
            "sysfs /sys sysfs rw 0 0\nnodev /sys/kernel/tracing tracefs rw 0 0\n",
        )
        .unwrap();
        assert_eq!(locate(&root), Some(root.join("sys/kernel/tracing")));
        std::fs::write(root.join("proc/mounts"), "sysfs /sys sysfs rw 0 0\n").unwrap();
        assert_eq!(locate(&root), None);
        // Another run's private mount is not the system's tracefs.
        let private = std::env::temp_dir().join("memdx-tracefs-123-456-123-abcd-0");
        let line = format!("nodev {} tracefs rw 0 0\n", private.display());
        std::fs::write(root.join("proc/mounts"), &line).unwrap();
        assert_eq!(locate(&root), None);
        let elsewhere = format!("nodev /mnt/memdx-tracefs-1 tracefs rw 0 0\n{line}");
        std::fs::write(root.join("proc/mounts"), elsewhere).unwrap();
        assert_eq!(locate(&root), Some(root.join("mnt/memdx-tracefs-1")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn dry_run_records_writes_and_cleanup() {
        let root = std::env::temp_dir().join(format!("memdx-tracefs-dry-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(root.join("proc/mounts"), "nodev /t tracefs rw 0 0\n").unwrap();
        let tfs = Tracefs::open(&root, true).unwrap();
        let spec = InstanceSpec {
            name: "memdx-test".into(),
            events: vec!["vmscan".into()],
            filters: vec![("kmem/kmalloc".into(), "bytes_req >= 4096".into())],
            triggers: vec![("kmem/kmalloc".into(), "stacktrace".into())],
            options: vec![("stacktrace".into(), false)],
            buffer_kb: 4096,
        };
        let mut inst = Instance::create(tfs, spec).unwrap();
        inst.cleanup().unwrap();
        let w = inst.writes().join("\n");
        let d = root.join("t/instances/memdx-test");
        assert!(w.contains(&format!("mkdir {}", d.display())));
        assert!(w.contains(&format!("echo '1' > {}/events/vmscan/enable", d.display())));
        assert!(w.contains(&format!("echo '!stacktrace' > {}/events/kmem/kmalloc/trigger", d.display())));
        assert!(w.ends_with(&format!("rmdir {}", d.display())));
        assert!(!d.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
