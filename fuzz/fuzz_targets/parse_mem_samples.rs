#![no_main]
//! Fuzz the vmstat/sar -r samples parser (with and without a `-S` unit): any bytes, no panic.
use libfuzzer_sys::fuzz_target;
use memdx_core::SourceRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = SourceRef::new("fuzz");
    let _ = memdx_parse::mem_samples::parse(&text, &src, None);
    let _ = memdx_parse::mem_samples::parse(&text, &src, Some(1_048_576));
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let _ = memdx_parse::mem_samples::unit_of_command(&words);
});
