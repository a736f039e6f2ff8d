//! `memdx log --vmlinux` and `memdx diagnose --vmlinux`: report frames gain file:line and inline
//! chains from debug info. The "vmlinux" is a small program built here with `gcc -g -O2` from
//! testdata/symbolize/elf (skips with a reason when gcc is missing).

use std::path::PathBuf;
mod common;

use common::memdx;
use std::process::Command;

#[test]
fn log_and_diagnose_frames_are_symbolized() {
    if Command::new("gcc").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        common::skip("gcc not found (apt-get install gcc)");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("memdx-logvm-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/symbolize/elf");
    let exe = tmp.join("vmlinux");
    let st = Command::new("gcc")
        .args(["-g", "-O2", "-fno-omit-frame-pointer", "-o"])
        .arg(&exe)
        .args(["main.c", "dup_a.c", "dup_b.c"].map(|f| src.join(f)))
        .status()
        .unwrap();
    assert!(st.success());
    // A WARNING whose frames are functions of that program, in dmesg framing.
    let log = tmp.join("dmesg.txt");
    std::fs::write(
        &log,
        "[  100.000001] WARNING: CPU: 1 PID: 42 at mm/slub.c:1 obj_free+0x4/0x40\n\
         [  100.000002] CPU: 1 PID: 42 Comm: test Not tainted 6.18.0 #1\n\
         [  100.000003] Call Trace:\n\
         [  100.000004]  <TASK>\n\
         [  100.000005]  obj_free+0x4/0x40\n\
         [  100.000006]  obj_walk+0x10/0x80\n\
         [  100.000007]  main+0x20/0x100\n\
         [  100.000008]  </TASK>\n\
         [  100.000009] ---[ end trace 0000000000000000 ]---\n",
    )
    .unwrap();
    let out = memdx().args(["log", "--json", "--vmlinux"]).arg(&exe).arg(&log).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let frames = v["reports"][0]["frames"].as_array().expect("frames").clone();
    let loc = |f: &str| {
        frames.iter().find(|x| x["func"] == f).and_then(|x| x["location"].as_str()).unwrap_or("").to_string()
    };
    assert!(loc("obj_free").contains("main.c:"), "{frames:?}");
    assert!(loc("obj_walk").contains("main.c:"), "{frames:?}");
    let d = memdx().args(["diagnose", "--json", "--vmlinux"]).arg(&exe).arg(&log).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    std::fs::remove_dir_all(&tmp).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"].as_str().unwrap_or("").starts_with("log."))
        .expect("log finding");
    let frame0 = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == "frame #0")
        .expect("symbolized frame evidence");
    assert!(frame0["value"].as_str().unwrap().contains("main.c:"), "{frame0}");
}
