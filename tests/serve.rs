//! `memdx serve` on loopback over a captured root: the exposition passes `promtool check metrics`,
//! the alert rules pass `promtool test rules`, and Debian's real `prometheus` scrapes it and answers
//! a query for a memdx metric. Tests needing promtool or prometheus skip with a printed reason.
//! Debian: `apt-get install -y prometheus` (brings promtool).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
mod common;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Kills the child when dropped, so a failing assertion does not leave a server running.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `memdx serve` on an ephemeral loopback port over the captured root; returns the guard
/// and the address.
fn start() -> (common::Guard, String) {
    let root = manifest().join("testdata/store/root");
    common::serve(&["--slab-top", "20", "--root", root.to_str().unwrap()])
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (code, body)
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn exposition_is_valid() {
    let (_g, addr) = start();
    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    for m in [
        "memdx_slab_cache_bytes{cache=\"",
        "memdx_fragmentation_unusable_ratio{node=\"0\",zone=\"Normal\",order=\"3\"}",
        "memdx_zone_watermark_headroom_bytes{node=\"0\",zone=\"Normal\",watermark=\"min\"}",
        "memdx_vmstat_allocstall_total ",
        "memdx_findings_by_severity{severity=\"critical\"}",
        "memdx_info{version=\"",
    ] {
        assert!(body.contains(m), "missing {m}");
    }
    assert_eq!(body.matches("memdx_slab_cache_bytes{").count(), 20, "--slab-top 20 bounds the caches");
    assert_eq!(get(&addr, "/nope").0, 404);
    if !have("promtool") {
        common::skip("promtool not installed (apt-get install -y prometheus)");
        return;
    }
    let mut p = Command::new("promtool").args(["check", "metrics"]).stdin(Stdio::piped()).output_with(&body);
    assert!(p.0, "promtool check metrics: {}", p.1);
    p = Command::new("promtool")
        .args(["test", "rules", "memdx-rules.test.yml"])
        .current_dir(manifest().join("deploy/prometheus"))
        .stdin(Stdio::null())
        .output_with("");
    assert!(p.0, "promtool test rules: {}", p.1);
}

trait OutputWith {
    fn output_with(&mut self, input: &str) -> (bool, String);
}
impl OutputWith for Command {
    fn output_with(&mut self, input: &str) -> (bool, String) {
        let mut c = self.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        (
            o.status.success(),
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn prometheus_scrapes_it() {
    if !have("prometheus") {
        common::skip("prometheus not installed (apt-get install -y prometheus)");
        return;
    }
    let (_g, addr) = start();
    let dir: PathBuf = std::env::temp_dir().join(format!("memdx-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: memdx\n    static_configs:\n      - targets: ['{addr}']\n",
            manifest().join("deploy/prometheus/memdx-rules.yml").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _p = Guard(prom);
    let api = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if TcpStream::connect(&api).is_err() {
            continue;
        }
        let (code, body) = get(&api, "/api/v1/query?query=memdx_slab_total_bytes");
        last = body.clone();
        if code == 200 && body.contains("\"job\":\"memdx\"") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let val = v["data"]["result"][0]["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            assert!(val > 1e6, "slab total {val}");
            let (_, rules) = get(&api, "/api/v1/rules");
            assert!(rules.contains("MemdxSlabCacheLeak"), "rules not loaded: {rules}");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    panic!("prometheus never returned a memdx metric; last answer: {last}");
}

/// Issue 15 item 7: a scrape of the live system reads the vm sysctls but never
/// /proc/sys/vm/stat_refresh (reading it flushes the vmstat counters of every CPU, at every scrape).
/// What the exporter opens during three fresh scrapes is seen with strace attached to it.
#[test]
fn scrapes_never_read_stat_refresh() {
    use std::io::BufRead;
    if !have("strace") {
        return common::skip("strace is not installed");
    }
    let (g, addr) = common::serve(&["--min-interval", "0s"]);
    let log = std::env::temp_dir().join(format!("memdx-serve-strace-{}", std::process::id()));
    let mut strace = Command::new("strace")
        .args(["-f", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&log)
        .args(["-p", &g.0.id().to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(strace.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("attached"), "strace: {line}");
    for _ in 0..3 {
        let (code, body) = get(&addr, "/metrics");
        assert_eq!(code, 200);
        assert!(body.contains("memdx_"), "{body}");
    }
    // SIGINT detaches strace and leaves the exporter running (the guard stops it).
    assert!(Command::new("kill").args(["-INT", &strace.id().to_string()]).status().unwrap().success());
    strace.wait().unwrap();
    let opened = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(opened.matches("/proc/sys/vm/min_free_kbytes").count() >= 3, "{opened}");
    assert!(!opened.contains("stat_refresh"), "{opened}");
    drop(g);
}
