"""Torch helpers (`nanobrag_torch.physics`) against their Triton twins of the same names
(`nanobrag_kernels._math`), element-wise on random and edge inputs, float32 and float64,
in the interpreter; tolerances: specs/tolerances.toml [helpers]."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from golden_util import TOL
from nanobrag_kernels import _math as K
from nanobrag_torch.physics import lattice, polarization, structure_factors, vectors

DTYPES = [torch.float32, torch.float64]
SHAPES = {name: i for i, name in enumerate(K.SHAPE_NAMES)}


def _close(triton_out, torch_out, dtype, scale=1.0):
    """Element-wise |a - b| <= rel |b| + abs x scale (scale: the function's magnitude)."""
    tol = TOL["helpers"][str(dtype).split(".")[-1]]
    a, b = triton_out.double().numpy(), torch_out.detach().double().numpy()
    err = np.abs(a - b)
    bound = tol["rel"] * np.abs(b) + tol["abs"] * scale
    assert np.all(err <= bound), f"worst {np.max(err / bound):.3g} x the tolerance at {np.argmax(err - bound)}"


def _block(n: int) -> int:
    return triton.next_power_of_2(max(n, 16))


@triton.jit
def _sincg_sinc3(d_ptr, n_ptr, g_ptr, s_ptr, c_ptr, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    d = tl.load(d_ptr + o, mask=m, other=0.0)
    N = tl.load(n_ptr + o, mask=m, other=1.0)
    tl.store(g_ptr + o, K.sincg_abs(d, N), mask=m)
    tl.store(s_ptr + o, K.sinc3_pi(tl.abs(d) * N, False), mask=m)
    tl.store(c_ptr + o, K.sinc3_pi(tl.abs(d) * N, True), mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sincg_abs_and_sinc3_pi(dtype):
    rng = np.random.default_rng(3)
    d = np.concatenate([rng.uniform(-0.5, 0.5, 3000), rng.uniform(-1e-4, 1e-4, 500),
                        [0.0, 0.5, -0.5, 0.25, 1e-30, 3e-17]])   # 0: integer h
    N = np.concatenate([rng.integers(1, 40, d.size - 6), [1, 1, 5, 7, 3, 1]]).astype(float)
    d, N = torch.tensor(d, dtype=dtype), torch.tensor(N, dtype=dtype)
    g, s, c = torch.empty_like(d), torch.empty_like(d), torch.empty_like(d)
    _sincg_sinc3[(1,)](d, N, g, s, c, d.numel(), BLOCK=_block(d.numel()))
    _close(g, lattice.sincg_abs(d, N), dtype, scale=N.double().numpy())
    assert torch.all(g[N == 1] == 1) and torch.all(g[d == 0] == N[d == 0])
    _close(s, lattice.sinc3_pi(d.abs() * N), dtype)
    # quirk 11: the C's formula (float64; float32 keeps the series), 0 near the direct beam
    # and 1 exactly at it; away from 0 it cancels (~1e-8 relative at x = 1e-4)
    c_ref = lattice.sinc3_pi(d.abs() * N, c_formula=True)
    if dtype == torch.float64:
        assert c[-1] == c_ref[-1] == 0 and c[-6] == c_ref[-6] == 1
        big = (d.abs() * N * math.pi) > 0.05
        _close(c[big], c_ref[big], dtype)
        assert torch.allclose(c, c_ref, rtol=0, atol=1e-6)
    else:
        assert torch.equal(c, s)


@triton.jit
def _f_latt(h_ptr, out_ptr, par_ptr, n, SHAPE: tl.constexpr, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    h = tl.load(h_ptr + 3 * o, mask=m, other=0.0)
    k = tl.load(h_ptr + 3 * o + 1, mask=m, other=0.0)
    l = tl.load(h_ptr + 3 * o + 2, mask=m, other=0.0)
    p = [tl.load(par_ptr + i) for i in tl.static_range(13)]
    out = K.f_latt_sqr(h - tl.ceil(h - 0.5), k - tl.ceil(k - 0.5), l - tl.ceil(l - 0.5),
                       p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11],
                       p[12], SHAPE, False)
    tl.store(out_ptr + o, out, mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("N", [(5, 6, 7), (1, 1, 1)])
def test_f_latt_sqr_every_shape(dtype, shape, N):
    rng = np.random.default_rng(4)
    nodes = rng.integers(-20, 20, (300, 3))
    hkl = np.concatenate([nodes + rng.uniform(-0.5, 0.5, (300, 3)), nodes + rng.uniform(-0.02, 0.02, (300, 3)),
                          nodes.astype(float), [[0.5, -0.5, 0.25]]])
    recip = rng.uniform(-0.03, 0.03, (3, 3)) + np.diag([0.02, 0.017, 0.014])
    fudge = 1.3
    h = torch.tensor(hkl, dtype=dtype)
    par = torch.tensor([*N, fudge, *recip.reshape(-1)], dtype=dtype)
    out = torch.empty(h.shape[0], dtype=dtype)
    _f_latt[(1,)](h.contiguous(), out, par, h.shape[0], SHAPE=SHAPES[shape], BLOCK=_block(h.shape[0]))
    ref = lattice.f_latt_sqr(h, torch.tensor(N, dtype=dtype), shape, fudge, torch.tensor(recip, dtype=dtype))
    if shape == "square":      # the compiled kernels' polynomial form, against the same twin
        _close(out, lattice.square_sqr_poly(h.unbind(-1), torch.tensor(N, dtype=dtype)), dtype,
               scale=float(math.prod(N)) ** 2)
    if shape == "tophat":      # a step function: compare away from its edge only
        r = (torch.tensor(hkl) - torch.ceil(torch.tensor(hkl) - 0.5)) @ torch.tensor(recip)
        edge = ((r * r).sum(1) * math.prod(N) ** 2 * fudge - 0.3969).abs() < 1e-4
        out, ref = out[~edge], ref[~edge]
    _close(out, ref, dtype, scale=float(math.prod(N)) ** 2)


@triton.jit
def _polar(v_ptr, out_ptr, kahn, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    x = [tl.load(v_ptr + 12 * o + i, mask=m, other=1.0) for i in tl.static_range(12)]
    out = K.polarization(kahn, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11])
    tl.store(out_ptr + o, out, mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kahn", [0.0, 1.0, 0.9])
def test_polarization(dtype, kahn):
    rng = np.random.default_rng(5)
    inc = rng.normal(size=(400, 3))
    inc[:3] = [[1, 0, 0], [0, 0, -1], [0.6, 0.8, 0]]
    inc /= np.linalg.norm(inc, axis=1, keepdims=True)
    d = rng.normal(size=(400, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d[:100] = inc[:100]                                        # 2theta = 0
    perp = np.cross(inc[100:200], rng.normal(size=(100, 3)))  # 2theta = 90 deg
    d[100:200] = perp / np.linalg.norm(perp, axis=1, keepdims=True)
    axis = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    inc64, d64 = torch.tensor(inc), torch.tensor(d)
    B, E = (torch.stack(v, -1) for v in polarization.polarization_frame(axis, inc64))
    packed = torch.cat([inc64, d64, B, E], 1).to(dtype).contiguous()
    out = torch.empty(400, dtype=dtype)
    _polar[(1,)](packed, out, kahn, 400, BLOCK=_block(400))
    k = torch.tensor(kahn, dtype=dtype) if kahn else 0.0
    _close(out, polarization.polarization(k, inc64.to(dtype), d64.to(dtype), axis.to(dtype)), dtype)


@triton.jit
def _rotate(v_ptr, out_ptr, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    x = [tl.load(v_ptr + 7 * o + i, mask=m, other=0.0) for i in tl.static_range(7)]
    rx, ry, rz = K.rotate_axis(x[0], x[1], x[2], x[3], x[4], x[5], x[6])
    tl.store(out_ptr + 3 * o, rx, mask=m)
    tl.store(out_ptr + 3 * o + 1, ry, mask=m)
    tl.store(out_ptr + 3 * o + 2, rz, mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rotate_axis(dtype):
    rng = np.random.default_rng(6)
    v = rng.normal(size=(300, 3))
    axis = rng.normal(size=(300, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    phi = np.concatenate([rng.uniform(-7, 7, 296), [0.0, math.pi / 2, math.pi, -math.pi]])
    packed = torch.tensor(np.concatenate([v, axis, phi[:, None]], 1), dtype=dtype).contiguous()
    out = torch.empty(300, 3, dtype=dtype)
    _rotate[(1,)](packed, out, 300, BLOCK=_block(300))
    ref = vectors.rotate_axis(packed[:, :3], packed[:, 3:6], packed[:, 6])
    _close(out, ref, dtype, scale=np.linalg.norm(v, axis=1, keepdims=True))


@triton.jit
def _lookups(F_ptr, h_ptr, near_ptr, bad_ptr, tri_ptr, dF_ptr, n, h_min, k_min, l_min,
             h_range, k_range, l_range, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    h = tl.load(h_ptr + 3 * o, mask=m, other=0.0)
    k = tl.load(h_ptr + 3 * o + 1, mask=m, other=0.0)
    l = tl.load(h_ptr + 3 * o + 2, mask=m, other=0.0)
    near = K.nearest_F(F_ptr, tl.ceil(h - 0.5).to(tl.int32), tl.ceil(k - 0.5).to(tl.int32),
                       tl.ceil(l - 0.5).to(tl.int32), h_min, k_min, l_min, h_range, k_range,
                       l_range, tl.load(dF_ptr))
    bad = K.out_of_range(h, k, l, h_min, k_min, l_min, h_range, k_range, l_range)
    tri = K.tricubic_F(F_ptr, h, k, l, h_min, k_min, l_min, h_range, k_range, l_range, m & ~bad)
    tl.store(near_ptr + o, near, mask=m)
    tl.store(bad_ptr + o, bad.to(tl.int32), mask=m)
    tl.store(tri_ptr + o, tri, mask=m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nearest_and_tricubic_at_the_table_edges(dtype):
    rng = np.random.default_rng(7)
    mins, ranges = (-3, -2, 0), (7, 6, 8)
    table = torch.tensor(rng.uniform(1, 100, ranges), dtype=dtype)
    lo, hi = np.array(mins, float), np.array(mins, float) + np.array(ranges) - 1
    pts = [rng.uniform(lo - 1.5, hi + 1.5, (600, 3)), rng.uniform(lo + 1, hi - 2, (300, 3)),
           np.array([lo, hi, lo + 1, hi - 2, lo + 2, hi - 1.0000001, hi - 0.5, lo - 0.5, lo - 0.4999])]
    hkl = torch.tensor(np.concatenate(pts), dtype=dtype).contiguous()
    n = hkl.shape[0]
    near, tri = torch.empty(n, dtype=dtype), torch.empty(n, dtype=dtype)
    bad = torch.empty(n, dtype=torch.int32)
    default_F = torch.tensor([3.5], dtype=dtype)
    _lookups[(1,)](table.reshape(-1).contiguous(), hkl, near, bad, tri, default_F, n, *mins, *ranges,
                   BLOCK=_block(n))
    sf = structure_factors.SFTable(table, mins, ranges, default_F[0])
    ref_bad = structure_factors.out_of_range(sf, hkl)
    assert torch.equal(bad.bool(), ref_bad) and ref_bad.any() and (~ref_bad).any()
    _close(near, structure_factors.nearest_F(sf, hkl), dtype)
    assert (near == 3.5).any() and (near != 3.5).any()
    _close(tri[~ref_bad], structure_factors.tricubic_F(sf, hkl)[~ref_bad], dtype, scale=100.0)
