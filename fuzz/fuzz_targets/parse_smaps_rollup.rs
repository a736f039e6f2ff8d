#![no_main]
//! Fuzz the smaps_rollup parser: any bytes, no panic.
use libfuzzer_sys::fuzz_target;
use memdx_core::SourceRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = memdx_parse::smaps_rollup::parse(&text, &SourceRef::new("fuzz"));
});
