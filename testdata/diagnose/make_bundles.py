#!/usr/bin/env python3
"""Builds the archive-shaped test inputs from the real 6.18 captures in live618_snapshot/inputs:

- sosreport_618/inputs/sosreport-vm-2026.tar.xz: the layout of a sosreport (proc/ copies,
  sos_commands/kernel/sysctl_-a and uname_-a, var/log/messages with the real memcg OOM report in
  syslog framing, and files memdx does not read);
- supportconfig_618/inputs/memory.txt: SUSE supportconfig's `#==[ Command ]==#` sections.

Deterministic (fixed mtimes, sorted entries). Run from this directory; the outputs are committed.
"""
import io, lzma, os, tarfile

SRC = "live618_snapshot/inputs"
LOG = "../log/live618_memcg_oom.dmesg"
MTIME = 1795301155

def read(name):
    with open(os.path.join(SRC, name)) as f:
        return f.read()

def sysctl_a():
    lines = ["abi.vsyscall32 = 1", "fs.file-max = 9223372036854775807", "kernel.osrelease = 6.18.44-fc-v509",
             "kernel.panic = 1", "net.core.somaxconn = 4096"]
    for l in read("proc_sys_vm.txt").splitlines():
        k, _, v = l.partition("=")
        if not v.startswith("<unreadable"):
            lines.append(f"vm.{k} = {v.replace(' ', chr(9))}")
    return "\n".join(lines) + "\n"

def messages():
    out = ["Nov 21 22:40:01 vm systemd[1]: Started Session 3 of User root.",
           "Nov 21 22:40:02 vm CRON[812]: (root) CMD (run-parts /etc/cron.hourly)"]
    with open(LOG) as f:
        for l in f:
            out.append("Nov 21 22:48:03 vm kernel: " + l.rstrip("\n"))
    out.append("Nov 21 22:48:04 vm systemd[1]: memdx-test.scope: A process of this unit has been killed by the OOM killer.")
    return "\n".join(out) + "\n"

def sosreport():
    files = {
        "proc/meminfo": read("proc_meminfo.txt"),
        "proc/slabinfo": read("proc_slabinfo.txt"),
        "proc/buddyinfo": read("proc_buddyinfo.txt"),
        "proc/zoneinfo": read("proc_zoneinfo.txt"),
        "proc/vmstat": read("proc_vmstat.txt"),
        "proc/pagetypeinfo": read("proc_pagetypeinfo.txt"),
        "proc/cgroups": read("proc_cgroups.txt"),
        "proc/cmdline": read("proc_cmdline.txt"),
        "sos_commands/kernel/sysctl_-a": sysctl_a(),
        "sos_commands/kernel/uname_-a": read("uname.txt"),
        "sos_commands/memory/free": "               total        used        free      shared  buff/cache   available\nMem:        24684100      253216    24430884        8724      163028    24395296\nSwap:              0           0           0\n",
        "var/log/messages": messages(),
        "etc/hostname": "vm\n",
        "installed-rpms": "kernel-6.18.44-1.x86_64                                     Fri Nov 20 10:00:00 2026\n",
        "version.txt": "sosreport: 4.5.6\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            data = files[name].encode()
            info = tarfile.TarInfo("sosreport-vm-2026-11-21/" + name)
            info.size, info.mtime, info.mode = len(data), MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    with open("sosreport_618/inputs/sosreport-vm-2026.tar.xz", "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=9))

def supportconfig():
    parts = []
    for cmd, name in [("/bin/cat /proc/meminfo", "proc_meminfo.txt"), ("/bin/cat /proc/buddyinfo", "proc_buddyinfo.txt"),
                      ("/bin/cat /proc/zoneinfo", "proc_zoneinfo.txt"), ("/bin/cat /proc/slabinfo", "proc_slabinfo.txt")]:
        parts.append("#==[ Command ]======================================#\n# " + cmd + "\n" + read(name) + "\n")
    parts.append("#==[ Command ]======================================#\n# /usr/bin/free -k\n total used free\n")
    os.makedirs("supportconfig_618/inputs", exist_ok=True)
    with open("supportconfig_618/inputs/memory.txt", "w") as f:
        f.write("".join(parts))

sosreport()
supportconfig()
