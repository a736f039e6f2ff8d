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

/// ARM/AArch64 mapping symbols (`$x`, `$d`) and local labels are not symbols of kallsyms.
pub(crate) fn is_mapping_symbol(name: &str) -> bool {
    name.starts_with('$') || name.starts_with(".L") || name.starts_with("L0")
}

impl SymbolTable {
    /// Builds the table. `section_end(section)` gives the end (in `value` space) of a section.
    pub(crate) fn new(mut raw: Vec<RawSym>, section_end: impl Fn(usize) -> Option<u64>) -> Self {
        raw.retain(|s| !s.name.is_empty() && !is_mapping_symbol(&s.name));
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
