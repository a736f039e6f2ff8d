//! The page frames of a file's cached pages: map the file read-only one window at a time, ask
//! `mincore(2)` which pages are in the page cache, map only those (`MADV_POPULATE_READ`, 5.14+,
//! which reports an error where touching the page would raise SIGBUS, e.g. a file truncated
//! meanwhile), then read their PFNs from this process's `pagemap`. Pages not cached are never
//! touched, so examining a file reads nothing from disk and charges nothing new.
//!
//! The only `unsafe` of memdx-source: mmap/mincore/madvise/munmap through libc, on a mapping owned
//! by [`Window`] and never exposed as a Rust slice.
#![allow(unsafe_code)]

use memdx_parse::kpage::pagemap_pfn;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Bytes mapped at a time.
const WINDOW: u64 = 64 << 20;

pub struct Resident {
    /// Pages of the file in the page cache.
    pub resident: u64,
    /// Their page frame numbers (at most the `max` asked for).
    pub pfns: Vec<u64>,
}

/// A read-only shared mapping, unmapped on drop.
struct Window {
    addr: *mut libc::c_void,
    len: usize,
}

impl Window {
    fn map(f: &File, off: u64, len: usize) -> std::io::Result<Window> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL), read-only, of a file descriptor we
        // own; it is only passed to syscalls, never dereferenced.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                off as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Window { addr, len })
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `map`.
        unsafe {
            libc::munmap(self.addr, self.len);
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// The resident pages of the file at `path` (opened without following a symlink) and their PFNs,
/// read from `pagemap` (this process's).
pub fn resident_pfns(path: &Path, pagemap: &File, max: usize) -> std::io::Result<Resident> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let page = page_size();
    let size = meta.len();
    let mut out = Resident { resident: 0, pfns: Vec::new() };
    let mut off = 0u64;
    while off < size {
        let len = (size - off).min(WINDOW) as usize;
        let w = Window::map(&f, off, len)?;
        let pages = len.div_ceil(page as usize);
        let mut vec = vec![0u8; pages];
        // SAFETY: `vec` holds one byte per page of the mapping, as mincore requires.
        if unsafe { libc::mincore(w.addr, len, vec.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut i = 0;
        while i < pages {
            if vec[i] & 1 == 0 {
                i += 1;
                continue;
            }
            let start = i;
            while i < pages && vec[i] & 1 == 1 {
                i += 1;
            }
            let run = (i - start) as u64;
            out.resident += run;
            if out.pfns.len() >= max {
                continue;
            }
            // SAFETY: the range lies inside the mapping.
            let a = unsafe { w.addr.cast::<u8>().add(start * page as usize) }.cast::<libc::c_void>();
            // SAFETY: populating page tables of our own read-only mapping; errors are returned, not raised.
            if unsafe { libc::madvise(a, (run * page) as usize, libc::MADV_POPULATE_READ) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EFAULT) {
                    // Truncated meanwhile: what remains is not cached file data.
                    return Ok(out);
                }
                return Err(e);
            }
            let mut buf = vec![0u8; run as usize * 8];
            let vpn = a as u64 / page;
            pagemap.read_exact_at(&mut buf, vpn * 8)?;
            for e in buf.chunks_exact(8) {
                let entry = u64::from_ne_bytes(e.try_into().unwrap_or([0; 8]));
                if let Some(pfn) = pagemap_pfn(entry) {
                    if out.pfns.len() < max {
                        out.pfns.push(pfn);
                    }
                }
            }
        }
        drop(w);
        off += len as u64;
    }
    Ok(out)
}
