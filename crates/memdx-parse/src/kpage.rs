//! `/proc/kpageflags` and `/proc/kpagecgroup` (Documentation/admin-guide/mm/pagemap.rst): arrays of
//! native-endian 64-bit values indexed by page frame number. `kpageflags` (since 2.6.25, needs
//! CONFIG_PROC_PAGE_MONITOR) holds the stable page flags below; `kpagecgroup` (since 4.3, needs
//! CONFIG_MEMCG) holds the inode number of the memory cgroup each page is charged to, 0 when none.
//!
//! A kernel fact that shapes everything built on these files: `page_cgroup_ino()` reports the closest
//! *online* ancestor of the memcg a page is charged to. The pages of a dying (removed, not yet freed)
//! memcg therefore appear under the inode of its nearest live ancestor, never under an inode of their
//! own: the dying memcg itself has no directory, and its pages are told apart from the parent's own
//! with the parent's `memory.stat` (see memdx-analyze `pins`).
//!
//! [`Tally`] counts one sequential pass, chunk by chunk, by memcg inode and [`PageKind`], and looks up
//! the PFNs of files at the same time.

use std::collections::HashMap;

/// Stable page flag bits (include/uapi/linux/kernel-page-flags.h).
pub mod flag {
    pub const DIRTY: u32 = 4;
    pub const LRU: u32 = 5;
    pub const UPTODATE: u32 = 3;
    pub const SLAB: u32 = 7;
    pub const WRITEBACK: u32 = 8;
    pub const BUDDY: u32 = 10;
    pub const MMAP: u32 = 11;
    pub const ANON: u32 = 12;
    pub const SWAPCACHE: u32 = 13;
    pub const SWAPBACKED: u32 = 14;
    pub const NOPAGE: u32 = 20;
}

/// What a charged page is, from its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageKind {
    /// Clean file page cache.
    PageCache,
    /// File page cache waiting to be written (dirty, not yet under writeback).
    Dirty,
    /// File or anonymous page under writeback.
    Writeback,
    /// Anonymous memory of a process.
    Anon,
    /// Anonymous page in the swap cache.
    SwapCache,
    /// shmem/tmpfs page (swap-backed, not anonymous).
    Shmem,
    /// Slab page (charged to a memcg as a whole before 5.9; since then objects are charged instead).
    Slab,
    /// Charged kernel memory that is none of the above (page tables, kernel stacks, pipe buffers).
    Kernel,
}

impl PageKind {
    pub const ALL: [PageKind; 8] = [
        PageKind::PageCache,
        PageKind::Dirty,
        PageKind::Writeback,
        PageKind::Anon,
        PageKind::SwapCache,
        PageKind::Shmem,
        PageKind::Slab,
        PageKind::Kernel,
    ];
    pub fn name(self) -> &'static str {
        match self {
            PageKind::PageCache => "page cache",
            PageKind::Dirty => "dirty",
            PageKind::Writeback => "writeback",
            PageKind::Anon => "anon",
            PageKind::SwapCache => "swap cache",
            PageKind::Shmem => "shmem",
            PageKind::Slab => "slab",
            PageKind::Kernel => "kernel",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

fn has(flags: u64, bit: u32) -> bool {
    flags >> bit & 1 == 1
}

/// The kind of a page from its `kpageflags` word; `None` for a hole (`NOPAGE`) or a free page (`BUDDY`).
pub fn classify(flags: u64) -> Option<PageKind> {
    use flag::*;
    if has(flags, NOPAGE) || has(flags, BUDDY) {
        return None;
    }
    Some(if has(flags, SLAB) {
        PageKind::Slab
    } else if has(flags, WRITEBACK) {
        PageKind::Writeback
    } else if has(flags, ANON) {
        if has(flags, SWAPCACHE) {
            PageKind::SwapCache
        } else {
            PageKind::Anon
        }
    } else if has(flags, SWAPBACKED) {
        PageKind::Shmem
    } else if has(flags, DIRTY) {
        PageKind::Dirty
    } else if has(flags, LRU) || has(flags, MMAP) || has(flags, UPTODATE) {
        PageKind::PageCache
    } else {
        PageKind::Kernel
    })
}

/// Pages by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds(pub [u64; 8]);

impl Kinds {
    pub fn get(&self, k: PageKind) -> u64 {
        self.0[k.index()]
    }
    pub fn add(&mut self, k: PageKind, n: u64) {
        self.0[k.index()] = self.0[k.index()].saturating_add(n);
    }
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }
}

/// The result of one pass: charged pages by memcg inode and kind, and the memcg inode of each
/// looked-up PFN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// PFNs read (holes included).
    pub pfns: u64,
    /// Charged pages (inode not 0) by inode.
    pub by_ino: HashMap<u64, Kinds>,
    /// PFNs to look up, sorted, with the index of what they belong to (a file).
    wanted: Vec<(u64, u32)>,
    cursor: usize,
    /// (owner index, memcg inode) -> pages, for the looked-up PFNs (inode 0: not charged).
    pub found: HashMap<(u32, u64), u64>,
}

impl Tally {
    /// A tally that also reports the memcg of each PFN in `wanted` (pairs of PFN and owner index).
    pub fn new(mut wanted: Vec<(u64, u32)>) -> Self {
        wanted.sort_unstable();
        Tally { wanted, ..Default::default() }
    }

    /// Adds the chunk starting at `first_pfn`: `cgroup` and `flags` are the bytes read from
    /// `kpagecgroup` and `kpageflags` at offset `first_pfn * 8`. Only whole 8-byte words of both
    /// are used; the shorter slice bounds the chunk. Returns the PFNs consumed.
    pub fn add_chunk(&mut self, first_pfn: u64, cgroup: &[u8], flags: &[u8]) -> u64 {
        let n = cgroup.len().min(flags.len()) / 8;
        for i in 0..n {
            let ino = word(cgroup, i);
            if ino == 0 {
                continue;
            }
            if let Some(kind) = classify(word(flags, i)) {
                self.by_ino.entry(ino).or_default().add(kind, 1);
            }
        }
        let end = first_pfn.saturating_add(n as u64);
        while let Some(&(pfn, owner)) = self.wanted.get(self.cursor) {
            if pfn >= end {
                break;
            }
            self.cursor += 1;
            if pfn < first_pfn {
                continue;
            }
            let ino = word(cgroup, (pfn - first_pfn) as usize);
            *self.found.entry((owner, ino)).or_default() += 1;
        }
        self.pfns = self.pfns.saturating_add(n as u64);
        n as u64
    }
}

fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i * 8..i * 8 + 8]);
    u64::from_ne_bytes(w)
}

/// The PFN of a `/proc/PID/pagemap` entry when the page is present (bit 63); bits 0-54 are the PFN,
/// zero without CAP_SYS_ADMIN since 4.2.
pub fn pagemap_pfn(entry: u64) -> Option<u64> {
    if entry >> 63 & 1 == 0 {
        return None;
    }
    Some(entry & ((1u64 << 55) - 1)).filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[u64]) -> Vec<u8> {
        v.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn kinds_of_real_flag_words() {
        // A flag word read from /proc/kpageflags on the 6.18 machine for the page cache of a file read
        // with cat, decoded by hand with include/uapi/linux/kernel-page-flags.h: REFERENCED (2),
        // UPTODATE (3), LRU (5), MMAP (11), COMPOUND_TAIL (16), THP (22, a large folio) and the
        // kernel-hacking bit 34 (MAPPEDTODISK).
        let w: u64 = 0x40041082c;
        let bits: Vec<u32> = (0..64).filter(|b| w >> b & 1 == 1).collect();
        assert_eq!(bits, vec![2, 3, 5, 11, 16, 22, 34]);
        assert_eq!(classify(w), Some(PageKind::PageCache));
        // Bit 4 (DIRTY) on a file page, bit 8 (WRITEBACK), an anonymous page (12) and one in the swap
        // cache (12 + 13), a tmpfs page (14), a slab page (7), a free page (10) and a hole (20).
        assert_eq!(classify(1 << 4 | 1 << 5), Some(PageKind::Dirty));
        assert_eq!(classify(1 << 4 | 1 << 8 | 1 << 5), Some(PageKind::Writeback));
        assert_eq!(classify(1 << 12 | 1 << 5 | 1 << 14), Some(PageKind::Anon));
        assert_eq!(classify(1 << 12 | 1 << 13 | 1 << 14), Some(PageKind::SwapCache));
        assert_eq!(classify(1 << 14 | 1 << 5), Some(PageKind::Shmem));
        assert_eq!(classify(1 << 7), Some(PageKind::Slab));
        assert_eq!(classify(0), Some(PageKind::Kernel));
        assert_eq!(classify(1 << 10), None);
        assert_eq!(classify(1 << 20), None);
    }

    #[test]
    fn chunks_count_by_inode_and_find_wanted_pfns() {
        // PFN 100..106 in two chunks; inode 0 is uncharged, the hole is not counted.
        let mut t = Tally::new(vec![(105, 1), (100, 0), (101, 0), (99, 7), (200, 2)]);
        let cg = bytes(&[7, 7, 0, 9]);
        let fl = bytes(&[1 << 5, 1 << 12, 1 << 5, 1 << 20]);
        assert_eq!(t.add_chunk(100, &cg, &fl), 4);
        assert_eq!(t.add_chunk(104, &bytes(&[9, 9, 9]), &bytes(&[1 << 4, 1 << 7])), 2);
        assert_eq!(t.pfns, 6);
        assert_eq!(t.by_ino[&7].get(PageKind::PageCache), 1);
        assert_eq!(t.by_ino[&7].get(PageKind::Anon), 1);
        assert_eq!(t.by_ino[&9].get(PageKind::Dirty), 1);
        assert_eq!(t.by_ino[&9].get(PageKind::Slab), 1);
        assert_eq!(t.by_ino[&9].total(), 2);
        assert_eq!(t.found.get(&(0, 7)), Some(&2));
        assert_eq!(t.found.get(&(1, 9)), Some(&1));
        // PFN 99 came before the first chunk, 200 after the last: neither is found.
        assert_eq!(t.found.len(), 2);
    }

    #[test]
    fn pagemap_entries() {
        assert_eq!(pagemap_pfn(1 << 63 | 0x1234), Some(0x1234));
        assert_eq!(pagemap_pfn(0x1234), None);
        assert_eq!(pagemap_pfn(1 << 63), None);
        assert_eq!(pagemap_pfn(1 << 63 | 1 << 62 | 1 << 55 | 5), Some(5));
    }
}
