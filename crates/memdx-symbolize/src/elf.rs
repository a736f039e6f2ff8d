//! Loading one ELF object (vmlinux or a module, possibly compressed) into a symbol table and a
//! DWARF line/inline index.

use crate::reader::{Backing, Bytes, Reader, Relocs};
use crate::symbols::{RawSym, SymbolTable};
use crate::Error;
use gimli::{EndianReader, RunTimeEndian};
use object::{Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget, SectionIndex};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One loaded object file.
pub(crate) struct ElfObject {
    pub path: PathBuf,
    pub symbols: SymbolTable,
    /// `None` when the file has no `.debug_info` (stripped).
    pub dwarf: Option<addr2line::Context<Reader>>,
    /// Kernel release the object was built for: from `linux_banner` (vmlinux) or `vermagic` (module).
    pub release: Option<String>,
    pub build_id: Option<Vec<u8>>,
    pub debuglink: Option<String>,
    /// Relocatable object (a `.ko`): addresses are section bases chosen at load time.
    pub relocatable: bool,
    /// Section names by index.
    pub section_names: HashMap<usize, String>,
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source: e }
}

/// Reads the file, decompressing `.xz`, `.zst` and `.gz` by extension (and by magic).
fn read_backing(path: &Path) -> Result<Arc<Backing>, Error> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let backing = Backing::map(&file).map_err(|e| io_err(path, e))?;
    let data = backing.as_slice();
    let mut out = Vec::new();
    let decoded = if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        xz2::read::XzDecoder::new_multi_decoder(data).read_to_end(&mut out).map(|_| true)
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(data).and_then(|mut d| d.read_to_end(&mut out)).map(|_| true)
    } else if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).map(|_| true)
    } else {
        Ok(false)
    };
    match decoded {
        Ok(true) => Ok(Arc::new(Backing::Owned(out))),
        Ok(false) => Ok(Arc::new(backing)),
        Err(e) => Err(Error::Format { path: path.to_path_buf(), message: format!("cannot decompress: {e}") }),
    }
}

impl ElfObject {
    pub(crate) fn load(path: &Path) -> Result<ElfObject, Error> {
        let backing = read_backing(path)?;
        let data = backing.as_slice();
        let fmt_err = |m: String| Error::Format { path: path.to_path_buf(), message: m };
        let file = object::File::parse(data).map_err(|e| fmt_err(format!("not an ELF object: {e}")))?;
        let relocatable = file.kind() == object::ObjectKind::Relocatable;
        let endian = if file.is_little_endian() { RunTimeEndian::Little } else { RunTimeEndian::Big };

        // Section bases. Executables use their own addresses; a module's allocated sections are laid
        // out one after the other from 0x1000 so every function has a distinct address.
        let mut bases: HashMap<SectionIndex, u64> = HashMap::new();
        let mut section_names = HashMap::new();
        let mut section_ends: HashMap<usize, u64> = HashMap::new();
        let mut cursor: u64 = 0x1000;
        for sec in file.sections() {
            let name = sec.name().unwrap_or("").to_string();
            let alloc = matches!(sec.flags(), object::SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0);
            let base = if relocatable && alloc && sec.size() > 0 {
                let align = sec.align().max(16);
                let b = cursor.div_ceil(align).saturating_mul(align);
                cursor = b.saturating_add(sec.size());
                b
            } else {
                sec.address()
            };
            bases.insert(sec.index(), base);
            // Symbol values of executables are absolute, of relocatable objects section-relative.
            let end = if relocatable { sec.size() } else { sec.address().saturating_add(sec.size()) };
            section_ends.insert(sec.index().0, end);
            section_names.insert(sec.index().0, name);
        }

        let mut raw = Vec::new();
        for sym in file.symbols() {
            let Some(sec) = sym.section_index() else { continue };
            if !matches!(
                sym.kind(),
                object::SymbolKind::Text | object::SymbolKind::Data | object::SymbolKind::Unknown
            ) {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let base = if relocatable { bases.get(&sec).copied().unwrap_or(0) } else { 0 };
            let is_code =
                file.section_by_index(sec).map(|s| s.kind() == object::SectionKind::Text).unwrap_or(false);
            raw.push(RawSym {
                name: name.to_string(),
                addr: base.wrapping_add(sym.address()),
                value: sym.address(),
                elf_size: sym.size(),
                section: sec.0,
                is_code,
            });
        }
        let symbols = SymbolTable::new(raw, |s| section_ends.get(&s).copied());

        let release = if relocatable { modinfo_release(&file) } else { banner_release(&file) };
        let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
        let debuglink = file
            .gnu_debuglink()
            .ok()
            .flatten()
            .map(|(name, _crc)| String::from_utf8_lossy(name).into_owned());

        let has_dwarf = file.section_by_name(".debug_info").is_some_and(|s| s.size() > 0);
        let dwarf = if has_dwarf {
            let load = |id: gimli::SectionId| -> Result<Reader, Error> {
                let Some(sec) = file.section_by_name(id.name()) else {
                    let empty = EndianReader::new(Bytes::owned(Vec::new()), endian);
                    return Ok(gimli::RelocateReader::new(empty, Relocs::default()));
                };
                let bytes = match (sec.compressed_file_range(), sec.file_range()) {
                    (Ok(c), Some((off, size))) if c.format == object::CompressionFormat::None => {
                        Bytes::new(backing.clone(), off as usize, (off + size) as usize)
                    }
                    _ => {
                        let d = sec
                            .uncompressed_data()
                            .map_err(|e| fmt_err(format!("section {}: {e}", id.name())))?;
                        Bytes::owned(d.into_owned())
                    }
                };
                let relocs = if relocatable { relocations(&file, &sec, &bases) } else { Relocs::default() };
                Ok(gimli::RelocateReader::new(EndianReader::new(bytes, endian), relocs))
            };
            let dwarf = gimli::Dwarf::load(load)?;
            Some(addr2line::Context::from_dwarf(dwarf).map_err(|e| fmt_err(format!("bad DWARF: {e}")))?)
        } else {
            None
        };

        Ok(ElfObject {
            path: path.to_path_buf(),
            symbols,
            dwarf,
            release,
            build_id,
            debuglink,
            relocatable,
            section_names,
        })
    }
}

/// Values for the absolute relocations of one debug section of a relocatable object.
fn relocations(
    file: &object::File<'_>,
    sec: &object::Section<'_, '_>,
    bases: &HashMap<SectionIndex, u64>,
) -> Relocs {
    let mut map = HashMap::new();
    for (offset, rel) in sec.relocations() {
        if rel.kind() != RelocationKind::Absolute {
            continue;
        }
        let target = match rel.target() {
            RelocationTarget::Symbol(idx) => match file.symbol_by_index(idx) {
                Ok(sym) => {
                    let base = sym.section_index().and_then(|s| bases.get(&s).copied()).unwrap_or(0);
                    base.wrapping_add(sym.address())
                }
                Err(_) => continue,
            },
            RelocationTarget::Section(idx) => bases.get(&idx).copied().unwrap_or(0),
            _ => continue,
        };
        let mut value = target.wrapping_add(rel.addend() as u64);
        if rel.has_implicit_addend() {
            // REL (not RELA) relocations keep the addend in place; read it now.
            let data = sec.data().unwrap_or(&[]);
            let at = offset as usize;
            let width = usize::from(rel.size() / 8);
            if let Some(b) = data.get(at..at + width) {
                let mut buf = [0u8; 8];
                if file.is_little_endian() {
                    buf[..width].copy_from_slice(b);
                    value = value.wrapping_add(u64::from_le_bytes(buf));
                } else {
                    buf[8 - width..].copy_from_slice(b);
                    value = value.wrapping_add(u64::from_be_bytes(buf));
                }
            }
        }
        if rel.size() == 32 {
            value &= 0xffff_ffff;
        }
        map.insert(offset as usize, value);
    }
    Relocs(Some(Arc::new(map)))
}

/// The release from vmlinux's `linux_banner` ("Linux version 6.1.0-18-amd64 (...").
fn banner_release(file: &object::File<'_>) -> Option<String> {
    let sym = file.symbols().find(|s| s.name() == Ok("linux_banner"))?;
    let sec = file.section_by_index(sym.section_index()?).ok()?;
    let data = sec.data().ok()?;
    let start = usize::try_from(sym.address().checked_sub(sec.address())?).ok()?;
    let text = data.get(start..start.saturating_add(256).min(data.len()))?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let text = std::str::from_utf8(&text[..end]).ok()?;
    text.strip_prefix("Linux version ")?.split_whitespace().next().map(str::to_string)
}

/// The release from a module's `.modinfo` `vermagic=6.1.0-18-amd64 SMP ...`.
fn modinfo_release(file: &object::File<'_>) -> Option<String> {
    let data = file.section_by_name(".modinfo")?.data().ok()?;
    data.split(|&b| b == 0).find_map(|kv| {
        let v = kv.strip_prefix(b"vermagic=")?;
        let v = std::str::from_utf8(v).ok()?;
        v.split_whitespace().next().map(str::to_string)
    })
}
