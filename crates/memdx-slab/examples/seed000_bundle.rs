//! Generates a bundle shaped like seed 000 (deterministic): meminfo and slabtop excerpts and the
//! trace-bpfcc stacks copied from the seed, plus a kern.log of slub_debug TRACE records and a syslog
//! of systemd/dbus failures generated from the seed's real line formats.
//!
//! usage: seed000_bundle OUTDIR [MINUTES] [SYSLOG_SCALE]
//!   MINUTES       minutes of TRACE records at the seed's rate (7239 allocs / 5034 frees per 60 s);
//!                 fractions allowed (0.1 = the small test bundle); 440 gives a > 1 GB kern.log.
//!   SYSLOG_SCALE  share of the seed's 143146 avahi / 835 deepin-anything / 568 logrotate lines.

use std::io::{BufWriter, Write};
use std::path::Path;

const HOST: &str = "0000000g-A8cUta6pu5";
const KVER: &str = "4.19.0-arm64-desktop-tyy-5819-ext4-slub-debug-kmemleak #5819";

/// Deterministic xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const ALLOC_HEAD: &[&str] = &[
    "dump_backtrace+0x0/0x190",
    "show_stack+0x14/0x20",
    "dump_stack+0xa8/0xcc",
    "alloc_debug_processing+0x58/0x188",
    "___slab_alloc.constprop.34+0x31c/0x388",
    "kmem_cache_alloc+0x210/0x278",
    "__kernfs_new_node+0x60/0x1f8",
    "kernfs_new_node+0x24/0x48",
];
const ALLOC_MKDIR: &[&str] = &[
    "kernfs_create_dir_ns+0x30/0x88",
    "cgroup_mkdir+0x2f0/0x4e8",
    "kernfs_iop_mkdir+0x58/0x88",
    "vfs_mkdir+0xfc/0x1c0",
    "do_mkdirat+0xec/0x100",
    "__arm64_sys_mkdirat+0x1c/0x28",
    "el0_svc_common+0x90/0x178",
    "el0_svc_handler+0x9c/0xa8",
    "el0_svc+0x8/0xc",
];
const ALLOC_FILE: &[&str] = &[
    "__kernfs_create_file+0x4c/0x118",
    "cgroup_addrm_files+0x1b8/0x3a0",
    "css_populate_dir+0x6c/0x1a8",
    "cgroup_mkdir+0x318/0x4e8",
    "kernfs_iop_mkdir+0x58/0x88",
    "vfs_mkdir+0xfc/0x1c0",
    "do_mkdirat+0xec/0x100",
    "__arm64_sys_mkdirat+0x1c/0x28",
    "el0_svc_common+0x90/0x178",
    "el0_svc_handler+0x9c/0xa8",
    "el0_svc+0x8/0xc",
];
const ALLOC_KWORKER: &[&str] = &[
    "sysfs_add_file_mode_ns+0x9c/0x1d0",
    "internal_create_group+0x104/0x370",
    "sysfs_create_group+0x14/0x20",
    "sysfs_slab_add+0xb8/0x218",
    "__kmem_cache_create+0x128/0x160",
    "create_cache+0xcc/0x1e0",
    "memcg_create_kmem_cache+0xf8/0x140",
    "memcg_kmem_cache_create_func+0x1c/0x90",
    "process_one_work+0x1e8/0x438",
    "worker_thread+0x48/0x4c8",
    "kthread+0x128/0x130",
    "ret_from_fork+0x10/0x18",
];
const FREE_STACK: &[&str] = &[
    "dump_backtrace+0x0/0x190",
    "show_stack+0x14/0x20",
    "dump_stack+0xa8/0xcc",
    "free_debug_processing+0x19c/0x3a0",
    "__slab_free+0x230/0x3f8",
    "kmem_cache_free+0x200/0x220",
    "kernfs_put+0x100/0x238",
    "kernfs_evict_inode+0x2c/0x38",
    "evict+0xc0/0x1c0",
    "iput+0x1c8/0x288",
    "dentry_unlink_inode+0xb0/0xe8",
    "__dentry_kill+0xc4/0x1d0",
    "shrink_dentry_list+0x1ac/0x2c0",
    "shrink_dcache_parent+0x78/0x80",
    "vfs_rmdir+0xf0/0x190",
    "do_rmdir+0x1c0/0x1f8",
    "__arm64_sys_unlinkat+0x4c/0x60",
    "el0_svc_common+0x90/0x178",
    "el0_svc_handler+0x9c/0xa8",
    "el0_svc+0x8/0xc",
];
const OBJ_DUMP: &[&str] = &[
    "00 00 00 00 01 00 00 80 78 a2 37 a6 03 80 ff ff  ........x.7.....",
    "00 52 45 de 03 80 ff ff 40 92 37 a6 03 80 ff ff  .RE.....@.7.....",
    "80 b6 37 a6 03 80 ff ff 00 00 00 00 00 00 00 00  ..7.............",
    "00 00 00 00 00 00 00 00 7e 16 88 71 00 00 00 00  ........~..q....",
];

struct Log<W: Write> {
    w: W,
    mono: f64,
    /// Wall clock of mono 0, seconds of the day (12:37:33.8 makes mono 201.45 = 12:40:55).
    base: f64,
}

impl<W: Write> Log<W> {
    fn line(&mut self, msg: &str) -> std::io::Result<()> {
        let wall = (self.base + self.mono) as u64;
        let (d, s) = (24 + wall / 86400, wall % 86400);
        writeln!(
            self.w,
            "2024-01-{d:02} {:02}:{:02}:{:02} {HOST} kernel: [{:>12.6}] {msg}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            self.mono
        )?;
        self.mono += 0.000_02;
        Ok(())
    }

    fn record(
        &mut self,
        head: &str,
        cpu: u64,
        pid: u64,
        comm: &str,
        dump: bool,
        frames: &[&[&str]],
    ) -> std::io::Result<()> {
        self.line(head)?;
        if dump {
            for (i, d) in OBJ_DUMP.iter().enumerate() {
                self.line(&format!("Object {:016x}: {d}", 0x3a5b_5659u64 + i as u64 * 0x1111))?;
            }
        }
        self.line(&format!("CPU: {cpu} PID: {pid} Comm: {comm} Tainted: G           O      {KVER}"))?;
        self.line("Hardware name: RDO OpenStack Compute, BIOS 0.0.0 02/06/2015")?;
        self.line("Call trace:")?;
        for part in frames {
            for f in *part {
                self.line(&format!(" {f}"))?;
            }
        }
        Ok(())
    }
}

fn kern_log(path: &Path, minutes: f64) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed_0000_0000_0001);
    let mut log = Log {
        w: BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
        mono: 201.452633,
        base: 45453.8,
    };
    let allocs_total = (7239.0 * minutes).round() as u64;
    let frees_total = (5034.0 * minutes).round() as u64;
    // Objects allocated before the window, freed in it: the seed's frees include these.
    let mut live: Vec<u64> = (0..(frees_total / 10).max(1)).map(|_| rng.next() & 0xffff_ffff).collect();
    let mut freed_pool: Vec<u64> = Vec::new();
    let window = 60.0 * minutes;
    let events = allocs_total + frees_total;
    let step = window / events.max(1) as f64;
    let (mut a, mut f) = (0u64, 0u64);
    let mut inuse = 35u64;
    while a < allocs_total || f < frees_total {
        let t0 = log.mono;
        let do_alloc = f >= frees_total || a < allocs_total && rng.below(events) < allocs_total;
        if do_alloc {
            a += 1;
            // SLUB reuses freed objects first: same hashed pointer again.
            let ptr = if !freed_pool.is_empty() && rng.below(3) == 0 {
                freed_pool.swap_remove(rng.below(freed_pool.len() as u64) as usize)
            } else {
                rng.next() & 0xffff_ffff
            };
            live.push(ptr);
            let fp = if rng.below(4) == 0 {
                "0x          (null)".to_string()
            } else {
                format!("0x{:016x}", rng.next() & 0xffff_ffff)
            };
            let head = format!("TRACE kernfs_node_cache alloc 0x{ptr:016x} inuse={inuse} fp={fp}");
            inuse = (inuse % 33) + 1;
            let r = rng.below(100);
            if r < 12 {
                let w = rng.below(4);
                log.record(
                    &head,
                    w,
                    40 + w * 7,
                    &format!("kworker/{w}:1"),
                    false,
                    &[ALLOC_HEAD, ALLOC_KWORKER],
                )?;
            } else if r < 40 {
                log.record(&head, rng.below(8), 1, "systemd", false, &[ALLOC_HEAD, ALLOC_MKDIR])?;
            } else {
                log.record(&head, rng.below(8), 1, "systemd", false, &[ALLOC_HEAD, ALLOC_FILE])?;
            }
        } else {
            f += 1;
            if live.is_empty() {
                continue;
            }
            // Frees take older objects first (cgroups removed after a while), with some spread.
            let i = rng.below((live.len() as u64).min(64)) as usize;
            let ptr = live.swap_remove(i);
            freed_pool.push(ptr);
            if freed_pool.len() > 4096 {
                freed_pool.swap_remove(0);
            }
            let head = format!(
                "TRACE kernfs_node_cache free 0x{ptr:016x} inuse={inuse} fp=0x{:016x}",
                rng.next() & 0xffff_ffff
            );
            log.record(&head, rng.below(8), 1, "systemd", true, &[FREE_STACK])?;
        }
        // Spread records over the window.
        log.mono = t0 + step;
    }
    log.w.flush()
}

fn syslog(path: &Path, scale: f64) -> std::io::Result<()> {
    // Wall seconds since 2024-01-01 00:00:00.
    fn stamp(t: u64) -> String {
        let d = 1 + t / 86400;
        let s = t % 86400;
        format!("2024-01-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
    let mut lines: Vec<(u64, String)> = Vec::new();
    let avahi = (143146.0 * scale).round() as u64;
    // Every 5 s, ending at 2024-01-24 12:40:55 (the TRACE window), with a 30 s gap per reboot.
    let end = 23 * 86400 + 12 * 3600 + 40 * 60 + 55;
    let mut t = end - avahi * 5;
    for i in 0..avahi {
        if i > 0 && i % 20000 == 0 {
            t += 30;
        }
        lines.push((t, format!("{} {HOST} dbus-daemon[539]:  [system] Activation via systemd failed for unit 'dbus-org.freedesktop.Avahi.service': Unit dbus-org.freedesktop.Avahi.service not found.", stamp(t))));
        t += 5;
    }
    let anything = (835.0 * scale).round() as u64;
    let mut t = end - anything * 600;
    for i in 0..anything {
        let n = i % 5 + 1;
        lines.push((t, format!("{} {HOST} systemd[1]:  deepin-anything-monitor.service: Scheduled restart job, restart counter is at {n}.", stamp(t))));
        lines.push((
            t + 1,
            format!(
                "{} {HOST} systemd[1]:  deepin-anything-monitor.service: Failed with result 'exit-code'.",
                stamp(t + 1)
            ),
        ));
        t += 600;
    }
    let rotate = (568.0 * scale).round() as u64;
    let mut rng = Rng(0x5eed_0000_0000_0002);
    for i in 0..rotate {
        let t = i * 3600 + 1 + rng.below(30);
        lines.push((t, format!("{} {HOST} systemd[1]:  logrotate.service: Main process exited, code=exited, status=1/FAILURE", stamp(t))));
        lines.push((
            t,
            format!("{} {HOST} systemd[1]:  logrotate.service: Failed with result 'exit-code'.", stamp(t)),
        ));
        lines.push((t, format!("{} {HOST} systemd[1]:  Failed to start Rotate log files.", stamp(t))));
    }
    lines.sort_by_key(|(t, _)| *t);
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for (_, l) in lines {
        writeln!(w, "{l}")?;
    }
    w.flush()
}

const MEMINFO: &str =
    "Slab:             913952 kB\nSReclaimable:     175568 kB\nSUnreclaim:       738384 kB\n";

const SLABTOP: &str = " Active / Total Objects (% used)    : 924058 / 1039323 (88.9%)
 Active / Total Slabs (% used)      : 43496 / 43496 (100.0%)
 Active / Total Caches (% used)     : 121 / 187 (64.7%)
 Active / Total Size (% used)       : 815879.95K / 908598.60K (89.8%)
 Minimum / Average / Maximum Object : 0.36K / 0.87K / 16.81K

  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME                   
 55251  52846  95%    4.44K   7893        7    252576K names_cache            
229119 223856  97%    0.48K   6943       33    111088K kernfs_node_cache      
141850 137390  96%    0.62K   5674       25     90784K kmalloc-128            
 13776  12659  91%    4.50K   1968        7     62976K kmalloc-4096           
104670  87963  84%    0.53K   3489       30     55824K dentry                 
 63020  52097  82%    0.69K   2740       23     43840K filp                   
 72090  59483  82%    0.53K   2403       30     38448K vm_area_struct         
 21142  19921  94%    1.41K    961       22     30752K ext4_inode_cache       
 58555  55044  94%    0.45K   1673       35     26768K buffer_head            
 38775  34343  88%    0.62K   1551       25     24816K skbuff_head_cache      
 23256  21205  91%    0.94K    684       34     21888K inode_cache            
 21248  17845  83%    1.00K    664       32     21248K kmalloc-512            
 47502  40866  86%    0.41K   1218       39     19488K anon_vma_chain       
";

const KERNFS_NEW_NODE: &str = "TIME     PID     TID     COMM            FUNC             
3.781989 1       1       systemd         kernfs_new_node  
        kernfs_new_node+0x0 [kernel]
        cgroup_mkdir+0x2f0 [kernel]
        kernfs_iop_mkdir+0x58 [kernel]
        vfs_mkdir+0xfc [kernel]
        do_mkdirat+0xec [kernel]
        __arm64_sys_mkdirat+0x1c [kernel]
        el0_svc_common+0x90 [kernel]
        el0_svc_handler+0x9c [kernel]
        el0_svc+0x8 [kernel]
        mkdir+0x14 [libc-2.28.so]
        [unknown] [libsystemd-shared-241.so (deleted)]
        [unknown] [libsystemd-shared-241.so (deleted)]
        [unknown] [systemd (deleted)]
        __libc_start_main+0xe4 [libc-2.28.so]
        [unknown] [systemd (deleted)]
        -14
3.796820 47      47      kworker/3:1     kernfs_new_node  
        kernfs_new_node+0x0 [kernel]
        sysfs_add_file_mode_ns+0x9c [kernel]
        internal_create_group+0x104 [kernel]
        sysfs_create_group+0x14 [kernel]
        sysfs_slab_add+0xb8 [kernel]
        __kmem_cache_create+0x128 [kernel]
        create_cache+0xcc [kernel]
        memcg_create_kmem_cache+0xf8 [kernel]
        memcg_kmem_cache_create_func+0x1c [kernel]
        process_one_work+0x1e8 [kernel]
        worker_thread+0x48 [kernel]
        kthread+0x128 [kernel]
        ret_from_fork+0x10 [kernel]
        -14
";

const CGROUP_MKDIR: &str = "TIME     PID     TID     COMM            FUNC             
11.08041 1       1       systemd         cgroup_mkdir     
        cgroup_mkdir+0x0 [kernel]
        vfs_mkdir+0xfc [kernel]
        do_mkdirat+0xec [kernel]
        __arm64_sys_mkdirat+0x1c [kernel]
        el0_svc_common+0x90 [kernel]
        el0_svc_handler+0x9c [kernel]
        el0_svc+0x8 [kernel]
        [unknown] [libc-2.28.so (deleted)]
        cg_create.localalias.13+0x64 [libsystemd-shared-241.so]
        cg_create_everywhere+0x30 [libsystemd-shared-241.so]
        unit_create_cgroup+0xb4 [systemd]
        unit_realize_cgroup_now.lto_priv.665+0xa8 [systemd]
        unit_realize_cgroup+0x16c [systemd]
        unit_prepare_exec+0x18 [systemd]
        service_spawn.lto_priv.382+0x80 [systemd]
        service_start.lto_priv.56+0x144 [systemd]
        job_perform_on_unit.lto_priv.422+0x6b4 [systemd]
        manager_dispatch_run_queue.lto_priv.589+0x358 [systemd]
        source_dispatch+0x118 [libsystemd-shared-241.so]
        sd_event_dispatch+0x150 [libsystemd-shared-241.so]
        sd_event_run+0x90 [libsystemd-shared-241.so]
        invoke_main_loop+0xff4 [systemd]
        main+0x1660 [systemd]
        [unknown] [libc-2.28.so (deleted)]
        [unknown] [systemd]

11.08056 1       1       systemd         cgroup_mkdir     
        cgroup_mkdir+0x0 [kernel]
        vfs_mkdir+0xfc [kernel]
        do_mkdirat+0xec [kernel]
        __arm64_sys_mkdirat+0x1c [kernel]
        el0_svc_common+0x90 [kernel]
        el0_svc_handler+0x9c [kernel]
        el0_svc+0x8 [kernel]
        [unknown] [libc-2.28.so (deleted)]
        cg_create.localalias.13+0x64 [libsystemd-shared-241.so]
        cg_create.localalias.13+0xe8 [libsystemd-shared-241.so]
        cg_create_everywhere+0x30 [libsystemd-shared-241.so]
        unit_create_cgroup+0xb4 [systemd]
        unit_realize_cgroup_now.lto_priv.665+0xa8 [systemd]
        unit_realize_cgroup+0x16c [systemd]
        unit_prepare_exec+0x18 [systemd]
        service_spawn.lto_priv.382+0x80 [systemd]
        service_start.lto_priv.56+0x144 [systemd]
        job_perform_on_unit.lto_priv.422+0x6b4 [systemd]
        manager_dispatch_run_queue.lto_priv.589+0x358 [systemd]
        source_dispatch+0x118 [libsystemd-shared-241.so]
        sd_event_dispatch+0x150 [libsystemd-shared-241.so]
        sd_event_run+0x90 [libsystemd-shared-241.so]
        invoke_main_loop+0xff4 [systemd]
        main+0x1660 [systemd]
        [unknown] [libc-2.28.so (deleted)]
        [unknown] [systemd]
";

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: seed000_bundle OUTDIR [MINUTES] [SYSLOG_SCALE]");
        std::process::exit(2);
    };
    let minutes: f64 = args.get(2).and_then(|m| m.parse().ok()).unwrap_or(1.0);
    let scale: f64 = args.get(3).and_then(|m| m.parse().ok()).unwrap_or(1.0);
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("meminfo.txt"), MEMINFO)?;
    std::fs::write(out.join("slabtop.txt"), SLABTOP)?;
    std::fs::write(out.join("kernfs_new_node.log"), KERNFS_NEW_NODE)?;
    std::fs::write(out.join("cgroup_mkdir.log"), CGROUP_MKDIR)?;
    kern_log(&out.join("kern.log"), minutes)?;
    syslog(&out.join("syslog"), scale)
}
