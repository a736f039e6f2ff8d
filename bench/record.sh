#!/usr/bin/env bash
# CPU and database growth of `memdx record` on this machine, by hand (not CI).
# Usage: bench/record.sh [SAMPLES] [BINARY]   (default 60 samples at 1 s; build with cargo build --release)
# CPU per sample is measured over SAMPLES samples taken 1 s apart and scaled to the 10 s interval.
# Peer, same run: a shell reading the same /proc files with cat at the same interval.
set -euo pipefail
N=${1:-60}
BIN=${2:-target/release/memdx}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14+$15+$16+$17)/t}' "/proc/$1/stat"; }
"$BIN" record --interval 1s --count "$N" --db "$T/h.db" & pid=$!
last=0; while kill -0 $pid 2>/dev/null; do last=$(cpu $pid 2>/dev/null || echo "$last"); sleep 0.2; done
wait $pid
mem_cpu=$last
bash -c "for i in \$(seq $N); do cat /proc/meminfo /proc/vmstat /proc/slabinfo /proc/buddyinfo /proc/zoneinfo /proc/pagetypeinfo /proc/pressure/memory /proc/cgroups /proc/[0-9]*/status >/dev/null 2>&1; sleep 1; done" & ppid=$!
plast=0; while kill -0 $ppid 2>/dev/null; do plast=$(awk -v t="$ticks" '{print ($14+$15+$16+$17)/t}' /proc/$ppid/stat 2>/dev/null || echo "$plast"); sleep 0.2; done
wait $ppid || true
size=$(stat -c %s "$T/h.db"); wal=$(stat -c %s "$T/h.db-wal" 2>/dev/null || echo 0)
awk -v n="$N" -v c="$mem_cpu" -v p="$plast" -v s="$size" -v w="$wal" 'BEGIN{
  per=c/n; printf "memdx record: %.1f ms CPU per sample = %.3f%% of a core at 10 s\n", per*1000, per/10*100;
  printf "peer (cat of the same files): %.1f ms per sample; ratio memdx/peer %.2f\n", p/n*1000, (p>0? c/p : 0);
  b=(s+w)/n; printf "database: %.1f KiB per sample => %.0f MiB/day raw at 10 s (8640 samples); steady state with default thinning (6 h raw, 2 d at 1/min, 14 d at 1/10 min: 7056 samples) %.0f MiB\n", b/1024, b*8640/1048576, b*7056/1048576 }'
