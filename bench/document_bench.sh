#!/bin/sh
# Throughput and memory of the mixed-document scan (`memdx diagnose` on a pasted document: prose,
# shell sessions, quoted and indented kernel logs, /proc-style blocks) on a >= 1 GiB text file,
# against `grep -c` on the same file in the same run. Run by hand, never in CI:
#   sh bench/document_bench.sh [size_mib]        (default 1024)
# The document repeats one block built from real inputs: the 6.18 boot log as dmesg, quoted with
# `> ` and indented (3 copies), a memcg OOM report, and the pasted incidents of testdata/pasted
# (shell sessions, `==> file <==` heads, kmemleak, free, arcstats, alloc_traces, PSI) between prose.
# Each tool runs 3 times; the best run is reported (the host is shared). MiB/s is given on wall time
# and on CPU time (user+sys); the ratio is memdx time / grep time. Memory must stay flat: compare
# max RSS at size/4 and size.
set -eu
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
TMP=${TMPDIR:-/tmp}/memdx-document-bench
mkdir -p "$TMP"
cargo build --release -q
BIN=target/release/memdx
{
  echo "Hello, the box below ran out of memory last night; here is what I collected."
  echo
  cat testdata/log/live618_boot.dmesg
  echo
  echo "Quoted from the earlier mail:"
  sed 's/^/> /' testdata/log/live618_boot.dmesg
  echo
  echo "and indented in the issue body:"
  sed 's/^/    /' testdata/log/live618_boot.dmesg
  echo '```'
  cat testdata/log/live618_memcg_oom.dmesg
  echo '```'
  for f in testdata/pasted/*/*; do
    case "$f" in *.md) continue ;; esac
    echo "Then I ran this, output attached:"
    echo
    cat "$f"
    echo
  done
} > "$TMP/block"
target=$(( SIZE_MIB * 1024 * 1024 ))
cp "$TMP/block" "$TMP/doc.tmp"
while [ "$(stat -c %s "$TMP/doc.tmp")" -lt "$target" ]; do cat "$TMP/doc.tmp" "$TMP/doc.tmp" > "$TMP/doc.tmp2"; mv "$TMP/doc.tmp2" "$TMP/doc.tmp"; done
head -c "$target" "$TMP/doc.tmp" > "$TMP/doc.txt"; rm -f "$TMP/doc.tmp"
head -c "$(( target / 4 ))" "$TMP/doc.txt" > "$TMP/quarter.txt"
best() { # $1 = output file for "wall cpu maxrss", rest = command; keeps the fastest of 3 runs
  out=$1; shift
  : > "$out.all"
  for _ in 1 2 3; do
    # memdx exits 1 when it has findings: time then writes "Command exited ..." first; keep the last line.
    # Output goes to a file, not /dev/null: GNU grep stops at the first match when its output is
    # /dev/null, and its time would be that of reading one block.
    /usr/bin/time -f "%e %U %S %M" -o "$out.one" "$@" > "$TMP/stdout" || true
    tail -1 "$out.one" > "$out.last"
    read -r e u s m < "$out.last"
    awk -v e="$e" -v u="$u" -v s="$s" -v m="$m" 'BEGIN { print e, u + s, m }' >> "$out.all"
  done
  sort -n "$out.all" | head -1 > "$out"
}
run() { # $1 = label, $2 = file
  bytes=$(stat -c %s "$2")
  best "$TMP/t.grep" grep -c "kernel" "$2"
  best "$TMP/t.memdx" "$BIN" diagnose "$2"
  read -r ge gc gk < "$TMP/t.grep"; read -r me mc mk < "$TMP/t.memdx"
  awk -v l="$1" -v b="$bytes" -v ge="$ge" -v gc="$gc" -v me="$me" -v mc="$mc" -v mk="$mk" 'BEGIN {
    mib = b / 1048576
    printf "%-8s %6.0f MiB  memdx %7.1f MiB/s wall %7.1f MiB/s cpu, max RSS %6.1f MiB | grep -c %7.1f MiB/s wall | memdx/grep time %.1fx wall %.1fx cpu\n",
      l, mib, mib / (me > 0 ? me : 0.01), mib / (mc > 0 ? mc : 0.01), mk / 1024, mib / (ge > 0 ? ge : 0.01), me / (ge > 0 ? ge : 0.01), mc / (gc > 0 ? gc : 0.01)
  }'
}
run quarter "$TMP/quarter.txt"
run full "$TMP/doc.txt"
rm -f "$TMP/doc.txt" "$TMP/quarter.txt"
