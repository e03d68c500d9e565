"""Every public nearBragg golden case (two-run -accumulate cases: the pre_runs first, in the
same directory) through the nearBragg command line, compared with the C's files: float image
(and sin/cos images of coherent runs) by correlation and sum ratio (thresholds from
specs/tolerances.toml [nearbragg]); the int file against our own float image by the C's rule
(README of the golden suite: truncation of float*scale + 40, auto scale 55000/max_I)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from nanobrag_torch.io.smv import read_smv
from nanobrag_torch.nearbragg.cli import main
from tests.golden_util import TOL as ALL_TOL

GOLDEN = Path(__file__).parent / "golden" / "nearbragg"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = {c["name"]: c for c in MANIFEST["cases"]}
TOL = ALL_TOL["nearbragg"]


def metric(ours: np.ndarray, ref: np.ndarray) -> tuple:
    """(correlation, sum ratio); for signed images (sin/cos) the sum error is taken relative
    to sum |C| (1 + sum(ours - C)/sum|C|): their plain sum cancels by up to 1000x."""
    a, b = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    if np.all(b == b[0]) and np.array_equal(a, b):
        return 1.0, 1.0
    return float(np.corrcoef(a, b)[0, 1]), 1.0 + float((a - b).sum() / np.abs(b).sum())


def run_case(case: dict, tmp: Path, dtype: str, monkeypatch) -> Path:
    """The pre_runs, then the case, in one fresh directory holding inputs/."""
    work = tmp / case["name"]
    work.mkdir()
    shutil.copytree(GOLDEN / "inputs", work / "inputs")
    monkeypatch.chdir(work)
    for args in [pre["args"] for pre in case.get("pre_runs", [])] + [case["args"]]:
        assert main(args + ["-dtype", dtype]) == 0
    return work


def _named(args: list, flag: str, default: str) -> str:
    return args[args.index(flag) + 1] if flag in args else default


def check_case(case: dict, work: Path, corr_min: float, ratio_tol: float) -> None:
    ref = np.load(GOLDEN / case["file"])
    shape = tuple(case["shape_slow_fast"])
    args = case["args"]
    ours = np.fromfile(work / _named(args, "-floatfile", "floatimage.bin"), "<f4").reshape(shape)
    pairs = [("floatimage", ours)]
    if "-coherent" in args:
        for key, flag, default in (("sinimage", "-sinfile", "sinimage.bin"), ("cosimage", "-cosfile", "cosimage.bin")):
            pairs.append((key, np.fromfile(work / _named(args, flag, default), "<f4").reshape(shape)))
    for key, image in pairs:
        corr, ratio = metric(image, ref[key])
        assert corr >= corr_min and abs(ratio - 1) <= ratio_tol, (key, corr, ratio)
    smv = read_smv(work / _named(args, "-intfile", "intimage.img"))
    assert smv.fields == case["intfile_header"]
    roi = np.zeros(shape, bool)
    if "-roi" in args:
        i = args.index("-roi")
        x0, x1, y0, y1 = (int(v) for v in args[i + 1:i + 5])
        roi[y0:y1 + 1, x0:x1 + 1] = True
    else:
        roi[:] = True
    max_I = max(0.0, float(ours[roi].max()))
    scale = float(_named(args, "-scale", "0")) or (55000.0 / max_I if max_I > 0 else 1.0)
    expect = np.where(roi, np.trunc(np.minimum(ours.astype(np.float64) * scale + 40.0, 65535.0)), 0)
    np.testing.assert_array_equal(smv.data, expect.astype(np.uint16))


# float64 in -quirks c follows the C's operation sequence with numpy's libm (slow): CI runs a
# subset covering every code path; NEARBRAGG_GOLDEN=all runs all 30 (acceptance evidence).
FLOAT64_CI = ["few_atoms_defaults", "accumulate_coherent_sincos", "printout_all_detsize",
              "detpixels_xy_ceil", "oversample_3_roi", "pix0_vector_honoured"]
FLOAT64 = sorted(CASES) if os.environ.get("NEARBRAGG_GOLDEN") == "all" else FLOAT64_CI


@pytest.mark.parametrize("name", FLOAT64)
def test_golden_float64(name, tmp_path, monkeypatch):
    case = CASES[name]
    check_case(case, run_case(case, tmp_path, "float64", monkeypatch), TOL["corr_float64"], TOL["sum_float64"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_default_dtype(name, tmp_path, monkeypatch):
    case = CASES[name]
    check_case(case, run_case(case, tmp_path, "float32", monkeypatch), TOL["corr_float32"], TOL["sum_float32"])
