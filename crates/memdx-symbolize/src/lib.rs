//! memdx-symbolize: file, line and inline chain for kernel stack frames, in-process.
//!
//! A [`Symbolizer`] loads a vmlinux (and, on demand, modules) once: the ELF symbol table, with sizes
//! computed as kallsyms computes them, and a lazily built DWARF line and inline index (`addr2line`).
//! Frames are then resolved without spawning anything:
//!
//! - `func+0xoff/0xlen`: every symbol named `func` whose kallsyms size is `0xlen` (the length picks
//!   among duplicate static functions, as the kernel's `scripts/faddr2line` does); more than one
//!   left is reported as ambiguous;
//! - `func+0xoff` (bcc, perf): every symbol named `func` that covers the offset;
//! - `func+0xoff/0xlen [module]`: the same inside the module's `.ko` (also `.ko.xz/.zst/.gz`, and
//!   separate debug files found by build-id or debuglink);
//! - raw runtime addresses, once the KASLR offset is known (given, or learnt from a trace line that
//!   prints both the address and the symbol).
//!
//! Addresses are resolved as printed, without the `-1` adjustment for return addresses, so results
//! equal `faddr2line` and `addr2line -i` on the same address.
//!
//! Invariants: nothing here panics on bad input (ELF, DWARF or log text); I/O is limited to reading
//! the debug files and source files the caller names or that [`Symbolizer::discover`] finds under a
//! root directory.

mod elf;
mod frame;
mod locate;
mod reader;
mod symbols;

pub use frame::{find_frames, parse_frame_arg, FrameRef};
pub use locate::{log_release, vmlinux_candidates, SourceTree};

use elf::ElfObject;
use memdx_core::{Diag, SourceRef};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Errors opening debug information.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}", path = .path.display())]
    Format { path: PathBuf, message: String },
    #[error("{path}: no DWARF debug info (.debug_info); use the unstripped vmlinux, e.g. from the -dbg/-debuginfo package", path = .path.display())]
    NoDebugInfo { path: PathBuf },
    #[error("no vmlinux with debug info found; looked for: {0}")]
    NotFound(String),
}

/// One source position of an inline chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFrame {
    /// Function name (the inlined function for all but the last frame of a chain).
    pub function: String,
    /// File relative to the kernel build directory when it is under it (`mm/slub.c`), else as
    /// recorded in DWARF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Full path as recorded in DWARF (build directory joined with the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl SourceFrame {
    /// `mm/slub.c:2966`, `mm/slub.c:?` or `??:?` like binutils.
    pub fn location(&self) -> String {
        let file = self.file.as_deref().unwrap_or("??");
        match self.line {
            Some(l) if l > 0 => format!("{file}:{l}"),
            _ => format!("{file}:?"),
        }
    }
}

/// One symbol a frame may refer to, and where the address lands in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolMatch {
    pub symbol: String,
    /// `st_value` of the symbol (section-relative in modules).
    pub symbol_value: u64,
    /// Size as kallsyms prints it (distance to the next symbol).
    pub symbol_size: u64,
    pub section: String,
    /// `symbol_value + offset`, in the same space as `symbol_value`.
    pub address: u64,
    /// The inline chain, innermost first; the last entry is the function that was compiled.
    pub frames: Vec<SourceFrame>,
}

/// The answer for one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The frame as asked, `func+0xoff/0xlen [module]` or an address.
    pub frame: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The debug file used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// One entry per candidate symbol; empty when nothing was found (see `warnings`).
    pub matches: Vec<SymbolMatch>,
    /// More than one symbol fits the frame (duplicate static names the length could not separate).
    pub ambiguous: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the function is to a reader of the trace, from the log engine's frame-role table
    /// (`memdx_log::roles`): `report`, `alloc`, `lock`, ... (empty for a function with no role, such
    /// as a driver's or a filesystem's own code: the frames worth reading first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<&'static str>,
}

impl Resolution {
    fn empty(frame: String, module: Option<&str>) -> Resolution {
        Resolution {
            frame,
            module: module.map(str::to_string),
            object: None,
            matches: Vec::new(),
            ambiguous: false,
            warnings: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// Sets the roles of the function the frame names (or, for a bare address, of the symbol it
    /// resolved to).
    fn with_roles(mut self) -> Resolution {
        let func = match self.matches.first() {
            Some(m) => m.symbol.as_str(),
            None => self.frame.split('+').next().unwrap_or(""),
        };
        if !memdx_log::roles::is_address(func) {
            self.roles = memdx_log::roles::roles(func).names();
        }
        self
    }

    /// At least one candidate with a source file.
    pub fn is_resolved(&self) -> bool {
        self.matches.iter().any(|m| m.frames.iter().any(|f| f.file.is_some()))
    }

    /// The output of the kernel's `scripts/faddr2line` for this frame.
    pub fn to_faddr2line(&self) -> String {
        let mut s = String::new();
        for w in &self.warnings {
            s.push_str(&format!("warning: {}: {w}\n", self.frame));
        }
        if self.matches.is_empty() {
            s.push_str(&format!("no match for {}\n", self.frame));
            return s;
        }
        for m in &self.matches {
            s.push_str(&format!(
                "{}+{:#x}/{:#x}:\n",
                m.symbol,
                m.address.wrapping_sub(m.symbol_value),
                m.symbol_size
            ));
            if m.frames.is_empty() {
                s.push_str(&format!("{} at ??:?\n", m.symbol));
            }
            for (i, f) in m.frames.iter().enumerate() {
                let prefix = if i == 0 { "" } else { "(inlined by) " };
                s.push_str(&format!("{prefix}{} at {}\n", f.function, f.location()));
            }
        }
        s
    }

    /// The annotation `annotate_line` inserts after the frame: `(fs/dcache.c:338)`, or with an
    /// inline chain `(slab_equal_or_root mm/slab.h:229 inlined by cache_from_obj mm/slab.h:375
    /// inlined by kmem_cache_free mm/slub.c:2966)`. `None` when nothing resolved.
    pub fn annotation(&self) -> Option<String> {
        if !self.is_resolved() {
            return None;
        }
        let parts: Vec<String> = self
            .matches
            .iter()
            .filter(|m| m.frames.iter().any(|f| f.file.is_some()))
            .map(|m| {
                let chain = if m.frames.len() == 1 {
                    m.frames[0].location()
                } else {
                    m.frames
                        .iter()
                        .map(|f| format!("{} {}", f.function, f.location()))
                        .collect::<Vec<_>>()
                        .join(" inlined by ")
                };
                if self.ambiguous {
                    format!("{}@{:#x}: {chain}", m.symbol, m.symbol_value)
                } else {
                    chain
                }
            })
            .collect();
        if self.ambiguous {
            Some(format!("(ambiguous: {})", parts.join(" | ")))
        } else {
            Some(format!("({})", parts.join(" | ")))
        }
    }
}

/// Counts of one [`Symbolizer::annotate`] pass, and what went wrong.
#[derive(Debug, Clone, Default)]
pub struct AnnotateStats {
    pub lines: usize,
    pub frames: usize,
    pub resolved: usize,
    pub ambiguous: usize,
    /// Release mismatches and frames that could not be resolved (one per distinct reason).
    pub diags: Vec<Diag>,
}

/// Where module `.ko` files are looked up, built on first use.
struct ModuleDirs {
    dirs: Vec<PathBuf>,
    root: PathBuf,
    index: RefCell<Option<HashMap<String, Vec<PathBuf>>>>,
}

/// Resolves kernel frames against a vmlinux and its modules. Loading is done once; resolution is
/// in-process. Not `Sync` (the DWARF index fills itself lazily); use one per thread.
pub struct Symbolizer {
    vmlinux: ElfObject,
    modules: ModuleDirs,
    loaded: RefCell<HashMap<String, Result<Rc<ElfObject>, String>>>,
    kaslr_offset: Cell<Option<u64>>,
}

impl Symbolizer {
    /// Opens `vmlinux` (must carry DWARF) and remembers where modules are: `modules` if given,
    /// else `/lib/modules/<release>` and `/usr/lib/debug/lib/modules/<release>` (release from the
    /// vmlinux banner).
    pub fn open(vmlinux: &Path, modules: Option<&Path>) -> Result<Symbolizer, Error> {
        Self::open_in(Path::new("/"), vmlinux, modules)
    }

    /// [`Symbolizer::open`] with the default module and separate-debug-file locations taken under
    /// `root` instead of `/`.
    pub fn open_in(root: &Path, vmlinux: &Path, modules: Option<&Path>) -> Result<Symbolizer, Error> {
        let obj = ElfObject::load(vmlinux)?;
        let obj = if obj.dwarf.is_none() {
            match locate::separate_debug(root, &obj) {
                Some(p) => ElfObject::load(&p)?,
                None => return Err(Error::NoDebugInfo { path: vmlinux.to_path_buf() }),
            }
        } else {
            obj
        };
        let dirs = match modules {
            Some(m) => vec![m.to_path_buf()],
            None => match &obj.release {
                Some(rel) => {
                    vec![root.join("usr/lib/debug/lib/modules").join(rel), root.join("lib/modules").join(rel)]
                }
                None => Vec::new(),
            },
        };
        Ok(Symbolizer {
            vmlinux: obj,
            modules: ModuleDirs { dirs, root: root.to_path_buf(), index: RefCell::new(None) },
            loaded: RefCell::new(HashMap::new()),
            kaslr_offset: Cell::new(None),
        })
    }

    /// Finds the vmlinux for `release` (or the running kernel's, read from `<root>/proc`) in the
    /// usual places (see [`vmlinux_candidates`]) and opens it.
    pub fn discover(root: &Path, release: Option<&str>, modules: Option<&Path>) -> Result<Symbolizer, Error> {
        let candidates = vmlinux_candidates(root, release);
        let mut tried = Vec::new();
        for c in &candidates {
            if !c.is_file() {
                tried.push(c.display().to_string());
                continue;
            }
            match Self::open_in(root, c, modules) {
                Ok(s) => return Ok(s),
                Err(e) => tried.push(format!("{} ({e})", c.display())),
            }
        }
        Err(Error::NotFound(tried.join(", ")))
    }

    /// Kernel release of the vmlinux, from its `linux_banner`.
    pub fn release(&self) -> Option<&str> {
        self.vmlinux.release.as_deref()
    }

    pub fn vmlinux_path(&self) -> &Path {
        &self.vmlinux.path
    }

    /// Sets the KASLR offset (runtime minus link-time address) used for raw addresses.
    pub fn set_kaslr_offset(&self, offset: u64) {
        self.kaslr_offset.set(Some(offset));
    }

    pub fn kaslr_offset(&self) -> Option<u64> {
        self.kaslr_offset.get()
    }

    /// A warning when the kernel release seen in a log differs from the vmlinux's.
    pub fn check_release(&self, log_release: &str, source: SourceRef) -> Option<Diag> {
        let mine = self.release()?;
        (mine != log_release).then(|| {
            Diag::warning(
                source,
                format!(
                    "the log is from kernel {log_release} but {} is {mine}: file and line numbers may be wrong",
                    self.vmlinux.path.display()
                ),
            )
        })
    }

    fn module(&self, name: &str) -> Result<Rc<ElfObject>, String> {
        let key = name.replace('-', "_");
        if let Some(r) = self.loaded.borrow().get(&key) {
            return r.clone();
        }
        let r = self.load_module(&key);
        self.loaded.borrow_mut().insert(key, r.clone());
        r
    }

    fn load_module(&self, key: &str) -> Result<Rc<ElfObject>, String> {
        let mut index = self.modules.index.borrow_mut();
        let index = index.get_or_insert_with(|| locate::index_modules(&self.modules.dirs));
        let Some(paths) = index.get(key) else {
            let dirs: Vec<String> = self.modules.dirs.iter().map(|d| d.display().to_string()).collect();
            return Err(format!(
                "module {key} not found under {}",
                if dirs.is_empty() { "(no module directory)".to_string() } else { dirs.join(", ") }
            ));
        };
        let mut errors = Vec::new();
        for p in paths {
            match ElfObject::load(p) {
                Ok(obj) if obj.dwarf.is_some() => return Ok(Rc::new(obj)),
                Ok(obj) => match locate::separate_debug(&self.modules.root, &obj) {
                    Some(d) => match ElfObject::load(&d) {
                        Ok(dobj) if dobj.dwarf.is_some() => return Ok(Rc::new(dobj)),
                        Ok(_) => errors.push(format!("{}: no debug info", d.display())),
                        Err(e) => errors.push(e.to_string()),
                    },
                    None => errors.push(format!("{}: no debug info and no separate debug file", p.display())),
                },
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(errors.join("; "))
    }

    /// Resolves `func+offset[/size]` in vmlinux or in `module`.
    pub fn resolve(&self, func: &str, offset: u64, size: Option<u64>, module: Option<&str>) -> Resolution {
        let text = frame::format_frame(func, offset, size, module);
        let mut res = Resolution::empty(text, module);
        let obj_rc;
        let obj: &ElfObject = match module {
            None => &self.vmlinux,
            Some(m) => match self.module(m) {
                Ok(o) => {
                    obj_rc = o;
                    &obj_rc
                }
                Err(e) => {
                    res.warnings.push(e);
                    return res;
                }
            },
        };
        res.object = Some(obj.path.display().to_string());
        let all: Vec<&symbols::Sym> = obj.symbols.by_name(func).collect();
        if all.is_empty() {
            res.warnings.push(format!("no symbol {func} in {}", obj.path.display()));
            return res;
        }
        let mut picked: Vec<&symbols::Sym> = match size {
            Some(z) => {
                let by_kallsyms: Vec<_> = all.iter().copied().filter(|s| s.kallsyms_size == z).collect();
                if !by_kallsyms.is_empty() {
                    by_kallsyms
                } else {
                    let by_elf: Vec<_> = all.iter().copied().filter(|s| s.elf_size == z).collect();
                    if !by_elf.is_empty() {
                        by_elf
                    } else {
                        let sizes: Vec<String> =
                            all.iter().map(|s| format!("{:#x}", s.kallsyms_size)).collect();
                        res.warnings.push(format!(
                            "size {z:#x} differs from {func}'s size in {} ({}): the debug file may not match the kernel that printed the trace",
                            obj.path.display(),
                            sizes.join(", ")
                        ));
                        all.clone()
                    }
                }
            }
            None => all.clone(),
        };
        picked.retain(|s| offset <= s.kallsyms_size.max(s.elf_size));
        if picked.is_empty() {
            res.warnings.push(format!("offset {offset:#x} is past the end of every {func}"));
            return res;
        }
        for s in &picked {
            res.matches.push(self.locate(obj, s, s.addr.wrapping_add(offset), offset));
        }
        res.ambiguous = res.matches.len() > 1;
        res
    }

    fn locate(&self, obj: &ElfObject, s: &symbols::Sym, addr: u64, offset: u64) -> SymbolMatch {
        let frames = match &obj.dwarf {
            Some(ctx) => source_frames(ctx, addr, &s.name),
            None => Vec::new(),
        };
        SymbolMatch {
            symbol: s.name.to_string(),
            symbol_value: s.value,
            symbol_size: s.kallsyms_size,
            section: obj.section_names.get(&s.section).cloned().unwrap_or_default(),
            address: s.value.wrapping_add(offset),
            frames,
        }
    }

    /// Resolves a runtime address of vmlinux code (the KASLR offset, when known, is subtracted).
    pub fn resolve_address(&self, runtime: u64) -> Resolution {
        let mut res = Resolution::empty(format!("{runtime:#x}"), None);
        let link = runtime.wrapping_sub(self.kaslr_offset.get().unwrap_or(0));
        res.object = Some(self.vmlinux.path.display().to_string());
        match self.vmlinux.symbols.containing(link) {
            Some(s) => {
                let off = link - s.addr;
                res.matches.push(self.locate(&self.vmlinux, s, link, off));
            }
            None => res.warnings.push(format!(
                "{link:#x} is in no function of {}{}",
                self.vmlinux.path.display(),
                if self.kaslr_offset.get().is_none() { " (KASLR offset unknown)" } else { "" }
            )),
        }
        res
    }

    /// Resolves a frame found by [`find_frames`]. A frame that prints both a runtime address and a
    /// vmlinux symbol teaches the KASLR offset used for later raw addresses.
    pub fn resolve_frame(&self, f: &FrameRef) -> Resolution {
        self.resolve_frame_inner(f).with_roles()
    }

    fn resolve_frame_inner(&self, f: &FrameRef) -> Resolution {
        if let Some(a) = f.raw_address() {
            if self.kaslr_offset.get().is_none() && self.vmlinux.symbols.containing(a).is_none() {
                let mut r = Resolution::empty(format!("{a:#x}"), None);
                r.warnings.push("raw address with unknown KASLR offset".to_string());
                return r;
            }
            return self.resolve_address(a);
        }
        let fr = &f.frame;
        let module = fr.module.as_deref();
        let r = self.resolve(&fr.func, fr.offset.unwrap_or(0), fr.size, module);
        if let (Some(rt), None, [m]) = (f.runtime_address, module, r.matches.as_slice()) {
            if self.kaslr_offset.get().is_none() && !self.vmlinux.relocatable {
                self.kaslr_offset.set(Some(rt.wrapping_sub(m.address)));
            }
        }
        r
    }

    /// The line with each resolved frame followed by its source annotation, like the kernel's
    /// `decode_stacktrace.sh`; `None` when the line has no frame that resolved.
    pub fn annotate_line(&self, line: &str) -> Option<String> {
        self.annotate_line_detailed(line).0
    }

    /// [`Symbolizer::annotate_line`] also returning the resolutions of every frame of the line
    /// (resolved or not).
    pub fn annotate_line_detailed(&self, line: &str) -> (Option<String>, Vec<Resolution>) {
        let frames = find_frames(line);
        if frames.is_empty() {
            return (None, Vec::new());
        }
        let mut out = String::with_capacity(line.len() + 64);
        let mut last = 0;
        let mut any = false;
        let mut resolutions = Vec::with_capacity(frames.len());
        for f in &frames {
            let r = self.resolve_frame(f);
            if let Some(a) = r.annotation() {
                let end = after_module(line, f.span.end);
                out.push_str(&line[last..end]);
                out.push(' ');
                out.push_str(&a);
                last = end;
                any = true;
            }
            resolutions.push(r);
        }
        out.push_str(&line[last..]);
        (any.then_some(out), resolutions)
    }

    /// Re-emits a whole log with annotations. Lines are read as bytes, so invalid UTF-8 is passed
    /// through (lossily) rather than failing the pass.
    pub fn annotate<R: BufRead, W: Write>(
        &self,
        mut input: R,
        source: &str,
        mut out: W,
    ) -> std::io::Result<AnnotateStats> {
        let src = SourceRef::new(source);
        let mut stats = AnnotateStats::default();
        let mut release_checked = false;
        let mut reasons: HashMap<String, usize> = HashMap::new();
        // Capped lines: an overlong line is passed through cut to the cap, with a note.
        let mut lr = memdx_core::lines::LineReader::new(&mut input);
        while let Some(l) = lr.next_line()? {
            stats.lines += 1;
            let text = l.text();
            let line = text.trim_end_matches('\r');
            if !release_checked {
                if let Some(rel) = log_release(line) {
                    release_checked = true;
                    stats.diags.extend(self.check_release(rel, src.at(stats.lines)));
                }
            }
            let (annotated, rs) = self.annotate_line_detailed(line);
            count(&mut stats, &rs, &mut reasons);
            writeln!(out, "{}", annotated.as_deref().unwrap_or(line))?;
        }
        stats.diags.extend(lr.long_lines_diag(&src, "cut to that length"));
        let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
        reasons.sort();
        for (r, n) in reasons {
            stats.diags.push(Diag::note(src.clone(), format!("{n} frame(s) not resolved: {r}")));
        }
        Ok(stats)
    }

    /// Up to `n` code symbols of the vmlinux with their kallsyms sizes, chosen by a deterministic
    /// pseudo-random sequence from `seed`: benchmarks and cross-checks sample frames with it.
    pub fn sample_frames(&self, n: usize, seed: u64) -> Vec<(String, u64, u64)> {
        let code: Vec<&symbols::Sym> =
            self.vmlinux.symbols.all().iter().filter(|s| s.is_code && s.kallsyms_size > 0).collect();
        if code.is_empty() {
            return Vec::new();
        }
        let mut x = seed | 1;
        let mut next = || {
            // xorshift64*: a fixed, reproducible sequence without a dependency.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        (0..n)
            .map(|_| {
                let s = code[(next() % code.len() as u64) as usize];
                let off = next() % s.kallsyms_size;
                (s.name.to_string(), off, s.kallsyms_size)
            })
            .collect()
    }

    /// Number of symbols in the vmlinux symbol table.
    pub fn symbol_count(&self) -> usize {
        self.vmlinux.symbols.len()
    }
}

fn count(stats: &mut AnnotateStats, rs: &[Resolution], reasons: &mut HashMap<String, usize>) {
    for r in rs {
        stats.frames += 1;
        if r.is_resolved() {
            stats.resolved += 1;
        }
        if r.ambiguous {
            stats.ambiguous += 1;
        }
        for w in &r.warnings {
            *reasons.entry(w.clone()).or_default() += 1;
        }
    }
}

/// The end of the frame text including a ` [module]` suffix that follows it.
fn after_module(line: &str, end: usize) -> usize {
    let rest = &line[end..];
    let trimmed = rest.strip_prefix(' ').unwrap_or(rest);
    if trimmed.starts_with('[') {
        if let Some(close) = trimmed.find(']') {
            return end + (rest.len() - trimmed.len()) + close + 1;
        }
    }
    end
}

/// The inline chain at `addr`, innermost first, with paths made relative to the build directory.
fn source_frames(ctx: &addr2line::Context<reader::Reader>, addr: u64, symbol: &str) -> Vec<SourceFrame> {
    use gimli::Reader as _;
    let comp_dir = ctx.find_dwarf_and_unit(addr).skip_all_loads().and_then(|unit| {
        unit.comp_dir.as_ref().and_then(|d| d.to_string_lossy().ok().map(|c| c.into_owned()))
    });
    let mut out = Vec::new();
    let Ok(mut frames) = ctx.find_frames(addr).skip_all_loads() else { return out };
    while let Ok(Some(f)) = frames.next() {
        let function = f
            .function
            .as_ref()
            .and_then(|n| n.raw_name().ok().map(|c| c.into_owned()))
            .unwrap_or_else(|| symbol.to_string());
        let (path, line, column) = match &f.location {
            Some(l) => (l.file.map(str::to_string), l.line, l.column),
            None => (None, None, None),
        };
        let file = path.as_ref().map(|p| relative(p, comp_dir.as_deref()));
        out.push(SourceFrame { function, file, path, line, column });
    }
    if out.is_empty() {
        // Like binutils: no line information (padding, assembly without DWARF), but the symbol.
        out.push(SourceFrame {
            function: symbol.to_string(),
            file: None,
            path: None,
            line: None,
            column: None,
        });
    }
    out
}

/// `path` without the build directory, with `.`, `..` and doubled slashes folded
/// (`include/trace/../../drivers/x//trace.h` becomes `drivers/x/trace.h`).
fn relative(path: &str, comp_dir: Option<&str>) -> String {
    let rest = comp_dir
        .and_then(|dir| path.strip_prefix(dir))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path);
    let mut parts: Vec<&str> = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." if !parts.is_empty() || !rest.starts_with('/') => {}
            ".." if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_paths() {
        use super::relative;
        assert_eq!(relative("/b/k/mm/slub.c", Some("/b/k")), "mm/slub.c");
        assert_eq!(relative("/b/k/./mm/slub.c", Some("/b/k")), "mm/slub.c");
        assert_eq!(relative("d/include/trace/../../drivers/x//trace.h", Some("d")), "drivers/x/trace.h");
        assert_eq!(relative("/usr/include/stdio.h", Some("/b/k")), "/usr/include/stdio.h");
        assert_eq!(relative("../x.c", None), "../x.c");
    }

    #[test]
    fn roles_from_the_frame_role_table() {
        use super::Resolution;
        let r = |frame: &str| Resolution::empty(frame.to_string(), None).with_roles().roles;
        assert_eq!(r("dump_stack+0x1/0x2"), ["report"]);
        assert!(r("kmem_cache_alloc_noprof+0x10/0x300").contains(&"alloc"));
        assert!(r("ext4_i_callback+0x18/0x20").is_empty(), "a filesystem's own code has no role");
        assert!(r("0xffffffffc0123456").is_empty(), "an unresolved address has no name to look up");
    }
}
