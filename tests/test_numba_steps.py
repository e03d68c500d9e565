"""The numba step sum of a cold start (`backends/numba_steps.py`): its twins agree with the
torch helpers of the same names, renders through it meet the golden thresholds and the eager
kernel, and a render that wants a package runs it at full speed and starts the build after."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from golden_util import GOLDEN, TOL, cases, in_golden_dir, parity, passes
from nanobrag_torch import simulate
from nanobrag_torch.backends import aot_cache, compile_policy, numba_steps, torch_eager
from nanobrag_torch.backends import torch_kernel as tk
from nanobrag_torch.physics.structure_factors import SFTable

# square crystal, c mode: default_F, HKL tables (inside and outside), N = 1 axes, anisotropic
# N, mosaic, divergence, dispersion, source files, sub-pixels, thick detector, water, ROI
CASES = ["cubic_default_F", "hkl_file", "hkl_sparse_default_F", "N_anisotropic", "N1_single_cell",
         "mosaic_seeded", "divergence_square", "dispersion", "sourcefile_two_weighted",
         "oversample_3_thick_polar_omega", "water_background", "roi", "point_pixel", "curved_det"]


def _numba_render(monkeypatch, args, dtype):
    used = []

    def fused_for(inp, flags, k):
        used.append(compile_policy._numba_covers(k))
        return numba_steps.fused_chunk, True
    with monkeypatch.context() as patch:
        patch.setattr(torch_eager, "fused_for", fused_for)
        out = simulate(args, dtype=dtype).numpy()
    assert used == [True]
    return out


@pytest.mark.parametrize("name", CASES)
def test_golden_cases_through_the_numba_step_sum(monkeypatch, name):
    case = next(c for c in cases() if c["name"] == name)
    golden = np.load(GOLDEN / case["file"])["floatimage"]
    rel = TOL["compiled"]["vs_eager_rel"]
    with in_golden_dir():
        for dtype in ("float32", "float64"):
            ours = _numba_render(monkeypatch, case["physics_args"], dtype)
            corr, ratio, _ = parity(ours, golden)
            assert passes(corr, ratio, dtype), (dtype, corr, ratio)
        monkeypatch.setenv("NANOBRAG_COMPILE", "0")
        eager = simulate(case["physics_args"], dtype="float32").numpy()
    np.testing.assert_allclose(ours, eager, rtol=rel, atol=rel * eager.max())


def _kernel_inputs(table: bool, N=(5.0, 1.0, 7.0), dtype=torch.float64) -> tk.KernelInputs:
    g = torch.Generator().manual_seed(3)
    rnd = lambda *s: torch.rand(*s, generator=g, dtype=dtype)  # noqa: E731
    inc = torch.nn.functional.normalize(rnd(3, 4) - 0.5, dim=0)
    A = (rnd(3, 3, 5) - 0.5) * 6e-9                            # m: cells of a few nm
    sf = SFTable(rnd(9, 7, 11) * 300 if table else None, (-4, -3, -5), (9, 7, 11), 17.0)
    z = torch.zeros(1, 3, dtype=dtype)
    return tk.KernelInputs(
        pix0=z, fdet=z, sdet=z, odet=z, beam_dist=z, sub_off=torch.zeros(1, dtype=dtype),
        layer_off=torch.zeros(1, dtype=dtype), layer_idx=torch.zeros(1, dtype=dtype), incident=inc,
        inv_lambda=1 / (rnd(4) * 1e-10 + 1e-10), source_factor=rnd(4), polar_axis=z[0],
        A=A, N=torch.tensor(N, dtype=dtype), recip=torch.eye(3, dtype=dtype), sf=sf,
        sub_size=z[0, 0], fudge=z[0, 0] + 1, pixel_size=z[0, 0], close_distance=z[0, :1],
        distance=z[0, :1], step_mu=z[0, 0], I_bg=z[0, 0], water_coeff=z[0, 0], dmin=None,
        kahn=0.0, shape="square", thick=False, nopolar=True, point_pixel=False, curved=False,
        water=False, fixed=False)


@pytest.mark.parametrize("table", [False, True])
def test_flat_steps_twin_of_torch(table):
    """`numba_steps.flat_steps` against `torch_kernel._flat_steps` (float64, element-wise at
    the helpers' tolerance), on directions whose Miller indices cover nodes, the space between
    them and the table's edge."""
    k = _kernel_inputs(table)
    g = torch.Generator().manual_seed(5)
    d = torch.nn.functional.normalize(torch.rand(3, 6, 1, 2, 2, generator=g, dtype=torch.float64) - 0.5, dim=0)
    d = tuple(d)
    ref = tk._flat_steps(d, k)
    got = numba_steps.flat_steps(d, k)
    t = TOL["helpers"]["float64"]
    scale = ref.abs().max()
    assert got.shape == ref.shape and got.dtype == ref.dtype
    torch.testing.assert_close(got, ref, rtol=t["rel"], atol=t["abs"] * scale)
    inc, W, _ = tk.step_tables(k)                              # h spans several nodes and
    h = sum((d[c][..., None] - inc[c]) * W[0, c] for c in range(3))   # leaves the table
    assert scale > 0 and float(h.min()) < -4 and float(h.max()) > 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_loops_are_vectorised(dtype):
    """Both compiled step loops vectorise (a vector rint in the optimised LLVM IR): a
    reference count or a branch left in the loop body keeps it scalar, ~8x slower, and the
    results would still agree (see `nearest_F`)."""
    for table in (False, True):
        k = _kernel_inputs(table, dtype=dtype)
        d = tuple(torch.nn.functional.normalize(torch.ones(3, 64, 1, 1, 1, dtype=dtype), dim=0))
        numba_steps.flat_steps(d, k)
        kernel = numba_steps._KERNELS[dtype][0 if table else 1]
        ir = "".join(kernel.inspect_llvm(sig) for sig in kernel.signatures)
        width = "32" if dtype == torch.float32 else "64"
        assert re.search(rf"@llvm\.rint\.v\d+f{width}\(", ir), (dtype, table)


def test_cold_compile_skips_scipy():
    """A fresh process compiling the step sum loads numba's CPU target without its BLAS probe
    (`lazy_numba.load_target`): scipy.linalg, ~0.3 s of a cold start, is not imported."""
    probe = ("import sys, torch\n"
             "from nanobrag_torch.backends import numba_steps\n"
             "from test_numba_steps import _kernel_inputs\n"
             "d = tuple(torch.nn.functional.normalize(torch.ones(3, 8, 1, 1, 1, dtype=torch.float64), dim=0))\n"
             "numba_steps.flat_steps(d, _kernel_inputs(True))\n"
             "print('scipy.linalg' in sys.modules, 'numba' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"], done.stdout


def test_cold_renders_run_numba_and_the_build_starts_at_exit(monkeypatch, tmp_path):
    """auto, no package: renders big enough for a build run the numba step sum with every
    thread; the build starts once, at exit (beside the renders it would slow them)."""
    monkeypatch.setenv("NANOBRAG_CACHE", str(tmp_path))
    monkeypatch.setenv("NANOBRAG_COMPILE", "auto")
    monkeypatch.setattr(compile_policy, "_seen", {})
    monkeypatch.setattr(compile_policy, "BACKGROUND_MIN_STEPS", 1)
    events = []
    monkeypatch.setattr(aot_cache, "start_build", lambda path, k, *a: events.append("build") or True)
    real = numba_steps.flat_steps

    def steps(d, k):
        events.append(("numba", torch.get_num_threads()))
        return real(d, k)
    monkeypatch.setattr(numba_steps, "flat_steps", steps)
    case = next(c for c in cases() if c["name"] == "mosaic_seeded")
    monkeypatch.setattr(compile_policy, "_at_exit", {})
    monkeypatch.setattr(compile_policy.atexit, "register", lambda fn: events.append(("atexit", fn)))
    with in_golden_dir():
        for _ in range(2):
            simulate(case["physics_args"], dtype="float32")
    ours = [e for e in events if e[0] == "numba" or e == ("atexit", compile_policy.build_at_exit)]
    assert ours[0] == ("atexit", compile_policy.build_at_exit)   # registered once
    assert ours[1:] and all(e == ("numba", torch.get_num_threads()) for e in ours[1:])
    assert "build" not in events
    compile_policy.build_at_exit()
    assert events.count("build") == 1 and events[-1] == "build" and not compile_policy._at_exit


def test_cold_command_line_exits_and_leaves_the_build_running(tmp_path):
    """A whole nanoBragg process on an empty cache: a render worth a build runs on numba,
    matches the eager image, exits promptly (nothing waits for the build or for idle
    threads) and leaves the build running; the build is stopped here (it is CI's time)."""
    import os
    import signal
    import subprocess
    import sys
    args = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
            "-lambda", "6.2", "-distance", "100", "-detpixels", "512", "-oversample", "1",
            "-mosaic", "0.5", "-mosaic_domains", "16", "-mosaic_seed", "1", "-phi", "1", "-osc",
            "0.5", "-phisteps", "4", "-dispersion", "0.5", "-dispsteps", "4", "-nonoise", "-nopgm"]
    env = dict(os.environ, NANOBRAG_CACHE=str(tmp_path / "cache"), NANOBRAG_COMPILE="auto", OMP_NUM_THREADS="2")
    run = subprocess.run([sys.executable, "-m", "nanobrag_torch", *args, "-floatfile", "cold.bin"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    locks = list((tmp_path / "cache").glob("fused_*.lock"))
    for lock in locks:
        try:
            os.killpg(int(lock.read_text()), signal.SIGKILL)    # the detached build's session
        except (ProcessLookupError, ValueError):
            pass
    assert run.returncode == 0, run.stderr
    assert "compiled by numba now" in run.stderr and "building the compiled kernel" in run.stderr
    assert locks or list((tmp_path / "cache").glob("fused_*.log"))
    eager = subprocess.run([sys.executable, "-m", "nanobrag_torch", *args, "-floatfile", "eager.bin"],
                           cwd=tmp_path, env=dict(env, NANOBRAG_COMPILE="0"), capture_output=True, timeout=300)
    assert eager.returncode == 0
    a, b = (np.fromfile(tmp_path / f, "<f4") for f in ("cold.bin", "eager.bin"))
    rel = TOL["compiled"]["vs_eager_rel"]
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * b.max())


def test_one_build_at_exit(monkeypatch, tmp_path):
    """A process that rendered several kinds with no package starts one build at its end
    (the kind rendered last), not one per kind at once."""
    pending = {str(tmp_path / f"fused_{i}.pt2"): (tmp_path / f"fused_{i}.pt2", f"k{i}") for i in range(3)}
    started = []
    monkeypatch.setattr(compile_policy, "_at_exit", dict(pending))
    monkeypatch.setattr(aot_cache, "runner", lambda path: None)
    monkeypatch.setattr(aot_cache, "building", lambda path: False)
    monkeypatch.setattr(aot_cache, "start_build", lambda path, k, *a: started.append(k) or True)
    compile_policy.build_at_exit()
    assert started == ["k2"] and not compile_policy._at_exit
