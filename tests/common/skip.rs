//! The one skip rule of the tests, included by every test crate of the workspace (`#[path]`): a
//! test whose peer tool or kernel feature is missing prints why and returns, or fails when
//! `MEMDX_REQUIRE_PEERS=1` (set by `.ci/run` after installing the peers).

/// Prints why the test does not run, or panics under `MEMDX_REQUIRE_PEERS=1`.
pub fn skip(reason: &str) {
    if std::env::var_os("MEMDX_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("MEMDX_REQUIRE_PEERS=1 but {reason}");
    }
    println!("skipped: {reason}");
}
