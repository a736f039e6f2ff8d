#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    for line in s.lines() {
        let f = memdx_log::frame::frame(line);
        let _ = memdx_log::table::header(f.msg.trim_start());
        let _ = memdx_log::parse_frame(&f.msg);
    }
});
