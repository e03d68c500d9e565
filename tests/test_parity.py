"""Golden parity: every case of tests/golden renders the C's float image (both dtypes) and
reproduces the counts and geometry the C printed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from golden_util import TOL, cases, in_golden_dir, numbers, parity, passes
from nanobrag_torch.simulate import run

CASES = cases()
IDS = [c["name"] for c in CASES]
_CACHE: dict = {}


def render(case, dtype):
    key = (case["name"], dtype)
    if key not in _CACHE:
        with in_golden_dir():
            _CACHE[key] = run(case["physics_args"], dtype=dtype)
    return _CACHE[key]


def reference(case) -> np.ndarray:
    from golden_util import GOLDEN
    return np.load(GOLDEN / case["file"])["floatimage"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float_image(case, dtype):
    ref = reference(case)
    img = render(case, dtype).image.double().numpy()
    assert img.shape == tuple(case["shape_slow_fast"])
    corr, ratio, _ = parity(img, ref)
    assert passes(corr, ratio, dtype), f"correlation {corr:.8f}, sum ratio {ratio:.8f}"
    assert np.count_nonzero(img.astype(np.float32)) == case["c_summary"]["nonzero"]
    am = np.unravel_index(np.argmax(img), img.shape)
    dist = max(abs(int(am[0]) - case["c_summary"]["argmax_slow_fast"][0]),
               abs(int(am[1]) - case["c_summary"]["argmax_slow_fast"][1]))
    assert dist <= TOL["parity"]["argmax_max_pixel_distance"]


def _ours(r) -> dict:
    """The printed quantities of the C, from our Result."""
    pre, cfg = r.pre, r.config
    d, det, cr, b = pre.detector, cfg.detector, pre.crystal, cfg.beam
    f = float
    return {
        "sources": [pre.sources.count], "mosaic_domains": [cfg.crystal.mosaic_domains],
        "phisteps": [cfg.crystal.phisteps], "oversample": [pre.oversample],
        "divsteps": [pre.sources.divsteps], "steps": [pre.steps],
        "Xbeam_Ybeam": [det.Xbeam_m, det.Ybeam_m], "Fbeam_Sbeam": [f(d.Fbeam_m), f(d.Sbeam_m)],
        "Xclose_Yclose": [det.Xclose_m, det.Yclose_m], "Fclose_Sclose": [f(d.Fclose_m), f(d.Sclose_m)],
        "fdet": d.fdet.tolist(), "sdet": d.sdet.tolist(), "odet": d.odet.tolist(),
        "beam": d.beam.tolist(), "spindle": list(cfg.crystal.spindle),
        "dials_origin_mm": d.dials_origin_mm.tolist(), "pix0": d.pix0_m.tolist(),
        "unit_cell": list(cr.cell_A_deg), "volume": [cr.volume_A3],
        "crystal_size": [f(cr.N[i]) * f(cr.a0_m[i].norm()) * 1e6 for i in range(3)],
        "wave": [b.lambda0_m, b.dispersion_frac * 100, b.dispsteps],
        "distance_detsize": [f(d.distance_m), det.detsize_f_m, det.detsize_s_m, det.pixel_size_m,
                             det.fpixels, det.spixels],
        "sensor": [det.thick_m, det.thicksteps, det.mu_per_m],
        "fluence": [f(pre.fluence)], "hkls": [pre.sf.n_entries, pre.sf.default_F],
        "roi": list(det.roi), "xtal": [f(x) for x in cr.N],
        "solid_angle": [r.omega_sum / pre.steps, 100 * r.omega_sum / pre.steps / 4 / math.pi],
    }


COUNT_KEYS = ["sources", "mosaic_domains", "phisteps", "oversample", "divsteps", "steps"]
VALUE_KEYS = ["Xbeam_Ybeam", "Fbeam_Sbeam", "Xclose_Yclose", "Fclose_Sclose", "fdet", "sdet",
              "odet", "beam", "spindle", "dials_origin_mm", "pix0", "unit_cell", "volume",
              "crystal_size", "wave", "distance_detsize", "sensor", "fluence", "hkls", "roi",
              "xtal", "solid_angle"]


def _close(ours: float, c: float) -> bool:
    t = TOL["parity"]
    return abs(ours - c) <= max(t["printed_abs"], t["printed_rel"] * abs(c))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_printed_values(case):
    r = render(case, "float64")
    ours = _ours(r)
    printed = case["c_printed"]
    steps_key = next(k for k in printed if k.startswith("steps"))
    pix0_key = next(k for k in printed if k.startswith("pix0"))
    printed = dict(printed, steps=printed[steps_key], pix0=printed[pix0_key])
    for key in COUNT_KEYS:
        if key in printed:
            assert int(numbers(printed[key])[0]) == ours[key][0], key
    for key in VALUE_KEYS:
        theirs = numbers(printed[key])
        if key in ("volume", "fluence"):          # drop the unit's exponent (A^3, m^2)
            theirs = theirs[:1]
        assert len(theirs) == len(ours[key]), (key, theirs, ours[key])
        for a, c in zip(ours[key], theirs):
            assert _close(float(a), c), f"{key}: ours {ours[key]} C {printed[key]}"
    conv = r.config.detector
    assert printed["convention"] == conv.convention
    assert printed["pivot"] == ("sample" if conv.pivot == "sample" else "direct beam spot")
    if "interpolation" in printed:
        assert r.pre.interpolation_note == "auto-selected " + printed["interpolation"]
    shape = {"round": "ellipsoidal", "square": "parallelpiped", "gauss": "gaussian",
             "tophat": "tophat-spot"}[r.config.crystal.shape]
    assert printed["xtal"].split()[0] == shape
