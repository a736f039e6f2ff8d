//! `format` files and payload matching must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (fmt, payload) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(t) = memdx_trace::fmt::Template::from_print_fmt(fmt) {
        let _ = t.matches(payload);
    }
    let mut f = memdx_trace::Formats::builtin();
    let _ = f.add_format_files(text, &memdx_core::SourceRef::new("fuzz"));
    let _ = memdx_trace::line::split_line(text);
});
