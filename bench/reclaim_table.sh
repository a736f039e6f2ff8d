#!/usr/bin/env bash
# Benchmark: the per-CPU per-second reclaim table of `memdx trace reclaim --table-only` against the
# C program of seed 001 (testdata/trace/seed001/reclaim_table.c, built with cc -O2), both on the
# same >= 1 GB trace built from the real 6.18 lines in testdata/trace/reclaim-6.18 (each copy of
# the four runs shifted by 60 s so CPUs change seconds as in a long capture). Prints both times,
# peak RSS, the ratio, and checks that both print the same rows. Run by hand, never in CI.
#   bench/reclaim_table.sh [SIZE_MB]   (default 1100)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1100}
work=${TMPDIR:-/tmp}/memdx-bench-reclaim
mkdir -p "$work"
cargo build --release >/dev/null
cc -O2 -w -o "$work/reclaim_table" testdata/trace/seed001/reclaim_table.c
if [ ! -s "$work/trace.log" ] || [ "$(stat -c %s "$work/trace.log")" -lt $((size_mb * 1000000)) ]; then
  python3 - "$work/trace.log" "$size_mb" <<'PY'
import gzip, re, sys
out, size = sys.argv[1], int(sys.argv[2]) * 1000000
runs = ["default_swappiness60", "swappiness0", "swappiness100", "anon_oom_swappiness100"]
lines = []
for r in runs:
    with gzip.open(f"testdata/trace/reclaim-6.18/{r}/trace.txt.gz", "rt") as f:
        lines += [l for l in f if not l.startswith("#")]
ts = re.compile(r"(\s)(\d+)\.(\d{6}): ")
written, rep = 0, 0
with open(out, "w") as f:
    while written < size:
        off = rep * 60
        chunk = "".join(ts.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + off}.{m.group(3)}: ", l, count=1) for l in lines)
        f.write(chunk)
        written += len(chunk)
        rep += 1
PY
fi
bytes=$(stat -c %s "$work/trace.log")
echo "trace: $work/trace.log, $((bytes / 1000000)) MB"
run() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" > "$work/$name.out"
  read -r secs rss < "$work/$name.time"
  echo "$name: ${secs} s, peak RSS ${rss} KiB"
}
(cd "$work" && run c_O2 ./reclaim_table)
run memdx ./target/release/memdx trace reclaim --table-only "$work/trace.log"
c=$(cut -d' ' -f1 "$work/c_O2.time"); m=$(cut -d' ' -f1 "$work/memdx.time")
python3 -c "print(f'ratio C/memdx: {float($c)/max(float($m),0.001):.1f}x')"
# same rows: drop the C time[] column, and memdx's final per-CPU rows (the C program never prints them)
sed -E 's/ time\[[^]]*\]//' "$work/c_O2.out" > "$work/c.rows"
grep -v '(last)$' "$work/memdx.out" > "$work/memdx.rows" || true
if cmp -s "$work/c.rows" "$work/memdx.rows"; then echo "rows identical ($(wc -l < "$work/c.rows"))"; else echo "ROWS DIFFER"; diff "$work/c.rows" "$work/memdx.rows" | head; exit 1; fi
