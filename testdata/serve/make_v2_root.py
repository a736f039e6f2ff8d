#!/usr/bin/env python3
"""Writes v2-root/: a cgroup v2 machine, built by hand in the kernel's file formats
(Documentation/admin-guide/cgroup-v2.rst: memory.current, memory.max, memory.swap.current,
memory.events, memory.pressure, cgroup.stat), because the capture machine mounts the memory controller
on cgroup v1 (v1-root/ is the real capture). /proc is v1-root's, with the memory controller on the
unified hierarchy (hierarchy 0 in /proc/cgroups). Run from this directory."""
import os, shutil

R = "v2-root"
shutil.rmtree(R, ignore_errors=True)
shutil.copytree("v1-root/proc", f"{R}/proc")
cg = open(f"{R}/proc/cgroups").read().splitlines()
with open(f"{R}/proc/cgroups", "w") as f:
    for line in cg:
        p = line.split("\t")
        if p[0] == "memory":
            p[1], p[2] = "0", "44"  # 7 live (root included) + 37 dying
        f.write("\t".join(p) + "\n")

def psi(some10, some_total, full10, full_total):
    return (f"some avg10={some10:.2f} avg60=0.00 avg300=0.00 total={some_total}\n"
            f"full avg10={full10:.2f} avg60=0.00 avg300=0.00 total={full_total}\n")

def events(mx=0, oom=0, kill=0, high=0):
    return f"low 0\nhigh {high}\nmax {mx}\noom {oom}\noom_kill {kill}\noom_group_kill 0\n"

# path: (current, max, swap, events, pressure, (nr_descendants, nr_dying_descendants))
tree = {
    "system.slice": (1288490188, "max", 0, events(), psi(0, 1200, 0, 800), (2, 3)),
    "system.slice/cron.service": (5242880, "max", 0, events(), psi(0, 0, 0, 0), (0, 0)),
    "system.slice/nginx.service": (268435456, "536870912", 4096, events(high=7), psi(0.5, 90000, 0.1, 40000), (0, 3)),
    "kubepods.slice": (6442450944, "8589934592", 0, events(mx=1532, oom=3, kill=3), psi(4.2, 9800000, 2.0, 5100000), (2, 34)),
    "kubepods.slice/pod-a": (536776704, "536870912", 1048576, events(mx=1532, oom=3, kill=3), psi(12.5, 9700000, 6.25, 5050000), (0, 0)),
    "kubepods.slice/pod-b": (2147483648, "max", 0, events(), psi(0, 100, 0, 50), (0, 34)),
    "user.slice": (104857600, "max", 0, events(), psi(0, 0, 0, 0), (0, 0)),
}
base = f"{R}/sys/fs/cgroup"
os.makedirs(base)
open(f"{base}/cgroup.controllers", "w").write("cpuset cpu io memory hugetlb pids rdma misc\n")
open(f"{base}/cgroup.subtree_control", "w").write("cpu io memory pids\n")
open(f"{base}/cgroup.stat", "w").write("nr_descendants 6\nnr_dying_descendants 37\n")
open(f"{base}/memory.pressure", "w").write(psi(3.1, 9900000, 1.4, 5200000))
for path, (cur, mx, swap, ev, pr, (nd, ndd)) in tree.items():
    d = f"{base}/{path}"
    os.makedirs(d)
    files = {
        "memory.current": f"{cur}\n",
        "memory.max": f"{mx}\n",
        "memory.swap.current": f"{swap}\n",
        "memory.swap.max": "max\n",
        "memory.events": ev,
        "memory.pressure": pr,
        "cgroup.stat": f"nr_descendants {nd}\nnr_dying_descendants {ndd}\n",
    }
    for name, text in files.items():
        open(f"{d}/{name}", "w").write(text)
