//! Data-driven tests of memdx-symbolize.
//!
//! - `frames`: every log under `testdata/symbolize/logs/` is scanned for frames and compared with
//!   its golden `<name>.frames` (`MEMDX_UPDATE_GOLDENS=1` rewrites the goldens).
//! - `elf_*`: a small program and a relocatable object are built here with `gcc -g -O2` from
//!   `testdata/symbolize/elf/*.c` (forced inlining, a duplicate static name), and every byte offset
//!   of every function is resolved and compared with binutils `addr2line -i -f`. They skip, with a
//!   printed reason, when gcc or addr2line is missing.

use memdx_symbolize::{find_frames, FrameKind, Resolution, Symbolizer};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/symbolize")
}

/// Compares `actual` with the golden file, or rewrites it when `MEMDX_UPDATE_GOLDENS=1`.
fn check(golden: &Path, actual: &str) {
    if std::env::var("MEMDX_UPDATE_GOLDENS").as_deref() == Ok("1") {
        std::fs::write(golden, actual).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!("{}: {e} (run with MEMDX_UPDATE_GOLDENS=1 to create it)", golden.display())
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} differs ({} vs {} lines):\n{}\n(MEMDX_UPDATE_GOLDENS=1 rewrites it)",
            golden.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
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
                if f.unreliable {
                    out.push_str(" unreliable");
                }
                if let Some(a) = f.runtime_address {
                    out.push_str(&format!(" runtime={a:#x}"));
                }
                if matches!(f.kind, FrameKind::Address(_)) {
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

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "memdx-symbolize-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the test program and module into a temp dir; `None` (after printing why) when the
/// toolchain is missing.
fn build() -> Option<(TempDir, PathBuf, PathBuf)> {
    for tool in ["gcc", "addr2line"] {
        if !have(tool) {
            eprintln!("skipping: {tool} not found (apt-get install gcc binutils)");
            return None;
        }
    }
    let tmp = TempDir::new();
    let src = testdata().join("elf");
    let exe = tmp.0.join("symtest");
    let st = Command::new("gcc")
        .args(["-g", "-O2", "-fno-omit-frame-pointer", "-o"])
        .arg(&exe)
        .args(["main.c", "dup_a.c", "dup_b.c"].map(|f| src.join(f)))
        .status()
        .unwrap();
    assert!(st.success(), "gcc failed");
    let modules = tmp.0.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let ko = modules.join("symmod.ko");
    let st = Command::new("gcc")
        .args(["-g", "-O2", "-c", "-o"])
        .arg(&ko)
        .arg(src.join("module.c"))
        .status()
        .unwrap();
    assert!(st.success(), "gcc -c failed");
    Some((tmp, exe, ko))
}

/// `addr2line -a -i -f -e elf [-j section] addrs...`: per address, the (function, path:line) chain.
fn binutils(elf: &Path, section: Option<&str>, addrs: &[u64]) -> Vec<Vec<(String, String)>> {
    let mut cmd = Command::new("addr2line");
    cmd.args(["-a", "-i", "-f", "-e"]).arg(elf);
    if let Some(s) = section {
        cmd.args(["-j", s]);
    }
    cmd.args(addrs.iter().map(|a| format!("{a:#x}")));
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.starts_with("0x") {
            groups.push(Vec::new());
            continue;
        }
        let loc = lines.next().unwrap_or("");
        let loc = loc.split(" (discriminator").next().unwrap_or(loc).to_string();
        groups.last_mut().expect("address line first").push((l.to_string(), loc));
    }
    groups
}

fn ours(r: &Resolution) -> Vec<(String, String)> {
    assert!(!r.ambiguous, "{}: ambiguous", r.frame);
    let m = &r.matches[0];
    m.frames
        .iter()
        .map(|f| {
            let line = match f.line {
                Some(l) if l > 0 => l.to_string(),
                _ => "?".to_string(),
            };
            (f.function.clone(), format!("{}:{line}", f.path.as_deref().unwrap_or("??")))
        })
        .collect()
}

/// Resolves every byte offset of `funcs` (by name and kallsyms size) and compares with binutils.
fn compare_all(sym: &Symbolizer, elf: &Path, module: Option<&str>, funcs: &[(&str, u64)]) -> usize {
    let mut resolutions = Vec::new();
    for &(name, size) in funcs {
        for off in 0..size {
            let r = sym.resolve(name, off, Some(size), module);
            assert_eq!(r.matches.len(), 1, "{}: {:?}", r.frame, r.warnings);
            resolutions.push(r);
        }
    }
    let mut by_section: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in resolutions.iter().enumerate() {
        by_section.entry(r.matches[0].section.clone()).or_default().push(i);
    }
    let mut compared = 0;
    for (section, idx) in by_section {
        let addrs: Vec<u64> = idx.iter().map(|&i| resolutions[i].matches[0].address).collect();
        let expected = binutils(elf, module.map(|_| section.as_str()), &addrs);
        assert_eq!(expected.len(), idx.len());
        for (k, &i) in idx.iter().enumerate() {
            let r = &resolutions[i];
            assert_eq!(ours(r), expected[k], "{} at {:#x} ({section})", r.frame, addrs[k]);
            compared += 1;
        }
    }
    compared
}

fn size_of(sym: &Symbolizer, name: &str, module: Option<&str>) -> Vec<u64> {
    let r = sym.resolve(name, 0, None, module);
    r.matches.iter().map(|m| m.symbol_size).collect()
}

#[test]
fn elf_program_matches_binutils() {
    let Some((_tmp, exe, _)) = build() else { return };
    let sym = Symbolizer::open(&exe, None).expect("open test ELF");
    let mut funcs = Vec::new();
    for name in ["obj_free", "obj_walk", "main", "dup_a", "dup_b", "helper"] {
        for z in size_of(&sym, name, None) {
            funcs.push((name, z));
        }
    }
    assert_eq!(funcs.iter().filter(|f| f.0 == "helper").count(), 2, "two static helpers");
    let n = compare_all(&sym, &exe, None, &funcs);
    assert!(n > 100, "only {n} addresses compared");

    // The inline chain of obj_free goes slab_equal_or_root -> cache_from_obj -> obj_free somewhere.
    let (_, z) = funcs.iter().find(|f| f.0 == "obj_free").copied().unwrap();
    let deepest = (0..z)
        .map(|off| sym.resolve("obj_free", off, Some(z), None))
        .max_by_key(|r| r.matches[0].frames.len())
        .unwrap();
    let names: Vec<&str> = deepest.matches[0].frames.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["slab_equal_or_root", "cache_from_obj", "obj_free"]);
}

#[test]
fn elf_duplicate_static_names_resolved_by_length() {
    let Some((_tmp, exe, _)) = build() else { return };
    let sym = Symbolizer::open(&exe, None).unwrap();
    let sizes = size_of(&sym, "helper", None);
    assert_eq!(sizes.len(), 2);
    assert_ne!(sizes[0], sizes[1], "the two helpers must differ in size for this test");
    let any = sym.resolve("helper", 4, None, None);
    assert!(any.ambiguous && any.matches.len() == 2);
    assert!(any.annotation().unwrap().starts_with("(ambiguous: "));
    let mut files = Vec::new();
    for z in sizes {
        let r = sym.resolve("helper", 4, Some(z), None);
        assert!(!r.ambiguous);
        assert_eq!(r.matches.len(), 1);
        files.push(r.matches[0].frames.last().and_then(|f| f.file.clone()).unwrap());
    }
    files.sort();
    assert!(files[0].ends_with("dup_a.c") && files[1].ends_with("dup_b.c"), "{files:?}");
    // A length that fits neither still resolves, with a warning naming the mismatch.
    let r = sym.resolve("helper", 4, Some(0x9999), None);
    assert!(r.ambiguous && r.warnings.iter().any(|w| w.contains("size 0x9999")));
    // Unknown names and offsets past the end are reported, not guessed.
    assert!(sym.resolve("no_such_function", 0, None, None).matches.is_empty());
    assert!(!sym.resolve("main", 0x100000, None, None).is_resolved());
}

#[test]
fn elf_module_matches_binutils_plain_and_compressed() {
    let Some((tmp, exe, ko)) = build() else { return };
    let modules = ko.parent().unwrap().to_path_buf();
    let sym = Symbolizer::open(&exe, Some(&modules)).unwrap();
    let funcs: Vec<(&str, u64)> = ["mod_probe", "mod_init"]
        .iter()
        .flat_map(|n| size_of(&sym, n, Some("symmod")).into_iter().map(move |z| (*n, z)))
        .collect();
    assert_eq!(funcs.len(), 2);
    let r = sym.resolve("mod_init", 0, None, Some("symmod"));
    assert_eq!(r.matches[0].section, ".init.text");
    compare_all(&sym, &ko, Some("symmod"), &funcs);

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
    let Some((_tmp, exe, _)) = build() else { return };
    let sym = Symbolizer::open(&exe, None).unwrap();
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
