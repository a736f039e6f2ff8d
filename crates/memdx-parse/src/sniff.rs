//! Recognising a /proc-style file by its content, never by its name.
//!
//! [`sniff`] looks at the first few KiB only. Kernel logs and tracepoint text are recognised by their
//! own crates (`memdx_log::sniff`, `memdx_trace::sniff`); the caller tries those too.

use crate::uint;
use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::LazyLock;

/// The formats this crate parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Meminfo,
    Slabinfo,
    Slabtop,
    Buddyinfo,
    Pagetypeinfo,
    Zoneinfo,
    Vmstat,
    Sysctl,
    Cmdline,
    Cgroups,
    Psi,
    MemcgStat,
    SlabAliases,
    CrashKmem,
    KernelRelease,
    Free,
    Arcstats,
    SlubTraces,
    MemcgFile,
    ProcessTable,
    ProcStatus,
    SmapsRollup,
    MemSamples,
    Vmallocinfo,
    Numastat,
    MmSysfs,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Meminfo => "meminfo",
            Format::Slabinfo => "slabinfo",
            Format::Slabtop => "slabtop",
            Format::Buddyinfo => "buddyinfo",
            Format::Pagetypeinfo => "pagetypeinfo",
            Format::Zoneinfo => "zoneinfo",
            Format::Vmstat => "vmstat",
            Format::Sysctl => "sysctl",
            Format::Cmdline => "cmdline",
            Format::Cgroups => "cgroups",
            Format::Psi => "psi",
            Format::MemcgStat => "memory.stat",
            Format::SlabAliases => "slab aliases",
            Format::CrashKmem => "crash kmem -i",
            Format::KernelRelease => "kernel release",
            Format::Free => "free",
            Format::Arcstats => "zfs arcstats",
            Format::SlubTraces => "slub alloc/free traces",
            Format::MemcgFile => "memory cgroup file",
            Format::ProcessTable => "process table (ps/top)",
            Format::ProcStatus => "/proc/<pid>/status",
            Format::SmapsRollup => "smaps_rollup",
            Format::MemSamples => "memory samples (vmstat/sar -r)",
            Format::Vmallocinfo => "vmallocinfo",
            Format::Numastat => "numastat -m",
            Format::MmSysfs => "huge page settings (sysfs)",
        }
    }
}

/// [`sniff`]'s reason for a file with no bytes.
pub const EMPTY: &str = "empty file";
/// [`sniff`]'s reason for a file that is not text.
pub const BINARY: &str = "binary content";

/// How many bytes of a file [`sniff`] wants to see.
pub const SNIFF_BYTES: usize = 8192;

fn is_kv_line(l: &str) -> bool {
    let mut it = l.split_whitespace();
    matches!((it.next(), it.next().map(uint), it.next()), (Some(k), Some(Some(_)), None) if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

fn is_meminfo_line(l: &str) -> bool {
    let Some((k, v)) = l.split_once(':') else { return false };
    let mut it = v.split_whitespace();
    !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_()".contains(&b))
        && it.next().and_then(uint).is_some()
        && matches!(it.next(), None | Some("kB"))
        && it.next().is_none()
}

/// Words of which [`sniff`] needs one in a text with no ASCII digit, `=` or `[` before it can
/// recognise a format (see [`may_match`]).
const DIGITLESS_WORDS: &[&str] = &[
    "slabinfo", // `slabinfo - version:`
    " : ",      // slabinfo rows: ` : tunables `, ` : slabdata `
    "Name:",    // /proc/<pid>/status
    "PID",      // ps/top header
    "free",     // vmstat (`free`), sar -r (`kbmemfree`) headers
    "Mem:",     // free
    "/sys/",    // `grep . /sys/kernel/mm/...` lines
    "Page block order:",
    "#subsys_name", // /proc/cgroups
    "OBJS",         // slabtop header
    "TOTAL MEM",    // crash kmem -i
    ", zone",       // zoneinfo
    " -> :",        // slab aliases
    "systemd.",     // command line parameters (with `cgroup_`, `ro`, `quiet`; the rest have `=`)
    "cgroup_",
];

/// False only when [`sniff`] cannot recognise a format in `head`, decided in one pass over the
/// bytes and one keyword search: most short blocks of a pasted document (a line of prose between
/// two pastes) are then not sniffed at all.
///
/// Every format needs an ASCII digit, `=` or `[` somewhere in its text (a value, a release, a
/// `key=value`, `[rollup]`, a THP choice `[madvise]`), but those whose test can pass without one,
/// and each of those needs one of [`DIGITLESS_WORDS`] or, on a one-line command line, a word `ro`
/// or `quiet`: the rows of slabinfo (` : tunables `), the headers of slabinfo, ps/top, vmstat,
/// sar, free, slabtop, `crash kmem -i`, /proc/cgroups and pagetypeinfo, /proc/<pid>/status
/// (`Name:`), zoneinfo (`Node 0, zone`), `grep` lines of /sys/kernel/mm, slab aliases. Formats
/// that need a digit: the kernel release (`X.Y`), buddyinfo and numastat (node numbers),
/// vmallocinfo, arcstats, slub traces, meminfo, vmstat and memory.stat (counts), PSI (`avg10`).
/// Keep this list in step with [`sniff`]: `prefilter_never_hides_a_format` checks it.
pub fn may_match(head: &[u8]) -> bool {
    static WORDS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| AhoCorasick::new(DIGITLESS_WORDS).ok());
    if head.iter().any(|&b| b.is_ascii_digit() || b == b'=' || b == b'[') {
        return true;
    }
    let Some(words) = WORDS.as_ref() else { return true };
    // A command line's word: split as `split_whitespace` would, or finer (every byte that is not
    // printable ASCII, so every byte of a non-ASCII space, splits).
    words.is_match(head) || head.split(|b| !b.is_ascii_graphic()).any(|w| w == b"ro" || w == b"quiet")
}

/// The format [`sniff`] recognises in `head`, when there is one; [`may_match`] first, and no
/// reason is written when there is none.
pub fn format_of(head: &[u8]) -> Option<Format> {
    if !may_match(head) {
        return None;
    }
    sniff_with(head, true, false).ok()
}

/// The tests of [`sniff`] that need a word (see [`NEEDED`]) in a line they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Rows of slabinfo without the header.
    SlabinfoRows,
    SmapsRollup,
    ProcessTable,
    MemSamples,
    Vmallocinfo,
    Numastat,
    /// `grep` lines of /sys/kernel/mm.
    MmSysfsGrep,
    Arcstats,
    SlubTraces,
    Slabtop,
    CrashKmem,
    Psi,
    SlabAliases,
    Free,
    /// `key = value` lines: a `=`, found apart (a one-byte word would keep the search below
    /// from skipping ahead).
    Sysctl,
}

/// The words each [`Need`] test needs one of: where the text has none, the test is skipped (its
/// outcome is known). No word starts another (see [`needed_in`]).
const NEEDED: &[(Need, &[&str])] = &[
    (Need::SlabinfoRows, &[" : tunables "]),
    (Need::SmapsRollup, &["[rollup]"]),
    (Need::ProcessTable, &["PID"]),
    // vmstat's `free` column, sar's `kbmemfree`.
    (Need::MemSamples, &["free"]),
    (Need::Vmallocinfo, &["-0x"]),
    (Need::Numastat, &["Node"]),
    (Need::MmSysfsGrep, &["/sys/"]),
    // The ARC's own counters.
    (Need::Arcstats, &["c_max", "arc_meta_used", "l2_size", "mru_size", "arc_no_grow"]),
    // A site's fields.
    (Need::SlubTraces, &["age=", "pid="]),
    (Need::Slabtop, &["OBJS"]),
    (Need::CrashKmem, &["TOTAL MEM"]),
    (Need::Psi, &["some avg10="]),
    (Need::SlabAliases, &[" -> :"]),
    (Need::Free, &["Mem:"]),
];

/// The words of [`NEEDED`], each with its test.
fn needed_words() -> impl Iterator<Item = (&'static str, Need)> {
    NEEDED.iter().flat_map(|&(need, words)| words.iter().map(move |&w| (w, need)))
}

/// The [`Need`] tests whose words occur in `text`, as bits (`1 << need`).
fn needed_in(text: &str) -> u32 {
    static AC: LazyLock<Option<(AhoCorasick, Vec<Need>)>> = LazyLock::new(|| {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(needed_words().map(|(w, _)| w))
            .ok()?;
        Some((ac, needed_words().map(|(_, need)| need).collect()))
    });
    let Some((ac, needs)) = AC.as_ref() else { return u32::MAX };
    let mut bits = if memchr::memchr(b'=', text.as_bytes()).is_some() { 1 << Need::Sysctl as u32 } else { 0 };
    // Every occurrence of every word: a search that skips ahead to candidates, started again one
    // byte after the start of each match (no word starts another, so no two start at one byte).
    let mut at = 0;
    while let Some(m) = ac.find(aho_corasick::Input::new(text).range(at..)) {
        bits |= 1 << needs[m.pattern().as_usize()] as u32;
        at = m.start() + 1;
    }
    bits
}

/// Recognises the format of `head` (the first [`SNIFF_BYTES`] of a file). Returns the reason when
/// nothing matched, for the `skipped` list.
pub fn sniff(head: &[u8]) -> Result<Format, String> {
    sniff_with(head, true, true)
}

/// [`sniff`]; `skip` lets it pass over the tests that need a word of [`NEEDED`] the text does not
/// have (false in tests only, to show that skipping changes nothing), and the reason of a miss is
/// written only when `reason` is true (else it is empty).
fn sniff_with(head: &[u8], skip: bool, reason: bool) -> Result<Format, String> {
    let miss = |why: &dyn Fn() -> String| Err(if reason { why() } else { String::new() });
    if head.is_empty() {
        return miss(&|| EMPTY.into());
    }
    // Control bytes but tab, newline, carriage return and escape (NUL included), in a loop that
    // compiles to vector instructions.
    let bad = head.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x1b)).count();
    if bad * 20 > head.len().min(4096) {
        return miss(&|| BINARY.into());
    }
    // Cut at the last newline so a truncated multibyte char or half line does not disturb us.
    let cut = head.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(head.len());
    let text = memdx_core::lines::lossy(&head[..cut]);
    // (A line that starts with printable ASCII but the space is not blank: no need to trim it.)
    let blank = |l: &str| !l.as_bytes().first().is_some_and(|&b| b > b' ' && b < 0x7f) && l.trim().is_empty();
    let lines: Vec<&str> = text.lines().filter(|l| !blank(l)).take(60).collect();
    let Some(first) = lines.first().map(|l| l.trim()) else { return miss(&|| "only blank lines".into()) };
    let n = lines.len();
    let words = if skip { needed_in(&text) } else { u32::MAX };
    let seen = |need: Need| words & 1 << need as u32 != 0;
    // At least 80% of the lines: stops at the first miss too many (most tests fail on most files).
    let max_miss = n - (n * 8).div_ceil(10);
    let frac = |pred: &dyn Fn(&str) -> bool| {
        let mut miss = 0;
        lines.iter().all(|l| {
            miss += usize::from(!pred(l));
            miss <= max_miss
        })
    };
    let any = |pred: &dyn Fn(&str) -> bool| lines.iter().any(|l| pred(l));

    // A release is one word or a `Linux ...` line (checked first: a failed parse costs errors).
    let one_word =
        || first.split_whitespace().nth(1).is_none() || first.split_whitespace().next() == Some("Linux");
    if n == 1 && one_word() && crate::kernel::parse(first, &memdx_core::SourceRef::new("")).is_ok() {
        return Ok(Format::KernelRelease);
    }
    if first.starts_with("slabinfo - version:") {
        return Ok(Format::Slabinfo);
    }
    // Rows of /proc/slabinfo quoted without the header.
    if seen(Need::SlabinfoRows) && frac(&|l| l.contains(" : tunables ") && l.contains(" : slabdata ")) {
        return Ok(Format::Slabinfo);
    }
    if first.starts_with("Name:") && any(&|l| l.starts_with("Pid:") || l.starts_with("VmRSS:")) {
        return Ok(Format::ProcStatus);
    }
    if seen(Need::SmapsRollup) && any(&|l| crate::smaps_rollup::is_rollup_line(l)) {
        return Ok(Format::SmapsRollup);
    }
    // `crash> ps` prints a process table too, inside a crash session the log engine reads.
    if seen(Need::ProcessTable)
        && any(&|l| crate::process_table::is_header(l))
        && !any(&|l| l.starts_with("crash>"))
    {
        return Ok(Format::ProcessTable);
    }
    if seen(Need::MemSamples) && any(&|l| crate::mem_samples::is_header(l)) {
        return Ok(Format::MemSamples);
    }
    if seen(Need::Vmallocinfo) && frac(&|l| crate::vmallocinfo::is_line(l)) {
        return Ok(Format::Vmallocinfo);
    }
    if seen(Need::Numastat)
        && any(&|l| crate::numastat::node_header(l.trim()).is_some())
        && any(&|l| l.starts_with("MemTotal ") || l.starts_with("MemFree "))
    {
        return Ok(Format::Numastat);
    }
    if seen(Need::MmSysfsGrep) && frac(&|l| crate::mm_sysfs::is_grep_line(l.trim()))
        || n <= 3 && frac(&|l| crate::mm_sysfs::choice(l).is_some())
    {
        return Ok(Format::MmSysfs);
    }
    if seen(Need::Free)
        && any(&|l| l.trim_start().starts_with("Mem:"))
        && any(&|l| {
            let t = l.trim_start();
            t.starts_with("total") && t.contains("used") && t.contains("free")
                || t.starts_with("-/+ buffers/cache:")
        })
    {
        return Ok(Format::Free);
    }
    if seen(Need::Arcstats) && crate::arcstats::looks_like(&lines) {
        return Ok(Format::Arcstats);
    }
    if seen(Need::SlubTraces) && crate::slub_traces::looks_like(&lines) {
        return Ok(Format::SlubTraces);
    }
    if first.starts_with("Page block order:") {
        return Ok(Format::Pagetypeinfo);
    }
    if first.starts_with("#subsys_name") {
        return Ok(Format::Cgroups);
    }
    if seen(Need::Slabtop)
        && any(&|l| {
            let t = l.trim();
            t.starts_with("OBJS") && t.contains("OBJ SIZE") && t.ends_with("NAME")
        })
    {
        return Ok(Format::Slabtop);
    }
    if seen(Need::CrashKmem)
        && any(&|l| l.trim_start().starts_with("TOTAL MEM"))
        && any(&|l| l.contains("PAGES") && l.contains("PERCENTAGE"))
    {
        return Ok(Format::CrashKmem);
    }
    if first.starts_with("Node") && first.contains(", zone") {
        if any(&|l| l.trim_start().starts_with("pages free") || l.trim() == "per-node stats") {
            return Ok(Format::Zoneinfo);
        }
        if frac(&|l| crate::buddyinfo::node_zone(l).is_some()) {
            return Ok(Format::Buddyinfo);
        }
    }
    let psi = |l: &str| {
        let t = l.trim_start();
        (t.starts_with("some avg10=") || t.starts_with("full avg10=")) || t.starts_with("== /proc/pressure/")
    };
    if seen(Need::Psi) && frac(&psi) && any(&|l| l.starts_with("some avg10=")) {
        return Ok(Format::Psi);
    }
    if seen(Need::SlabAliases) && frac(&|l| l.contains(" -> :")) {
        return Ok(Format::SlabAliases);
    }
    if frac(&is_meminfo_line)
        && any(&|l| {
            [
                "MemTotal:",
                "MemFree:",
                "Slab:",
                "SUnreclaim:",
                "Committed_AS:",
                "HugePages_Total:",
                "Hugepagesize:",
                "MemAvailable:",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
    {
        return Ok(Format::Meminfo);
    }
    if frac(&is_kv_line) {
        let has = |k: &str| lines.iter().any(|l| l.split_whitespace().next() == Some(k));
        if has("nr_free_pages") || has("pgscan_kswapd") || has("pgfault") && has("nr_dirty") {
            return Ok(Format::Vmstat);
        }
        if (has("cache") && has("rss")) || (has("anon") && has("file")) {
            return Ok(Format::MemcgStat);
        }
        return miss(&|| "`name value` counters, but neither vmstat nor memory.stat keys".into());
    }
    let sysctl_line = |l: &str| crate::sysctl::split_kv(l).is_some();
    // `sysctl -a` is sorted (abi., debug., dev., fs., kernel., net., ..., vm.): the vm keys may be far
    // below the first lines, so dotted names with `=` are enough.
    let dotted = |l: &str| crate::sysctl::split_kv(l).is_some_and(|(k, _)| k.contains('.'));
    if seen(Need::Sysctl)
        && frac(&sysctl_line)
        && (frac(&dotted)
            || any(&|l| {
                l.trim_start().starts_with("vm.")
                    || l.contains("min_free_kbytes")
                    || l.contains("overcommit_")
            }))
    {
        return Ok(Format::Sysctl);
    }
    if n == 1 && first.len() < 16384 {
        const MARKERS: &[&str] = &[
            "BOOT_IMAGE=",
            "root=",
            "console=",
            "init=",
            "rdinit=",
            "cgroup.memory=",
            "cgroup_",
            "mitigations=",
            "systemd.",
            "crashkernel=",
        ];
        if first
            .split_whitespace()
            .any(|t| MARKERS.iter().any(|m| t.starts_with(m)) || t == "ro" || t == "quiet")
        {
            return Ok(Format::Cmdline);
        }
    }
    miss(&|| format!("content not recognised (first line: {:.60})", first))
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A short text of each format.
    const EACH_FORMAT: &[(&str, Format)] = &[
        ("MemTotal:       24684100 kB\nMemFree:        24430884 kB\n", Format::Meminfo),
        ("slabinfo - version: 2.1\n", Format::Slabinfo),
        ("Node 0, zone      DMA      0      0      1 \n", Format::Buddyinfo),
        ("Node 0, zone      DMA\n  per-node stats\n  pages free 5\n", Format::Zoneinfo),
        ("nr_free_pages 6107721\nnr_zone_inactive_anon 1394\n", Format::Vmstat),
        ("cache 1\nrss 0\nmapped_file 0\n", Format::MemcgStat),
        ("vm.min_free_kbytes = 67584\nvm.overcommit_memory = 0\n", Format::Sysctl),
        ("BOOT_IMAGE=/vmlinuz-6.1 root=/dev/sda1 ro quiet\n", Format::Cmdline),
        ("#subsys_name\thierarchy\tnum_cgroups\tenabled\n", Format::Cgroups),
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", Format::Psi),
        ("a -> :0000136\nb -> :0000136\n", Format::SlabAliases),
        ("Page block order: 9\n", Format::Pagetypeinfo),
        ("kmalloc-128        84916  84924    384   21    2 : tunables    0    0    0 : slabdata   4044   4044      0\n", Format::Slabinfo),
        ("              total        used        free      shared  buff/cache   available\nMem:        1 1 1 1 1 1\n", Format::Free),
        ("  39453 kstrdup_const+0x3c/0x48 age=9949/204277/303649 pid=0-712 cpus=0-3\n....\n", Format::SlubTraces),
        ("Name:\tbash\nUmask:\t0022\nPid:\t5\n", Format::ProcStatus),
        ("55-7f ---p 00000000 00:00 0   [rollup]\nRss: 5 kB\n", Format::SmapsRollup),
        ("USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\nroot 1 0.0 0.0 1 1 ? S 00:00 0:00 init\n", Format::ProcessTable),
        ("procs -----------memory----------\n r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st\n", Format::MemSamples),
        ("0x1-0x2   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4\n", Format::Vmallocinfo),
        ("                          Node 0           Total\nMemTotal  1.0 1.0\n", Format::Numastat),
        ("always [madvise] never\n", Format::MmSysfs),
        ("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages:0\n", Format::MmSysfs),
    ];

    #[test]
    fn each_format() {
        for (t, f) in EACH_FORMAT {
            assert_eq!(sniff(t.as_bytes()), Ok(*f), "{t}");
        }
        assert!(sniff(b"").is_err());
        assert!(sniff(&[0u8, 1, 2, 3, 0, 0, 0, 9, 200]).is_err());
        assert!(sniff(b"hello world\nthis is prose\n").is_err());
    }

    /// Texts to check the shortcuts on: the head of every file in testdata, each of its lines and
    /// pairs of lines, the same with digits, `=` and `[` removed (where only words can let a
    /// format through), and short texts of each format.
    fn corpus() -> Vec<String> {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    files(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut paths = Vec::new();
        files(&root, &mut paths);
        let mut texts: Vec<String> = vec![
            "slabinfo - version:\n".into(),
            "PID USER RSS COMMAND\n".into(),
            "r b swpd free buff cache si so\n".into(),
            "kbmemfree kbmemused\n".into(),
            "always [madvise] never\n".into(),
            "console ro quiet\n".into(),
            "x\u{a0}ro\n".into(),
            "/sys/kernel/mm/transparent_hugepage/enabled:always\n".into(),
            "splash systemd.show_status\n".into(),
            "  5 f+0x1/0x2 age=1\n".into(),
            "  5 f+0x1/0x2 pid=1\n".into(),
        ];
        for arc in ["c_max", "arc_meta_used", "l2_size", "mru_size", "arc_no_grow"] {
            texts.push(format!("name type data\nhits 4 1234\n{arc} 4 5\n"));
        }
        texts.extend(EACH_FORMAT.iter().map(|(t, _)| t.to_string()));
        for p in &paths {
            let Ok(bytes) = std::fs::read(p) else { continue };
            let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
            let text = String::from_utf8_lossy(head).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            texts.push(text.clone());
            for (i, l) in lines.iter().enumerate() {
                texts.push(format!("{l}\n"));
                if let Some(next) = lines.get(i + 1) {
                    texts.push(format!("{l}\n{next}\n"));
                }
            }
        }
        let stripped: Vec<String> = texts
            .iter()
            .map(|t| t.replace(|c: char| c.is_ascii_digit() || c == '=' || c == '[', ""))
            .collect();
        texts.extend(stripped);
        texts
    }

    /// [`may_match`] is false only where [`sniff`] finds nothing.
    #[test]
    fn prefilter_never_hides_a_format() {
        let texts = corpus();
        let (mut found, mut found_digitless, mut skipped) = (0, 0, 0);
        for t in &texts {
            let b = t.as_bytes();
            let ok = sniff(b).is_ok();
            assert!(!ok || may_match(b), "sniff finds {:?} in {t:?}, the prefilter says no", sniff(b));
            found += usize::from(ok);
            found_digitless += usize::from(ok && !b.iter().any(|c| c.is_ascii_digit() || b"=[".contains(c)));
            skipped += usize::from(!may_match(b));
        }
        assert!(
            found > 1000 && found_digitless > 20 && skipped > 1000,
            "{found} {found_digitless} {skipped}"
        );
        assert!(!may_match(b"Then I ran this, output attached:\n"));
    }

    /// Skipping the tests whose words a text lacks changes no result, reasons included (nor does
    /// leaving out the reasons), and every word lets some format through.
    #[test]
    fn skipped_tests_change_nothing() {
        let texts = corpus();
        let mut words = 0;
        for t in &texts {
            let b = t.as_bytes();
            let got = sniff_with(b, true, true);
            assert_eq!(got, sniff_with(b, false, true), "{t:?}");
            assert_eq!(got.clone().ok(), sniff_with(b, true, false).ok(), "{t:?}");
            if got.is_ok() {
                words |= needed_in(t);
            }
        }
        // Each test lets a format through on some text with its words (so that the check above
        // tests it), and no word starts another.
        assert_eq!(words, (1 << (Need::Sysctl as u32 + 1)) - 1, "{words:b}");
        for (w, _) in needed_words() {
            assert!(!needed_words().any(|(v, _)| v != w && v.starts_with(w)), "{w}");
        }
    }
}
