//! Archives and compressed files as `memdx diagnose` gathers them (gzip, xz, zstd, tar, nested), from a
//! file holding the input, with small unpack limits so that a bomb the fuzzer finds stops quickly.
//! Nothing may panic, hang, or grow memory past the limits; a cut input is a warning, not an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("memdx-fuzz-gather-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut case = memdx_analyze::Case::new();
    let opts = memdx_source::GatherOptions {
        limits: memdx_source::UnpackLimits { bytes: 64 << 20, entries: 1000 },
        ..Default::default()
    };
    let _ = memdx_source::gather(&[path.clone()], &mut case, &opts);
    let _ = memdx_analyze::analyze(&case);
    let _ = std::fs::remove_file(&path);
});
