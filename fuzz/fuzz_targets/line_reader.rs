//! The capped line reader: the input, then one huge line made of it (256 KiB without newlines: four
//! times the 64 KiB cap of the log, trace and journal streams, and far over any cap chosen here;
//! 4 MiB made an input take 25 s under ASAN on a loaded machine, so 60 s ran almost nothing), then
//! the input again, through buffers of several sizes and a cap chosen by the first byte. Every line
//! is at most the cap, holds no newline, and the count of lines and of cut lines is exact; the
//! log, trace and journal streams built on it must not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use memdx_core::lines::LineReader;
use std::io::BufReader;

fuzz_target!(|data: &[u8]| {
    let cap = 1 + usize::from(data.first().copied().unwrap_or(0)) * 64;
    let huge: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').cycle().take(256 << 10).collect();
    let src = [data, b"\n", &huge, b"\n", data].concat();
    let expected = src.split(|&b| b == b'\n').count() - usize::from(src.last() == Some(&b'\n'));
    for bufsize in [1usize, 7, 4096, 1 << 20] {
        let mut lr = LineReader::with_cap(BufReader::with_capacity(bufsize, &src[..]), cap);
        let mut n = 0;
        while let Some(l) = lr.next_line().unwrap() {
            assert!(l.bytes.len() <= cap);
            assert!(!l.bytes.contains(&b'\n'));
            n += 1;
            assert_eq!(l.number, n);
        }
        assert_eq!(n, expected);
        if huge.len() > cap {
            assert!(lr.long_lines().0 >= 1);
        }
    }
    let _ = memdx_log::scan(&src[..], "fuzz");
    let _ = memdx_trace::parse(&src[..], "fuzz");
    let _ = memdx_slab::parse_journal(&src[..], "fuzz");
});
