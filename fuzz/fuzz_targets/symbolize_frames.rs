//! Frame and release parsing of memdx-symbolize on arbitrary text: must never panic, and every
//! span must cut the line at character boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        for f in memdx_symbolize::find_frames(line) {
            assert!(line.get(f.span.clone()).is_some());
            let _ = f.text();
        }
        let _ = memdx_symbolize::parse_frame_arg(line);
        let _ = memdx_symbolize::log_release(line);
    }
});
