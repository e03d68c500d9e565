"""float32 against nanoBragg.c on sharp spots -> reports/float32_sweep.md:
``python -m bench.float32_sweep --c-bin /work/cbin/nanoBragg``.

A float32 render carries ~6e-8 |a| / lambda absolute error in each fractional Miller
index (the unit diffracted vector's components and the rounded geometry round at ~6e-8),
and F_latt^2 of N cells moves by ~2 pi N x that on a spot's flank.  This sweep runs one
cubic 100 A cell at 1 A over N (cells per axis), misset and oversampling through the C
(single thread) and through our command line in float32 and float64, and gives each float
image's sum ratio and correlation against the C's, beside the golden thresholds
(specs/tolerances.toml [parity]): float32 as rendered (beyond
`precision.F32_SHARPNESS_LIMIT` computed in float64) and float32 held (the limit lifted).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from bench.provenance import ROOT, stamp
from nanobrag_torch import precision
from nanobrag_torch.cli import main as nanobragg
from tests.golden_util import TOL

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels 96"
CASES = [(n, misset, os_) for n in (9, 20, 40) for misset in ("", "-misset 10 20 30") for os_ in (1, 3)]
OUT = ["-floatfile", "float.bin", "-nonoise", "-nopgm", "-noprogress"]


def image(path: Path) -> np.ndarray:
    return np.fromfile(path, "<f4").astype(np.float64)


def row(c_bin: str, n: int, misset: str, os_: int, work: Path) -> tuple:
    """(args, {dtype: (sum ratio, corr)}) of one case against the C's float image."""
    args = f"{BASE} -N {n} -oversample {os_} {misset}".split()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([c_bin, *args, *OUT], cwd=work, env=env, check=True, capture_output=True)
    ref = image(work / "float.bin")
    got = {}
    limit = precision.F32_SHARPNESS_LIMIT
    for name, dtype, held in (("float32", "float32", False), ("held", "float32", True), ("float64", "float64", False)):
        cwd = os.getcwd()
        os.chdir(work)
        precision.F32_SHARPNESS_LIMIT = float("inf") if held else limit
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                assert nanobragg(args + OUT + ["-dtype", dtype]) == 0
        finally:
            os.chdir(cwd)
            precision.F32_SHARPNESS_LIMIT = limit
        ours = image(work / "float.bin")
        got[name] = (ours.sum() / ref.sum(), float(np.corrcoef(ours, ref)[0, 1]))
    return " ".join(args), got


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.float32_sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--c-bin", default=os.environ.get("NANOBRAGG_C", "/work/cbin/nanoBragg"))
    ap.add_argument("--out", default=str(ROOT / "reports" / "float32_sweep.md"))
    a = ap.parse_args(argv)
    limit = TOL["parity"]["float32"]["max_abs_sum_ratio_error"]
    lines = ["# float32 against nanoBragg.c on sharp spots", "",
             "Written by `python -m bench.float32_sweep` (do not edit by hand).", "",
             "Stamp: " + ", ".join(f"{k} {v}" for k, v in stamp().items()) + ".", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Golden float32 threshold: |sum ratio - 1| <= {limit:g}.", "",
             "| command line | N \\|a\\| / lambda | float32 sum ratio - 1 | float32 corr | float32 held: sum ratio - 1 "
             "| float32 held: corr | float64 sum ratio - 1 | float32 within |",
             "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for n, misset, os_ in CASES:
            args, got = row(a.c_bin, n, misset, os_, Path(tmp))
            (s32, c32), (sh, ch), (s64, _) = got["float32"], got["held"], got["float64"]
            lines.append(f"| `{args}` | {n * 100:.0f} | {s32 - 1:+.2e} | {c32:.8f} | {sh - 1:+.2e} | {ch:.8f} "
                         f"| {s64 - 1:+.2e} | {'yes' if abs(s32 - 1) <= limit else 'NO'} |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
