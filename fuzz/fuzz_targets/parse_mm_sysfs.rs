#![no_main]
//! Fuzz the huge page settings parser, with and without a file path: any bytes, no panic.
use libfuzzer_sys::fuzz_target;
use memdx_core::SourceRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = SourceRef::new("fuzz");
    let _ = memdx_parse::mm_sysfs::parse(&text, &src, None);
    let _ = memdx_parse::mm_sysfs::parse(&text, &src, Some("/sys/kernel/mm/transparent_hugepage/defrag"));
    let _ = memdx_parse::mm_sysfs::parse(&text, &src, Some("/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"));
    for l in text.lines() {
        let _ = memdx_parse::mm_sysfs::is_path(l);
    }
});
