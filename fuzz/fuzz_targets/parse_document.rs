#![no_main]
//! Fuzz the document segmenter and the document reader (blocks, log text, memory messages).
use libfuzzer_sys::fuzz_target;
use memdx_parse::document::{Block, Out, Segmenter, Unread};

struct Sink(usize);
impl Out for Sink {
    fn log_line(&mut self, _line: &str) {
        self.0 += 1;
    }
    fn block(&mut self, _b: Block) {}
    fn unread(&mut self, _u: Unread) {}
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut s = Segmenter::new(|l| l.starts_with('['));
    let mut out = Sink(0);
    for l in text.split('\n') {
        s.push(l, &mut out);
    }
    s.finish(&mut out);
    assert_eq!(out.0, text.split('\n').count(), "every line handed on once");
    let _ = memdx_parse::document::command_hint(&text);
    let mut case = memdx_analyze::Case::new();
    case.read_document("fuzz", data, None);
    let _ = memdx_analyze::analyze(&case);
});
