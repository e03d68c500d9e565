"""Ahead-of-time compilation of every kernel variant for sm_80 and sm_90 (no GPU needed).

Runs ``python -m nanobrag_kernels.aot --arch sm_80 sm_90`` in a clean process (without
TRITON_INTERPRET, which cannot produce cubins) and checks its table: one row per variant,
dtype and architecture, none spilling registers.  Own pytest process: see tests/run.sh.
"""
from __future__ import annotations

import os
import subprocess
import sys

from nanobrag_kernels.accumulate import VARIANTS


def test_aot_sm80_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "nanobrag_kernels.aot", "--arch", "sm_80", "sm_90"],
                          capture_output=True, text=True, env=env, timeout=900)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert len(rows) == 2 * 2 * len(VARIANTS)
    assert {(r[0], r[1], r[2]) for r in rows} == {(v, d, a) for v in VARIANTS
                                                   for d in ("float32", "float64") for a in ("sm_80", "sm_90")}
    for name, dtype, arch, regs, spill, shared, loop, *_ in rows:
        assert int(spill) == 0 and 0 < int(regs) <= 255 and int(loop) > 0, (name, dtype, arch)
