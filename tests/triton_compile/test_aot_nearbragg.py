"""nearBragg's Triton kernel compiled ahead of time for sm_80 and sm_90 (no GPU needed):
every variant and dtype compiles to a cubin without register spills."""
from __future__ import annotations

import os
import subprocess
import sys

from nanobrag_kernels.nearbragg import VARIANTS


def test_aot_nearbragg_sm80_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "nanobrag_kernels.aot", "--arch", "sm_80", "sm_90",
                           "--kernel", "nearbragg"], capture_output=True, text=True, env=env, timeout=600)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert {(r[0], r[1], r[2]) for r in rows} == {(v, d, a) for v in VARIANTS
                                                   for d in ("float32", "float64") for a in ("sm_80", "sm_90")}
    assert len(rows) == 2 * 2 * len(VARIANTS)
    for name, dtype, arch, regs, spill, *_ in rows:
        assert int(spill) == 0 and 0 < int(regs) <= 255, (name, dtype, arch)
