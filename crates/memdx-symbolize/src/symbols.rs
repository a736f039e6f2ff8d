//! The ELF symbol table of one object, indexed by name and by address, with each symbol's size
//! computed the way kallsyms computes it (distance to the next symbol), which is the size a kernel
//! stack trace prints after the slash in `func+0xoff/0xlen`.

use std::collections::HashMap;

/// One named symbol defined in a section.
#[derive(Debug, Clone)]
pub(crate) struct Sym {
    pub name: Box<str>,
    /// Address in the object's DWARF address space (for modules: section base chosen at load time
    /// plus `value`).
    pub addr: u64,
    /// `st_value` as `readelf` prints it (section-relative in modules).
    pub value: u64,
    /// `st_size`.
    pub elf_size: u64,
    /// Size as kallsyms reports it: up to the next symbol of the section that starts at or after
    /// `value + elf_size`, else up to the end of the section.
    pub kallsyms_size: u64,
    pub section: usize,
    /// Code symbol (function or label in an executable section).
    pub is_code: bool,
}

pub(crate) struct SymbolTable {
    syms: Vec<Sym>,
    by_name: HashMap<Box<str>, Vec<u32>>,
    /// Indexes of code symbols sorted by `addr`.
    by_addr: Vec<u32>,
}

/// A symbol as read from the ELF file, before sizes are computed.
pub(crate) struct RawSym {
    pub name: String,
    pub addr: u64,
    pub value: u64,
    pub elf_size: u64,
    pub section: usize,
    pub is_code: bool,
}

/// Symbols kallsyms leaves out, so they must not cut the size of the symbol before them (the size
/// a trace prints is the distance to the next *kallsyms* symbol). The lists are those of the
/// kernel's `scripts/kallsyms.c` (`is_ignored_symbol`, 4.19 to 6.x) and of the module loader's
/// `is_mapping_symbol`:
/// - ARM/AArch64 mapping symbols (`$x`, `$d`, also under the nVHE KVM prefix `__kvm_nvhe_$x`) and
///   local labels (`.L…`, `L0…`);
/// - arm64 EFI stub aliases (`__efistub_memcpy`), linker thunks and veneers (lld's
///   `__AArch64ADRPThunk_*`, GNU ld's `*_veneer`), ppc branch stubs;
/// - modversions CRCs and CFI type ids (absolute, normally without a section anyway).
pub(crate) fn kallsyms_ignores(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "$",
        ".L",
        "L0",
        "__crc_",
        "__efistub_",
        "__kvm_nvhe_$",
        "__kvm_nvhe_.L",
        "__AArch64ADRPThunk_",
        "__ARMV5PILongThunk_",
        "__ARMV7PILongThunk_",
        "__ThumbV7PILongThunk_",
        "__LA25Thunk_",
        "__microLA25Thunk_",
        "__kcfi_typeid_",
    ];
    const SUFFIXES: &[&str] = &["_from_arm", "_from_thumb", "_veneer"];
    const CONTAINS: &[&str] = &[".long_branch.", ".plt_branch."];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|x| name.ends_with(x))
        || CONTAINS.iter().any(|c| name.contains(c))
}

impl SymbolTable {
    /// Builds the table. `section_end(section)` gives the end (in `value` space) of a section.
    pub(crate) fn new(mut raw: Vec<RawSym>, section_end: impl Fn(usize) -> Option<u64>) -> Self {
        raw.retain(|s| !s.name.is_empty() && !kallsyms_ignores(&s.name));
        raw.sort_by_key(|s| (s.section, s.value));
        let mut syms = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let min_end = s.value.saturating_add(s.elf_size);
            let next = raw[i + 1..]
                .iter()
                .take_while(|n| n.section == s.section)
                .find(|n| n.value > s.value && n.value >= min_end);
            let end = match next {
                Some(n) => n.value,
                None => section_end(s.section).unwrap_or(min_end).max(min_end),
            };
            syms.push(Sym {
                name: s.name.as_str().into(),
                addr: s.addr,
                value: s.value,
                elf_size: s.elf_size,
                kallsyms_size: end - s.value,
                section: s.section,
                is_code: s.is_code,
            });
        }
        let mut by_name: HashMap<Box<str>, Vec<u32>> = HashMap::with_capacity(syms.len());
        let mut by_addr = Vec::new();
        for (i, s) in syms.iter().enumerate() {
            let i = i as u32;
            by_name.entry(s.name.clone()).or_default().push(i);
            if s.is_code {
                by_addr.push(i);
            }
        }
        by_addr.sort_by_key(|&i| (syms[i as usize].addr, std::cmp::Reverse(syms[i as usize].elf_size)));
        SymbolTable { syms, by_name, by_addr }
    }

    pub(crate) fn len(&self) -> usize {
        self.syms.len()
    }

    pub(crate) fn by_name<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Sym> + 'a {
        self.by_name.get(name).into_iter().flatten().map(move |&i| &self.syms[i as usize])
    }

    /// The code symbol containing `addr` (the last one starting at or before it, within its
    /// kallsyms size).
    pub(crate) fn containing(&self, addr: u64) -> Option<&Sym> {
        let pos = self.by_addr.partition_point(|&i| self.syms[i as usize].addr <= addr);
        let top = self.syms[*self.by_addr[..pos].last()? as usize].addr;
        let mut best: Option<&Sym> = None;
        // Aliases at one address come largest first; prefer a name that is not a padding prefix.
        for &i in self.by_addr[..pos].iter().rev() {
            let s = &self.syms[i as usize];
            if s.addr != top {
                break;
            }
            if addr - s.addr >= s.kallsyms_size.max(1) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => b.name.starts_with("__pfx_") && !s.name.starts_with("__pfx_"),
            };
            if better {
                best = Some(s);
            }
        }
        best
    }

    /// All symbols, for sampling (benchmarks, tests).
    pub(crate) fn all(&self) -> &[Sym] {
        &self.syms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, value: u64, elf_size: u64) -> RawSym {
        RawSym { name: name.to_string(), addr: value, value, elf_size, section: 1, is_code: true }
    }

    /// An arm64 `.text` as the kernel links it: mapping symbols inside functions, an EFI stub alias,
    /// a linker thunk and a veneer between functions, nVHE KVM mapping symbols. None of them is a
    /// kallsyms symbol, so none shortens the printed size of the function before it.
    #[test]
    fn arm64_symbols_kallsyms_ignores() {
        let t = SymbolTable::new(
            vec![
                raw("memcpy", 0x100, 0x40),
                raw("__efistub_memcpy", 0x100, 0),
                raw("$x", 0x100, 0),
                raw("$d", 0x130, 0),
                raw("$x.12", 0x138, 0),
                raw("__AArch64ADRPThunk_kfree", 0x140, 0x10),
                raw("dentry_free", 0x150, 0x20),
                raw("__kfree_veneer", 0x170, 0x10),
                raw("kfree", 0x180, 0x30),
                raw("__kvm_nvhe_$x.3", 0x1b0, 0),
                raw("__kvm_nvhe___kvm_vcpu_run", 0x1b0, 0x40),
                raw("__kvm_nvhe_$d.4", 0x1d0, 0),
                raw(".Ltmp1", 0x1e0, 0),
            ],
            |_| Some(0x200),
        );
        let size = |n: &str| t.by_name(n).map(|s| s.kallsyms_size).collect::<Vec<_>>();
        assert_eq!(size("memcpy"), [0x50]);
        assert_eq!(size("dentry_free"), [0x30]);
        assert_eq!(size("kfree"), [0x30]);
        assert_eq!(size("__kvm_nvhe___kvm_vcpu_run"), [0x50]);
        for ignored in ["__efistub_memcpy", "$x", "$d", "$x.12", "__AArch64ADRPThunk_kfree", "__kfree_veneer"]
        {
            assert!(t.by_name(ignored).next().is_none(), "{ignored}");
        }
        assert_eq!(t.len(), 4);
        // A raw address inside the thunk belongs to the function before it, as kallsyms says.
        assert_eq!(t.containing(0x144).map(|s| &*s.name), Some("memcpy"));
        assert_eq!(t.containing(0x100).map(|s| &*s.name), Some("memcpy"));
        assert_eq!(t.containing(0x1d4).map(|s| &*s.name), Some("__kvm_nvhe___kvm_vcpu_run"));
        // Names that only look alike stay.
        assert!(
            !kallsyms_ignores("veneer_setup") && !kallsyms_ignores("L1_cache") && !kallsyms_ignores("x$y")
        );
    }
}
