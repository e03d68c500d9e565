"""Named workloads shared by `bench/` and `profiling/`.

Each case is a nanoBragg command line.  W1-W4 are the reference workloads of the CPU-speed
issue (measured against nanoBragg.c); `still` the realistic still of the speed issue
(see `STILL`); `4096` is the profiling suite's full detector; the
`ci_*` cases are small enough for every CI run (`ci_W3c` times the compiled kernel);
`heavy_*` stress one axis of the step loop.
Input files the cases name (`{hkl16}`, `{hkl8}`) are generated deterministically on first
use in a cache directory, so nothing large is stored in the repository.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

W1 = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 "
      "-detpixels 1024 -oversample 1")
MOSAIC_PHI_DIV_DISP = ("-mosaic 0.5 -mosaic_domains 10 -mosaic_seed 1 -phi 1 -osc 0.5 -phisteps 5 "
                       "-hdivrange 0.5 -hdivsteps 3 -dispersion 0.5 -dispsteps 3")
W4 = ("-hkl {hkl16} -cell 41 52 63 85 95 100 -misset -15 7 33 -N 10 -lambda 1.0 -distance 200 "
      "-detpixels 1024 -oversample 1 -nointerpolate")

# The realistic still of the speed issue (the shape of the LS49/ExaFEL workloads, scaled
# down): 1024^2, an HKL file, a 12-wavelength spectrum x 25 mosaic domains, water background.
STILL = W4.replace("-lambda 1.0", "-lambda 1.0 -dispersion 0.2 -dispsteps 12") + (
    " -mosaic 0.2 -mosaic_domains 25 -mosaic_seed 7 -water 100")

CASES = {
    "W1": W1,
    "W2": W1.replace("1024", "4096"),
    "W3": W1 + " " + MOSAIC_PHI_DIV_DISP,
    "W4": W4,
    "4096": W1.replace("1024", "4096"),
    "still": STILL,
    "heavy_sources": W1.replace("1024", "256") + " -hdivrange 1 -hdivsteps 7 -vdivrange 1 -vdivsteps 7 -square_div",
    "heavy_mosaic": W1.replace("1024", "256") + " -mosaic 1 -mosaic_domains 200 -mosaic_seed 3",
    "heavy_phi": W1.replace("1024", "256") + " -phi 0 -osc 5 -phisteps 100",
    "heavy_hkl": W4.replace("1024", "512").replace("-nointerpolate", "-oversample 2"),
    "ci_W1": W1.replace("1024", "256"),
    "ci_W3": W1.replace("1024", "64") + " " + MOSAIC_PHI_DIV_DISP,
    "ci_W3c": W1.replace("1024", "160") + " " + MOSAIC_PHI_DIV_DISP,
    "ci_W4": W4.replace("1024", "256").replace("{hkl16}", "{hkl8}"),
}

CI_CASES = ["ci_W1", "ci_W3", "ci_W4"]


def _cache_dir() -> Path:
    d = Path(os.environ.get("NANOBRAG_BENCH_DATA", Path(tempfile.gettempdir()) / "nanobrag_bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _p1_list(path: Path, hmax: int, seed: int) -> None:
    """A P1 list of every |h|,|k|,|l| <= hmax with pseudo-random F in [1, 300]."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    idx = np.arange(-hmax, hmax + 1)
    h, k, l = np.meshgrid(idx, idx, idx, indexing="ij")
    F = rng.uniform(1, 300, h.size)
    rows = np.column_stack([h.ravel(), k.ravel(), l.ravel(), F])
    tmp = path.with_suffix(".tmp")
    np.savetxt(tmp, rows, fmt=["%d", "%d", "%d", "%.3f"])
    tmp.replace(path)


def args(name: str) -> list:
    """The argument list of case `name`, with its input files created if needed."""
    d = _cache_dir()
    files = {"hkl16": d / "P1_16.hkl", "hkl8": d / "P1_8.hkl"}
    text = CASES[name]
    if "{hkl16}" in text:
        _p1_list(files["hkl16"], 16, 16)
    if "{hkl8}" in text:
        _p1_list(files["hkl8"], 8, 8)
    return text.format(**{k: str(v) for k, v in files.items()}).split()
