"""Backend selection and the launcher's edges (interpreter on CPU)."""
from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch

from nanobrag_torch.backends import select_backend
from nanobrag_torch.backends import triton as triton_backend
from nanobrag_torch.backends import torch_eager
from nanobrag_torch.precompute import precompute
from nanobrag_torch.simulate import parse, resolve

CUBIC = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 24".split()


def test_explicit_triton_runs_in_the_interpreter():
    assert select_backend("triton", "cpu") == ("triton", triton_backend.accumulate)
    assert type(triton_backend.K.accumulate_kernel).__name__ == "InterpretedFunction"


def test_auto_never_picks_the_interpreter(caplog):
    with caplog.at_level(logging.INFO, logger="nanobrag_torch"):
        assert select_backend("auto", "cpu") == ("torch", torch_eager.accumulate)
    assert "using torch because device is cpu (Triton needs CUDA)" in caplog.text


def test_result_contract_and_progress():
    pre = precompute(resolve(parse(CUBIC + ["-roi", "2", "20", "3", "17"])))
    calls = []
    I_geom, omega_sum = triton_backend.accumulate(pre.inputs, pre.flags, torch.float32, "cpu",
                                                  progress=lambda d, t: calls.append((d, t)))
    ref, ref_omega = torch_eager.accumulate(pre.inputs, pre.flags, torch.float64)
    assert I_geom.dtype == torch.float64 and I_geom.shape == (1, 24, 24) and I_geom.device.type == "cpu"
    I_geom, ref = I_geom[0], ref[0]
    assert calls[-1] == (24 * 24, 24 * 24)
    assert (I_geom[:3] == 0).all() and (I_geom[:, 21:] == 0).all() and I_geom[5, 5] > 0
    assert omega_sum == pytest.approx(ref_omega, rel=1e-6)
    assert torch.allclose(I_geom, ref.double(), rtol=1e-4, atol=1e-6 * float(ref.abs().max()))


def test_fully_masked_detector_renders_nothing():
    pre = precompute(resolve(parse(CUBIC)))
    inputs = replace(pre.inputs, mask=torch.zeros(1, 24, 24, dtype=torch.bool))
    I_geom, omega_sum = triton_backend.accumulate(inputs, pre.flags, torch.float64)
    assert I_geom.shape == (1, 24, 24) and not I_geom.any() and omega_sum == 0.0


def test_gradient_request_routes_to_torch_with_a_log_line(caplog):
    import logging

    import torch

    from nanobrag_torch import run
    args = ("-cell 50 60 70 90 90 90 -default_F 100 -N 3 -lambda 1.5 -distance 80 -detpixels 4 "
            "-oversample 1 -backend triton").split()
    x = torch.tensor(80.0, dtype=torch.float64, requires_grad=True)
    with caplog.at_level(logging.INFO, logger="nanobrag_torch"):
        r = run(args, params={"distance": x}, dtype="float64")
    assert r.backend == "torch" and "gradients requested" in caplog.text
    r.image.sum().backward()
    assert torch.isfinite(x.grad)
