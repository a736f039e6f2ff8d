//! Helpers shared by the binary's integration tests. Each test binary uses a part of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The `memdx` binary, without colour, run from the package root (so `testdata/...` paths are stable).
pub fn memdx() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memdx"));
    c.env("NO_COLOR", "1").current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// `MEMDX_UPDATE_GOLDENS=1` rewrites goldens instead of comparing with them.
pub fn update() -> bool {
    std::env::var_os("MEMDX_UPDATE_GOLDENS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file, or rewrites it under MEMDX_UPDATE_GOLDENS=1. A difference
/// names the first differing line.
pub fn golden(path: &Path, actual: &str) {
    if update() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} missing: run with MEMDX_UPDATE_GOLDENS=1", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs at line {}:\nexpected: {:?}\nactual:   {:?}\n(MEMDX_UPDATE_GOLDENS=1 rewrites it)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// A test whose peer tool or kernel feature is missing: prints why and returns, or fails when
/// `MEMDX_REQUIRE_PEERS=1` (CI after installing the peers).
pub fn skip(reason: &str) {
    if std::env::var_os("MEMDX_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("MEMDX_REQUIRE_PEERS=1 but {reason}");
    }
    println!("skipped: {reason}");
}
