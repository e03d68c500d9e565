"""nearBragg's Triton kernel in the interpreter against the eager torch engine on five
golden cases (tiny ROIs), float32 and float64, and `-backend` selection."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.nearbragg import simulate_near
from tests.golden_util import TOL

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "nearbragg"
CASES = {c["name"]: c for c in json.loads((GOLDEN / "manifest.json").read_text())["cases"]}
FIVE = ["few_atoms_defaults", "occ_B_phase_columns", "coherent_div_disp_os",
        "source_far_Bfactor_dispersion", "source_depth_steps"]


def _render(args: list, backend: str, dtype: str):
    old = os.getcwd()
    os.chdir(GOLDEN)
    try:
        return simulate_near(args + ["-backend", backend, "-dtype", dtype, "-quirks", "fixed"])
    finally:
        os.chdir(old)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", FIVE)
def test_triton_matches_eager(name, dtype):
    args = CASES[name]["physics_args"] + ["-roi", "40", "47", "50", "53", "-oversample", "1"]
    tri, eager = _render(args, "triton", dtype), _render(args, "torch", dtype)
    assert tri.backend == "triton" and eager.backend == "torch"
    rel = TOL["nearbragg"]["triton_rel"] if dtype == "float32" else 1e-9
    for a, b in ((tri.floatimage, eager.floatimage), (tri.sinimage, eager.sinimage)):
        if b is not None:
            assert np.abs(a.astype(float) - b).max() <= rel * np.abs(b).max(), name
    assert tri.floatimage[50:54, 40:48].min() > 0


def test_backend_selection(monkeypatch):
    args = CASES["few_atoms_defaults"]["physics_args"] + ["-roi", "0", "1", "0", "1"]
    assert _render(args, "auto", "float32").backend == "torch"      # interpreter: never auto
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(NanoBraggError, match="-backend triton: cannot run"):
        _render(args, "triton", "float32")
