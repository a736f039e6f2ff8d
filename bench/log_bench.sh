#!/bin/sh
# Throughput and memory of the kernel log engine on a >= 1 GiB kern.log built from real lines
# (testdata/log seeds and the 6.18 OOM report, replayed with a syslog prefix), against `grep -c`
# on the same file in the same run. Run by hand: sh bench/log_bench.sh [size_mib]
set -eu
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
TMP=${TMPDIR:-/tmp}/memdx-log-bench
mkdir -p "$TMP"
cargo build --release -q -p memdx-log --example log_scan
BIN=target/release/examples/log_scan
# One block of real lines: kern.log (seed 000), dmesg (seed 004, memcg OOM on 6.18).
BLOCK="$TMP/block.log"
{
  cat testdata/log/seed000_slub_trace.kern.log
  for f in testdata/log/seed004_warning_oops.dmesg testdata/log/live618_memcg_oom.dmesg; do
    sed 's/^/2024-01-24 12:40:55 host0 kernel: /' "$f"
  done
} > "$BLOCK"
build() { # $1 = MiB, $2 = output
  : > "$2"
  target=$(( $1 * 1024 * 1024 ))
  # double a seed file until it reaches the size (fast, no per-line work)
  cp "$BLOCK" "$2.tmp"
  while [ "$(stat -c %s "$2.tmp")" -lt "$target" ]; do cat "$2.tmp" "$2.tmp" > "$2.tmp2"; mv "$2.tmp2" "$2.tmp"; done
  head -c "$target" "$2.tmp" > "$2"; rm -f "$2.tmp"
}
run() { # $1 = file
  bytes=$(stat -c %s "$1")
  /usr/bin/time -f "%e %M" -o "$TMP/t.grep" grep -c "kernel:" "$1" > "$TMP/grep.out"
  /usr/bin/time -f "%e %M" -o "$TMP/t.scan" "$BIN" "$1" > "$TMP/out"
  read gs gk < "$TMP/t.grep"; read ss sk < "$TMP/t.scan"
  awk -v b="$bytes" -v gs="$gs" -v ss="$ss" -v sk="$sk" -v gk="$gk" -v out="$(cat "$TMP/out")" 'BEGIN {
    mb = b / 1048576;
    printf "%6.0f MiB  memdx-log %6.2fs %7.1f MiB/s maxrss %6d KiB | grep -c %5.2fs %7.1f MiB/s | ratio memdx/grep %.2f\n  %s\n",
      mb, ss, mb / ss, sk, gs, mb / gs, gs / ss, out }'
}
build $((SIZE_MIB / 4)) "$TMP/small.log"
build "$SIZE_MIB" "$TMP/big.log"
run "$TMP/small.log"
run "$TMP/big.log"
rm -f "$TMP/small.log" "$TMP/big.log" "$BLOCK"
