//! Call traces of each architecture's console format, from real kernels (testdata/log/arch,
//! README there): the frames the engine reads are the functions the log prints, in order, read
//! off each log by hand.

use std::path::PathBuf;

fn frames(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/log/arch").join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scan = memdx_log::scan(&data[..], name);
    assert_eq!(
        scan.reports.len(),
        1,
        "{name}: {:?}",
        scan.reports.iter().map(|r| &r.title).collect::<Vec<_>>()
    );
    let r = &scan.reports[0];
    assert_eq!(r.title, "kernel panic: VFS", "{name}");
    r.frames.iter().map(|f| format!("{}{}", if f.reliable { "" } else { "? " }, f.func)).collect()
}

#[test]
fn arm_since_5_16_prints_func_from_caller() {
    // `mount_block_root from prepare_namespace+0x158/0x194`: the function, then its caller (the next
    // line's function); the last caller (`ret_from_fork`) is printed only as a `from`.
    assert_eq!(
        frames("arm-6.1-armmp.dmesg"),
        [
            "unwind_backtrace",
            "show_stack",
            "dump_stack_lvl",
            "panic",
            "mount_block_root",
            "prepare_namespace",
            "kernel_init_freeable",
            "kernel_init"
        ]
    );
}

#[test]
fn i386_prints_x86_frames() {
    assert_eq!(
        frames("i386-6.1-686.dmesg"),
        [
            "dump_stack_lvl",
            "dump_stack",
            "panic",
            "mount_block_root",
            "mount_root",
            "prepare_namespace",
            "kernel_init_freeable",
            "? rest_init",
            "kernel_init",
            "ret_from_fork"
        ]
    );
}

#[test]
fn s390x_prints_bracketed_addresses() {
    // ` [<0000000000a2206a>] dump_stack_lvl+0x62/0x88 ` (with a trailing space).
    assert_eq!(
        frames("s390x-6.1.dmesg"),
        [
            "dump_stack_lvl",
            "panic",
            "mount_root",
            "prepare_namespace",
            "kernel_init_freeable",
            "kernel_init",
            "__ret_from_fork",
            "ret_from_fork"
        ]
    );
}

#[test]
fn arm_before_5_16_and_an_allocation_failure_named_past_the_allocator() {
    // Raspbian 3.2.27 (armv6l), raspberrypi/linux issue 153: `[<c0013e1c>] (unwind_backtrace+0x0/0xf0)
    // from [<c008e01c>] (warn_alloc_failed+0xc4/0x11c)`. The allocation failed in SLAB's refill
    // under `__kmalloc`; the first caller outside the page and slab allocator is `__alloc_skb`.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pasted/raspberrypi-linux-153-smsc95xx-order3-atomic-rx/syslog-1.txt");
    let data = std::fs::read(&path).expect("read");
    let scan = memdx_log::scan(&data[..], "syslog-1.txt");
    let r = &scan.reports[0];
    let funcs: Vec<&str> = r.frames.iter().map(|f| f.func.as_str()).collect();
    assert_eq!(
        funcs,
        [
            "unwind_backtrace",
            "warn_alloc_failed",
            "__alloc_pages_nodemask",
            "cache_alloc_refill",
            "__kmalloc",
            "__alloc_skb",
            "rx_submit",
            "usb_hcd_giveback_urb"
        ]
    );
    assert_eq!(r.guilty_frame.as_deref(), Some("__alloc_skb"));
    assert_eq!(r.title, "page allocation failure: order:3 in __alloc_skb");
}

#[test]
fn ppc64_prints_stack_pointer_and_return_address() {
    // `[c000000003353ad0] [c000000000d987bc] dump_stack_lvl+0x70/0xa0 (unreliable)`.
    assert_eq!(
        frames("ppc64le-6.1.dmesg"),
        [
            "? dump_stack_lvl",
            "panic",
            "mount_block_root",
            "prepare_namespace",
            "kernel_init_freeable",
            "kernel_init",
            "ret_from_kernel_thread"
        ]
    );
}
