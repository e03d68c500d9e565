"""Background speed -> reports/nonbragg.md: ``python -m bench.nonbragg``.

1. nonBragg.c's whole process (2 threads; `NONBRAGG_C`, default /work/cbin/nonBragg) against
   our in-process render (parse + resolve + render through `nanobrag_torch.nonbragg.api`) of the
   same command line, 1024^2 and 2048^2 water, measured side by side, interleaved, min of N.
   Acceptance: 2048^2 at most 0.5x the C.
2. A spots render (bench case W1 and W4) with and without water + air components in the same
   render, and the component step alone. Acceptance: the components cost at most 10 %.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NANOBRAG_COMPILE", "0")
os.environ["OMP_NUM_THREADS"] = "2"

from bench import cases  # noqa: E402
from bench.provenance import ROOT, stamp  # noqa: E402
import torch  # noqa: E402

from nanobrag_torch.nonbragg.api import run as bg_run  # noqa: E402
from nanobrag_torch.nonbragg.components import render_components  # noqa: E402
from nanobrag_torch.simulate import run as nb_run  # noqa: E402

C_BINARY = os.environ.get("NONBRAGG_C", "/work/cbin/nonBragg")
WATER = str(ROOT / "src" / "nanobrag_torch" / "data" / "stol" / "water.stol")
COMPONENTS = ["-bg_stol", "water", "-bg_thick", "0.1", "-bg_stol", "air", "-bg_thick", "10",
              "-bg_density", "0.0012", "-bg_MW", "28.96"]


def physics(n: int) -> list:
    return ["-stol", WATER, "-lambda", "1", "-distance", "100", "-detpixels", str(n), "-pixel", "0.1"]


def time_c(n: int, workdir: str) -> float:
    cmd = [C_BINARY, *physics(n), "-floatfile", "floatimage.bin", "-intfile", "intimage.img",
           "-pgmfile", "image.pgm", "-nonoise", "-noprogress"]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=workdir, check=True, capture_output=True)
    return time.perf_counter() - t


def time_ours(n: int) -> float:
    t = time.perf_counter()
    bg_run(physics(n))
    return time.perf_counter() - t


def side_by_side(repeats: int) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for n in (1024, 2048):
            time_ours(n)                                 # warm-up (compiled kernel load)
            c, ours = [], []
            for _ in range(repeats):
                c.append(time_c(n, workdir))
                ours.append(time_ours(n))
            ratio = min(ours) / min(c)
            verdict = ("PASS" if ratio <= 0.5 else "FAIL") if n == 2048 else "-"
            rows.append(f"| {n}x{n} | {min(c):.3f} | {min(ours):.3f} | {ratio:.2f} | {verdict} |")
    return rows


def spots_overhead(repeats: int) -> list:
    """Per case: spots-only render, the same render with water + air, and the component step
    alone (`render_components` on that render's geometry), interleaved, min of ``repeats``."""
    rows = []
    for name in ("W1", "W4"):
        args = cases.args(name)
        result = nb_run(args + COMPONENTS)               # warm-up both forms
        s, pre = result.settings, result.pre
        plain, both, step = [], [], []
        for _ in range(repeats):
            t = time.perf_counter(); nb_run(args); plain.append(time.perf_counter() - t)
            t = time.perf_counter(); nb_run(args + COMPONENTS); both.append(time.perf_counter() - t)
            t = time.perf_counter()
            render_components(pre, s.backgrounds, s.beamsize_m, torch.float32, "cpu")
            step.append(time.perf_counter() - t)
        cost = min(step) / min(plain)
        rows.append(f"| {name} | {min(plain):.3f} | {min(both):.3f} ({100 * (min(both) / min(plain) - 1):+.1f} %) "
                    f"| {min(step):.3f} | {100 * cost:.1f} % | {'PASS' if cost <= 0.10 else 'FAIL'} |")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "reports" / "nonbragg.md"))
    a = parser.parse_args(argv)
    load = os.getloadavg()
    lines = ["# nonBragg background: speed against nonBragg.c", "",
             "Written by `python -m bench.nonbragg` (do not edit by hand).", "",
             "Provenance: " + ", ".join(f"{k} {v}" for k, v in stamp().items()) + ".",
             f"Load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on a 2-core machine "
             "shared with other jobs: absolute times are contaminated; the ratios compare runs "
             "interleaved in the same minutes.", "",
             "## 1. 2048^2 background: in process vs nonBragg.c's whole process", "",
             f"C: `{Path(C_BINARY).name}` (OMP_NUM_THREADS=2, writes float/int/PGM files); ours: "
             "`nanobrag_torch.nonbragg.api.run(args)` in a warm process (float32, compiled CPU "
             f"path). Min of {a.repeats} interleaved runs each. Acceptance: ratio <= 0.5 at 2048^2.", "",
             "| detector | C whole process (s) | ours in process (s) | ratio | acceptance |",
             "|---|---|---|---|---|", *side_by_side(a.repeats), "",
             "## 2. Water + air added to a spots render", "",
             "Same nanoBragg command line (bench/cases.py) with and without "
             f"`{' '.join(COMPONENTS)}`, backend auto, float32, min of {a.repeats} interleaved runs. "
             "The cost of the components is measured directly as the component step alone "
             "(`render_components` on the render's geometry: table lookup, both components' "
             "passes, scaling), since the end-to-end difference of two noisy renders is dominated "
             "by the machine's load. Acceptance: cost at most 10 % of the spots-only render.", "",
             "| case | spots only (s) | spots + water + air (s) (end-to-end extra) | component step (s) | cost | acceptance |",
             "|---|---|---|---|---|---|", *spots_overhead(a.repeats), ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
