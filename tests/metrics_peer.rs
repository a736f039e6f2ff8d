//! The exporter's reclaim counters against Debian's node_exporter (`prometheus-node-exporter`) on
//! the same /proc/vmstat: a /proc tree recorded on this project's 6.18 machine after reclaim ran
//! (kswapd, direct and memcg-limit reclaim). node_exporter exports each vmstat line as it is. The
//! kernel counts each scanned page once in `pgscan_anon`/`pgscan_file` (every reclaim) and once
//! more in a per-reclaimer line (`kswapd`, `direct`, ...; global reclaim only), so memdx's total
//! must equal anon + file, never anon + file + the per-reclaimer lines.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|x| x.1.to_string())
}

/// `name value` samples without labels.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn reclaim_counters_match_node_exporter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/metrics/live-6.18-reclaim");
    let Some(ne) = which("prometheus-node-exporter").or_else(|| which("node_exporter")) else {
        common::skip("node_exporter not installed (apt-get install -y prometheus-node-exporter)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _ne = Guard(
        Command::new(ne)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--path.procfs={}", root.join("proc").display()))
            .args(["--collector.disable-defaults", "--collector.vmstat"])
            .arg("--collector.vmstat.fields=^(pgscan|pgsteal|workingset_refault|allocstall|oom_kill).*")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    let mut memdx = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(&root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(memdx.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let _m = Guard(memdx);
    let maddr = line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap().to_string();
    let naddr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let peer = loop {
        if let Some(b) = get(&naddr, "/metrics").filter(|b| b.contains("node_vmstat_pgscan_kswapd")) {
            break b;
        }
        assert!(Instant::now() < deadline, "node_exporter did not answer on {naddr}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let ours = get(&maddr, "/metrics").expect("memdx metrics");
    let n = |k: &str| sample(&peer, &format!("node_vmstat_{k}")).unwrap_or(0.0);
    for what in ["pgscan", "pgsteal"] {
        let by_reclaimer: f64 =
            ["kswapd", "direct", "khugepaged", "proactive"].iter().map(|r| n(&format!("{what}_{r}"))).sum();
        let by_type = n(&format!("{what}_anon")) + n(&format!("{what}_file"));
        let got = sample(&ours, &format!("memdx_vmstat_{what}_total")).expect("memdx total");
        println!("{what}: memdx {got}, node_exporter anon+file {by_type}, per reclaimer {by_reclaimer}");
        assert!(by_reclaimer > 0.0, "the recorded vmstat has {what} activity");
        assert!(by_reclaimer <= by_type, "per-reclaimer lines skip memcg reclaim");
        assert_eq!(got, by_type, "{what}_total counts each page once");
    }
    for (ours_name, peer_name) in [
        ("memdx_vmstat_workingset_refault_file_total", "workingset_refault_file"),
        ("memdx_vmstat_workingset_refault_anon_total", "workingset_refault_anon"),
        ("memdx_vmstat_oom_kill_total", "oom_kill"),
    ] {
        assert_eq!(sample(&ours, ours_name), Some(n(peer_name)), "{ours_name}");
    }
    let stalls: f64 = peer
        .lines()
        .filter(|l| l.starts_with("node_vmstat_allocstall_"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    assert_eq!(sample(&ours, "memdx_vmstat_allocstall_total"), Some(stalls));
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}
