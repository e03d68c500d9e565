"""The ahead-of-time compiled fused kernel agrees with the eager kernel and the golden data
(orientations, sources and an HKL table exercise its dynamic sizes and input strides)."""
from __future__ import annotations

import numpy as np
import pytest

from golden_util import GOLDEN, TOL, cases, in_golden_dir, parity, passes
from nanobrag_torch import run, simulate
from nanobrag_torch.backends import compile_policy


@pytest.mark.parametrize("name", ["mosaic_seeded", "divergence_square", "hkl_file"])
def test_compiled_matches_eager_and_golden(monkeypatch, name):
    case = next(c for c in cases() if c["name"] == name)
    with in_golden_dir():
        monkeypatch.setenv("NANOBRAG_COMPILE", "0")
        eager_run = run(case["physics_args"], dtype="float32")
        monkeypatch.setenv("NANOBRAG_COMPILE", "1")
        compiled_run = run(case["physics_args"], dtype="float32")
    failures = list(compile_policy.cache_dir().glob("*.failed"))
    assert not failures, f"the kernel could not be compiled on this machine: {failures}"
    eager, compiled = eager_run.image.numpy(), compiled_run.image.numpy()
    rel = TOL["compiled"]["vs_eager_rel"]
    np.testing.assert_allclose(compiled, eager, rtol=rel, atol=rel * eager.max())
    # the package sums the solid angles itself (`compile_policy.PACKAGE_OUTPUTS`)
    assert compiled_run.omega_sum == pytest.approx(eager_run.omega_sum, rel=rel)
    corr, ratio, _ = parity(compiled, np.load(GOLDEN / case["file"])["floatimage"])
    assert passes(corr, ratio, "float32")


def test_compiled_kernel_call_releases_the_gil(monkeypatch):
    """A Python thread keeps running while the compiled kernel runs (`aot_runner`: torch's
    package loader holds the GIL for the whole call, so such a thread would not move inside
    one).  Uses the package the hkl_file case above built, on one intra-op thread: the
    ticking thread keeps a core, and the calls last longer (2048^2: ~20 ms and more each)."""
    import threading
    import time

    import torch

    from bench.regression import wait_for_background_builds
    from nanobrag_torch.backends import aot_cache
    wait_for_background_builds()     # a build left by an earlier test would take the ticker's core
    case = next(c for c in cases() if c["name"] == "hkl_file")
    args = case["physics_args"] + ["-detpixels", "2048"]
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with in_golden_dir():
            simulate(args, dtype="float32")                  # loads (or builds) the package
            windows, ticks, stop = [], [], threading.Event()
            for key, run in list(aot_cache._loaded.items()):
                def timed(si, fi, values, run=run):
                    t0 = time.perf_counter()
                    try:
                        return run(si, fi, values)
                    finally:
                        windows.append((t0, time.perf_counter()))
                monkeypatch.setitem(aot_cache._loaded, key, timed)

            def tick():
                while not stop.is_set():
                    ticks.append(time.perf_counter())
            helper = threading.Thread(target=tick)
            helper.start()
            try:
                simulate(args, dtype="float32")
            finally:
                stop.set()
                helper.join()
    finally:
        torch.set_num_threads(threads)
    a, b = max(windows, key=lambda w: w[1] - w[0])
    assert b - a > 0.02, f"no kernel call over 20 ms: {windows}"
    inside = [a] + [t for t in ticks if a < t < b] + [b]
    longest_gap = max(y - x for x, y in zip(inside, inside[1:]))
    assert longest_gap < 0.5 * (b - a), (longest_gap, b - a)     # held: the whole call


def test_package_built_under_one_thread_is_parallel(monkeypatch, tmp_path):
    """A package built by a process running one torch thread (the speed gate does) still has
    OpenMP loops: packages are shared by every later process, whatever its thread count; and
    their teams follow the running process's thread setting (no `num_threads(2)` written in).
    And it calls no extern matrix product: `torch_kernel.stored` realizes its buffers as
    views (an identity product did, at ~1.6 ms per 1M pixels, half of a W4 kernel call)."""
    import zipfile

    import torch
    case = next(c for c in cases() if c["name"] == "mosaic_seeded")
    monkeypatch.setenv("NANOBRAG_CACHE", str(tmp_path))
    monkeypatch.setenv("NANOBRAG_COMPILE", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with in_golden_dir():
            simulate(case["physics_args"], dtype="float32")
    finally:
        torch.set_num_threads(before)
    (package,) = tmp_path.glob("fused_*.pt2")
    with zipfile.ZipFile(package) as z:
        kernel = next(z.read(n).decode() for n in z.namelist() if n.endswith("kernel.cpp"))
        wrapper = next(z.read(n).decode() for n in z.namelist() if n.endswith("wrapper.cpp"))
    assert "#pragma omp parallel\n" in kernel and "num_threads(" not in kernel
    assert "aoti_torch_cpu_mm_out(" not in wrapper and "aoti_torch_cpu_bmm_out(" not in wrapper


def test_one_step_only_for_a_single_step():
    """`torch_kernel.one_step` (the kernel then uses each pixel's directions where it computes
    them): true for one source x one orientation, false for several of either."""
    from types import SimpleNamespace

    import torch

    from nanobrag_torch.backends.torch_kernel import one_step

    def k(sources, orientations):
        return SimpleNamespace(inv_lambda=torch.ones(sources), A=torch.ones(3, 3, orientations))
    assert one_step(k(1, 1))
    assert not one_step(k(2, 1)) and not one_step(k(1, 5))
