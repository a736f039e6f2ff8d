#![no_main]
// Framer + report parser on arbitrary bytes: must never panic. The same bytes are also read through
// a tiny buffer, so that lines straddle buffer refills: both reads must give the same scan.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = memdx_log::sniff(data);
    let whole = memdx_log::scan(data, "fuzz");
    let pieces = memdx_log::scan(std::io::BufReader::with_capacity(7, data), "fuzz");
    assert_eq!(format!("{whole:?}"), format!("{pieces:?}"));
});
