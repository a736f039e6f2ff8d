#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and reports which crashed.
# Not part of CI. Needs: cargo install cargo-fuzz (works on stable with RUSTC_BOOTSTRAP below).
# Usage: fuzz/run-all.sh [SECONDS] [TARGET-PREFIX]
set -u
cd "$(dirname "$0")"
secs=${1:-60}
prefix=${2:-}
export RUSTC_BOOTSTRAP=1   # cargo fuzz needs -Z flags; the stable toolchain accepts them this way
failed=()
for t in $(cargo fuzz list); do
  [[ -n "$prefix" && "$t" != "$prefix"* ]] && continue
  mkdir -p "corpus/$t"
  seeds=()
  case "$t" in
    parse_document|parse_pasted) seeds=(../testdata/pasted/*/) ;;
    parse_process_table|parse_smaps_rollup|parse_mem_samples|parse_vmallocinfo|parse_numastat|parse_mm_sysfs) seeds=(../testdata/formats) ;;
    parse_*|symbolize_*) seeds=(../testdata/diagnose/*/inputs) ;;
    log_*|line_*) seeds=(../testdata/log) ;;
    root_*)
      # One real root: the captured files of testdata/store/root (at most 7000 bytes each), NUL-
      # separated in the order root_reader writes them (without seeds, 60 s never grew inputs
      # past 4 bytes).
      d=corpus-seeds/root && rm -rf "$d" && mkdir -p "$d"
      r=../testdata/store/root/proc
      for f in sys/kernel/osrelease meminfo slabinfo buddyinfo pagetypeinfo zoneinfo vmstat \
        pressure/memory sys/vm/min_free_kbytes pressure/memory; do
        head -c 7000 "$r/$f" 2>/dev/null; printf '\0'
      done >"$d/store-root"
      seeds=("$d") ;;
    slab_*) seeds=(../testdata/slab/seed000 ../testdata/slab/live-6.18) ;;
    gather_*)
      # Small real archives of every kind memdx unpacks, nested once.
      d=corpus-seeds/gather && rm -rf "$d" && mkdir -p "$d"
      tar -C ../testdata/store/root -cf "$d/root.tar" proc/meminfo proc/buddyinfo
      gzip -c "$d/root.tar" >"$d/root.tar.gz"; xz -c "$d/root.tar" >"$d/root.tar.xz"
      zstd -q -c "$d/root.tar" >"$d/root.tar.zst"
      tar -C "$d" -czf "$d/nested.tar.gz" root.tar.xz
      seeds=("$d") ;;
    trace_*) seeds=(../testdata/trace) ;;
  esac
  echo "== $t (${secs}s)"
  if cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 >"fuzz-$t.log" 2>&1; then
    echo "   ok: $(grep -E '^#[0-9]+.*DONE' "fuzz-$t.log" | tail -1)"
  else
    echo "   CRASH: see fuzz/fuzz-$t.log and fuzz/artifacts/$t/"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then echo "crashed: ${failed[*]}"; exit 1; fi
echo "all targets ran without a crash"
