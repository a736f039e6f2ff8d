//! Real console logs labelled by syzkaller (testdata/log/syzkaller, README there): the title of
//! the main report equals syzkaller's `TITLE` or one of its `ALT`s, numbers normalised to `NUM`
//! on both sides as syzkaller's titles are.

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log/syzkaller")
}

/// syzkaller's title normalisation: every word holding a digit (hex or decimal) becomes `NUM`.
fn norm(t: &str) -> String {
    t.split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            let hexish = core.trim_start_matches("0x").bytes().all(|c| c.is_ascii_hexdigit());
            if !core.is_empty() && hexish && core.bytes().any(|c| c.is_ascii_digit()) {
                w.replace(core, "NUM")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
