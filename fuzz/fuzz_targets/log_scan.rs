#![no_main]
// Framer + report parser on arbitrary bytes: must never panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = memdx_log::sniff(data);
    let _ = memdx_log::scan(data, "fuzz");
});
