//! The one golden mechanism of the tests, included by every test crate of the workspace (`#[path]`)
//! like `skip.rs`: an expected output kept in `testdata/` beside its input, compared byte for byte.
//!
//! `MEMDX_UPDATE_GOLDENS=1` rewrites the goldens instead of comparing; every rewritten file is named on
//! stderr (`-- --nocapture` shows it), so a changed golden is reviewed (`git diff testdata/`) before it
//! is committed, never regenerated unread.

use std::path::Path;

/// True when `MEMDX_UPDATE_GOLDENS=1`: goldens are rewritten instead of compared.
pub fn updating() -> bool {
    std::env::var_os("MEMDX_UPDATE_GOLDENS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file at `path`, or rewrites it under `MEMDX_UPDATE_GOLDENS=1`.
/// A difference panics naming the file, both line counts and the first differing lines.
pub fn check_golden(path: &Path, actual: &str) {
    let expected = std::fs::read_to_string(path);
    if updating() {
        if expected.as_deref().ok() != Some(actual) {
            std::fs::write(path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("golden rewritten: {} (review it with git diff before committing)", path.display());
        }
        return;
    }
    let expected = expected.unwrap_or_else(|e| {
        panic!("{}: {e} (MEMDX_UPDATE_GOLDENS=1 creates it; review it before committing)", path.display())
    });
    if expected == actual {
        return;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut shown = Vec::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            shown.push(format!(
                "line {}:\n  expected: {}\n  actual:   {}",
                i + 1,
                x.unwrap_or("(end of file)"),
                y.unwrap_or("(end of file)")
            ));
            if shown.len() == 5 {
                break;
            }
        }
    }
    panic!(
        "{} differs ({} expected lines, {} actual):\n{}\n(MEMDX_UPDATE_GOLDENS=1 rewrites it; review the diff)",
        path.display(),
        e.len(),
        a.len(),
        shown.join("\n")
    );
}
