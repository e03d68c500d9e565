"""Golden cases of nanoBragg.c with -backend triton (interpreter).

The ten cases of the acceptance list go through the command line (``main([...,
'-backend', 'triton', '-dtype', D])`` writing the float image); every case of the
manifest also renders through `run`.  Each must reach the parity tolerances of
specs/tolerances.toml for its dtype and light the same number of pixels as the C.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from golden_util import GOLDEN, cases, in_golden_dir, parity, passes
from nanobrag_torch.cli import main
from nanobrag_torch.simulate import run

NAMES = ["cubic_default_F", "hkl_file", "mosaic_seeded", "conv_xds", "oversample_2", "polar_kahn",
         "shape_round", "detector_abs_thicksteps", "dispersion", "hkl_interpolate_forced"]
ALL = cases()
CASES = {c["name"]: c for c in ALL if c["name"] in NAMES}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_golden_through_cli(name, dtype, tmp_path, capsys):
    case = CASES[name]
    args = [a.replace("inputs/", str(GOLDEN / "inputs") + "/") for a in case["physics_args"]]
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc = main(args + ["-backend", "triton", "-dtype", dtype, "-floatfile", "f.bin", "-nonoise", "-nopgm"])
    finally:
        os.chdir(old)
    assert rc == 0
    assert "backend=triton" in capsys.readouterr().out
    ours = np.fromfile(tmp_path / "f.bin", dtype="<f4").reshape(case["shape_slow_fast"])
    ref = np.load(GOLDEN / case["file"])["floatimage"]
    corr, ratio, _ = parity(ours, ref)
    assert passes(corr, ratio, dtype), f"correlation {corr:.8f}, sum ratio {ratio:.8f}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ALL, ids=[c["name"] for c in ALL])
def test_every_golden_case(case, dtype):
    with in_golden_dir():
        img = run(case["physics_args"] + ["-backend", "triton"], dtype=dtype).image.double().numpy()
    ref = np.load(GOLDEN / case["file"])["floatimage"]
    corr, ratio, _ = parity(img, ref)
    assert passes(corr, ratio, dtype), f"correlation {corr:.8f}, sum ratio {ratio:.8f}"
    assert np.count_nonzero(img.astype(np.float32)) == case["c_summary"]["nonzero"]
