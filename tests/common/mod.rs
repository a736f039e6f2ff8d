//! Helpers shared by the binary's integration tests. Each test binary uses a part of them.
#![allow(dead_code)]

use std::path::Path;

mod golden;
mod skip;
#[allow(unused_imports)]
pub use skip::skip;
use std::process::Command;

/// The `memdx` binary, without colour, run from the package root (so `testdata/...` paths are stable),
/// keeping its state (the names of the cgroups it sees) under the build's scratch directory
/// ([`state_dir`]), never the machine's.
pub fn memdx() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memdx"));
    c.env("NO_COLOR", "1").env("MEMDX_STATE_DIR", state_dir()).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// The state directory of the memdx runs of the tests: `CARGO_TARGET_TMPDIR/memdx-state`.
pub fn state_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("memdx-state")
}

/// `MEMDX_UPDATE_GOLDENS=1` rewrites goldens instead of comparing with them.
pub fn update() -> bool {
    golden::updating()
}

/// Compares `actual` with the golden file, or rewrites it under MEMDX_UPDATE_GOLDENS=1 (`golden.rs`).
pub fn golden(path: &Path, actual: &str) {
    golden::check_golden(path, actual)
}

/// Kills the child when dropped, so a failing assertion does not leave a server running.
pub struct Guard(pub std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `memdx serve --listen 127.0.0.1:0` with `args`; returns the guard and the bound address
/// (from the line the server prints on stderr).
pub fn serve(args: &[&str]) -> (Guard, String) {
    use std::io::BufRead;
    let mut child = memdx()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    std::io::BufReader::new(err).read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    (guard, addr)
}

/// HTTP/1.0 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (code, body)
}

/// Whether `tool --version` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Runs `memdx ARGS` as user nobody (via util-linux setpriv) from a world-readable copy of the binary
/// (the test binary may live under a directory nobody cannot enter). `None` when setpriv is missing.
pub fn memdx_as_nobody(args: &[&str]) -> Option<std::process::Output> {
    Command::new("setpriv").arg("--version").output().ok()?;
    use std::os::unix::fs::PermissionsExt;
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("memdx-nobody-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = tmp.join("memdx");
    std::fs::copy(env!("CARGO_BIN_EXE_memdx"), &bin).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A process another test thread forks while the copy is open for writing holds that descriptor
    // until it execs: exec of the copy fails with ETXTBSY (setpriv exits 126) for that moment.
    let mut tries = 0;
    let out = loop {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .env("NO_COLOR", "1")
            .current_dir(&tmp)
            .output()
            .unwrap();
        let busy =
            out.status.code() == Some(126) && String::from_utf8_lossy(&out.stderr).contains("Text file busy");
        if !busy || tries == 50 {
            break out;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::fs::remove_dir_all(&tmp).unwrap();
    Some(out)
}

/// Starts Debian's `prometheus` with `config` (prometheus.yml text) in `dir`, on a free loopback
/// port; returns the guard and the API address.
pub fn prometheus(dir: &Path, config: &str) -> (Guard, String) {
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (Guard(child), format!("127.0.0.1:{port}"))
}

/// Whether the tests run as root (live tests need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `promtool check metrics` on an exposition; skips (with the reason) when promtool is missing.
pub fn promtool_check_metrics(body: &str) {
    use std::io::Write;
    if !have("promtool") {
        return skip("promtool not installed (apt-get install -y prometheus)");
    }
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Pages of 4 KiB that a `memdx history --json` document shows pinning dying memcgs at `parent` at
/// the latest sample (the `pinned` column of its `history.memcg_pinned` row, `12.0 MiB`: rounded to
/// 0.1 of its unit).
pub fn history_pinned_pages(v: &serde_json::Value, parent: &str) -> u64 {
    let table = v["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "history.memcg_pinned"))
        .unwrap_or_else(|| panic!("no history.memcg_pinned table: {v:#}"));
    let col = |name: &str| {
        table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{table}"))
    };
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[col("parent")] == parent)
        .unwrap_or_else(|| panic!("no row for {parent}: {table:#}"));
    assert!(row[col("last recorded")].as_str().unwrap().ends_with("(latest sample)"), "{row}");
    let text = row[col("pinned")].as_str().unwrap();
    let (n, unit) = text.split_once(' ').unwrap_or_else(|| panic!("{text}"));
    let scale = match unit {
        "KiB" => 1u64 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => panic!("unit of {text:?}"),
    };
    (n.parse::<f64>().unwrap() * scale as f64 / 4096.0).round() as u64
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
