//! Damaged input never panics: deterministic byte mutations and truncations of the real testdata
//! logs (a stand-in for `cargo fuzz`, whose targets are in fuzz/fuzz_targets/log_*.rs).

use std::path::Path;

#[test]
fn mutated_logs_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log");
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for e in std::fs::read_dir(&dir).expect("testdata/log") {
        let p = e.expect("entry").path();
        // Skips the goldens and testdata/log/qemu/ (the script that makes the qemu logs).
        if p.extension().is_some_and(|x| x == "json") || p.is_dir() {
            continue;
        }
        let data = std::fs::read(&p).expect("read");
        for _ in 0..300 {
            let mut d = data.clone();
            for _ in 0..(next() % 16) {
                let i = (next() as usize) % d.len().max(1);
                if let Some(b) = d.get_mut(i) {
                    *b = next() as u8;
                }
            }
            let cut = (next() as usize) % (d.len() + 1);
            d.truncate(cut);
            let _ = memdx_log::sniff(&d);
            let _ = memdx_log::scan(&d[..], "mutated");
        }
    }
}

/// Inputs that crashed the framer or parser (fuzzing and review), kept as regressions.
#[test]
fn crash_regressions() {
    let cases: &[&[u8]] = &[
        // Caller id starting with a multi-byte character: `split_at(1)` inside a char.
        "[    1.000000][\u{e9}1] x\n".as_bytes(),
        "[    1.000000][\u{1F600}] x\n".as_bytes(),
        "6,1,100,-,caller=\u{e9}12;x\n".as_bytes(),
        // Binary junk before a timestamp (the frame.rs slicing panic fixed earlier).
        b"\xff\xfe[\xc3\xa9 1.0] x\n",
        b"[\xe2\x82\xac  1.000000] CPU: 0 PID: 1 Comm: \xe2\x82\xac Tainted: \xc3\xa9\n",
    ];
    for c in cases {
        let _ = memdx_log::sniff(c);
        let s = memdx_log::scan(*c, "regression");
        assert_eq!(s.lines, 1);
    }
}

/// A file without newlines is read in bounded memory: the line is cut at 64 KiB with a note.
#[test]
fn huge_line_is_cut() {
    let mut data = b"[    1.000000] ".to_vec();
    data.resize(1 << 20, b'a');
    data.extend_from_slice(b"\n[    2.000000] next\n");
    let s = memdx_log::scan(std::io::BufReader::with_capacity(4096, &data[..]), "huge");
    assert_eq!(s.lines, 2);
    assert!(s.diags.iter().any(|d| d.to_string().contains("longer than 65536 bytes")), "{:?}", s.diags);
}
