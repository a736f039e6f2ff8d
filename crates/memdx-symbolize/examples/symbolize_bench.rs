//! Helper of `bench/symbolize.sh` (run by hand, never in CI).
//!
//! `symbolize_bench sample VMLINUX N SEED`: N frames sampled from the symbol table at random
//! offsets, one per line: `func+0xoff/0xlen 0xADDRESS`.
//! `symbolize_bench resolve VMLINUX FRAMES`: resolves every frame of FRAMES with one index load and
//! prints, per frame, `0xADDRESS` then `function` / `path:line` lines like `addr2line -a -i -f`;
//! timings go to stderr.

use memdx_symbolize::{parse_frame_arg, Symbolizer};
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sample") if args.len() == 5 => {
            let sym = Symbolizer::open(Path::new(&args[2]), None)?;
            let n: usize = args[3].parse()?;
            let seed: u64 = args[4].parse()?;
            let out = std::io::stdout();
            let mut out = BufWriter::new(out.lock());
            for (name, off, size) in sym.sample_frames(n, seed) {
                let r = sym.resolve(&name, off, Some(size), None);
                // Only unambiguous frames: binutils resolves addresses, not names.
                if let [m] = r.matches.as_slice() {
                    writeln!(out, "{name}+{off:#x}/{size:#x} {:#x}", m.address)?;
                }
            }
            Ok(())
        }
        Some("resolve") if args.len() == 4 => {
            let t0 = Instant::now();
            let sym = Symbolizer::open(Path::new(&args[2]), None)?;
            let load = t0.elapsed();
            let t1 = Instant::now();
            let out = std::io::stdout();
            let mut out = BufWriter::new(out.lock());
            let file = std::io::BufReader::new(std::fs::File::open(&args[3])?);
            let mut n = 0;
            for line in file.lines() {
                let line = line?;
                let Some(text) = line.split_whitespace().next() else { continue };
                let Some(f) = parse_frame_arg(text) else { continue };
                let r = sym.resolve_frame(&f);
                n += 1;
                let Some(m) = r.matches.first() else {
                    writeln!(out, "unresolved {text}")?;
                    continue;
                };
                writeln!(out, "{:#018x}", m.address)?;
                for sf in &m.frames {
                    let line = match sf.line {
                        Some(l) if l > 0 => l.to_string(),
                        _ => "?".to_string(),
                    };
                    writeln!(out, "{}\n{}:{line}", sf.function, sf.path.as_deref().unwrap_or("??"))?;
                }
            }
            out.flush()?;
            eprintln!(
                "memdx: index load {:.3} s, {n} frames resolved in {:.3} s",
                load.as_secs_f64(),
                t1.elapsed().as_secs_f64()
            );
            Ok(())
        }
        _ => Err("usage: symbolize_bench sample VMLINUX N SEED | resolve VMLINUX FRAMES".into()),
    }
}
