"""Formats acceptance numbers against nanoBragg.c -> reports/formats.md: ``python -m bench.formats_c``.

For the test MTZ files (P 21 21 21 and P 43 21 2, 20% of reflections missing) and the
three-atom model: ``nb-hkl`` exports the P1 list, nanoBragg.c renders it (single thread,
``-cell`` from the file) and our ``-mtz`` / ``-model`` render (float64) is compared with the
C's float image by the golden metric (correlation, sum ratio, max |diff| / max).  The C
binary: ``$NANOBRAG_C_BIN`` or ``/work/cbin/nanoBragg``.  Also times ``-model`` on a
synthetic 2000-atom P 21 21 21 model to 2.5 A, and records the numbers the acceptance tests
check (tests/test_formats_out.py, same inputs and helpers): pyFAI ring peaks against Bragg
two-theta, and the beam centre and distance the nxmx package derives from our NXmx.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.provenance import ROOT, stamp

sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
from formats_inputs import MTZ_CASES, write_all  # noqa: E402
from golden_util import parity, passes  # noqa: E402

GEOMETRY = ("-lambda 1.0 -distance 60 -detpixels 128 -pixel 0.3 -N 4 -misset 10 20 30 -oversample 2 "
            "-mosaic 0.2 -mosaic_domains 3 -nonoise -nopgm").split()
C_BIN = os.environ.get("NANOBRAG_C_BIN", "/work/cbin/nanoBragg")
# our subprocesses import this checkout's package, wherever they run
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "kernels"),
                                                     os.environ.get("PYTHONPATH", "")])}


def _ours(args: list, cwd: Path) -> np.ndarray:
    cmd = [sys.executable, "-m", "nanobrag_torch", *args, *GEOMETRY, "-dtype", "float64",
           "-floatfile", "ours.bin", "-intfile", "ours.img"]
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
    return np.fromfile(cwd / "ours.bin", dtype=np.float32)


def _c(hkl: str, cell: list, cwd: Path) -> np.ndarray:
    cmd = [C_BIN, "-hkl", hkl, "-cell", *cell, *GEOMETRY, "-floatfile", "c.bin", "-intfile", "c.img"]
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return np.fromfile(cwd / "c.bin", dtype=np.float32)


def _export(args: list, cwd: Path) -> list:
    """nb-hkl: the P1 list to P1.hkl; returns the -cell values it prints."""
    out = subprocess.run([sys.executable, "-m", "nanobrag_torch.p1hkl", *args, *GEOMETRY, "-hklout", "P1.hkl"],
                         cwd=cwd, check=True, capture_output=True, text=True, env=ENV).stdout
    return next(line.split("-cell ")[1].split() for line in out.splitlines() if "-cell " in line)


def _big_model(path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["CRYST1   50.000   60.000   70.000  90.00  90.00  90.00 P 21 21 21    4"]
    for i in range(2000):
        x, y, z = rng.uniform(0, [50, 60, 70])
        el = "CNOS"[i % 4]
        lines.append("ATOM  %5d  %-3s ALA A%4d    %8.3f%8.3f%8.3f  1.00 20.00          %2s"
                     % (i + 1, el, i // 10 + 1, x, y, z, el))
    path.write_text("\n".join(lines + ["END"]) + "\n")


def rings_and_nxmx(d: Path) -> list:
    """Rows: max |pyFAI peak - Bragg two-theta| per ring geometry, nxmx geometry errors per
    convention (the checks of tests/test_formats_out.py)."""
    import warnings

    import h5py
    import nxmx
    import pyFAI
    import test_formats_out as T
    from cli_util import run_cli
    from nanobrag_torch.io.hkl import HKLTable, write_fdump

    g = np.arange(-T.GRID_HALF, T.GRID_HALF + 1) / T.GRID_CELL
    q = np.sqrt(g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2)
    F = sum(f * np.exp(-(q - np.linalg.norm(h) / T.RING_CELL) ** 2 / (2 * T.SHELL_SIGMA ** 2))
            for h, f in T.FAMILIES.items())
    write_fdump(d / "rings.Fdump", HKLTable(*[-T.GRID_HALF, T.GRID_HALF] * 3, F, F.size))
    rows = ["| ring geometry | flags | max abs(peak - Bragg) (deg) |", "|---|---|---|"]
    bragg = T._bragg_two_theta_deg(1.0)
    for name, flags in T.RING_GEOMETRIES.items():
        run_cli(["-dump", d / "rings.Fdump", "-cell", *[str(T.GRID_CELL)] * 3, "90", "90", "90", "-N", "1",
                 "-lambda", "1", "-distance", "60", "-detpixels", str(T.SIZE), "-pixel", str(T.PIXEL),
                 "-oversample", "1", "-nonoise", "-nopgm", "-intfile", "i.img", "-floatfile", "f.bin",
                 "-ponifile", "r.poni", *flags], d)
        image = np.fromfile(d / "f.bin", dtype=np.float32).reshape(T.SIZE, T.SIZE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pyFAI.load(str(d / "r.poni")).integrate1d(image, 1000, unit="2th_deg", correctSolidAngle=True)
        found = [T._peak_deg(res.radial, res.intensity, t) for t in bragg]
        rows.append(f"| {name} | `{' '.join(flags)}` | {np.abs(np.array(found) - bragg).max():.4f} |")
    rows += ["", "| convention | flags | nxmx beam centre fast, slow / distance error (mm) |", "|---|---|---|"]
    for name, (flags, (fbeam, sbeam)) in T.CONVENTIONS.items():
        (d / name).mkdir()
        run_cli([*T.BASE, *flags, "-nxsfile", "i.nxs"], d / name)
        with h5py.File(d / name / "i.nxs", "r") as f:
            m = nxmx.NXmx(f).entries[0].instruments[0].detectors[0].modules[0]
            origin = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(m.fast_pixel_direction)[1:])
            axes = np.column_stack([m.fast_pixel_direction.vector, m.slow_pixel_direction.vector, [0, 0, -1.0]])
            u, v, t = np.linalg.solve(axes, -origin[0, :3, 3])
        rows.append(f"| {name} | `{' '.join(flags)}` | {abs(u - fbeam):.1e}, {abs(v - sbeam):.1e} / "
                    f"{abs(t - 80.0):.1e} |")
    return rows


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_all(d)
        for flag, name in [("-mtz", n) for n in sorted(MTZ_CASES)] + [("-model", "three.pdb")]:
            cell = _export([flag, name], d)
            n = sum(1 for _ in open(d / "P1.hkl"))
            ours, c = _ours([flag, name], d), _c("P1.hkl", cell, d)
            corr, ratio, maxdiff = parity(ours, c)
            rows.append(f"| `{flag} {name}` | {n} | {corr:.9f} | {abs(ratio - 1):.2e} | {maxdiff:.2e} | "
                        f"{'pass' if passes(corr, ratio, 'float64') else 'FAIL'} |")
        _big_model(d / "big.pdb")
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nanobrag_torch.p1hkl", "-model", "big.pdb", "-model_dmin", "2.5",
                        "-hklout", "big.hkl"], cwd=d, check=True, capture_output=True, env=ENV)
        big_seconds = time.perf_counter() - t
        big_n = sum(1 for _ in open(d / "big.hkl"))
        checks = rings_and_nxmx(d)
    s = stamp()
    text = "\n".join([
        "# Formats: `-mtz` / `-model` renders against nanoBragg.c (issue 15)",
        "",
        f"Written by `python -m bench.formats_c`; {', '.join(f'{k} {v}' for k, v in s.items())}.",
        "",
        "`nb-hkl` exports the P1 list of each input; nanoBragg.c (`OMP_NUM_THREADS=1`) renders it with",
        "`-cell` as `nb-hkl` prints it; ours renders the MTZ / model directly (`-dtype float64`).",
        f"Geometry: `{' '.join(GEOMETRY)}`.  Metric and tolerance: the golden float64 parity",
        "(correlation >= 0.99999, |sum ratio - 1| <= 1e-5; specs/tolerances.toml).",
        "",
        "| input | P1 reflections | correlation | abs(sum ratio - 1) | max abs diff / max | parity |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"`nb-hkl -model` on a synthetic 2000-atom P 21 21 21 model (50 x 60 x 70 A) to 2.5 A: "
        f"{big_n} reflections in {big_seconds:.1f} s wall (whole process, numpy, one core; the machine is "
        "shared with other jobs, so this is an upper bound).",
        "",
        "## pyFAI rings and NXmx geometry (the checks of tests/test_formats_out.py)",
        "",
        "A one-cell (`-N 1`) render of a table with five spherical |F| shells at the Bragg q of a",
        "cubic a = 6 A lattice's (100) (110) (111) (200) (211) (`-lambda 1 -distance 60 -detpixels",
        "100 -pixel 0.4`), integrated by pyFAI with our PONI; peaks by Gaussian fits; tolerance 0.02 deg.",
        "",
        *checks,
        "",
    ])
    (ROOT / "reports" / "formats.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
