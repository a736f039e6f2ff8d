#!/usr/bin/env bash
# Benchmarks of `memdx diagnose` (run by hand, not in CI):
#  1. live diagnose of this machine, against procps `slabtop -o` (which reads /proc/slabinfo once) as peer;
#  2. a directory of 1000 mixed files (real fixtures under fixed names), against `grep -rc ''` over the
#     same files as peer, in the same run.
# Goals: live under 200 ms (issue 2); 1000 files under 150 ms wall (issue 16).
# The host is shared: the load average is printed with the figures, and with hyperfine the best and
# the median of the runs are given. Output goes to a pipe, not /dev/null: GNU grep stops at the
# first match when its output is /dev/null.
# Usage: bench/diagnose.sh [RUNS]     (DIR=path keeps the 1000-file directory there)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release -q
bin=target/release/memdx

ms() { # mean wall milliseconds of "$@" over $runs runs (without hyperfine)
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" 2>&1 | cat >/dev/null || true; done
  end=$(date +%s%N)
  echo $(((end - start) / runs / 1000000))
}

echo "== live diagnose ($runs runs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
m=$(ms "$bin" diagnose)
if command -v slabtop >/dev/null; then p=$(ms slabtop -o); else p=$(ms cat /proc/slabinfo /proc/meminfo /proc/zoneinfo); fi
echo "memdx diagnose (live): ${m} ms   peer (slabtop -o or cat): ${p} ms   goal < 200 ms"

dir=${DIR:-$(mktemp -d)}
[ -n "${DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"
mapfile -t srcs < <(find testdata/diagnose/*/inputs testdata/log -type f -size -200k | sort)
for ((i = 0; i < 1000; i++)); do
  cp "${srcs[$((i % ${#srcs[@]}))]}" "$dir/file-$(((i * 7919) % 32768))-$i"
done
echo "== directory of 1000 mixed files ($(du -sh "$dir" | cut -f1)), $runs runs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v hyperfine >/dev/null; then
  json=$(mktemp)
  hyperfine -N -i --output=pipe -w 3 -r "$runs" --export-json "$json" \
    "$bin diagnose $dir" "grep -rc '' $dir" >/dev/null 2>&1
  python3 - "$json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
m, p = r[0], r[1]
f = lambda x: f"best {1000*min(x['times']):.0f} ms, median {1000*statistics.median(x['times']):.0f} ms, user+sys {1000*(x['user']+x['system']):.0f} ms"
print(f"memdx diagnose DIR: {f(m)}")
print(f"peer grep -rc:      {f(p)}")
print(f"ratio (medians) {statistics.median(m['times'])/statistics.median(p['times']):.1f}x   goal <= 150 ms")
PY
  rm -f "$json"
else
  m=$(ms "$bin" diagnose "$dir")
  p=$(ms grep -rc '' "$dir")
  echo "memdx diagnose DIR: ${m} ms   peer grep -rc: ${p} ms   ratio $(awk "BEGIN{printf \"%.1f\", $m/($p>0?$p:1)}")x   goal <= 150 ms"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "peak RSS %M KiB" "$bin" diagnose "$dir" >/dev/null || true
