"""pytest-benchmark suite: `pytest bench/ --benchmark-only`.

Every named case (bench/cases.py) x backend x dtype.  Two warm-up renders run first (the
second triggers torch.compile under the default policy) and their times are reported in
``extra_info`` separately from the measured rounds; throughput is pixel-steps per second.
"""
from __future__ import annotations

import time

import pytest

from bench import cases
from bench.provenance import stamp
from nanobrag_torch import NanoBraggError, run

DEFAULT_CASES = ["W1", "W2", "W3", "W4", "still", "heavy_sources", "heavy_mosaic", "heavy_phi", "heavy_hkl"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("name", DEFAULT_CASES)
def test_render(benchmark, name, backend, dtype):
    args = cases.args(name) + ["-backend", backend]
    warmups = []
    for _ in range(2):
        t0 = time.perf_counter()
        try:
            result = run(args, dtype=dtype)
        except NanoBraggError as exc:
            pytest.skip(str(exc))
        warmups.append(time.perf_counter() - t0)
    out = benchmark.pedantic(run, args=(args,), kwargs={"dtype": dtype}, rounds=3, iterations=1)
    pixel_steps = result.pre.steps * out.image.numel()
    benchmark.extra_info.update(stamp())
    benchmark.extra_info.update({
        "case": name, "backend": backend, "dtype": dtype, "warmup_s": warmups,
        "pixel_steps": pixel_steps,
        "pixel_steps_per_s": pixel_steps / benchmark.stats.stats.mean,
    })
