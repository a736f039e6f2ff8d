//! The Grafana dashboards (deploy/grafana/) and fleet recording rules (deploy/prometheus/
//! memdx-fleet-rules.yml) against real data: a structural check of each dashboard against Grafana's
//! dashboard model (ids, grid, datasource, targets, variables), `promtool check rules`, and Debian's
//! real Prometheus scraping two `memdx serve` hosts (a real cgroup v1 capture and a cgroup v2 tree,
//! testdata/serve/) with the recording rules loaded, where every query of every panel must return
//! data. Also the per-cgroup series of the exporter and their bound. Peers missing: skip with a
//! printed reason (fail under MEMDX_REQUIRE_PEERS=1).

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dashboards() -> Vec<(String, Value)> {
    ["memdx-host.json", "memdx-fleet.json"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(manifest().join("deploy/grafana").join(n)).unwrap();
            (n.to_string(), serde_json::from_str(&text).unwrap_or_else(|e| panic!("{n}: {e}")))
        })
        .collect()
}

/// Variables Grafana defines itself.
const BUILTIN: &[&str] = &["__range", "__rate_interval", "__interval", "__range_s", "__interval_ms"];

/// `$name` and `${name}` references in a query.
fn variables(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn dashboards_follow_the_dashboard_model() {
    for (name, d) in dashboards() {
        for key in ["uid", "title", "description"] {
            assert!(d[key].as_str().is_some_and(|s| !s.is_empty()), "{name}: {key}");
        }
        assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{name}: schemaVersion");
        assert!(d["time"]["from"].is_string() && d["time"]["to"].is_string(), "{name}: time");
        let vars: Vec<&Value> = d["templating"]["list"].as_array().unwrap().iter().collect();
        let mut defined: BTreeSet<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
        for v in &vars {
            let vname = v["name"].as_str().unwrap();
            let kind = v["type"].as_str().unwrap();
            assert!(
                ["datasource", "query", "custom", "interval", "constant"].contains(&kind),
                "{name}: {vname}"
            );
            if kind == "query" {
                assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}: {vname}");
                assert!(v["query"]["query"].as_str().is_some_and(|q| q.starts_with("label_values(")));
            }
            assert!(defined.insert(vname.to_string()), "{name}: variable {vname} twice");
        }
        assert!(defined.contains("datasource") && defined.contains("instance"), "{name}: {defined:?}");
        let panels = d["panels"].as_array().unwrap();
        assert!(panels.len() >= 8, "{name}: {} panels", panels.len());
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap();
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{name}: duplicate id at {title}");
            assert!(
                ["timeseries", "stat", "bargauge", "table", "gauge"].contains(&p["type"].as_str().unwrap()),
                "{name}: {title}: type"
            );
            assert!(p["description"].as_str().is_some_and(|s| !s.is_empty()), "{name}: {title}");
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap(),
                g["y"].as_u64().unwrap(),
                g["w"].as_u64().unwrap(),
                g["h"].as_u64().unwrap(),
            );
            assert!(w > 0 && h > 0 && x + w <= 24, "{name}: {title}: gridPos {g}");
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(cells.insert((cx, cy)), "{name}: {title} overlaps another panel");
                }
            }
            assert_eq!(p["datasource"]["type"], "prometheus", "{name}: {title}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title}: no targets");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(refs.insert(t["refId"].as_str().unwrap().to_string()), "{name}: {title}: refId");
                let expr = t["expr"].as_str().unwrap();
                for v in variables(expr) {
                    assert!(defined.contains(&v), "{name}: {title}: ${v} undefined in {expr}");
                }
            }
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn fleet_rules_pass_promtool() {
    if !common::have("promtool") {
        return common::skip("promtool not installed (apt-get install -y prometheus)");
    }
    let out = Command::new("promtool")
        .args(["check", "rules", "deploy/prometheus/memdx-fleet-rules.yml"])
        .current_dir(manifest())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Per-cgroup series of the real v1 capture and the v2 tree, bounded by --cgroup-top.
#[test]
fn per_cgroup_series() {
    let v1 = manifest().join("testdata/serve/v1-root");
    let (_g, addr) = common::serve(&["--root", v1.to_str().unwrap()]);
    let (code, body) = common::http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    for m in [
        "memdx_cgroup_memory_failcnt_total{cgroup=\"/memdx-fixture\"} 81",
        "memdx_cgroup_memory_limit_bytes{cgroup=\"/memdx-fixture/job-b\"} 33554432",
        "memdx_cgroup_memory_events_total{cgroup=\"/memdx-fixture/job-a\",event=\"oom_kill\"} 1",
        "memdx_cgroup_swap_usage_bytes{cgroup=\"/memdx-fixture/job-b\"} 0",
        "memdx_cgroups_exported{hierarchy=\"v1\"} 13",
        "memdx_memcg_dying 15",
    ] {
        assert!(body.contains(m), "missing {m}");
    }
    assert!(!body.contains("memdx_cgroup_psi"), "v1 has no per-cgroup PSI");
    let v2 = manifest().join("testdata/serve/v2-root");
    let (_g2, addr2) = common::serve(&["--root", v2.to_str().unwrap(), "--cgroup-top", "1"]);
    let (_, body2) = common::http_get(&addr2, "/metrics");
    for m in [
        "memdx_cgroup_dying_descendants{cgroup=\"/kubepods.slice\"} 34",
        "memdx_cgroup_memory_events_total{cgroup=\"/kubepods.slice\",event=\"oom_kill\"} 3",
        "memdx_cgroup_psi_memory_stall_seconds_total{cgroup=\"/kubepods.slice\",kind=\"full\"} 5.1",
        "memdx_cgroup_psi_memory_avg10_ratio{cgroup=\"/kubepods.slice\",kind=\"some\"} 0.042",
        "memdx_cgroups_exported{hierarchy=\"v2\"} 1",
        "memdx_cgroups_omitted{hierarchy=\"v2\"} 6",
        "memdx_memcg_dying 37",
    ] {
        assert!(body2.contains(m), "missing {m}");
    }
    let series = body2.lines().filter(|l| l.starts_with("memdx_cgroup_")).count();
    assert!(series <= 15, "{series} per-cgroup series for one cgroup");
    let (_g3, addr3) = common::serve(&["--root", v2.to_str().unwrap(), "--cgroup-top", "0", "--slab-all"]);
    let (_, body3) = common::http_get(&addr3, "/metrics");
    assert!(!body3.contains("memdx_cgroup_"), "--cgroup-top 0 exports none");
    let caches = std::fs::read_to_string(v2.join("proc/slabinfo")).unwrap().lines().count() - 2;
    let exported = body3.lines().filter(|l| l.starts_with("memdx_slab_cache_bytes{")).count();
    assert!(exported > 50 && exported <= caches, "--slab-all: {exported} of {caches} caches");
    if !common::have("promtool") {
        return common::skip("promtool not installed (apt-get install -y prometheus)");
    }
    for b in [&body, &body2, &body3] {
        let mut c = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut c.stdin.take().unwrap(), b.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "promtool check metrics: {}", String::from_utf8_lossy(&o.stderr));
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A panel query as Grafana sends it, with every host selected and the top-N at 10.
fn instantiate(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$topn", "10")
        .replace("$instance", ".+")
}

#[test]
fn every_panel_query_returns_data_from_prometheus() {
    if !common::have("prometheus") {
        return common::skip("prometheus not installed (apt-get install -y prometheus)");
    }
    let v1 = manifest().join("testdata/serve/v1-root");
    let v2 = manifest().join("testdata/serve/v2-root");
    let (_a, host_a) = common::serve(&["--root", v1.to_str().unwrap(), "--slab-top", "20"]);
    let (_b, host_b) = common::serve(&["--root", v2.to_str().unwrap(), "--slab-top", "20"]);
    let dir = scratch("grafana-prom");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n  - {}\n\
         scrape_configs:\n  - job_name: memdx\n    static_configs:\n      - targets: ['{host_a}', '{host_b}']\n",
        manifest().join("deploy/prometheus/memdx-rules.yml").display(),
        manifest().join("deploy/prometheus/memdx-fleet-rules.yml").display(),
    );
    let (_p, api) = common::prometheus(&dir, &config);
    let mut queries: Vec<(String, String, String)> = Vec::new();
    for (name, d) in dashboards() {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                queries.push((
                    name.clone(),
                    p["title"].as_str().unwrap().to_string(),
                    instantiate(t["expr"].as_str().unwrap()),
                ));
            }
        }
    }
    // Until every query answers with data: rates, deriv and increase need two scrapes, recording
    // rules one evaluation after that.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut empty: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        if std::net::TcpStream::connect(&api).is_err() {
            continue;
        }
        empty.clear();
        for (dash, title, q) in &queries {
            let (code, body) = common::http_get(&api, &format!("/api/v1/query?query={}", urlencode(q)));
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let ok = code == 200 && v["data"]["result"].as_array().is_some_and(|r| !r.is_empty());
            if !ok {
                empty.push(format!("{dash}: {title}: {q} -> {code} {body}"));
            }
        }
        if empty.is_empty() {
            // Both hosts are in the fleet view.
            let (_, body) = common::http_get(
                &api,
                &format!("/api/v1/query?query={}", urlencode("count(instance:memdx_memcg_dying:max)")),
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["data"]["result"][0]["value"][1], "2", "{body}");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    panic!("panel queries without data after 90 s:\n{}", empty.join("\n"));
}

/// The dashboards read by Grafana's own dashboard model (grafana-foundation-sdk from PyPI) lose no
/// field: tests/grafana/sdk_check.py.
#[test]
fn dashboards_read_by_grafana_foundation_sdk() {
    let out = Command::new("python3")
        .arg(manifest().join("tests/grafana/sdk_check.py"))
        .args(["deploy/grafana/memdx-host.json", "deploy/grafana/memdx-fleet.json"])
        .current_dir(manifest())
        .output();
    let Ok(out) = out else {
        return common::skip("python3 not installed");
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(3) {
        // sdk_check.py exits 3 with the reason, which already names the package to install.
        return common::skip(text.trim());
    }
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
}
