#!/usr/bin/env bash
# Benchmark and cross-check of memdx-symbolize against binutils addr2line (run by hand, never in CI).
#
# Samples N frames (default 1000) from a real kernel's symbol table at random offsets, resolves them
# with memdx (one index load, in-process) and checks that function, file:line and the inline chain
# equal binutils `addr2line -i -f` for every frame. Then times, in the same run:
#   - memdx: one process, index load + all frames;
#   - batched binutils: one `addr2line -a -i -f` call with all addresses;
#   - faddr2line style: one `addr2line -i -f` call per frame (what scripts/faddr2line does per frame,
#     minus its extra readelf/nm calls, so a lower bound of its cost). Run on PER_FRAME frames
#     (default 100) and extrapolated to N; PER_FRAME=all runs every frame.
# and prints time and peak RSS ratios.
#
# Needs: the vmlinux of Debian's linux-image-amd64-dbg (apt-get install linux-image-amd64-dbg) or
# VMLINUX=path, binutils, GNU time. Usage: bench/symbolize.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-1000}
SEED=${2:-42}
PER_FRAME=${PER_FRAME:-100}
VMLINUX=${VMLINUX:-$(ls /usr/lib/debug/boot/vmlinux-* 2>/dev/null | sort -V | tail -1)}
[[ -f "$VMLINUX" ]] || { echo "no vmlinux: apt-get install linux-image-amd64-dbg or set VMLINUX" >&2; exit 2; }
command -v addr2line >/dev/null || { echo "addr2line missing: apt-get install binutils" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 2; }

cargo build --release -q -p memdx-symbolize --example symbolize_bench
BIN=target/release/examples/symbolize_bench
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

echo "vmlinux: $VMLINUX ($(du -h "$VMLINUX" | cut -f1)), $N frames, seed $SEED"
"$BIN" sample "$VMLINUX" "$N" "$SEED" > "$W/frames"
N=$(wc -l < "$W/frames")
cut -d' ' -f2 "$W/frames" > "$W/addrs"

# Wall seconds and peak RSS (KiB) of a command, written to $W/time as "<seconds> <kib>".
measure() { /usr/bin/time -f "%e %M" -o "$W/time" "$@"; }

# Drop page-cache effects from the first measured tool: warm the file once.
cat "$VMLINUX" > /dev/null

measure "$BIN" resolve "$VMLINUX" "$W/frames" > "$W/memdx.out" 2> "$W/memdx.err"
read -r t_memdx m_memdx < "$W/time"
measure addr2line -a -i -f -e "$VMLINUX" $(cat "$W/addrs") > "$W/batch.out"
read -r t_batch m_batch < "$W/time"
grep -o 'index load.*' "$W/memdx.err" | sed 's/^/memdx: /'

# Correctness: same blocks as batched binutils (discriminators dropped, addresses normalised).
norm() { sed -e 's/ (discriminator [0-9]*)//' -e 's/^0x0*/0x/' -e 's,//*,/,g' "$1"; }
norm "$W/memdx.out" > "$W/a"; norm "$W/batch.out" > "$W/b"
python3 - "$W/a" "$W/b" <<'PY'
import sys
def blocks(p):
    out, cur = [], None
    for l in open(p).read().splitlines():
        if l.startswith("0x") or l.startswith("unresolved"):
            cur = [l]; out.append(cur)
        else:
            cur.append(l)
    return out
a, b = blocks(sys.argv[1]), blocks(sys.argv[2])
same = sum(1 for x, y in zip(a, b) if x == y)
inl = sum(1 for x in b if len(x) > 3)
print(f"agreement with addr2line -i: {same}/{len(b)} frames identical (function, file:line, inline chain); {inl} frames have inline chains")
shown = 0
for x, y in zip(a, b):
    if x != y and shown < int(__import__("os").environ.get("SHOW_DIFFS", "5")):
        shown += 1
        print("  differs:", x[0], "\n    memdx:   ", " | ".join(x[1:]), "\n    binutils:", " | ".join(y[1:]))
PY

# faddr2line style: one addr2line process per frame.
if [[ "$PER_FRAME" == all ]]; then PER_FRAME=$N; fi
head -n "$PER_FRAME" "$W/addrs" > "$W/addrs_pf"
PF=$(wc -l < "$W/addrs_pf")
cat > "$W/perframe.sh" <<SH
while read -r a; do addr2line -i -f -e "$VMLINUX" "\$a"; done < "$W/addrs_pf"
SH
measure bash "$W/perframe.sh" > /dev/null
read -r t_pf m_pf < "$W/time"
t_pf_all=$(python3 -c "print(f'{$t_pf * $N / $PF:.1f}')")

python3 - <<PY
n, pf = $N, $PF
tm, mm = $t_memdx, $m_memdx
tb, mb = $t_batch, $m_batch
tp, mp, tpa = $t_pf, $m_pf, $t_pf_all
print(f"{'tool':42} {'wall s':>9} {'peak RSS MiB':>13}")
print(f"{'memdx (load + %d frames, one process)' % n:42} {tm:9.2f} {mm/1024:13.1f}")
print(f"{'addr2line, one batched call':42} {tb:9.2f} {mb/1024:13.1f}")
print(f"{'addr2line per frame (%d measured)' % pf:42} {tp:9.2f} {mp/1024:13.1f}")
print(f"{'addr2line per frame, %d frames' % n + (' (extrapolated)' if pf < n else ''):42} {tpa:9.1f}")
print(f"ratio per-frame/memdx: {tpa/max(tm,0.01):.0f}x faster; batched/memdx: {tb/max(tm,0.01):.2f}x; "
      f"peak RSS memdx/batched: {mm/max(mb,1):.2f}")
PY
