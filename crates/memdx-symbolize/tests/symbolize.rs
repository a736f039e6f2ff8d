//! Data-driven tests of memdx-symbolize.
//!
//! - `frames`: every log under `testdata/symbolize/logs/` is scanned for frames and compared with
//!   its golden `<name>.frames` (`MEMDX_UPDATE_GOLDENS=1` rewrites the goldens).
//! - `elf_*`: a small program and a relocatable object are built here with `gcc -g -O2` from
//!   `testdata/symbolize/elf/*.c` (forced inlining, a duplicate static name), and every byte offset
//!   of every function is resolved and compared with binutils `addr2line -i -f`. They skip, with a
//!   printed reason, when gcc or addr2line is missing. The helpers are in `common/` and shared
//!   with `arm64.rs`, which runs the same comparisons with the aarch64 cross toolchain.

mod common;

use common::{build, compare_all, ours, size_of, testdata, TempDir, HOST};
use memdx_symbolize::{find_frames, Symbolizer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Compares `actual` with the golden file, or rewrites it when `MEMDX_UPDATE_GOLDENS=1`.
fn check(golden: &Path, actual: &str) {
    common::check_golden(golden, actual)
}

#[test]
fn frames() {
    let dir = testdata().join("logs");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/symbolize/logs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(!logs.is_empty());
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        let mut out = String::new();
        for (n, line) in text.lines().enumerate() {
            for f in find_frames(line) {
                out.push_str(&format!("{}: {}", n + 1, f.text()));
                if !f.frame.reliable {
                    out.push_str(" unreliable");
                }
                if let Some(a) = f.runtime_address {
                    out.push_str(&format!(" runtime={a:#x}"));
                }
                if f.raw_address().is_some() {
                    out.push_str(" raw");
                }
                out.push('\n');
            }
            if let Some(r) = memdx_symbolize::log_release(line) {
                out.push_str(&format!("{}: release {r}\n", n + 1));
            }
        }
        check(&log.with_extension("frames"), &out);
    }
}

#[test]
fn elf_program_matches_binutils() {
    let Some(b) = build(&HOST) else { return };
    let sym = Symbolizer::open(&b.exe, None).expect("open test ELF");
    let funcs = common::program_functions(&sym);
    let n = compare_all(&sym, &HOST, &b.exe, None, &funcs);
    assert!(n > 100, "only {n} addresses compared");
    common::check_obj_free_chain(&sym);
}

#[test]
fn elf_duplicate_static_names_resolved_by_length() {
    let Some(b) = build(&HOST) else { return };
    let sym = Symbolizer::open(&b.exe, None).unwrap();
    common::check_duplicate_statics(&sym);
}

#[test]
fn elf_module_matches_binutils_plain_and_compressed() {
    let Some(common::Built { tmp, exe, ko }) = build(&HOST) else { return };
    let modules = ko.parent().unwrap().to_path_buf();
    let sym = Symbolizer::open(&exe, Some(&modules)).unwrap();
    common::check_module(&sym, &HOST, &ko);

    // The same module compressed three ways, found by name with `-` for `_`.
    let data = std::fs::read(&ko).unwrap();
    let plain = sym.resolve("mod_probe", 8, None, Some("symmod"));
    for ext in ["xz", "zst", "gz"] {
        let dir = tmp.0.join(format!("mod-{ext}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("sym-mod.ko.{ext}"));
        let mut f = std::fs::File::create(&path).unwrap();
        match ext {
            "xz" => {
                let mut e = xz2::write::XzEncoder::new(&mut f, 6);
                e.write_all(&data).unwrap();
                e.finish().unwrap();
            }
            "zst" => f.write_all(&zstd::encode_all(&data[..], 3).unwrap()).unwrap(),
            _ => {
                let mut e = flate2::write::GzEncoder::new(&mut f, flate2::Compression::default());
                e.write_all(&data).unwrap();
                e.finish().unwrap();
            }
        }
        drop(f);
        let s2 = Symbolizer::open(&exe, Some(&dir)).unwrap();
        let r = s2.resolve("mod_probe", 8, None, Some("sym_mod"));
        assert_eq!(ours(&r), ours(&plain), "{ext}");
    }
    // A module that is not there is reported.
    let r = sym.resolve("x", 0, None, Some("nosuchmod"));
    assert!(r.matches.is_empty() && r.warnings[0].contains("nosuchmod"));
}

#[test]
fn elf_annotate_log() {
    let Some(b) = build(&HOST) else { return };
    let sym = Symbolizer::open(&b.exe, None).unwrap();
    let z = size_of(&sym, "obj_walk", None)[0];
    let zf = size_of(&sym, "obj_free", None)[0];
    let expect_walk = sym.resolve("obj_walk", 0x10, Some(z), None).annotation().unwrap();
    let log = format!(
        "[    0.000000] Linux version 9.9.9-test (x@y) (gcc)\n\
         [   12.5] Call Trace:\n\
         [   12.5]  obj_walk+0x10/{z:#x}\n\
         [   12.5]  ? obj_free+0x4/{zf:#x} [symmod]\n\
         [   12.5]  not_a_symbol+0x4/0x10\n\
         plain text line\n"
    );
    let mut out = Vec::new();
    let stats = sym.annotate(log.as_bytes(), "test.log", &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[2], format!("[   12.5]  obj_walk+0x10/{z:#x} {expect_walk}"));
    assert_eq!(lines[5], "plain text line");
    assert_eq!(stats.frames, 3);
    assert_eq!(stats.resolved, 1);
    // The release in the log differs from the (absent) release of the test ELF: no banner, no
    // warning; frames that failed are summarised.
    assert!(stats.diags.iter().any(|d| d.message.contains("not_a_symbol")));
    assert!(stats.diags.iter().any(|d| d.message.contains("symmod")));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let tmp = TempDir::new();
    let p = tmp.0.join("garbage");
    std::fs::write(&p, b"\x7fELF\x02\x01\x01garbage").unwrap();
    assert!(Symbolizer::open(&p, None).is_err());
    std::fs::write(&p, b"").unwrap();
    assert!(Symbolizer::open(&p, None).is_err());
    let e = Symbolizer::open(&tmp.0.join("missing"), None).err().unwrap().to_string();
    assert!(e.contains("missing"), "{e}");
}
