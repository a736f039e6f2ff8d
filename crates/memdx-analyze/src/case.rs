//! [`Case`]: everything memdx knows about one machine, gathered from any mix of inputs.

use memdx_core::kver::KernelVersion;
use memdx_core::{Diag, SourceRef};
use memdx_parse::buddyinfo::Buddyinfo;
use memdx_parse::cgroups::ProcCgroups;
use memdx_parse::cmdline::Cmdline;
use memdx_parse::crash_kmem::KmemInfo;
use memdx_parse::kernel::KernelRelease;
use memdx_parse::kv::Counters;
use memdx_parse::memcg_stat::MemcgStat;
use memdx_parse::meminfo::Meminfo;
use memdx_parse::pagetypeinfo::Pagetypeinfo;
use memdx_parse::psi::Psi;
use memdx_parse::slab_aliases::SlabAliases;
use memdx_parse::slabinfo::{SlabFormat, SlabTable};
use memdx_parse::sniff::{sniff, Format, BINARY, EMPTY};
use memdx_parse::sysctl::Sysctls;
use memdx_parse::zoneinfo::Zoneinfo;
use memdx_parse::{sections, ParseResult};

/// A recognised input.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InputInfo {
    pub file: String,
    pub format: String,
    /// Diagnostics for damaged parts of this input.
    pub diagnostics: usize,
}

/// An input that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// Evidence an analyzer would have used but could not get (live non-root, or not in the bundle).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    pub what: String,
    pub why: String,
}

/// Memory cgroups counted on a root tree (live machine, `--root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgCount {
    /// `v1` or `v2`.
    pub hierarchy: &'static str,
    /// Directories present (the root included).
    pub live: u64,
    /// Removed but not yet freed (v1: /proc/cgroups num_cgroups - live; v2: nr_dying_descendants).
    pub dying: Option<u64>,
    /// Largest by usage: (path, bytes).
    pub top: Vec<(String, u64)>,
    /// Limits of the largest, in the same order.
    pub limits: Vec<MemcgLimit>,
    /// Deepest level below the hierarchy root.
    pub max_depth: u32,
    /// Where the hierarchy was walked.
    pub source: SourceRef,
}

/// Memory figures of one cgroup for the exporter. v1: `memory.usage_in_bytes`, `memory.limit_in_bytes`,
/// `memory.failcnt`, `memory.memsw.usage_in_bytes` minus usage (swap), `oom_kill` of
/// `memory.oom_control` (4.13+). v2: `memory.current`, `memory.max`, `memory.swap.current`,
/// `memory.events`, `nr_dying_descendants` of `cgroup.stat` and `memory.pressure`.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupStats {
    /// Path relative to the hierarchy root, starting with `/`.
    pub path: String,
    pub usage: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
    /// Swap in use by the cgroup (v1 only with swap accounting).
    pub swap: Option<u64>,
    /// v1: times usage hit the limit.
    pub failcnt: Option<u64>,
    /// v2 `memory.events` (low, high, max, oom, oom_kill, ...); v1 `oom_kill` alone.
    pub events: Vec<(String, u64)>,
    /// v2: removed descendants not yet freed (hierarchical).
    pub dying_descendants: Option<u64>,
    /// v2 `memory.pressure`.
    pub psi: Option<memdx_parse::psi::Psi>,
}

/// The cgroups `memdx_source::memcg::cgroup_stats` chose, out of how many.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupExport {
    /// `v1` or `v2`.
    pub hierarchy: &'static str,
    pub cgroups: Vec<CgroupStats>,
    /// Cgroups of the hierarchy (the root excluded) that have a usage file.
    pub total: usize,
}

/// What bounds one memory cgroup (v1 `memory.limit_in_bytes`/`memory.swappiness`, v2
/// `memory.max`/`memory.swap.max`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcgLimit {
    pub path: String,
    pub usage: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
    /// v1 only.
    pub swappiness: Option<u64>,
    /// v2 only, as written (`max` or bytes).
    pub swap_max: Option<String>,
}

/// One slab table with its capture time (unix seconds) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabSnapshot {
    pub table: SlabTable,
    pub time: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Case {
    pub inputs: Vec<InputInfo>,
    pub skipped: Vec<Skipped>,
    pub missing: Vec<Missing>,
    pub diags: Vec<Diag>,
    /// True when read from the running machine.
    pub live: bool,
    pub kernel: Option<KernelRelease>,
    pub meminfo: Option<Meminfo>,
    /// Slab tables in capture order (oldest first once [`Case::finish`] ran, when every one has a
    /// capture time; otherwise in the order given, directories walked by file name).
    pub slabs: Vec<SlabSnapshot>,
    pub buddyinfo: Option<Buddyinfo>,
    /// The other buddyinfo samples given (less fragmented than `buddyinfo`, capture times unknown),
    /// in input order: the `fragmentation.between_samples` rule compares them with the judged one.
    pub buddyinfo_others: Vec<Buddyinfo>,
    pub pagetypeinfo: Option<Pagetypeinfo>,
    pub zoneinfo: Option<Zoneinfo>,
    pub vmstat: Option<Counters>,
    pub sysctl: Option<Sysctls>,
    pub cmdline: Option<Cmdline>,
    pub cgroups: Option<ProcCgroups>,
    pub psi: Vec<Psi>,
    pub memcg_stats: Vec<MemcgStat>,
    pub slab_aliases: SlabAliases,
    pub kmem: Option<KmemInfo>,
    /// Kernel logs, each scanned by the log engine (reports folded by signature).
    pub logs: Vec<memdx_log::LogScan>,
    /// Tracepoint captures (vmscan, oom, cgroup events), each reduced to a reclaim report.
    pub traces: Vec<memdx_trace::ReclaimReport>,
    /// Memory cgroups walked on a root tree (not available from loose files).
    pub memcgs: Option<MemcgCount>,
    /// The memory cgroup tree with each directory's `memory.stat`, read on a root tree when there are
    /// dying memcgs: the `memcg_pins` analyzer finds the live parents their pages are charged at.
    pub memcg_tree: Option<crate::pins::MemcgTree>,
    /// slub_debug `TRACE` records of the logs, paired by (cache, pointer).
    pub slab_pairing: Vec<memdx_slab::PairingReport>,
    /// kmem tracepoint captures (`memdx trace slab --save`, ftrace text of kmem events).
    pub kmem_traces: Vec<memdx_slab::KmemReport>,
    /// Stacks from bcc/bpftrace/perf outputs.
    pub tool_stacks: Vec<memdx_slab::ToolStacks>,
    /// systemd/dbus failures per unit from syslog or journal text.
    pub journals: Vec<memdx_slab::JournalReport>,
    /// Memory cgroup control files pasted with the command that read them, in input order.
    pub memcg_files: Vec<memdx_parse::memcg_file::MemcgFile>,
    /// `free` outputs, in input order.
    pub frees: Vec<memdx_parse::free::Free>,
    /// ZFS ARC counters (arcstats, or an excerpt of it).
    pub arcstats: Option<memdx_parse::arcstats::ArcStats>,
    /// SLUB alloc/free traces or calls, one per cache listing.
    pub slub_traces: Vec<memdx_parse::slub_traces::SlubTraces>,
    /// Memory messages from pasted text (leak counters, hugetlb shortfalls, ENOMEM, runtime OOM),
    /// each with the line it was read from.
    pub messages: Vec<(SourceRef, memdx_parse::messages::Message)>,
    /// `ps`/`top` process tables, in input order.
    pub processes: Vec<memdx_parse::process_table::ProcessTable>,
    /// `/proc/<pid>/status` files, with where each was read.
    pub proc_statuses: Vec<(SourceRef, memdx_parse::proc_status::ProcStatus)>,
    /// `/proc/<pid>/smaps_rollup` files, with the pid when the path named it.
    pub smaps_rollups: Vec<(Option<u32>, memdx_parse::smaps_rollup::SmapsRollup)>,
    /// `vmstat N` and `sar -r` outputs, in input order.
    pub mem_samples: Vec<memdx_parse::mem_samples::MemSamples>,
    pub vmallocinfo: Option<memdx_parse::vmallocinfo::Vmallocinfo>,
    pub numastat: Option<memdx_parse::numastat::Numastat>,
    /// THP settings and hugetlb pools read from /sys/kernel/mm files.
    pub mm_sysfs: Option<memdx_parse::mm_sysfs::MmSysfs>,
    /// Set in a case read apart ([`Case::apart`]): what it held back for [`Case::merge`].
    held: Option<Vec<(usize, Held)>>,
}

/// Evidence a case keeps one of, where what a new input does depends on what came before (the one
/// with MemTotal wins, the more fragmented buddyinfo is judged, a second kernel release is a
/// warning, ...). A case read apart holds it back, with the number of diagnostics it had then, and
/// [`Case::merge`] applies it in input order, its diagnostics in the same place.
#[derive(Debug)]
enum Held {
    Meminfo(Meminfo),
    Buddyinfo(Buddyinfo),
    Kernel(KernelRelease),
    Sysctl(Sysctls),
    Kmem(KmemInfo),
    /// A crash session's `kmem -i`: used when no other is known.
    CrashKmem(KmemInfo),
}

impl Case {
    pub fn new() -> Self {
        Case::default()
    }

    /// An empty case for reading some inputs apart from the others (on another thread): merged
    /// into the case of all inputs with [`Case::merge`], in input order, it gives the same case as
    /// reading those inputs into it directly.
    pub fn apart() -> Self {
        Case { held: Some(Vec::new()), ..Case::default() }
    }

    /// Adds `part`, a case read [`apart`](Case::apart) from the inputs that follow those already in
    /// `self`, as if its inputs had been read into `self`. Callers check what a case read apart
    /// cannot know: whether an input of `self` has the name of one of `part`'s (a document where
    /// nothing is recognised is listed as skipped only if no other reader used it).
    pub fn merge(&mut self, part: Case) {
        // Every field by name: a new one must be merged here.
        let Case {
            inputs,
            skipped,
            missing,
            diags,
            live,
            kernel,
            meminfo,
            slabs,
            buddyinfo,
            buddyinfo_others,
            pagetypeinfo,
            zoneinfo,
            vmstat,
            sysctl,
            cmdline,
            cgroups,
            psi,
            memcg_stats,
            slab_aliases,
            kmem,
            logs,
            traces,
            memcgs,
            memcg_tree,
            slab_pairing,
            kmem_traces,
            tool_stacks,
            journals,
            memcg_files,
            frees,
            arcstats,
            slub_traces,
            messages,
            processes,
            proc_statuses,
            smaps_rollups,
            mem_samples,
            vmallocinfo,
            numastat,
            mm_sysfs,
            held,
        } = part;
        // Held evidence goes in between the diagnostics, where it came.
        let mut diags = diags.into_iter();
        let mut at = 0;
        for (pos, h) in held.unwrap_or_default() {
            self.diags.extend(diags.by_ref().take(pos - at));
            at = pos;
            self.apply(h);
        }
        self.diags.extend(diags);
        // A case not read apart applied these itself.
        let direct = [
            meminfo.map(Held::Meminfo),
            buddyinfo.map(Held::Buddyinfo),
            kernel.map(Held::Kernel),
            sysctl.map(Held::Sysctl),
            kmem.map(Held::Kmem),
        ];
        for h in direct.into_iter().flatten() {
            self.apply(h);
        }
        self.live |= live;
        // Lists: appended, in input order.
        macro_rules! append {
            ($($f:ident),*) => {$(
                self.$f.extend($f);
            )*};
        }
        append!(
            inputs,
            skipped,
            missing,
            slabs,
            buddyinfo_others,
            psi,
            memcg_stats,
            logs,
            traces,
            slab_pairing
        );
        append!(kmem_traces, tool_stacks, journals, memcg_files, frees, slub_traces, messages, processes);
        append!(proc_statuses, smaps_rollups, mem_samples);
        // The last one read is kept.
        macro_rules! last {
            ($($f:ident),*) => {$(
                if $f.is_some() {
                    self.$f = $f;
                }
            )*};
        }
        last!(pagetypeinfo, zoneinfo, vmstat, cmdline, cgroups, memcgs, memcg_tree, vmallocinfo, numastat);
        // Merged: the first source is kept, the values of both are.
        for (target, names) in slab_aliases.groups {
            for n in names {
                self.slab_aliases.insert(&n, &target);
            }
        }
        if self.slab_aliases.source.is_none() {
            self.slab_aliases.source = slab_aliases.source;
        }
        match (&mut self.arcstats, arcstats) {
            (Some(a), Some(v)) => a.values.extend(v.values),
            (a @ None, v) => *a = v,
            (Some(_), None) => {}
        }
        match (&mut self.mm_sysfs, mm_sysfs) {
            (Some(m), Some(v)) => m.extend(v),
            (m @ None, v) => *m = v,
            (Some(_), None) => {}
        }
    }

    /// Applies `h` now, or holds it back in a case read apart.
    fn hold(&mut self, h: Held) {
        match &mut self.held {
            Some(held) => held.push((self.diags.len(), h)),
            None => self.apply(h),
        }
    }

    fn apply(&mut self, h: Held) {
        match h {
            Held::Meminfo(v) => self.replace_meminfo(v),
            Held::Buddyinfo(v) => self.replace_buddyinfo(v),
            Held::Kernel(k) => self.apply_kernel(k),
            Held::Sysctl(v) => match &mut self.sysctl {
                // Several sources (a tree and a `sysctl -a`): later ones add to earlier ones.
                Some(existing) if existing.source == v.source => existing.entries.extend(v.entries),
                Some(existing) => {
                    for e in v.entries {
                        existing.entries.retain(|x| x.name != e.name);
                        existing.entries.push(e);
                    }
                }
                None => self.sysctl = Some(v),
            },
            Held::Kmem(v) => self.kmem = Some(v),
            Held::CrashKmem(v) => {
                self.kmem.get_or_insert(v);
            }
        }
    }

    /// The kernel version, when a release string was seen.
    pub fn version(&self) -> Option<KernelVersion> {
        self.kernel.as_ref().and_then(|k| KernelVersion::parse(&k.release))
    }

    /// Page size in KiB. memdx assumes 4 KiB (x86-64, and most arm64 distributions) unless the input
    /// says otherwise; [`Case::page_size_assumed`] tells whether it was assumed.
    pub fn page_kb(&self) -> u64 {
        4
    }

    pub fn page_size_assumed(&self) -> bool {
        !matches!(self.kernel.as_ref().and_then(|k| k.machine.as_deref()), Some("x86_64" | "i686"))
    }

    /// The slab tables of one kind, for series: `/proc/slabinfo` when there is any (exact), else
    /// slabtop output. A slabtop taken beside a slabinfo is the same moment, not a second snapshot.
    pub fn slab_series(&self) -> Vec<&SlabSnapshot> {
        let has_slabinfo = self.slabs.iter().any(|s| s.table.format == SlabFormat::Slabinfo);
        let want = if has_slabinfo { SlabFormat::Slabinfo } else { SlabFormat::Slabtop };
        self.slabs.iter().filter(|s| s.table.format == want).collect()
    }

    /// The latest slab table (slabinfo preferred over slabtop).
    pub fn slab(&self) -> Option<&SlabTable> {
        self.slab_series().last().map(|s| &s.table)
    }

    /// Recognises `text` by content and adds what it holds. `time` is the capture time when the
    /// source knows it. A multi-section dump (`== /proc/meminfo` headers) is split and each part added.
    /// Returns the formats recognised; an unrecognised input is recorded in [`Case::skipped`].
    pub fn ingest(&mut self, file: &str, text: &str, time: Option<i64>) -> Vec<Format> {
        self.ingest_sniffed(file, text, time, None)
    }

    /// [`Case::ingest`] when the caller already sniffed the first [`memdx_parse::sniff::SNIFF_BYTES`]
    /// of `text`: `sniffed` is what [`sniff`] said of them (a format or why none), not asked again.
    pub fn ingest_sniffed(
        &mut self,
        file: &str,
        text: &str,
        time: Option<i64>,
        sniffed: Option<Result<Format, String>>,
    ) -> Vec<Format> {
        let time = time.or_else(|| sections::capture_time(text));
        if let Some(parts) = sections::split(text) {
            let mut found = Vec::new();
            for part in parts {
                let name = format!("{file}[{}]", part.header);
                let hint = hint_from_path(part.header);
                let src = SourceRef::new(name.as_str());
                match self.ingest_one(&src, part.text, hint, time, part.first_line - 1) {
                    Ok(f) => found.push(f),
                    Err(reason) => self.skipped.push(Skipped { file: name, reason }),
                }
            }
            return found;
        }
        // A plain file is read whole; a shell session, `head` of several files or an issue body is
        // cut into blocks (and what is not a block goes to the kernel log engine). A text whose
        // head is known to be no /proc-style file (but text) is a document either way.
        let document = matches!(&sniffed, Some(Err(r)) if r != BINARY && r != EMPTY);
        if !document && !memdx_parse::document::has_structure(text) {
            let src = SourceRef::new(file);
            let head = &text.as_bytes()[..text.len().min(memdx_parse::sniff::SNIFF_BYTES)];
            let reason = match sniffed.unwrap_or_else(|| sniff(head)) {
                // The format just sniffed is handed on: not sniffed a second time.
                Ok(f) => match self.ingest_one(
                    &src,
                    text,
                    Some(Hint { format: Some(f), ..Hint::default() }),
                    time,
                    0,
                ) {
                    Ok(f) => return vec![f],
                    Err(reason) => reason,
                },
                // Not text at all: nothing for the document reader either.
                Err(reason) if reason == BINARY || reason == EMPTY => reason,
                Err(_) => return self.read_document(file, text.as_bytes(), time),
            };
            self.skipped.push(Skipped { file: file.to_string(), reason });
            return vec![];
        }
        self.read_document(file, text.as_bytes(), time)
    }

    /// Adds `text` known to be `format` (the source layer knows the path inside a root tree: its
    /// `proc/pressure/memory` is memory PSI even though the content does not say so).
    pub fn ingest_as(
        &mut self,
        file: &str,
        text: &str,
        format: Format,
        resource: Option<&str>,
        time: Option<i64>,
    ) {
        let src = SourceRef::new(file);
        let hint =
            Hint { format: Some(format), psi_resource: resource.map(str::to_string), ..Hint::default() };
        if let Err(reason) = self.ingest_one(&src, text, Some(hint), time, 0) {
            self.skipped.push(Skipped { file: file.to_string(), reason });
        }
    }

    pub(crate) fn ingest_one(
        &mut self,
        src: &SourceRef,
        text: &str,
        hint: Option<Hint>,
        time: Option<i64>,
        line_offset: usize,
    ) -> Result<Format, String> {
        let format = match hint.as_ref().and_then(|h| h.format) {
            Some(f) => f,
            None => sniff(&text.as_bytes()[..text.len().min(memdx_parse::sniff::SNIFF_BYTES)])?,
        };
        // Parsers number lines from 1 within `text`; shift to the line in the whole file.
        let shift = |d: &mut Vec<Diag>| {
            for x in d.iter_mut() {
                if let Some(l) = x.source.line.as_mut() {
                    *l += line_offset as u32;
                }
            }
        };
        let src_shifted = src.clone();
        macro_rules! take {
            ($res:expr) => {{
                let r: ParseResult<_> = $res;
                match r {
                    Ok(mut p) => {
                        shift(&mut p.diags);
                        self.inputs.push(InputInfo {
                            file: src.file.to_string(),
                            format: format.name().into(),
                            diagnostics: p.diags.len(),
                        });
                        self.diags.append(&mut p.diags);
                        p.value
                    }
                    Err(e) => return Err(e.reason()),
                }
            }};
        }
        let s = &src_shifted;
        match format {
            Format::Meminfo => {
                let mut v = take!(memdx_parse::meminfo::parse(text, s));
                for e in &mut v.entries {
                    e.line += line_offset as u32;
                }
                self.hold(Held::Meminfo(v));
            }
            Format::Slabinfo | Format::Slabtop => {
                let mut v = take!(if format == Format::Slabinfo {
                    memdx_parse::slabinfo::parse(text, s)
                } else {
                    memdx_parse::slabtop::parse(text, s)
                });
                for c in &mut v.caches {
                    c.line += line_offset as u32;
                }
                self.slabs.push(SlabSnapshot { table: v, time });
            }
            Format::Buddyinfo => {
                let mut v = take!(memdx_parse::buddyinfo::parse(text, s));
                v.zones.iter_mut().for_each(|z| z.line += line_offset as u32);
                self.hold(Held::Buddyinfo(v));
            }
            Format::Pagetypeinfo => {
                let mut v = take!(memdx_parse::pagetypeinfo::parse(text, s));
                v.free.iter_mut().for_each(|z| z.line += line_offset as u32);
                self.pagetypeinfo = Some(v);
            }
            Format::Zoneinfo => {
                let mut v = take!(memdx_parse::zoneinfo::parse(text, s));
                for z in &mut v.zones {
                    z.line += line_offset as u32;
                    z.lines.iter_mut().for_each(|(_, l)| *l += line_offset as u32);
                }
                self.zoneinfo = Some(v);
            }
            Format::Vmstat => {
                let mut v = take!(memdx_parse::kv::parse_counters(text, s, "vmstat"));
                v.entries.iter_mut().for_each(|e| e.line += line_offset as u32);
                self.vmstat = Some(v);
            }
            Format::MemcgStat => {
                let mut v = take!(memdx_parse::memcg_stat::parse(text, s));
                v.counters.entries.iter_mut().for_each(|e| e.line += line_offset as u32);
                v.cgroup.iter_mut().for_each(|c| c.1 += line_offset as u32);
                v.usage.iter_mut().for_each(|u| u.line += line_offset as u32);
                self.memcg_stats.push(v);
            }
            Format::Sysctl => {
                let mut v = take!(memdx_parse::sysctl::parse(text, s));
                v.entries.iter_mut().for_each(|e| e.line += line_offset as u32);
                self.hold(Held::Sysctl(v));
            }
            Format::Cmdline => self.cmdline = Some(take!(memdx_parse::cmdline::parse(text, s))),
            Format::Cgroups => {
                let mut v = take!(memdx_parse::cgroups::parse(text, s));
                v.controllers.iter_mut().for_each(|c| c.line += line_offset as u32);
                self.cgroups = Some(v);
            }
            Format::Psi => {
                let mut v = take!(memdx_parse::psi::parse(text, s));
                let (path_res, cgroup) = hint
                    .as_ref()
                    .and_then(|h| h.path.as_deref())
                    .map(memdx_parse::psi::resource_of_path)
                    .unwrap_or_default();
                for p in &mut v {
                    if p.resource.is_none() {
                        p.resource =
                            hint.as_ref().and_then(|h| h.psi_resource.clone()).or_else(|| path_res.clone());
                    }
                    p.cgroup = p.cgroup.take().or_else(|| cgroup.clone());
                    for l in [&mut p.some, &mut p.full].into_iter().flatten() {
                        l.line += line_offset as u32;
                    }
                }
                self.psi.extend(v);
            }
            Format::SlabAliases => {
                let v = take!(memdx_parse::slab_aliases::parse(text, s));
                for (t, names) in v.groups {
                    for n in names {
                        self.slab_aliases.insert(&n, &t);
                    }
                }
                self.slab_aliases.source.get_or_insert(s.clone());
            }
            Format::CrashKmem => {
                let mut v = take!(memdx_parse::crash_kmem::parse(text, s));
                v.rows.iter_mut().for_each(|r| r.line += line_offset as u32);
                self.hold(Held::Kmem(v));
            }
            Format::KernelRelease => {
                let v = take!(memdx_parse::kernel::parse(text, s));
                self.set_kernel(v);
            }
            Format::Free => {
                let unit = hint.as_ref().and_then(|h| h.scale).map(|u| u as u64);
                let mut v = take!(memdx_parse::free::parse(text, s, unit));
                v.line += line_offset as u32;
                self.frees.push(v);
            }
            Format::Arcstats => {
                let scale = hint.as_ref().and_then(|h| h.scale);
                let mut v = take!(memdx_parse::arcstats::parse(text, s, scale));
                v.values.iter_mut().for_each(|x| x.line += line_offset as u32);
                match &mut self.arcstats {
                    Some(a) => a.values.extend(v.values),
                    None => self.arcstats = Some(v),
                }
            }
            Format::SlubTraces => {
                let path = hint.as_ref().and_then(|h| h.path.as_deref());
                let mut v = take!(memdx_parse::slub_traces::parse(text, s, path));
                v.sites.iter_mut().for_each(|x| x.line += line_offset as u32);
                self.slub_traces.push(v);
            }
            Format::ProcessTable => {
                let mut v = take!(memdx_parse::process_table::parse(text, s));
                v.procs.iter_mut().for_each(|p| p.line += line_offset as u32);
                self.processes.push(v);
            }
            Format::ProcStatus => {
                let v = take!(memdx_parse::proc_status::parse(text, s));
                let line = text.lines().position(|l| l.starts_with("Name:")).unwrap_or(0) + 1 + line_offset;
                self.proc_statuses.push((s.at(line), v));
            }
            Format::SmapsRollup => {
                let mut v = take!(memdx_parse::smaps_rollup::parse(text, s));
                v.fields.iter_mut().for_each(|f| f.2 += line_offset as u32);
                let pid = hint.as_ref().and_then(|h| h.path.as_deref()).and_then(pid_of_path);
                self.smaps_rollups.push((pid, v));
            }
            Format::MemSamples => {
                let unit = hint.as_ref().and_then(|h| h.scale).map(|u| u as u64);
                let mut v = take!(memdx_parse::mem_samples::parse(text, s, unit));
                v.samples.iter_mut().chain(v.average.as_mut()).for_each(|x| x.line += line_offset as u32);
                self.mem_samples.push(v);
            }
            Format::Vmallocinfo => {
                let mut v = take!(memdx_parse::vmallocinfo::parse(text, s));
                v.callers.iter_mut().for_each(|c| c.line += line_offset as u32);
                self.vmallocinfo = Some(v);
            }
            Format::Numastat => {
                let mut v = take!(memdx_parse::numastat::parse(text, s));
                v.rows.iter_mut().for_each(|r| r.2 += line_offset as u32);
                self.numastat = Some(v);
            }
            Format::MmSysfs => {
                let path = hint.as_ref().and_then(|h| h.path.as_deref());
                let mut v = take!(memdx_parse::mm_sysfs::parse(text, s, path));
                v.thp.iter_mut().for_each(|x| x.line += line_offset as u32);
                v.pools.iter_mut().for_each(|x| x.line += line_offset as u32);
                match &mut self.mm_sysfs {
                    Some(m) => m.extend(v),
                    None => self.mm_sysfs = Some(v),
                }
            }
            Format::MemcgFile => {
                let path = hint.as_ref().and_then(|h| h.path.clone()).unwrap_or_default();
                let mut v = take!(memdx_parse::memcg_file::parse(text, s, &path));
                v.line += line_offset as u32;
                self.memcg_files.push(v);
            }
        }
        Ok(format)
    }

    /// Several buddyinfo samples without capture times (before/after a workload, in whatever order
    /// the files came): the more fragmented one is judged, since it shows the state the report is
    /// about; the other is named in a note.
    fn replace_buddyinfo(&mut self, v: Buddyinfo) {
        // Share of free pages in blocks of order 4 and above: lower is more fragmented.
        fn high_share(b: &Buddyinfo) -> f64 {
            let (mut high, mut all) = (0u128, 0u128);
            for z in &b.zones {
                for (order, n) in z.free.iter().enumerate() {
                    let pages = u128::from(*n) << order.min(20);
                    all += pages;
                    if order >= 4 {
                        high += pages;
                    }
                }
            }
            if all == 0 {
                1.0
            } else {
                high as f64 / all as f64
            }
        }
        let Some(old) = self.buddyinfo.take() else {
            self.buddyinfo = Some(v);
            return;
        };
        let (keep, other) = if high_share(&v) < high_share(&old) { (v, old) } else { (old, v) };
        self.diags.push(Diag::note(
            other.source.clone(),
            format!(
                "two buddyinfo samples: {} is judged ({:.0}% of free memory in order-4+ blocks, against {:.0}% here)",
                keep.source,
                high_share(&keep) * 100.0,
                high_share(&other) * 100.0
            ),
        ));
        self.buddyinfo = Some(keep);
        self.buddyinfo_others.push(other);
    }

    fn replace_meminfo(&mut self, v: Meminfo) {
        if let Some(old) = &self.meminfo {
            // Two meminfo files: the one with MemTotal wins (a full file over a grep excerpt).
            if old.kb("MemTotal").is_some() && v.kb("MemTotal").is_none() {
                self.diags.push(Diag::note(
                    v.source.clone(),
                    format!("meminfo excerpt not used: {} has the full file", old.source),
                ));
                return;
            }
            self.diags.push(Diag::note(old.source.clone(), format!("meminfo replaced by {}", v.source)));
        }
        self.meminfo = Some(v);
    }

    /// Sets the kernel release unless one is known already (a conflicting one is a diagnostic: the
    /// inputs may come from different machines or boots).
    pub fn set_kernel(&mut self, k: KernelRelease) {
        self.hold(Held::Kernel(k));
    }

    fn apply_kernel(&mut self, k: KernelRelease) {
        match &self.kernel {
            Some(old) if old.release != k.release => self.diags.push(Diag::warning(
                k.source.clone(),
                format!(
                    "kernel release {} differs from {} seen in {}: inputs from different kernels?",
                    k.release, old.release, old.source
                ),
            )),
            Some(old) if old.machine.is_none() && k.machine.is_some() => self.kernel = Some(k),
            Some(_) => {}
            None => self.kernel = Some(k),
        }
    }

    /// Kinds of evidence no input provided (offline), for the report's "not examined" line.
    pub fn not_provided(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut need = |present: bool, what: &'static str| {
            if !present {
                v.push(what)
            }
        };
        need(self.meminfo.is_some() || self.kmem.is_some(), "meminfo");
        need(!self.slabs.is_empty(), "slabinfo");
        need(self.zoneinfo.is_some(), "zoneinfo");
        need(self.buddyinfo.is_some(), "buddyinfo");
        need(self.sysctl.is_some(), "vm sysctls");
        need(self.kernel.is_some(), "kernel release");
        v
    }

    /// Adds a scanned kernel log; its kernel release names the case's kernel if none is known.
    pub fn add_log(&mut self, file: &str, scan: memdx_log::LogScan) {
        self.inputs.push(InputInfo {
            file: file.to_string(),
            format: "kernel log".into(),
            diagnostics: scan.diags.len(),
        });
        if let Some(k) = &scan.kernel {
            if let Some(line) =
                scan.reports.iter().find(|r| r.kernel.as_deref() == Some(k)).map(|r| r.source.clone())
            {
                self.set_kernel(KernelRelease { release: k.clone(), machine: None, source: line });
            } else {
                self.set_kernel(KernelRelease {
                    release: k.clone(),
                    machine: None,
                    source: SourceRef::new(file),
                });
            }
        }
        self.diags.extend(scan.diags.iter().cloned());
        // A crash session's `kmem -i` is memory evidence like a loose `kmem -i` file.
        if let Some(crash) = &scan.crash {
            if crash.kmem.iter().any(|r| r.label == "TOTAL MEM") {
                let rows = crash
                    .kmem
                    .iter()
                    .map(|r| memdx_parse::crash_kmem::KmemRow {
                        label: r.label.clone(),
                        pages: r.pages,
                        total: r.total.clone(),
                        percent: r.percent,
                        line: r.line,
                    })
                    .collect();
                self.hold(Held::CrashKmem(memdx_parse::crash_kmem::KmemInfo {
                    rows,
                    source: SourceRef::new(file),
                }));
            }
        }
        self.logs.push(scan);
    }

    /// Adds the slub_debug TRACE pairing of a log (when it had records).
    pub fn add_slab_pairing(&mut self, p: memdx_slab::PairingReport) {
        if p.records > 0 {
            self.slab_pairing.push(p);
        }
    }

    /// Adds systemd/dbus failure analysis of a syslog or journal (when it found units).
    pub fn add_journal(&mut self, file: &str, j: memdx_slab::JournalReport) {
        if !j.units.is_empty() {
            self.inputs.push(InputInfo {
                file: file.to_string(),
                format: "journal (systemd units)".into(),
                diagnostics: 0,
            });
            self.journals.push(j);
        }
    }

    /// Adds stacks from a tracing tool's output.
    pub fn add_tool_stacks(&mut self, file: &str, t: memdx_slab::ToolStacks) {
        self.inputs.push(InputInfo { file: file.to_string(), format: "tool stacks".into(), diagnostics: 0 });
        self.tool_stacks.push(t);
    }

    /// Adds a kmem tracepoint capture.
    pub fn add_kmem_trace(&mut self, file: &str, k: memdx_slab::KmemReport) {
        self.inputs.push(InputInfo { file: file.to_string(), format: "kmem trace".into(), diagnostics: 0 });
        self.kmem_traces.push(k);
    }

    /// Adds a scanned trace.
    pub fn add_trace(&mut self, file: &str, scan: memdx_trace::TraceScan) {
        let r = scan.reclaim;
        self.inputs.push(InputInfo {
            file: file.to_string(),
            format: "trace".into(),
            diagnostics: r.diags.len(),
        });
        self.diags.extend(r.diags.iter().cloned());
        self.traces.push(r);
    }

    /// Orders series by time and completes cross-input context once all inputs are in.
    pub fn finish(&mut self) {
        if self.slabs.iter().all(|s| s.time.is_some()) {
            self.slabs.sort_by_key(|s| s.time);
        }
        // Traces judge reclaim knowing whether the machine has swap (the trace itself cannot say).
        let swap = self.meminfo.as_ref().and_then(|m| m.kb("SwapTotal"));
        for t in &mut self.traces {
            t.context.swap_total_kb = t.context.swap_total_kb.or(swap);
        }
    }
}

/// The pid of `/proc/<pid>/...`.
fn pid_of_path(path: &str) -> Option<u32> {
    let rest = &path[path.find("/proc/")? + "/proc/".len()..];
    rest.split('/').next()?.parse().ok()
}

/// What the place of a text says about it: a root tree's path, a section header, or the command a
/// pasted block was printed by.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hint {
    pub(crate) format: Option<Format>,
    pub(crate) psi_resource: Option<String>,
    /// The file a command read or a header named.
    pub(crate) path: Option<String>,
    /// Bytes per printed unit (`free -m`), or the divisor an awk program applied.
    pub(crate) scale: Option<f64>,
}

/// Inside a section dump the header names the kernel file; that is structure, not a guess from a
/// user's file name, and it tells the PSI resource, which the content cannot.
fn hint_from_path(path: &str) -> Option<Hint> {
    let res = path.strip_prefix("/proc/pressure/")?;
    Some(Hint { format: Some(Format::Psi), psi_resource: Some(res.to_string()), ..Hint::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_skips() {
        let mut c = Case::new();
        let t = "# time=100\n== /proc/meminfo\nMemTotal: 10 kB\nMemFree: 1 kB\nSlab: 1 kB\nCached: 1 kB\nbad line\n== /proc/pressure/memory\nsome avg10=1.00 avg60=0.00 avg300=0.00 total=5\n== /x\nhello prose\n";
        let f = c.ingest("dump.txt", t, None);
        assert_eq!(f, vec![Format::Meminfo, Format::Psi]);
        assert_eq!(c.meminfo.as_ref().unwrap().at("MemTotal").unwrap().line, Some(3));
        assert_eq!(c.diags[0].source.line, Some(7));
        assert_eq!(c.psi[0].resource.as_deref(), Some("memory"));
        assert_eq!(c.skipped.len(), 1);
        assert!(c.ingest("junk.bin", "\u{0}\u{0}\u{0}\u{0}", None).is_empty());
        assert_eq!(c.skipped[1].reason, "binary content");
    }
    /// A document longer than one chunk of log text is scanned for memory messages on a thread of
    /// its own: each copy of a real pasted strace and Go runtime line in a long document (boot logs
    /// between them, so that they fall in many chunks) gives the messages the short document gives,
    /// at its own line.
    #[test]
    fn messages_of_a_long_document_are_those_of_its_parts() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
        let boot = read("log/live618_boot.dmesg");
        let c3c = "pasted/c3c-469-heuristic-overcommit-4gib-mmap-enomem";
        let part =
            format!("{}{}", read(&format!("{c3c}/strace.txt")), read(&format!("{c3c}/fatal-error.txt")));
        let mut short = Case::new();
        short.read_document("short.txt", part.as_bytes(), None);
        let want: Vec<_> = short.messages.iter().map(|(s, m)| (s.line.unwrap(), m.kind.clone())).collect();
        assert!(!want.is_empty());
        let (copies, mut doc, mut expected) = (20, String::new(), Vec::new());
        for _ in 0..copies {
            doc.push_str(&boot);
            let before = u32::try_from(doc.lines().count()).unwrap();
            doc.push_str(&part);
            expected.extend(want.iter().map(|(l, k)| (before + l, k.clone())));
        }
        assert!(doc.len() > 6 * 64 * 1024, "the document spans many chunks");
        let mut long = Case::new();
        long.read_document("long.txt", doc.as_bytes(), None);
        let got: Vec<_> = long.messages.iter().map(|(s, m)| (s.line.unwrap(), m.kind.clone())).collect();
        assert_eq!(got, expected);
    }
}
