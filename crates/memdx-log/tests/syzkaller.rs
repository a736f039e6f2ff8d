//! Real console logs labelled by syzkaller (testdata/log/syzkaller, README there): the title of
//! the main report equals syzkaller's `TITLE` or one of its `ALT`s, numbers normalised to `NUM`
//! on both sides as syzkaller's titles are.

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log/syzkaller")
}

/// syzkaller's title normalisation: every word (a run of `[A-Za-z0-9_]`) that is a number,
/// lowercase hex with at least one digit and an optional `0x`, becomes `NUM` (`age=1` -> `age=NUM`).
fn norm(t: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.strip_prefix("0x").unwrap_or(word);
        let num = !hex.is_empty()
            && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            && hex.bytes().any(|c| c.is_ascii_digit());
        out.push_str(if num { "NUM" } else { word });
        word.clear();
    };
    for c in t.trim().chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[test]
fn main_report_titles_match_syzkaller() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testdata/log/syzkaller")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("linux-report-")))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    let mut bad = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read");
        let split = data.windows(2).position(|w| w == b"\n\n").expect("header");
        let head = String::from_utf8_lossy(&data[..split]).to_string();
        let want: Vec<String> = head
            .lines()
            .filter_map(|l| l.strip_prefix("TITLE: ").or_else(|| l.strip_prefix("ALT: ")))
            .map(norm)
            .collect();
        let scan = memdx_log::scan(&data[split + 2..], "log");
        let got = scan.reports.first().map(|r| r.title.clone()).unwrap_or_default();
        if !want.contains(&norm(&got)) {
            bad.push(format!("{}: want {want:?}, got {got:?}", path.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
