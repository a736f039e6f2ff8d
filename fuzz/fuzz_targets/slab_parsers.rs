#![no_main]
//! Every memdx-slab text parser on arbitrary input: tool stack outputs (each format forced and
//! sniffed), syslog/journal, kmem ftrace text, and slub_debug TRACE pairing through the log engine.
use libfuzzer_sys::fuzz_target;
use memdx_slab::{journal, kmem, tools, SlubPairing};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tools::parse(&text, "fuzz");
    for f in [
        tools::ToolFormat::BccTrace,
        tools::ToolFormat::Memleak,
        tools::ToolFormat::Stackcount,
        tools::ToolFormat::Bpftrace,
        tools::ToolFormat::PerfScript,
    ] {
        let _ = tools::parse_as(&text, "fuzz", f);
    }
    let _ = journal::parse_journal(data, "fuzz");
    let opts = kmem::KmemOptions { min_bytes: 1, fallback_label: Some("c".into()), ..Default::default() };
    let _ = kmem::parse_kmem(data, "fuzz", opts, None);
    let mut p = SlubPairing::new();
    let _ = memdx_log::scan_with(data, "fuzz", &mut p);
    let r = p.finish();
    let _ = memdx_slab::findings(&memdx_slab::SlabEvidence { pairing: Some(&r), ..Default::default() });
});
