"""The compiled fused kernel against the eager kernel, float32 and float64, on one case of every
variant family: each crystal shape, c and fixed factors, sensor thickness, curved detector,
point pixel, -dmin and water (both factor modes).  Four cases cover the families (each
family appears in at least one), each built in one dtype, two cases per dtype, so four
packages are built (tiny detectors; a build is 20-35 s of CI).  The square shape's float32
build is covered by test_compiled.py.  Each also renders a two-panel detector through the
compiled kernel in one call.

Each case runs in its own process: building packages in the pytest process would grow it,
and the memory probes of later tests (child processes forked from it) inherit its peak."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BASE = "-cell 50 60 70 80 85 95 -misset 5 10 15 -default_F 100 -N 4 -lambda 1.5 -distance 80 -detpixels 6 -pixel 0.8"
CASES = {       # name: (dtype, flags)
    "square_c_thick_curved_dmin_water": ("float64", "-square_xtal -detector_thick 100 "
                                         "-detector_thicksteps 2 -curved_det -dmin 60 -water 0.5"),
    "round_fixed_point_pixel_water": ("float32", "-round_xtal -quirks fixed -point_pixel -water 0.01 -oversample 2"),
    "gauss_c_point_pixel_kahn": ("float32", "-gauss_xtal -fudge 2 -point_pixel -polar 0.9"),
    "tophat_fixed_thick_curved_dmin": ("float64", "-tophat_spots -quirks fixed -detector_thick 100 "
                                       "-detector_thicksteps 2 -curved_det -dmin 60"),
}
RTOL = {"float32": 1e-4, "float64": 1e-11}
PROBE = """
import json, os, sys
from nanobrag_torch import run
from nanobrag_torch.backends import aot_cache
args, dtype = sys.argv[2:], sys.argv[1]
os.environ["NANOBRAG_COMPILE"] = "0"
eager = run(args, dtype=dtype)
os.environ["NANOBRAG_COMPILE"] = "1"
compiled = run(args, dtype=dtype)
e, c = eager.image.double(), compiled.image.double()
# two panels in one call (panel 1: panel 0 moved 2 mm along fast) == each panel alone
import dataclasses, torch
from nanobrag_torch.backends import torch_eager
one = compiled.pre.inputs
other = dataclasses.replace(one, pix0=one.pix0 + 2e-3 * one.fdet)
both = dataclasses.replace(one, pix0=torch.cat([one.pix0, other.pix0]), **{k: torch.cat([getattr(one, k)] * 2)
                           for k in ("fdet", "sdet", "odet", "distance", "close_distance", "beam_dist")})
dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
I2 = torch_eager.accumulate(both, compiled.pre.flags, dt)[0]
panels = [torch_eager.accumulate(x, compiled.pre.flags, dt)[0][0] for x in (one, other)]
failed = [p.name for p in aot_cache.cache_dir().glob("*.failed")]
print(json.dumps({"broken": failed, "packages": len(aot_cache._loaded),
                  "max": float(e.max()), "err": float(((c - e).abs() / (e.abs() + e.max())).max()),
                  "omega": [eager.omega_sum, compiled.omega_sum],
                  "panels": all(torch.equal(I2[i], panels[i]) for i in range(2)) and not torch.equal(*panels)}))
"""


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_matches_eager(name):
    dtype, flags = CASES[name]
    out = subprocess.run([sys.executable, "-c", PROBE, dtype, *(BASE + " " + flags).split()],
                         capture_output=True, text=True, check=True, timeout=900, env=dict(os.environ))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert not got["broken"], "the kernel could not be compiled on this machine"
    assert got["packages"] == 1 and got["max"] > 0                 # the compiled kernel ran
    assert got["err"] <= RTOL[dtype], got
    assert got["omega"][1] == pytest.approx(got["omega"][0], rel=RTOL[dtype])
    assert got["panels"]                        # a two-panel call renders each panel as alone
