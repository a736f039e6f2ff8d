#!/bin/sh
# Throughput and memory of the kernel log engine on >= 1 GiB kern.logs built from real lines,
# against `grep -c` on the same file in the same run. Run by hand, never in CI:
#   sh bench/log_bench.sh [size_mib]        (default 1024)
# Two inputs, both replayed with a syslog prefix:
#   dense: nothing but reports (testdata/log seeds: slub_debug TRACE records, WARNING + arm64 oops,
#          a 6.18 memcg OOM): the worst case, every line is parsed as report body.
#   mixed: the 6.18 host boot log (no report) with one 6.18 memcg OOM report after every ten boot
#          logs: ~2% report lines, closer to a real kern.log.
# Each tool runs 3 times per file; the best run is reported (the host is shared). MiB/s is given on
# wall time and on CPU time (user+sys, "per core"); the ratio is memdx wall time / grep wall time.
# Memory must stay flat: compare max RSS at size/4 and size.
set -eu
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
TMP=${TMPDIR:-/tmp}/memdx-log-bench
mkdir -p "$TMP"
cargo build --release -q -p memdx-log --example log_scan
BIN=target/release/examples/log_scan
syslog() { sed 's/^/2024-01-24 12:40:55 host0 kernel: /' "$@"; }
{
  cat testdata/log/seed000_slub_trace.kern.log
  syslog testdata/log/seed004_warning_oops.dmesg testdata/log/live618_memcg_oom.dmesg
} > "$TMP/dense.block"
{
  for _ in 1 2 3 4 5 6 7 8 9 10; do syslog testdata/log/live618_boot.dmesg; done
  syslog testdata/log/live618_memcg_oom64m.dmesg
} > "$TMP/mixed.block"
build() { # $1 = block, $2 = MiB, $3 = output: doubles the block until it reaches the size
  target=$(( $2 * 1024 * 1024 ))
  cp "$1" "$3.tmp"
  while [ "$(stat -c %s "$3.tmp")" -lt "$target" ]; do cat "$3.tmp" "$3.tmp" > "$3.tmp2"; mv "$3.tmp2" "$3.tmp"; done
  head -c "$target" "$3.tmp" > "$3"; rm -f "$3.tmp"
}
best() { # $1 = output file for "wall cpu maxrss", rest = command; keeps the fastest of 3 runs
  out=$1; shift
  : > "$out.all"
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %U %S %M" -o "$out.one" "$@" > "$TMP/stdout"
    read -r e u s m < "$out.one"
    awk -v e="$e" -v u="$u" -v s="$s" -v m="$m" 'BEGIN { print e, u + s, m }' >> "$out.all"
  done
  sort -n "$out.all" | head -1 > "$out"
}
run() { # $1 = label, $2 = file
  bytes=$(stat -c %s "$2")
  best "$TMP/t.grep" grep -c "kernel:" "$2"
  best "$TMP/t.scan" "$BIN" "$2"
  read -r ge gc gk < "$TMP/t.grep"; read -r se sc sk < "$TMP/t.scan"
  awk -v l="$1" -v b="$bytes" -v ge="$ge" -v gc="$gc" -v se="$se" -v sc="$sc" -v sk="$sk" -v out="$(cat "$TMP/stdout")" 'BEGIN {
    mb = b / 1048576;
    printf "%-5s %5.0f MiB  memdx-log %5.2fs %6.1f MiB/s (cpu %6.1f MiB/s) maxrss %6d KiB | grep -c %5.2fs %7.1f MiB/s | memdx/grep time %.1fx\n  %s\n",
      l, mb, se, mb / se, mb / sc, sk, ge, mb / ge, se / ge, out }'
}
build "$TMP/dense.block" $((SIZE_MIB / 4)) "$TMP/dense-small.log"
build "$TMP/dense.block" "$SIZE_MIB" "$TMP/dense.log"
build "$TMP/mixed.block" "$SIZE_MIB" "$TMP/mixed.log"
run dense "$TMP/dense-small.log"
run dense "$TMP/dense.log"
run mixed "$TMP/mixed.log"
rm -f "$TMP"/*.log "$TMP"/*.block "$TMP"/t.* "$TMP/stdout"
