//! The release artifacts of `dist/build.sh` (under target/artifacts/): the x86_64 musl binary is static
//! (no interpreter, no NEEDED library, per `readelf`) and runs `diagnose`, `log` and `serve` inside a
//! Debian 11 (bullseye, glibc 2.31) root made by `debootstrap` (`dist/build.sh bullseye`); the .deb
//! holds the binary, man pages, completions, units and Prometheus/Grafana files, installs there with
//! `dpkg -i`, and `man memdx-diagnose` then works; the aarch64 binary is an AArch64 executable and runs
//! under qemu-user when present.
//!
//! Building the artifacts takes minutes, so `cargo test` does not: each test skips with a printed
//! reason when its artifact (or root, or peer tool) is missing. `.ci/dist` builds them and runs these
//! tests with MEMDX_DIST=1, under which a missing artifact fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dist() -> PathBuf {
    manifest().join("target/artifacts")
}

fn skip(why: &str) {
    if std::env::var_os("MEMDX_DIST").is_some_and(|v| v == "1") {
        panic!("MEMDX_DIST=1 and {why}");
    }
    eprintln!("skipped: {why}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An artifact under target/artifacts, or `None` after printing why the test skips.
fn artifact(rel: &str) -> Option<PathBuf> {
    let p = dist().join(rel);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} not built (run dist/build.sh)", p.display()));
        None
    }
}

/// The bullseye root, when `dist/build.sh bullseye` made it and we may chroot.
fn bullseye() -> Option<PathBuf> {
    let r = dist().join("bullseye-root");
    if !r.join("etc/debian_version").exists() {
        skip(&format!("{} missing (run dist/build.sh bullseye)", r.display()));
        return None;
    }
    if !is_root() {
        skip("chroot needs root");
        return None;
    }
    Some(r)
}

fn readelf(args: &[&str], bin: &Path) -> Option<String> {
    if !common::have("readelf") {
        skip("readelf (binutils) not installed");
        return None;
    }
    Some(ok(Command::new("readelf").args(args).arg(bin).output().unwrap(), "readelf"))
}

#[test]
fn musl_binary_is_static() {
    let Some(bin) = artifact("x86_64-unknown-linux-musl/memdx") else { return };
    let Some(headers) = readelf(&["-lhd", "-W"], &bin) else { return };
    assert!(headers.contains("Advanced Micro Devices X86-64"), "{headers}");
    assert!(!headers.contains("INTERP"), "has a program interpreter:\n{headers}");
    assert!(!headers.contains("(NEEDED)"), "needs shared libraries:\n{headers}");
    let Some(syms) = readelf(&["-V", "-W"], &bin) else { return };
    assert!(!syms.contains("GLIBC_"), "versioned glibc symbols:\n{syms}");
    let size = std::fs::metadata(&bin).unwrap().len();
    eprintln!("{}: {size} bytes", bin.display());
}

/// Copies the binary and the test inputs into `root/opt/memdx-test`, returns that directory's path
/// inside the chroot.
fn stage(root: &Path, bin: &Path) -> &'static str {
    let dir = root.join("opt/memdx-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bin, dir.join("memdx")).unwrap();
    let cp = Command::new("cp")
        .args(["-a", "testdata/store/root", "testdata/log/live618_memcg_oom.dmesg"])
        .arg(&dir)
        .current_dir(manifest())
        .output()
        .unwrap();
    ok(cp, "cp testdata");
    "/opt/memdx-test"
}

fn chroot(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root).args(args).env_clear().env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin").env("NO_COLOR", "1");
    c
}

#[test]
fn musl_binary_runs_in_debian_11() {
    let Some(bin) = artifact("x86_64-unknown-linux-musl/memdx") else { return };
    let Some(root) = bullseye() else { return };
    let libc = ok(chroot(&root, &["ldd", "--version"]).output().unwrap(), "ldd");
    assert!(libc.contains("2.31"), "not a glibc 2.31 userland: {libc}");
    let d = stage(&root, &bin);
    let m = format!("{d}/memdx");
    let ver = ok(chroot(&root, &[&m, "--version"]).output().unwrap(), "memdx --version");
    assert!(ver.starts_with("memdx "), "{ver}");

    // diagnose a captured root: exit 0 or 1 (findings), never 2, and a report.
    let out = chroot(&root, &[&m, "diagnose", "--json", "--root", &format!("{d}/root")]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["findings"].is_array(), "{v}");

    // log: the memcg OOM of the capture.
    let out = chroot(&root, &[&m, "log", &format!("{d}/live618_memcg_oom.dmesg")]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("oom"), "{}", String::from_utf8_lossy(&out.stdout));

    // serve: scrape /metrics from outside the chroot (same network namespace).
    let mut child = chroot(&root, &[&m, "serve", "--listen", "127.0.0.1:0", "--root", &format!("{d}/root")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let _guard = common::Guard(child);
    let mut line = String::new();
    BufReader::new(err).read_line(&mut line).unwrap();
    let addr =
        line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap_or_else(|| panic!("{line}"));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.") && body.contains(" 200 "), "{body}");
    assert!(body.contains("memdx_meminfo_bytes"), "{body}");
}

#[test]
fn deb_contents_and_install_in_debian_11() {
    let deb = std::fs::read_dir(dist())
        .ok()
        .and_then(|rd| rd.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "deb")));
    let Some(deb) = deb else {
        return skip("no .deb in target/artifacts (run dist/build.sh deb)");
    };
    if !common::have("dpkg-deb") {
        return skip("dpkg-deb not installed");
    }
    let list = ok(Command::new("dpkg-deb").arg("-c").arg(&deb).output().unwrap(), "dpkg-deb -c");
    for want in [
        "./usr/bin/memdx",
        "./usr/share/man/man1/memdx.1.gz",
        "./usr/share/man/man1/memdx-diagnose.1.gz",
        "./usr/share/man/man1/memdx-trace-allocs.1.gz",
        "./usr/share/bash-completion/completions/memdx",
        "./usr/share/zsh/vendor-completions/_memdx",
        "./usr/share/fish/vendor_completions.d/memdx.fish",
        "memdx-serve.service",
        "memdx-record.service",
        "./usr/share/memdx/prometheus/memdx-rules.yml",
        "./usr/share/memdx/prometheus/memdx-fleet-rules.yml",
        "./usr/share/memdx/grafana/memdx-host.json",
        "./usr/share/memdx/grafana/memdx-fleet.json",
    ] {
        assert!(list.contains(want), "{want} not in the .deb:\n{list}");
    }
    let Some(root) = bullseye() else { return };
    let inside = "/tmp/memdx-test.deb";
    std::fs::copy(&deb, root.join(inside.trim_start_matches('/'))).unwrap();
    ok(chroot(&root, &["dpkg", "-i", inside]).output().unwrap(), "dpkg -i");
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/memdx-serve.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/memdx serve"), "{unit}");
    let page =
        chroot(&root, &["man", "memdx-diagnose"]).env("MANPAGER", "cat").env("MANWIDTH", "100").output();
    let page = ok(page.unwrap(), "man memdx-diagnose");
    let ran = ok(chroot(&root, &["memdx", "--version"]).output().unwrap(), "memdx --version");
    let completion = chroot(
        &root,
        &["bash", "-c", "source /usr/share/bash-completion/completions/memdx && complete -p memdx"],
    )
    .output()
    .unwrap();
    ok(chroot(&root, &["dpkg", "--purge", "memdx"]).output().unwrap(), "dpkg --purge");
    let _ = std::fs::remove_file(root.join(inside.trim_start_matches('/')));
    assert!(page.contains("memdx-diagnose") && page.contains("--json"), "{page}");
    assert!(ran.starts_with("memdx "), "{ran}");
    ok(completion, "bash completion in bullseye");
}

#[test]
fn aarch64_binary() {
    let Some(bin) = artifact("aarch64-unknown-linux-gnu/memdx") else { return };
    let Some(h) = readelf(&["-h", "-W"], &bin) else { return };
    assert!(h.contains("AArch64"), "{h}");
    if let Some(v) = readelf(&["-V", "-W"], &bin) {
        let mut need: Vec<&str> = v.split_whitespace().filter(|w| w.starts_with("GLIBC_2.")).collect();
        need.sort_by_key(|w| w.trim_start_matches("GLIBC_2.").parse::<u32>().unwrap_or(0));
        eprintln!("{}: newest glibc symbol version {:?}", bin.display(), need.last());
    }
    let qemu = ["qemu-aarch64-static", "qemu-aarch64"].into_iter().find(|q| common::have(q));
    let Some(qemu) = qemu else {
        return skip("qemu-user not installed: the aarch64 binary was not run");
    };
    let sysroot = Path::new("/usr/aarch64-linux-gnu");
    let out = Command::new(qemu)
        .arg("-L")
        .arg(sysroot)
        .arg(&bin)
        .args(["log", "--json", "testdata/log/live618_memcg_oom.dmesg"])
        .current_dir(manifest())
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("oom"), "{v}");
}

/// The slim build (`dist/build.sh musl-slim`, no `symbolize` feature) is static, runs `log`, and
/// says what it lacks when asked for --vmlinux.
#[test]
fn musl_slim_binary() {
    let Some(slim) = artifact("x86_64-unknown-linux-musl-slim/memdx") else { return };
    let Some(headers) = readelf(&["-lhd", "-W"], &slim) else { return };
    assert!(!headers.contains("INTERP") && !headers.contains("(NEEDED)"), "{headers}");
    let size = std::fs::metadata(&slim).unwrap().len();
    if let Some(full) = artifact("x86_64-unknown-linux-musl/memdx") {
        let full = std::fs::metadata(full).unwrap().len();
        // Printed, not asserted: the two may come from different commits, and std's own backtrace
        // code already links gimli, so leaving out `symbolize` saves little.
        eprintln!("slim {size} bytes, full {full} bytes");
    }
    let log = Command::new(&slim)
        .args(["log", "testdata/log/live618_memcg_oom.dmesg"])
        .current_dir(manifest())
        .output()
        .unwrap();
    assert!(matches!(log.status.code(), Some(0 | 1)));
    let v = Command::new(&slim)
        .args(["log", "--vmlinux", "/nonexistent", "testdata/log/live618_memcg_oom.dmesg"])
        .current_dir(manifest())
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&v.stderr).contains("without the `symbolize` feature"));
}
