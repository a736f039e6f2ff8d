//! memdx-symbolize on aarch64 ELF, compared with the aarch64 binutils.
//!
//! The program and the relocatable `.ko`-like object of `testdata/symbolize/elf/*.c` are built with
//! `aarch64-linux-gnu-gcc -g -O2`; every byte offset of every test function is resolved and its
//! file, line and inline chain compared with `aarch64-linux-gnu-addr2line -a -i -f` (the module
//! with `-j <section>`, so its R_AARCH64_ABS64/ABS32 relocations of the debug sections are
//! exercised), in the compiler's default DWARF 5 and in DWARF 4. Duplicate static names are told apart by length, and a log in the arm64 oops format
//! (`pc : `, `lr : `, `Call trace:` frames without `?`) is annotated. The tests skip, with a printed
//! reason, when the cross compiler, its C library or the cross binutils are missing
//! (`apt-get install gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross`).

mod common;

use common::{build, build_with, compare_all, size_of, AARCH64};
use memdx_symbolize::Symbolizer;

#[test]
fn arm64_program_matches_binutils() {
    let Some(b) = build(&AARCH64) else { return };
    let sym = Symbolizer::open(&b.exe, None).expect("open aarch64 test ELF");
    let funcs = common::program_functions(&sym);
    let n = compare_all(&sym, &AARCH64, &b.exe, None, &funcs);
    eprintln!("aarch64 program: {n} addresses equal to {}", AARCH64.addr2line);
    // Every aarch64 instruction is 4 bytes: far more than 100 offsets across six functions.
    assert!(n > 100, "only {n} addresses compared");
    common::check_obj_free_chain(&sym);
}

/// The 4.19 and 4.18 kernels of the seeds were built by gcc 7/8, which emit DWARF 4 (`.debug_ranges`,
/// `.debug_loc`) rather than gcc 11+'s DWARF 5.
#[test]
fn arm64_dwarf4_program_and_module_match_binutils() {
    let Some(b) = build_with(&AARCH64, &["-gdwarf-4"]) else { return };
    let modules = b.ko.parent().unwrap().to_path_buf();
    let sym = Symbolizer::open(&b.exe, Some(&modules)).expect("open aarch64 DWARF 4 test ELF");
    let funcs = common::program_functions(&sym);
    let n = compare_all(&sym, &AARCH64, &b.exe, None, &funcs);
    assert!(n > 100, "only {n} addresses compared");
    common::check_obj_free_chain(&sym);
    let m = common::check_module(&sym, &AARCH64, &b.ko);
    eprintln!("aarch64 DWARF 4: {n} program and {m} module addresses equal to {}", AARCH64.addr2line);
}

#[test]
fn arm64_duplicate_static_names_resolved_by_length() {
    let Some(b) = build(&AARCH64) else { return };
    let sym = Symbolizer::open(&b.exe, None).unwrap();
    common::check_duplicate_statics(&sym);
}

#[test]
fn arm64_module_matches_binutils() {
    let Some(b) = build(&AARCH64) else { return };
    let modules = b.ko.parent().unwrap().to_path_buf();
    let sym = Symbolizer::open(&b.exe, Some(&modules)).unwrap();
    let n = common::check_module(&sym, &AARCH64, &b.ko);
    eprintln!("aarch64 module: {n} addresses equal to {} -j <section>", AARCH64.addr2line);
    assert!(n > 20, "only {n} module addresses compared");
    // The inline chain inside the module survives relocation: mod_inner inlined into mod_probe.
    let z = size_of(&sym, "mod_probe", Some("symmod"))[0];
    let inlined = (0..z)
        .map(|off| sym.resolve("mod_probe", off, Some(z), Some("symmod")))
        .any(|r| r.matches[0].frames.iter().map(|f| f.function.as_str()).eq(["mod_inner", "mod_probe"]));
    assert!(inlined, "no offset of mod_probe shows mod_inner inlined");
}

#[test]
fn arm64_annotate_oops_format() {
    let Some(b) = build(&AARCH64) else { return };
    let modules = b.ko.parent().unwrap().to_path_buf();
    let sym = Symbolizer::open(&b.exe, Some(&modules)).unwrap();
    let zf = size_of(&sym, "obj_free", None)[0];
    let zw = size_of(&sym, "obj_walk", None)[0];
    let zm = size_of(&sym, "main", None)[0];
    let zp = size_of(&sym, "mod_probe", Some("symmod"))[0];
    let free = sym.resolve("obj_free", 0x8, Some(zf), None).annotation().unwrap();
    let walk = sym.resolve("obj_walk", 0x10, Some(zw), None).annotation().unwrap();
    let probe = sym.resolve("mod_probe", 0x4, Some(zp), Some("symmod")).annotation().unwrap();
    // The shape of seed 004's arm64 oops: pc/lr lines, then `Call trace:` frames without `?`.
    let log = format!(
        "[201866.971484] CPU: 6 PID: 29060 Comm: t Tainted: G        W  O      9.9.9-test #1\n\
         [201866.971499] pc : obj_free+0x8/{zf:#x}\n\
         [201866.971518] lr : obj_walk+0x10/{zw:#x}\n\
         [201866.971519] sp : ffff8003ffec1640\n\
         [201866.971520] x29: ffff8003ffec1640 x28: 000000000000000a \n\
         [201866.971541] Call trace:\n\
         [201866.971544]  obj_free+0x8/{zf:#x}\n\
         [201866.971546]  mod_probe+0x4/{zp:#x} [symmod]\n\
         [201866.971561]  main+0x4/{zm:#x}\n\
         [201867.029366] Code: 9a820000 f9400c00 eb0002bf 54fff980 (f9406801) \n"
    );
    let mut out = Vec::new();
    let stats = sym.annotate(log.as_bytes(), "arm64.log", &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[1], format!("[201866.971499] pc : obj_free+0x8/{zf:#x} {free}"));
    assert_eq!(lines[2], format!("[201866.971518] lr : obj_walk+0x10/{zw:#x} {walk}"));
    assert_eq!(lines[3], "[201866.971519] sp : ffff8003ffec1640");
    assert_eq!(lines[6], format!("[201866.971544]  obj_free+0x8/{zf:#x} {free}"));
    assert_eq!(lines[7], format!("[201866.971546]  mod_probe+0x4/{zp:#x} [symmod] {probe}"));
    assert!(lines[8].starts_with(&format!("[201866.971561]  main+0x4/{zm:#x} (")), "{}", lines[8]);
    assert_eq!(lines[9], "[201867.029366] Code: 9a820000 f9400c00 eb0002bf 54fff980 (f9406801) ");
    assert_eq!((stats.frames, stats.resolved, stats.ambiguous), (5, 5, 0));
    assert!(free.contains("main.c:") && probe.contains("module.c:"), "{free} {probe}");
}
