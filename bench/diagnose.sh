#!/usr/bin/env bash
# Benchmarks of `memdx diagnose` (run by hand, not in CI):
#  1. live diagnose of this machine, against procps `slabtop -o` (which reads /proc/slabinfo once) as peer;
#  2. a directory of 1000 mixed files (real fixtures under random names), against `grep -c ''` over the
#     same files as peer.
# Goals (issue 2): live under 200 ms; 1000 files under 1 s.
# Usage: bench/diagnose.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release -q
bin=target/release/memdx

ms() { # mean wall milliseconds of "$@" over $runs runs
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  echo $(((end - start) / runs / 1000000))
}

echo "== live diagnose ($runs runs)"
m=$(ms "$bin" diagnose)
if command -v slabtop >/dev/null; then p=$(ms slabtop -o); else p=$(ms cat /proc/slabinfo /proc/meminfo /proc/zoneinfo); fi
echo "memdx diagnose (live): ${m} ms   peer (slabtop -o or cat): ${p} ms   goal < 200 ms"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mapfile -t srcs < <(find testdata/diagnose/*/inputs testdata/log -type f -size -200k | sort)
for ((i = 0; i < 1000; i++)); do
  cp "${srcs[$((i % ${#srcs[@]}))]}" "$dir/file-$RANDOM-$i"
done
echo "== directory of 1000 mixed files ($(du -sh "$dir" | cut -f1)), $runs runs"
m=$(ms "$bin" diagnose "$dir")
p=$(ms grep -rc '' "$dir")
echo "memdx diagnose DIR: ${m} ms   peer grep -rc: ${p} ms   ratio $(awk "BEGIN{printf \"%.1f\", $m/($p>0?$p:1)}")x   goal < 1000 ms"
/usr/bin/time -f "peak RSS %M KiB" "$bin" diagnose "$dir" >/dev/null || true
