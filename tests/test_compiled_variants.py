"""The compiled fused kernel against the eager kernel, float32 and float64, on one case of every
variant family: each crystal shape, c and fixed factors, sensor thickness, curved detector,
point pixel, -dmin and water (both factor modes).  Four cases cover the families (each
family appears in at least one), so eight packages are built (tiny detectors)."""
from __future__ import annotations

import numpy as np
import pytest

from nanobrag_torch import run
from nanobrag_torch.backends import aot_cache

BASE = "-cell 50 60 70 80 85 95 -misset 5 10 15 -default_F 100 -N 4 -lambda 1.5 -distance 80 -detpixels 6 -pixel 0.8"
CASES = {
    "square_c_thick_curved_dmin_water": "-square_xtal -detector_thick 100 -detector_thicksteps 2 -curved_det -dmin 60 -water 0.5",
    "round_fixed_point_pixel_water": "-round_xtal -quirks fixed -point_pixel -water 0.01 -oversample 2",
    "gauss_c_point_pixel_kahn": "-gauss_xtal -fudge 2 -point_pixel -polar 0.9",
    "tophat_fixed_thick_curved_dmin": "-tophat_spots -quirks fixed -detector_thick 100 -detector_thicksteps 2 -curved_det -dmin 60",
}
RTOL = {"float32": 1e-4, "float64": 1e-11}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_compiled_matches_eager(monkeypatch, name, dtype):
    args = (BASE + " " + CASES[name]).split()
    monkeypatch.setenv("NANOBRAG_COMPILE", "0")
    eager = run(args, dtype=dtype)
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    loaded = len(aot_cache._loaded)
    compiled = run(args, dtype=dtype)
    assert not list(aot_cache.cache_dir().glob("*.failed")), "the kernel could not be compiled"
    assert len(aot_cache._loaded) == loaded + 1           # a package of its own was used
    e, c = eager.image.numpy(), compiled.image.numpy()
    assert e.max() > 0
    np.testing.assert_allclose(c, e, rtol=RTOL[dtype], atol=RTOL[dtype] * e.max())
    assert compiled.omega_sum == pytest.approx(eager.omega_sum, rel=RTOL[dtype])
