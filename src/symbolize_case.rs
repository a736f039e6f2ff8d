//! Symbolizing the frames of kernel reports in a [`Case`] when debug info is given (`--vmlinux`).
//! Reading the vmlinux is I/O, so this lives in the binary, between gathering and analysis.

#[cfg(feature = "symbolize")]
use anyhow::Context;
use anyhow::Result;
use memdx_analyze::Case;
use std::path::Path;

/// Opens the debug info and fills `location` of every frame it resolves. Returns how many frames
/// were resolved. A kernel release mismatch between a log and the vmlinux is a diagnostic.
pub fn symbolize(case: &mut Case, vmlinux: &Path, modules: Option<&Path>) -> Result<usize> {
    let (resolved, diags) = symbolize_logs(case.logs.iter_mut(), vmlinux, modules)?;
    case.diags.extend(diags);
    Ok(resolved)
}

/// Without the `symbolize` feature: --vmlinux is an error that says so.
#[cfg(not(feature = "symbolize"))]
pub fn symbolize_logs<'a>(
    _logs: impl Iterator<Item = &'a mut memdx_log::LogScan>,
    vmlinux: &Path,
    _modules: Option<&Path>,
) -> Result<(usize, Vec<memdx_core::Diag>)> {
    anyhow::bail!(
        "--vmlinux {}: this memdx was built without the `symbolize` feature (cargo build --features symbolize)",
        vmlinux.display()
    )
}

/// The same for scanned logs: resolved frame count and release-mismatch diagnostics.
#[cfg(feature = "symbolize")]
pub fn symbolize_logs<'a>(
    logs: impl Iterator<Item = &'a mut memdx_log::LogScan>,
    vmlinux: &Path,
    modules: Option<&Path>,
) -> Result<(usize, Vec<memdx_core::Diag>)> {
    let sym = memdx_symbolize::Symbolizer::open(vmlinux, modules)
        .with_context(|| format!("--vmlinux {}", vmlinux.display()))?;
    let mut resolved = 0;
    let mut diags = Vec::new();
    for scan in logs {
        if let Some(k) = &scan.kernel {
            let src = scan
                .reports
                .first()
                .map(|r| r.source.clone())
                .unwrap_or_else(|| memdx_core::SourceRef::new("log"));
            diags.extend(sym.check_release(k, src));
        }
        for r in &mut scan.reports {
            for f in &mut r.frames {
                if f.location.is_some() {
                    continue;
                }
                let Some(off) = f.offset else { continue };
                let res = sym.resolve(&f.func, off, f.size, f.module.as_deref());
                if let Some(a) = res.annotation() {
                    f.location = Some(a);
                    resolved += 1;
                }
            }
        }
    }
    Ok((resolved, diags))
}
