//! Trace text: the full reclaim analysis and the fast table must never panic, and must agree on
//! the per-CPU per-second table.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = memdx_trace::parse(data, "fuzz").reclaim;
    let _ = memdx_trace::findings(&r);
    let _ = memdx_trace::sniff(data);
    let mut rows = Vec::new();
    let _ = memdx_trace::table_only(data, |row| rows.push(row));
});
