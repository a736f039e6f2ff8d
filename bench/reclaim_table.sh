#!/usr/bin/env bash
# Benchmark: `memdx trace reclaim --table-only` (the per-CPU per-second table) and the full
# `memdx trace reclaim --table` analysis (episodes, latency, LRU, shrinkers, findings, and the same
# table) against the C program of seed 001 (testdata/trace/seed001/reclaim_table.c, built with
# cc -O2), all on the same >= 1 GB trace built from the real 6.18 lines in
# testdata/trace/reclaim-6.18 (each copy of the four runs shifted by 60 s so CPUs change seconds as
# in a long capture). With VMSCAN_PL=path/to/trace-vmscan-postprocess.pl (the kernel's
# Documentation/trace/postprocess script) and perl, that peer runs too. Prints each time (median of
# RUNS runs), peak RSS, the ratios C/memdx, and checks that every memdx table row equals the C
# program's. Run by hand, never in CI.
#   bench/reclaim_table.sh [SIZE_MB] [RUNS]   (default 1100 MB, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1100}
runs=${2:-3}
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
run() { # name, command...: median wall time of $runs runs, peak RSS of the last
  local name=$1; shift
  : > "$work/$name.all"
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f "%e %M" -o "$work/$name.one" "$@" > "$work/$name.out" || true
    tail -n1 "$work/$name.one" >> "$work/$name.all"
  done
  sort -n "$work/$name.all" | sed -n "$(((runs + 1) / 2))p" > "$work/$name.time"
  read -r secs rss < "$work/$name.time"
  echo "$name: ${secs} s (median of $runs), peak RSS ${rss} KiB"
}
secs() { cut -d' ' -f1 "$work/$1.time"; }
ratio() { python3 -c "print(f'ratio C/$2: {float($(secs c_O2))/max(float($(secs "$1")),0.001):.2f}x')"; }
(cd "$work" && run c_O2 ./reclaim_table)
run memdx_table_only ./target/release/memdx trace reclaim --table-only "$work/trace.log"
run memdx_full ./target/release/memdx trace reclaim --table "$work/trace.log"
ratio memdx_table_only "memdx --table-only"
ratio memdx_full "memdx full analysis"
if [ -n "${VMSCAN_PL:-}" ] && command -v perl >/dev/null; then
  run perl_postprocess sh -c "perl \"\$0\" < \"\$1\"" "$VMSCAN_PL" "$work/trace.log"
  python3 -c "print(f'ratio perl/memdx full analysis: {float($(secs perl_postprocess))/max(float($(secs memdx_full)),0.001):.2f}x')"
else
  echo "perl post-processor: skipped (set VMSCAN_PL to the kernel's trace-vmscan-postprocess.pl; needs perl)"
fi
# same rows: drop the C time[] column, and memdx's final per-CPU rows (the C program never prints them)
sed -E 's/ time\[[^]]*\]//' "$work/c_O2.out" > "$work/c.rows"
status=0
for m in memdx_table_only memdx_full; do
  grep '^cpu\[' "$work/$m.out" | grep -v '(last)$' > "$work/$m.rows" || true
  if cmp -s "$work/c.rows" "$work/$m.rows"; then
    echo "$m: rows identical to the C program's ($(wc -l < "$work/c.rows"))"
  else
    echo "$m: ROWS DIFFER"; diff "$work/c.rows" "$work/$m.rows" | head; status=1
  fi
done
exit $status
