"""Device helpers of nanobrag_kernels._math run under the interpreter against float64 numpy.

The interpreter executes the same polynomial arithmetic the GPU code does, so this pins
the accuracy of the kernel's own sin/cos (it avoids libdevice's trig slow path)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from nanobrag_kernels._math import sincg_abs, sinc3_pi, sincospi


@triton.jit
def _helpers_kernel(r_ptr, sin_ptr, cos_ptr, sinc3_ptr, sincg_ptr, n, N, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    r = tl.load(r_ptr + o, mask=m, other=0.0)
    s, c = sincospi(r)
    tl.store(sin_ptr + o, s, mask=m)
    tl.store(cos_ptr + o, c, mask=m)
    tl.store(sinc3_ptr + o, sinc3_pi(tl.abs(r), False), mask=m)
    delta = r - tl.ceil(r - 0.5)
    tl.store(sincg_ptr + o, sincg_abs(delta, N.to(r.dtype)), mask=m)


def _run(r: torch.Tensor, N: int):
    outs = [torch.empty_like(r) for _ in range(4)]
    _helpers_kernel[(1,)](r, *outs, r.numel(), N, BLOCK=triton.next_power_of_2(r.numel()))
    return [o.double().numpy() for o in outs]


def test_interpreter_is_active():
    assert type(_helpers_kernel).__name__ == "InterpretedFunction"


@pytest.mark.parametrize("dtype, ulps", [(torch.float64, 4), (torch.float32, 2)])
def test_sincospi_sinc3_sincg(dtype, ulps):
    r64 = np.concatenate([np.linspace(-40, 40, 8001), np.random.default_rng(1).uniform(-1e-3, 1e-3, 2000),
                          [0.0, 0.25, 0.5, 1.0, -0.75, 2.5, 31.0]])
    r = torch.tensor(r64, dtype=dtype)
    rr = r.double().numpy()                                  # the inputs as the kernel sees them
    s, c, z, g = _run(r, 7)
    eps = torch.finfo(dtype).eps
    scale = np.maximum(np.abs(rr), 1.0)                      # sin(pi r) is ~ulp(pi r)-conditioned
    assert np.all(np.abs(s - np.sin(np.pi * rr)) <= ulps * eps * scale)
    assert np.all(np.abs(c - np.cos(np.pi * rr)) <= ulps * eps * scale)
    assert np.all(s[np.isin(rr, [0.0, 1.0, 31.0])] == 0.0)   # exact zeros at integers
    x = np.pi * np.abs(rr)
    with np.errstate(all="ignore"):
        direct = np.where(x == 0, 1.0, 3 * (np.sin(x) / x - np.cos(x)) / x ** 2)
    series = 1 - x ** 2 / 10 + x ** 4 / 280 - x ** 6 / 15120 + x ** 8 / 1330560
    ref3 = np.where(x < 0.05, series, direct)                # the cancellation costs ~eps / x^2
    assert np.all(np.abs(z - ref3) <= 10 * eps / np.minimum(np.maximum(x, 0.5), 1.0) ** 2)
    d = rr - np.ceil(rr - 0.5)
    with np.errstate(all="ignore"):
        refg = np.where(np.sin(np.pi * d) == 0, 7.0, np.abs(np.sin(7 * np.pi * d) / np.sin(np.pi * d)))
    assert np.all(np.abs(g - refg) <= 50 * eps * 7)
