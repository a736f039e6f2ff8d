#![no_main]
//! Fuzz content sniffing and the whole ingest path (sections, every parser, the analyzers).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = memdx_parse::sniff::sniff(data);
    let text = String::from_utf8_lossy(data);
    let _ = memdx_parse::kv::parse_counters(&text, &memdx_core::SourceRef::new("fuzz"), "vmstat");
    let mut case = memdx_analyze::Case::new();
    case.ingest("fuzz", &text, None);
    case.finish();
    let _ = memdx_analyze::analyze(&case);
});
