//! ARCHITECTURE.md's invariants that can be read off the code: each test here is named beside the
//! invariant it checks.

mod common;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The source of a file without its unit tests (`#[cfg(test)]` and after; `tests.rs` modules).
fn non_test_source(p: &Path) -> String {
    if p.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(p).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `(file, line number, line)` of every non-comment, non-test line of `crate`'s `src/` containing one
/// of `words`.
fn uses(krate: &str, words: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for p in rust_files(&root().join("crates").join(krate).join("src")) {
        for (i, l) in non_test_source(&p).lines().enumerate() {
            let code = l.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(w) = words.iter().find(|w| code.contains(*w)) {
                hits.push(format!("{}:{}: {w}", p.strip_prefix(root()).unwrap().display(), i + 1));
            }
        }
    }
    hits
}

/// "Parsers and analyzers do no I/O": no file, process, network or environment access outside
/// memdx-source, memdx-store, memdx-symbolize (the debug files it is given) and the binary.
#[test]
fn parsers_and_analyzers_do_no_io() {
    let io = [
        "std::fs",
        "File::open",
        "File::create",
        "OpenOptions",
        "read_dir",
        "std::process",
        "std::net",
        "std::env::var",
    ];
    for krate in [
        "memdx-core",
        "memdx-parse",
        "memdx-log",
        "memdx-trace",
        "memdx-slab",
        "memdx-analyze",
        "memdx-render",
    ] {
        let hits = uses(krate, &io);
        assert!(hits.is_empty(), "{krate} does I/O:\n{}", hits.join("\n"));
    }
}

/// "Every stream reads lines through `memdx_core::lines::LineReader`": no other line loop over a
/// reader anywhere.
#[test]
fn streams_read_lines_through_the_line_reader() {
    let mut hits = Vec::new();
    let mut files = rust_files(&root().join("src"));
    files.extend(rust_files(&root().join("crates")));
    for p in files {
        if p.ends_with("memdx-core/src/lines.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, l) in text.lines().enumerate() {
            if l.contains(".read_line(") || l.contains(".read_until(") {
                hits.push(format!("{}:{}", p.display(), i + 1));
            }
        }
    }
    assert!(hits.is_empty(), "uncapped line loops:\n{}", hits.join("\n"));
}

/// `[dependencies]` of a crate's Cargo.toml: the `memdx-*` crates and whether `anyhow` is one.
fn dependencies(krate: &str) -> (Vec<String>, bool) {
    let text = std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut section = "";
    let (mut memdx, mut anyhow) = (Vec::new(), false);
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            section = l;
            continue;
        }
        if section != "[dependencies]" {
            continue;
        }
        let name = l.split(['=', ' ']).next().unwrap_or("");
        if name.starts_with("memdx-") {
            memdx.push(name.to_string());
        }
        anyhow |= name == "anyhow";
    }
    (memdx, anyhow)
}

fn crates() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("memdx-"))
        .collect();
    v.sort();
    v
}

/// "Data flows one way": the library crates' dependencies have no cycle, and only the binary
/// depends on memdx-source (I/O) and memdx-render (output). "Library crates use thiserror; the
/// binary uses anyhow": no library crate depends on anyhow.
#[test]
fn crate_dependencies_are_one_way() {
    let all = crates();
    let deps: Vec<(String, Vec<String>)> = all.iter().map(|c| (c.clone(), dependencies(c).0)).collect();
    assert!(deps.iter().map(|d| d.1.len()).sum::<usize>() > 10, "dependencies not read: {deps:?}");
    for c in &all {
        assert!(!dependencies(c).1, "{c} depends on anyhow (library crates use thiserror)");
    }
    for (c, ds) in &deps {
        for d in ds {
            assert!(all.contains(d), "{c} depends on unknown crate {d}");
            assert!(d != "memdx-source" && d != "memdx-render", "{c} depends on {d}: only the binary may");
        }
    }
    // Depth-first search for a cycle.
    fn visit(c: &str, deps: &[(String, Vec<String>)], path: &mut Vec<String>, done: &mut Vec<String>) {
        if done.iter().any(|d| d == c) {
            return;
        }
        assert!(!path.iter().any(|p| p == c), "dependency cycle: {} -> {c}", path.join(" -> "));
        path.push(c.to_string());
        for d in &deps.iter().find(|(n, _)| n == c).unwrap().1 {
            visit(d, deps, path, done);
        }
        path.pop();
        done.push(c.to_string());
    }
    let mut done = Vec::new();
    for c in &all {
        visit(c, &deps, &mut Vec::new(), &mut done);
    }
}

/// "Only output schema types derive Serialize": the parsers, the trace and slab engines, the source
/// layer and the store derive none (memdx-render::schema writes the engines' results field by
/// field). The types that do are the documented output: memdx-core's findings and reports,
/// memdx-log's reports (docs/log.md), memdx-analyze's conclusions, timeline and input lists,
/// memdx-symbolize's resolutions and memdx-render's documents.
#[test]
fn engines_derive_no_serialize() {
    for krate in ["memdx-parse", "memdx-trace", "memdx-slab", "memdx-source", "memdx-store"] {
        let hits = uses(krate, &["Serialize"]);
        assert!(hits.is_empty(), "{krate} derives Serialize:\n{}", hits.join("\n"));
    }
}

/// "Every number in a finding carries the SourceRef it was read from": over every diagnose test
/// case, each numeric evidence has a source, except shares (unit `%`) computed from evidence that has.
#[test]
fn every_number_in_a_finding_has_its_source() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/diagnose"))
        .unwrap()
        .map(|e| e.unwrap().path().join("inputs"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "diagnose test cases missing");
    let mut numbers = 0;
    for d in dirs {
        let out = common::memdx().args(["diagnose", "--json"]).arg(&d).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("diagnose json");
        for f in v["findings"].as_array().unwrap() {
            for e in f["evidence"].as_array().unwrap() {
                if !e["value"].is_number() {
                    continue;
                }
                numbers += 1;
                if e["unit"] == "%" {
                    continue;
                }
                assert!(
                    e["source"]["file"].is_string(),
                    "{}: {} {}: no source",
                    d.display(),
                    f["id"],
                    e["label"]
                );
            }
        }
    }
    assert!(numbers > 20, "only {numbers} numbers in findings");
}

/// "A compressed input that is truncated yields what came before the damage, with a warning": a
/// real KASAN report gzipped (by gzip) and cut at two thirds.
#[test]
fn truncated_compressed_input_keeps_what_came_before() {
    let gz = std::process::Command::new("gzip")
        .args(["-c", "testdata/log/doc612_kasan.txt"])
        .current_dir(root())
        .output()
        .expect("gzip (Debian essential)");
    assert!(gz.status.success());
    let cut = &gz.stdout[..gz.stdout.len() * 2 / 3];
    let p = std::env::temp_dir().join(format!("memdx-truncated-{}.gz", std::process::id()));
    std::fs::write(&p, cut).unwrap();
    let out = common::memdx().args(["diagnose", "--json"]).arg(&p).output().unwrap();
    let _ = std::fs::remove_file(&p);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"][0]["format"], "kernel log", "{}", v["inputs"]);
    assert!(
        v["findings"].as_array().unwrap().iter().any(|f| f["id"] == "log.slab.out_of_bounds"),
        "{}",
        v["findings"]
    );
    let warned = v["diagnostics"].as_array().unwrap().iter().any(|d| {
        d["level"] == "warning" && d["message"].as_str().unwrap().contains("used what came before the damage")
    });
    assert!(warned, "{}", v["diagnostics"]);
}
