#!/bin/sh
# Rebuild testdata/log/qemu61_global_oom.{serial,dmesg}: boot Debian's 6.1 kernel in qemu (TCG) with
# a busybox initramfs whose /init fragments memory (a `page allocation failure`), then drives the VM
# into a global OOM, then dumps dmesg to the serial console. Needs: qemu-system-x86, busybox-static,
# gcc with a static libc, cpio, and the vmlinuz of linux-image-6.1.0-*-amd64 (extracted with
# `dpkg-deb -x`, not installed: this script never touches the host's boot setup).
#   sh testdata/log/qemu/make.sh /path/to/vmlinuz [smp] [printk_time]
# INIT=init-container NAME=qemu61_global_oom_container: the global OOM of a task in a cgroup whose
# limit is above the VM's RAM, and the cgroup's files pasted (NAME.cgroup.txt; no serial file).
# INIT=init-reclaim NAME=qemu61_memcg_reclaim APPEND=cgroup.memory=nokmem MODULES=/path/to/brd.ko:
# the memcg reclaim storm; every `memdx: file X` block of the serial log is written to
# NAME.X (no serial or dmesg file). MODULES are copied to /lib/modules, APPEND is added to the command line.
set -eu
INIT=${INIT:-init}
NAME=${NAME:-qemu61_global_oom}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "$HERE/.." && pwd)
KERNEL=${1:?usage: make.sh /path/to/vmlinuz [smp] [printk_time]}
SMP=${2:-2}
PTIME=${3:-1}
WORK=${TMPDIR:-/tmp}/memdx-qemu-oom
rm -rf "$WORK"
mkdir -p "$WORK/root/bin" "$WORK/root/proc" "$WORK/root/sys" "$WORK/root/dev"
cp /bin/busybox "$WORK/root/bin/busybox"
gcc -static -O1 -o "$WORK/root/bin/memhog" "$HERE/memhog.c"
cp "$HERE/$INIT" "$WORK/root/init"
mkdir -p "$WORK/root/lib/modules"
for m in ${MODULES:-}; do cp "$m" "$WORK/root/lib/modules/"; done
chmod 755 "$WORK/root/init"
(cd "$WORK/root" && find . | cpio -o -H newc --quiet | gzip -9) > "$WORK/init.cpio.gz"
timeout 900 qemu-system-x86_64 -accel tcg -m 256M -smp "$SMP" -kernel "$KERNEL" \
  -initrd "$WORK/init.cpio.gz" -append "console=ttyS0 panic=-1 loglevel=7 printk.time=$PTIME ${APPEND:-}" \
  -nographic -no-reboot -serial "file:$WORK/serial.raw" -monitor none </dev/null || true
echo "raw serial capture: $WORK/serial.raw ($(wc -l < "$WORK/serial.raw") lines)"
# Trim (see ../README.md). The serial log keeps the firmware junk, escape sequences and CRLF line
# ends, the `Linux version` and `Command line` lines, then everything from `Run /init` on, except
# the body of the dmesg dump (kept with its markers). The dmesg file is that dump body with the CR
# the tty added removed, keeping its first two lines and everything from `Run /init` on.
if [ "$INIT" = init-reclaim ]; then
  for f in $(tr -d '\r' < "$WORK/serial.raw" | sed -n 's/^memdx: file \(.*\) begin$/\1/p'); do
    tr -d '\r' < "$WORK/serial.raw" |
      awk -v f="$f" '$0 == "memdx: file " f " end" { c = 0 } c { print } $0 == "memdx: file " f " begin" { c = 1 }' \
      > "$OUT/$NAME.$f"
  done
  wc -l "$OUT/$NAME".*
  exit 0
fi
[ "$INIT" = init ] && awk '
  /memdx: dmesg begin/ { print; dump = 1; next }
  /memdx: dmesg end/ { dump = 0 }
  dump { next }
  /Command line:/ && !cmd { print; cmd = 1; skip = 1; next }
  skip && /Run \/init as init process/ { skip = 0 }
  skip { next }
  { print }' "$WORK/serial.raw" > "$OUT/$NAME.serial"
awk '/memdx: cgroup end/ { c = 0 } c { print } /memdx: cgroup begin/ { c = 1 }' "$WORK/serial.raw" |
  tr -d '\r' > "$WORK/cgroup.txt"
[ -s "$WORK/cgroup.txt" ] && cp "$WORK/cgroup.txt" "$OUT/$NAME.cgroup.txt"
awk '/memdx: dmesg end/ { dump = 0 } dump { print } /memdx: dmesg begin/ { dump = 1 }' "$WORK/serial.raw" |
  tr -d '\r' | awk 'NR <= 2 { print; next } /Run \/init as init process/ { k = 1 } k { print }' \
  > "$OUT/$NAME.dmesg"
wc -l "$OUT/$NAME".*
