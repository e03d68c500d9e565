"""Freed memory kept in the heap or returned to the kernel, for a script rendering many fast
images: ``python -m bench.heap [--processes 6] [--shots 24]`` -> reports/heap.md.

Each process (a new interpreter, alternately with and without
`nanobrag_torch.keep_freed_memory()` called first) renders the same W4 orientations
(bench/cases.py: 1024^2, an HKL file, one step per pixel; the kind of render a training-data
script makes by the thousand) through `simulate_many` on the compiled package (built once
before timing) and reports the median time per shot after two warm-up shots, its system
CPU time and its minor page faults.  glibc returns a freed block above its dynamic mmap
threshold to the kernel, or trims the heap top, and each render's large temporaries are then
faulted in again page by page.  Whether the heap top is trimmed depends on the process's heap
layout: probes of the same render found some plain processes as fast as kept ones and most
2.5-3x slower, the difference all system time.  The command-line tools keep freed memory themselves
(`errors.run_command`); a script opts in (a library must not change its host's allocator).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench import cases
from bench.provenance import ROOT, stamp_line

SCRIPT = """
import json, resource, statistics, sys, time
if sys.argv[1] == "keep":
    from nanobrag_torch import keep_freed_memory
    keep_freed_memory()
from nanobrag_torch.many import random_shot, simulate_many
n = int(sys.argv[2])
times, t = [], time.perf_counter()
r0 = resource.getrusage(resource.RUSAGE_SELF)
for _ in simulate_many(sys.argv[3:], [random_shot(3, k) for k in range(n)]):
    now = time.perf_counter()
    times.append(now - t)
    t = now
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"shot_s": statistics.median(times[2:]), "sys_s": r1.ru_stime - r0.ru_stime,
                  "faults": r1.ru_minflt - r0.ru_minflt}))
"""


def _process(mode: str, shots: int, args: list, **env_extra: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", **env_extra)
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(shots), *args], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.heap", description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=6, help="processes per mode")
    ap.add_argument("--shots", type=int, default=24, help="shots per process")
    ap.add_argument("--out", default=str(ROOT / "reports" / "heap.md"))
    a = ap.parse_args(argv)
    args = cases.args("W4")
    _process("plain", 3, args, NANOBRAG_COMPILE="1")          # the package, built once
    t0 = time.perf_counter()
    rows = {"plain": [], "keep": []}
    for _ in range(a.processes):
        for mode in rows:
            rows[mode].append(_process(mode, a.shots, args))
    lines = ["# Freed memory kept or returned: many fast renders in a script", "",
             f"Written by `python -m bench.heap --processes {a.processes} --shots {a.shots}` in "
             f"{time.perf_counter() - t0:.0f} s (do not edit by hand); see the module doc.", "",
             f"Provenance: {stamp_line()}.", "",
             f"W4 (1024^2, HKL file, one step per pixel) through `simulate_many`, {a.shots} shots per "
             "process, 2 threads, the compiled package; `keep` = `nanobrag_torch.keep_freed_memory()` "
             "called first, `plain` = glibc's defaults.  One row per process, in the order run "
             "(the two modes alternate).", "",
             "| process | mode | median s/shot | system CPU s | minor page faults |",
             "|---|---|---|---|---|"]
    for i in range(a.processes):
        for mode in rows:
            r = rows[mode][i]
            lines.append(f"| {i + 1} | {mode} | {r['shot_s']:.4f} | {r['sys_s']:.2f} | {r['faults']} |")
    lines += ["", "| mode | median of the processes (s/shot) | slowest process | fastest process |",
              "|---|---|---|---|"]
    for mode, rs in rows.items():
        s = [r["shot_s"] for r in rs]
        lines.append(f"| {mode} | {statistics.median(s):.4f} | {max(s):.4f} | {min(s):.4f} |")
    with open(a.out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(a.out + ".tmp", a.out)
    print("\n".join(lines[-4:]))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
