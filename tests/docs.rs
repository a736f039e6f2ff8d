//! Man pages and shell completions generated from the clap definition (`memdx man DIR`,
//! `memdx completions SHELL`): every page renders with the real `man -l` without warnings, there is
//! one page per visible (sub)command and one for each `man:` the shipped systemd units name, and the
//! bash completion loads in a real bash and completes subcommands and options. Tests needing man or
//! bash skip with a printed reason (and fail under MEMDX_REQUIRE_PEERS=1).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory this test owns under the target directory.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn man_pages(test: &str) -> (PathBuf, Vec<PathBuf>) {
    let dir = scratch(test);
    let out = common::memdx().arg("man").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    pages.sort();
    (dir, pages)
}

#[test]
fn one_page_per_visible_command_and_per_unit_reference() {
    let (dir, pages) = man_pages("man-list");
    let names: Vec<String> =
        pages.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in [
        "memdx.1",
        "memdx-diagnose.1",
        "memdx-log.1",
        "memdx-serve.1",
        "memdx-record.1",
        "memdx-history.1",
        "memdx-trace.1",
        "memdx-trace-slab.1",
        "memdx-trace-allocs.1",
        "memdx-trace-reclaim.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    // Hidden packaging commands have no page.
    assert!(!names.iter().any(|n| n.contains("completions") || n == "memdx-man.1"), "{names:?}");
    // The help speaks of the user's world: no word of this project's history ("seed 001").
    for p in &pages {
        let text = std::fs::read_to_string(p).unwrap().to_lowercase();
        assert!(!text.contains("seed"), "{}: says \"seed\"", p.display());
    }
    // Every `man:NAME(1)` a shipped unit names exists.
    for unit in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd")).unwrap() {
        let text = std::fs::read_to_string(unit.unwrap().path()).unwrap();
        for r in text.split("man:").skip(1) {
            let page = r.split('(').next().unwrap();
            assert!(names.contains(&format!("{page}.1")), "unit names man:{page} but there is no page");
        }
    }
    // A second run refuses to overwrite.
    let again = common::memdx().arg("man").arg(&dir).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn every_man_page_renders_with_man() {
    if !common::have("man") {
        return common::skip("man (man-db) not installed");
    }
    let (_dir, pages) = man_pages("man-render");
    for p in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(p)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}", p.display());
        assert!(err.trim().is_empty(), "{}: warnings: {err}", p.display());
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{}: {text}", p.display());
    }
    let diag = pages.iter().find(|p| p.ends_with("memdx-diagnose.1")).unwrap();
    let out = Command::new("man").arg("-l").arg(diag).env("MANPAGER", "cat").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--json"), "{text}");
}

/// Runs the bash completion function for the words typed so far and returns COMPREPLY.
fn complete(script: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let arr: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}' || exit 3\ncomplete -p memdx >/dev/null || exit 4\n\
         COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         fn=$(complete -p memdx | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         \"$fn\" memdx '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        arr.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words.get(words.len().wrapping_sub(2)).copied().unwrap_or("memdx"),
    );
    let out = Command::new("bash").arg("--norc").arg("-c").arg(prog).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_loads_and_completes() {
    if !common::have("bash") {
        return common::skip("bash not installed");
    }
    let dir = scratch("completions");
    let out = common::memdx().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = dir.join("memdx.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let subs = complete(&script, &["memdx", "tr"]);
    assert_eq!(subs, ["trace"], "{subs:?}");
    let trace = complete(&script, &["memdx", "trace", ""]);
    for s in ["reclaim", "slab", "allocs"] {
        assert!(trace.iter().any(|w| w == s), "{s} not in {trace:?}");
    }
    let opts = complete(&script, &["memdx", "serve", "--li"]);
    assert_eq!(opts, ["--listen"], "{opts:?}");
    for shell in ["zsh", "fish"] {
        let out = common::memdx().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
}

/// Every `trace` subcommand's --help carries examples and the 1-hour limit, and the limit holds.
#[test]
fn trace_help_has_examples_and_limits() {
    for (sub, extra) in [("reclaim", vec![]), ("slab", vec!["dentry"]), ("allocs", vec![])] {
        let out = common::memdx().args(["trace", sub, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub}");
        assert!(
            help.contains("Examples:\n  sudo memdx trace ") && help.contains("at most 1h"),
            "{sub}: {help}"
        );
        let out = common::memdx()
            .args(["trace", sub])
            .args(&extra)
            .args(["--duration", "2h", "--dry-run"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("1 hour"), "{sub}");
    }
}
