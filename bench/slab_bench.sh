#!/bin/sh
# Slab TRACE pairing throughput on a >= 1 GB kern.log shaped like seed 000 (not committed: generated).
# Peer: `grep -c 'kernfs_node_cache alloc'` on the same file (the seed's manual method), same run.
# usage: bench/slab_bench.sh [WORKDIR] [MINUTES]   (MINUTES of TRACE records; 36 gives ~1.1 GB)
set -eu
dir=${1:-/tmp/memdx-slab-bench}
minutes=${2:-36}
cd "$(dirname "$0")/.."
cargo build --release -p memdx-slab --example seed000_bundle --example slab_scan
[ -f "$dir/kern.log" ] || ./target/release/examples/seed000_bundle "$dir" "$minutes" 0.01
ls -l "$dir/kern.log"
cat "$dir/kern.log" > /dev/null   # warm the page cache for both
t0=$(date +%s.%N); n=$(grep -c 'kernfs_node_cache alloc' "$dir/kern.log"); t1=$(date +%s.%N)
size=$(stat -c %s "$dir/kern.log")
peer=$(echo "$size / 1000000 / ($t1 - $t0)" | bc -l)
printf 'peer grep -c: %s matches, %.0f MB/s\n' "$n" "$peer"
out=$(./target/release/examples/slab_scan "$dir/kern.log")
echo "$out"
ours=$(echo "$out" | head -1 | sed -n 's/.* = \([0-9]*\) MB\/s.*/\1/p')
printf 'ratio memdx/grep: %.2f\n' "$(echo "$ours / $peer" | bc -l)"
