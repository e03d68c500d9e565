"""The ahead-of-time compiled fused kernel agrees with the eager kernel and the golden data
(orientations, sources and an HKL table exercise its dynamic sizes and input strides)."""
from __future__ import annotations

import numpy as np
import pytest

from golden_util import GOLDEN, TOL, cases, in_golden_dir, parity, passes
from nanobrag_torch import simulate
from nanobrag_torch.backends import compile_policy


@pytest.mark.parametrize("name", ["mosaic_seeded", "divergence_square", "hkl_file"])
def test_compiled_matches_eager_and_golden(monkeypatch, name):
    case = next(c for c in cases() if c["name"] == name)
    with in_golden_dir():
        monkeypatch.setenv("NANOBRAG_COMPILE", "0")
        eager = simulate(case["physics_args"], dtype="float32").numpy()
        monkeypatch.setenv("NANOBRAG_COMPILE", "1")
        compiled = simulate(case["physics_args"], dtype="float32").numpy()
    failures = list(compile_policy.cache_dir().glob("*.failed"))
    assert not failures, f"the kernel could not be compiled on this machine: {failures}"
    rel = TOL["compiled"]["vs_eager_rel"]
    np.testing.assert_allclose(compiled, eager, rtol=rel, atol=rel * eager.max())
    corr, ratio, _ = parity(compiled, np.load(GOLDEN / case["file"])["floatimage"])
    assert passes(corr, ratio, "float32")
