#![no_main]
//! Fuzz the parsers of pasted formats: free, arcstats, SLUB alloc/free traces, memory cgroup files,
//! memory messages. Any bytes, no panic.
use libfuzzer_sys::fuzz_target;
use memdx_core::SourceRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = SourceRef::new("fuzz");
    let _ = memdx_parse::free::parse(&text, &src, None);
    let _ = memdx_parse::free::parse(&text, &src, Some(1 << 20));
    let _ = memdx_parse::free::unit_of_command(&text);
    let _ = memdx_parse::arcstats::parse(&text, &src, Some(1048576.0));
    let _ = memdx_parse::slub_traces::parse(&text, &src, Some("kmalloc-128/alloc_traces"));
    let _ = memdx_parse::memcg_file::parse(&text, &src, "/sys/fs/cgroup/x/memory.events");
    let _ = memdx_parse::memcg_file::parse(&text, &src, "/sys/fs/cgroup/x/memory.limit_in_bytes");
    let mut m = memdx_parse::messages::Scanner::new();
    for (i, l) in text.lines().enumerate() {
        if m.wants(l.as_bytes()) {
            m.line(l, i + 1);
        }
    }
    m.finish();
});
