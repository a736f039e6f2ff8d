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
        if p.extension().is_some_and(|x| x == "json") {
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
