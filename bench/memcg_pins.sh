#!/usr/bin/env bash
# Benchmark: the page pass of `memdx memcg pins` (one sequential read of /proc/kpagecgroup and
# /proc/kpageflags, tallied by memcg and page kind, plus the cgroup walk) against the bare cost of
# reading both files with dd in the same 512 KiB chunks, which is the floor any tool pays. Prints
# both wall times, memdx's peak RSS and the ratio. Needs root. Run by hand, never in CI.
#   bench/memcg_pins.sh [MEMDX]   (default: target/release/memdx, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release >/dev/null
  bin=target/release/memdx
fi
[ -r /proc/kpagecgroup ] || { echo "needs root and /proc/kpagecgroup (CONFIG_MEMCG)" >&2; exit 2; }
"$bin" memcg pins --rate 0 --json | grep -q '"pages_scanned"' || { echo "$bin memcg pins gave no report" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
measure() { # FORMAT CMD...: /usr/bin/time's figure (memdx exits 1 when it finds pinned memcgs)
  local f=$1; shift
  /usr/bin/time -o "$out" -f "$f" "$@" >/dev/null 2>&1 || true
  tail -1 "$out"
}
best() { # best of 3 wall seconds of CMD...
  local b=999999 t
  for _ in 1 2 3; do
    t=$(measure %e "$@")
    b=$(awk -v a="$b" -v c="$t" 'BEGIN { print (c < a) ? c : a }')
  done
  echo "$b"
}
floor=$(best sh -c 'dd if=/proc/kpagecgroup of=/dev/null bs=512K status=none; dd if=/proc/kpageflags of=/dev/null bs=512K status=none')
pins=$(best "$bin" memcg pins --rate 0 --json)
rss=$(measure %M "$bin" memcg pins --rate 0 --json)
frames=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 4 ))
echo "dd of both files:      ${floor} s"
echo "memdx memcg pins:      ${pins} s, peak RSS ${rss} KiB (about ${frames} page frames)"
awk -v a="$pins" -v b="$floor" 'BEGIN { if (b > 0) printf "ratio memdx / dd:     %.2f\n", a / b }'
