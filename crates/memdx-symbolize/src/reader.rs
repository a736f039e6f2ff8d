//! Byte storage shared by the DWARF readers: a memory map of an ELF file (vmlinux is hundreds of MiB,
//! so it is never copied) or an owned buffer (decompressed modules and compressed debug sections).
//!
//! gimli's `EndianReader` needs a cheaply clonable handle whose target bytes never move
//! (`CloneStableDeref`). No crate offers that for a slice of a shared memory map, so [`Bytes`] is that
//! handle, written here; it is the only `unsafe` of the crate besides mapping the file.
#![allow(unsafe_code)]

use gimli::{EndianReader, RelocateReader, RunTimeEndian};
use std::collections::HashMap;
use std::fs::File;
use std::ops::Deref;
use std::sync::Arc;

/// Where the bytes of a file live.
pub(crate) enum Backing {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    pub(crate) fn map(file: &File) -> std::io::Result<Backing> {
        // SAFETY: the map is read-only. If another process truncates the file while it is mapped,
        // reads fault (SIGBUS); this is the accepted contract of every debugger and of binutils,
        // and copying a 600 MiB vmlinux to the heap instead would cost its full size in memory.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Backing::Map(map))
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A range of a shared [`Backing`].
#[derive(Clone)]
pub(crate) struct Bytes {
    backing: Arc<Backing>,
    start: usize,
    end: usize,
}

impl Bytes {
    /// `start..end` of `backing`, clamped to its length.
    pub(crate) fn new(backing: Arc<Backing>, start: usize, end: usize) -> Bytes {
        let len = backing.as_slice().len();
        let end = end.min(len);
        let start = start.min(end);
        Bytes { backing, start, end }
    }

    pub(crate) fn owned(data: Vec<u8>) -> Bytes {
        let end = data.len();
        Bytes { backing: Arc::new(Backing::Owned(data)), start: 0, end }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({}..{})", self.start, self.end)
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.backing.as_slice()[self.start..self.end]
    }
}

// SAFETY: the target is either a memory map or a `Vec` owned by the `Arc`; neither moves nor changes
// while any `Bytes` (which holds the `Arc`) is alive, and moving a `Bytes` does not move the target.
unsafe impl gimli::StableDeref for Bytes {}
// SAFETY: a clone shares the same `Arc`, so it derefs to the same address.
unsafe impl gimli::CloneStableDeref for Bytes {}

/// Relocations of one debug section of a relocatable object (a kernel module): the value to use at
/// each section offset. Empty for executables (vmlinux), whose DWARF is already final.
#[derive(Clone, Default, Debug)]
pub(crate) struct Relocs(pub(crate) Option<Arc<HashMap<usize, u64>>>);

impl gimli::read::Relocate<usize> for Relocs {
    fn relocate_address(&self, offset: usize, value: u64) -> gimli::Result<u64> {
        Ok(match &self.0 {
            Some(map) => map.get(&offset).copied().unwrap_or(value),
            None => value,
        })
    }

    fn relocate_offset(&self, offset: usize, value: usize) -> gimli::Result<usize> {
        Ok(match &self.0 {
            Some(map) => match map.get(&offset) {
                Some(v) => usize::try_from(*v).map_err(|_| gimli::Error::UnsupportedOffset)?,
                None => value,
            },
            None => value,
        })
    }
}

/// The reader all DWARF parsing goes through.
pub(crate) type Reader = RelocateReader<EndianReader<RunTimeEndian, Bytes>, Relocs>;
