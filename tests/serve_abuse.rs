//! `memdx serve` under abuse (issue 15, item 1): slowloris connections beyond the descriptor limit,
//! a 100 MB request head, idle and half-sent requests, and a listener that cannot be had. The
//! exporter must keep answering a normal client, stay small, and exit non-zero when it cannot
//! serve at all.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `memdx serve` on a loopback port through `prlimit` (descriptor limit `nofile`), with the
/// extra arguments; returns the guard, the address and the pid.
fn start(nofile: u32, extra: &[&str]) -> Option<(common::Guard, SocketAddr, u32)> {
    if !common::have("prlimit") {
        common::skip("util-linux prlimit is not installed");
        return None;
    }
    let mut child = Command::new("prlimit")
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_memdx"))
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/store/root"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let err = child.stderr.take().unwrap();
    let guard = common::Guard(child);
    let mut err = BufReader::new(err);
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    // Keep reading its stderr (warnings) so that the exporter never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    Some((guard, addr, pid))
}

/// A normal scrape with a deadline: status code and body length.
fn scrape(addr: SocketAddr, within: Duration) -> (u16, usize) {
    let t0 = Instant::now();
    let mut s =
        TcpStream::connect_timeout(&addr, within).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(within)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("the exporter answers a normal client");
    assert!(t0.elapsed() < within, "answered after {:?}", t0.elapsed());
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(0, |x| x.1.len());
    (code, body)
}

fn status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Makes room for `n` sockets in this test process (raising the soft limit towards the hard one
/// with prlimit); false when it cannot.
fn room_for(n: u64) -> bool {
    let soft = || {
        let text = std::fs::read_to_string("/proc/self/limits").unwrap();
        let l = text.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
        l["Max open files".len()..].split_whitespace().next().unwrap().parse::<u64>().unwrap_or(u64::MAX)
    };
    if soft() >= n {
        return true;
    }
    let _ = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={n}:{n}"))
        .status();
    soft() >= n
}

/// 2,000 slowloris connections (a request head that never ends) against an exporter limited to
/// 1,024 descriptors: a normal client is answered throughout, in one thread, with bounded
/// descriptors, and the exporter is still alive at the end.
#[test]
fn slow_connections_beyond_the_fd_limit() {
    if !room_for(2_300) {
        common::skip("this test process cannot hold 2,000 sockets (RLIMIT_NOFILE hard limit)");
        return;
    }
    let Some((mut g, addr, pid)) = start(1024, &["--request-timeout", "60s"]) else { return };
    assert_eq!(scrape(addr, Duration::from_secs(5)).0, 200);
    // Four clients open 500 slow connections each while a scraper keeps scraping.
    let openers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut failed = 0;
                for _ in 0..500 {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                        Ok(mut s) => {
                            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: ");
                            held.push(s);
                        }
                        Err(_) => failed += 1,
                    }
                }
                (held, failed)
            })
        })
        .collect();
    let mut scrapes = 0;
    while !openers.iter().all(|t| t.is_finished()) {
        let (code, len) = scrape(addr, Duration::from_secs(5));
        assert_eq!(code, 200, "during the slow connections");
        assert!(len > 1000);
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut slow = Vec::new();
    let mut failed_connects = 0;
    for t in openers {
        let (held, failed) = t.join().unwrap();
        slow.extend(held);
        failed_connects += failed;
    }
    assert!(scrapes >= 2, "{scrapes} scrapes during the slow connections");
    assert!(failed_connects < 100, "{failed_connects} connects failed");
    // Trickle more bytes on every slow connection (slowloris keeps heads alive this way).
    for s in &mut slow {
        let _ = s.write_all(b"a");
    }
    assert_eq!(scrape(addr, Duration::from_secs(5)).0, 200);
    assert!(g.0.try_wait().unwrap().is_none(), "the exporter exited");
    assert_eq!(status(pid, "Threads:"), 1);
    let fds = open_fds(pid);
    assert!(fds < 1024 * 3 / 4 + 16, "{fds} descriptors open");
    let rss = status(pid, "VmHWM:");
    println!(
        "{} slow connections held ({failed_connects} connects failed), {scrapes} scrapes answered \
         during them, {fds} descriptors open, peak RSS {rss} kB",
        slow.len()
    );
    assert!(rss < 64 * 1024, "peak RSS {rss} kB");
}

/// A 100 MB request head: answered 431 after 8 KiB at most, the exporter's peak memory stays
/// under 64 MB, and other clients are served.
#[test]
fn huge_request_head_is_bounded() {
    let Some((_g, addr, pid)) = start(1024, &[]) else { return };
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: ").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    while sent < 100 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            // The exporter answered and closed: the rest is refused.
            Err(_) => break,
        }
    }
    assert!(sent < 100 << 20, "the exporter read all {sent} bytes of the head");
    assert_eq!(scrape(addr, Duration::from_secs(5)).0, 200);
    let rss = status(pid, "VmHWM:");
    println!("{sent} bytes of the 100 MiB head taken before the exporter closed, peak RSS {rss} kB");
    assert!(rss < 64 * 1024, "peak RSS {rss} kB");

    // A head that fits but is over the limit is answered 431 (when the close does not reset it).
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 9 * 1024));
    let _ = s.write_all(&head);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 431"), "{text}");
}

/// A connection that sends nothing, or half a head, is closed after --request-timeout; a
/// kept-alive connection serves a second request.
#[test]
fn idle_and_half_sent_requests_time_out() {
    let Some((_g, addr, _pid)) = start(1024, &["--request-timeout", "300ms"]) else { return };
    for first in [&b""[..], b"GET /metrics HTTP/1.1\r\nHost:"] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(first).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let t0 = Instant::now();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(t0.elapsed() < Duration::from_secs(3), "closed after {:?}", t0.elapsed());
        assert!(buf.is_empty());
    }
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
    }
}

/// A listener that cannot be had is an error (exit 2), not a process that lives on serving nothing.
#[test]
fn listen_failure_exits_nonzero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out =
        common::memdx().args(["serve", "--listen", &addr, "--root", "testdata/store/root"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}
