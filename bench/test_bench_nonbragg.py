"""pytest-benchmark cases of the amorphous background: `pytest bench/test_bench_nonbragg.py
--benchmark-only`. The standalone nonBragg render (2048^2 and 1024^2 water, float32 and
float64) and a W1 spots render with water + air components."""
from __future__ import annotations

import pytest

from bench import cases
from bench.nonbragg import COMPONENTS, physics
from bench.provenance import stamp
from nanobrag_torch.nonbragg.api import run as bg_run
from nanobrag_torch.simulate import run as nb_run


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1024, 2048])
def test_background(benchmark, n, dtype):
    bg_run(physics(n), dtype=dtype)                  # warm-up
    benchmark.pedantic(bg_run, args=(physics(n),), kwargs={"dtype": dtype}, rounds=3, iterations=1)
    benchmark.extra_info.update(stamp())
    benchmark.extra_info.update({"pixels": n * n, "dtype": dtype})


@pytest.mark.parametrize("components", [False, True])
def test_spots_plus_background(benchmark, components):
    args = cases.args("W1") + (COMPONENTS if components else [])
    nb_run(args)
    benchmark.pedantic(nb_run, args=(args,), rounds=3, iterations=1)
    benchmark.extra_info.update(stamp())
    benchmark.extra_info.update({"case": "W1", "components": components})
