//! Helpers shared by the tests that compare memdx-symbolize with binutils: building the test
//! program and relocatable object from `testdata/symbolize/elf/*.c` with a given toolchain (host
//! gcc, or the aarch64 cross compiler), running that toolchain's `addr2line`, and comparing every
//! byte offset of a set of functions.
#![allow(dead_code)]

use memdx_symbolize::{Resolution, Symbolizer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../../../../tests/common/golden.rs"]
mod golden;
#[allow(unused_imports)]
pub use golden::check_golden;
#[path = "../../../../tests/common/skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use skip::skip;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/symbolize")
}

/// A compiler and the binutils of the same target.
pub struct Toolchain {
    pub gcc: &'static str,
    pub addr2line: &'static str,
    /// Debian packages that provide the toolchain, named in the skip message.
    pub packages: &'static str,
    /// `e_machine` the built files must have.
    pub machine: u16,
}

/// The host's gcc and binutils (x86-64 on the development machines and in CI).
pub const HOST: Toolchain =
    Toolchain { gcc: "gcc", addr2line: "addr2line", packages: "gcc binutils", machine: 0 };

/// The aarch64 cross compiler and binutils.
pub const AARCH64: Toolchain = Toolchain {
    gcc: "aarch64-linux-gnu-gcc",
    addr2line: "aarch64-linux-gnu-addr2line",
    packages: "gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross",
    machine: 183, // EM_AARCH64
};

pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
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

/// The test program and module built by [`build`].
pub struct Built {
    pub tmp: TempDir,
    /// Linked program from main.c, dup_a.c and dup_b.c.
    pub exe: PathBuf,
    /// `modules/symmod.ko`: module.c compiled with `-c` (a relocatable object, like a module).
    pub ko: PathBuf,
}

/// `e_machine` of an ELF file (little-endian header field at offset 18).
pub fn elf_machine(path: &Path) -> Option<u16> {
    let data = std::fs::read(path).ok()?;
    let b = data.get(18..20)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Builds the test program and module with `tc` into a temp dir; `None` (after printing why) when
/// the toolchain or its C library is missing.
pub fn build(tc: &Toolchain) -> Option<Built> {
    build_with(tc, &[])
}

/// [`build`] with extra compiler flags (`-gdwarf-4`: the DWARF version of the 4.x kernels' gcc).
pub fn build_with(tc: &Toolchain, flags: &[&str]) -> Option<Built> {
    for tool in [tc.gcc, tc.addr2line] {
        if !have(tool) {
            skip(&format!("{tool} not found (apt-get install {})", tc.packages));
            return None;
        }
    }
    // A cross compiler without its C library answers the bare name.
    let libc = Command::new(tc.gcc).arg("-print-file-name=libc.so").output().ok()?;
    let libc = String::from_utf8_lossy(&libc.stdout).trim().to_string();
    if !Path::new(&libc).is_absolute() {
        skip(&format!("{} has no C library (apt-get install {})", tc.gcc, tc.packages));
        return None;
    }
    let tmp = TempDir::new();
    let src = testdata().join("elf");
    let exe = tmp.0.join("symtest");
    let st = Command::new(tc.gcc)
        .args(["-g", "-O2", "-fno-omit-frame-pointer"])
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .args(["main.c", "dup_a.c", "dup_b.c"].map(|f| src.join(f)))
        .status()
        .unwrap();
    assert!(st.success(), "{} failed", tc.gcc);
    let modules = tmp.0.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let ko = modules.join("symmod.ko");
    let st = Command::new(tc.gcc)
        .args(["-g", "-O2", "-c"])
        .args(flags)
        .arg("-o")
        .arg(&ko)
        .arg(src.join("module.c"))
        .status()
        .unwrap();
    assert!(st.success(), "{} -c failed", tc.gcc);
    if tc.machine != 0 {
        for f in [&exe, &ko] {
            assert_eq!(elf_machine(f), Some(tc.machine), "{}: wrong e_machine", f.display());
        }
    }
    Some(Built { tmp, exe, ko })
}

/// `addr2line -a -i -f -e elf [-j section] addrs...`: per address, the (function, path:line) chain.
pub fn binutils(
    tc: &Toolchain,
    elf: &Path,
    section: Option<&str>,
    addrs: &[u64],
) -> Vec<Vec<(String, String)>> {
    let mut cmd = Command::new(tc.addr2line);
    cmd.args(["-a", "-i", "-f", "-e"]).arg(elf);
    if let Some(s) = section {
        cmd.args(["-j", s]);
    }
    cmd.args(addrs.iter().map(|a| format!("{a:#x}")));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{} failed", tc.addr2line);
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

/// Our answer in the shape of [`binutils`]'s: (function, path:line) per inline level.
pub fn ours(r: &Resolution) -> Vec<(String, String)> {
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

/// Resolves every byte offset of `funcs` (by name and kallsyms size) and compares with `tc`'s
/// addr2line; returns the number of addresses compared.
pub fn compare_all(
    sym: &Symbolizer,
    tc: &Toolchain,
    elf: &Path,
    module: Option<&str>,
    funcs: &[(&str, u64)],
) -> usize {
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
        let expected = binutils(tc, elf, module.map(|_| section.as_str()), &addrs);
        assert_eq!(expected.len(), idx.len());
        for (k, &i) in idx.iter().enumerate() {
            let r = &resolutions[i];
            assert_eq!(ours(r), expected[k], "{} at {:#x} ({section})", r.frame, addrs[k]);
            compared += 1;
        }
    }
    compared
}

/// The kallsyms sizes of every symbol named `name`.
pub fn size_of(sym: &Symbolizer, name: &str, module: Option<&str>) -> Vec<u64> {
    let r = sym.resolve(name, 0, None, module);
    r.matches.iter().map(|m| m.symbol_size).collect()
}

/// The test program's functions with their kallsyms sizes; asserts there are two `helper`s.
pub fn program_functions(sym: &Symbolizer) -> Vec<(&'static str, u64)> {
    let mut funcs = Vec::new();
    for name in ["obj_free", "obj_walk", "main", "dup_a", "dup_b", "helper"] {
        for z in size_of(sym, name, None) {
            funcs.push((name, z));
        }
    }
    assert_eq!(funcs.iter().filter(|f| f.0 == "helper").count(), 2, "two static helpers");
    funcs
}

/// The deepest inline chain of `obj_free` goes slab_equal_or_root -> cache_from_obj -> obj_free.
pub fn check_obj_free_chain(sym: &Symbolizer) {
    let z = size_of(sym, "obj_free", None)[0];
    let deepest = (0..z)
        .map(|off| sym.resolve("obj_free", off, Some(z), None))
        .max_by_key(|r| r.matches[0].frames.len())
        .unwrap();
    let names: Vec<&str> = deepest.matches[0].frames.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["slab_equal_or_root", "cache_from_obj", "obj_free"]);
}

/// The two static `helper`s are told apart by the length printed after the slash; without it the
/// answer is ambiguous; a length that fits neither is reported.
pub fn check_duplicate_statics(sym: &Symbolizer) {
    let sizes = size_of(sym, "helper", None);
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
    let r = sym.resolve("helper", 4, Some(0x9999), None);
    assert!(r.ambiguous && r.warnings.iter().any(|w| w.contains("size 0x9999")));
    assert!(sym.resolve("no_such_function", 0, None, None).matches.is_empty());
    assert!(!sym.resolve("main", 0x100000, None, None).is_resolved());
}

/// Every byte of `mod_probe` (.text) and `mod_init` (.init.text) of the module equals addr2line.
pub fn check_module(sym: &Symbolizer, tc: &Toolchain, ko: &Path) -> usize {
    let funcs: Vec<(&str, u64)> = ["mod_probe", "mod_init"]
        .iter()
        .flat_map(|n| size_of(sym, n, Some("symmod")).into_iter().map(move |z| (*n, z)))
        .collect();
    assert_eq!(funcs.len(), 2);
    let r = sym.resolve("mod_init", 0, None, Some("symmod"));
    assert_eq!(r.matches[0].section, ".init.text");
    compare_all(sym, tc, ko, Some("symmod"), &funcs)
}
