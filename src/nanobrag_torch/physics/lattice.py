"""Lattice shape transforms (nanoBragg.c's square, round, gauss and tophat crystals).

Torch twins of the Triton helpers of the same names in `nanobrag_kernels._math`
(`sincg_abs`, `sinc3_pi`, `f_latt_sqr`); `f_latt` and `sincg` are the C's signed forms (trace).

`f_latt_sqr(hkl, N, shape, fudge, recip_A)` gives F_latt**2 for fractional Miller indices
``hkl`` (a [..., 3] tensor or an (h, k, l) tuple of tensors; dimensionless) and cell counts
``N`` (3,) as a tensor.  Only F_latt**2 enters the intensity, so the grating function is
evaluated on the offset from the nearest integer (its sign (-1)**((N-1)h0) drops out), which
keeps float32 accurate near Bragg peaks.  Pure element-wise tensor code without
data-dependent Python branches, so torch.compile fuses and vectorises it.

The square crystal's F_latt^2 is the product over the three axes of
sin^2(pi N d) / sin^2(pi d) (d = h - round(h), N an integer as the C's cell counts are).
Both sines are taken at reduced arguments in [-1/2, 1/2] (r = N d - round(N d): |sin(pi N d)|
= |sin(pi r)|) as r S(r^2) with a short polynomial S(u) = sin(pi sqrt u) / (pi sqrt u), and
the three ratios share one division (`square_sqr_poly`): no sine calls in the step loop
of a compiled kernel (eagerly, torch's sines take fewer passes over the tensors).
Where N d does not wrap (round(N d) = 0, the peak) the ratio is written N S(r^2) / S(d^2),
exact at d = 0 without a special case.  S: Taylor to u^10 in float64 (truncation < 2e-16),
a degree-4 Chebyshev fit in float32 (max error 4.3e-9, below float32 rounding).
"""
from __future__ import annotations

import math

import torch

ROUND_VOLUME_CORRECTION = 0.723601254558268   # the C's sqrt(volume ratio) cube -> sphere
GAUSS_WIDTH = 0.63
TOPHAT_RADIUS_SQR = 0.3969
# S(u) = sin(pi sqrt u) / (pi sqrt u) on u in [0, 1/4], coefficients of u^0, u^1, ...
_SINPI_S64 = tuple((-1) ** k * math.pi ** (2 * k) / math.factorial(2 * k + 1) for k in range(11))
_SINPI_S32 = (0.9999999957158402, -1.6449332085122415, 0.811714886174496, -0.19044203103167634,
              0.024719201015084173)


def _safe(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x == 0, torch.ones_like(x), x)


def sinc3_pi(y: torch.Tensor, c_formula: bool = False) -> torch.Tensor:
    """sinc3(x) = 3 (sin x / x - cos x) / x^2 at x = pi y, 1 at 0 (transform of a sphere).

    Below x = 0.05 (float64) or 1 (float32) the difference loses most of its digits, so
    there the series 1 - x^2/10 + x^4/280 - x^6/15120 + x^8/1330560 is used (as the Triton
    twin; truncation below 1e-16 and 6e-9 respectively).  With `c_formula` (quirk 11, float64)
    the C's formula is used for every x != 0 (nanoBragg.c lines 3298-3302), digits lost
    included: ~1e-8 relative at x = 1e-4, and exactly 0 once sin x / x and cos x both round
    to 1 (x below ~1e-8: a sub-pixel on the direct beam)."""
    x = math.pi * y
    s = _safe(x)
    x2 = x * x
    direct = 3.0 * (torch.sin(s) / s - torch.cos(s)) / (s * s)
    if c_formula and x.dtype == torch.float64:
        return torch.where(x == 0, torch.ones_like(x), direct)
    series = 1.0 + x2 * (-0.1 + x2 * (0.0035714285714285713 + x2 * (-6.613756613756614e-05
                                                                    + x2 * 7.515632515632516e-07)))
    return torch.where(x.abs() < (0.05 if x.dtype == torch.float64 else 1.0), series, direct)


def sincg_abs(delta: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """|sin(n pi delta) / sin(pi delta)| for the reduced index delta = h - round(h); n where
    sin(pi delta) = 0 (the C's sincg(pi h, n) up to its sign (-1)^((n-1) round(h)))."""
    a = math.pi * delta
    s = torch.sin(a)
    return torch.abs(torch.where(s == 0, n, torch.sin(n * a) / _safe(s)))


def _sinpi_over(u: torch.Tensor) -> torch.Tensor:
    """S(u) = sin(pi sqrt u) / (pi sqrt u) for u in [0, 1/4] (polynomial; see module doc)."""
    coef = _SINPI_S64 if u.dtype == torch.float64 else _SINPI_S32
    out = torch.full_like(u, coef[-1])
    for c in coef[-2::-1]:
        out = out * u + c
    return out


def _sinpi_ratio_sqr(x: torch.Tensor, n: torch.Tensor) -> tuple:
    """(num, den) with num / den = sin^2(pi n x) / sin^2(pi x) (n^2 where x is an integer),
    den never 0: the grating factor of one axis, before the shared division."""
    y = n * (x - torch.round(x))
    r = y - torch.round(y)
    wraps = torch.abs(y) > 0.5
    u = torch.square(y) * torch.reciprocal(torch.square(n))     # (x - round(x))^2
    num = torch.where(wraps, torch.square(r), torch.square(n)) * torch.square(_sinpi_over(torch.square(r)))
    den = torch.where(wraps, u, torch.ones_like(u)) * torch.square(_sinpi_over(u))
    return num, den


def square_sqr_poly(h: tuple, N: torch.Tensor) -> torch.Tensor:
    """F_latt^2 of the square crystal, prod_i sin^2(pi N_i h_i) / sin^2(pi h_i), by the
    polynomials of the module doc (the compiled kernels' form); an axis with N <= 1
    contributes 1 (the C skips the factor)."""
    n = torch.where(N > 1, N, torch.ones_like(N))
    parts = [_sinpi_ratio_sqr(x, n[i]) for i, x in enumerate(h)]
    return parts[0][0] * parts[1][0] * parts[2][0] / (parts[0][1] * parts[1][1] * parts[2][1])


def _square_sqr(h: tuple, N: torch.Tensor) -> torch.Tensor:
    """F_latt^2 of the square crystal: `square_sqr_poly` when traced for compilation (one
    fused loop: no sine calls), else torch's sines (eager: fewer passes over the tensors)."""
    if torch.compiler.is_compiling():
        return square_sqr_poly(h, N)
    out = torch.ones_like(h[0])
    for x, n in zip(h, N):
        r = sincg_abs(x - torch.round(x), n)
        out = torch.where(n > 1, out * r * r, out)
    return out


def sincg(x: torch.Tensor, n) -> torch.Tensor:
    """The C's sincg(x, N) = sin(N x) / sin(x), N at x = 0 (signed; unreduced argument)."""
    return torch.where(x == 0, torch.as_tensor(n, dtype=x.dtype), torch.sin(x * n) / _safe(torch.sin(x)))


def _offsets(h: tuple) -> list:
    return [x - torch.ceil(x - 0.5) for x in h]


def _shape_factor(d: list, N: torch.Tensor, shape: str, fudge, recip_A: torch.Tensor,
                  c_sinc3: bool = False) -> torch.Tensor:
    """Signed F_latt of the round, gauss and tophat crystals at offsets d from the nearest node
    (`c_sinc3`: the round crystal's sinc3 as the C computes it, `sinc3_pi`)."""
    prod_N = N[0] * N[1] * N[2]
    if shape == "round":
        hrad = d[0] * d[0] * N[0] * N[0] + d[1] * d[1] * N[1] * N[1] + d[2] * d[2] * N[2] * N[2]
        r2 = hrad * fudge
        r = torch.where(r2 > 0, torch.sqrt(torch.where(r2 > 0, r2, torch.ones_like(r2))), torch.zeros_like(r2))
        return prod_N * ROUND_VOLUME_CORRECTION * sinc3_pi(r, c_sinc3)   # sqrt finite at 0 for autograd
    R = recip_A.to(d[0].dtype)
    ds = [d[0] * R[0, i] + d[1] * R[1, i] + d[2] * R[2, i] for i in range(3)]    # 1/A
    rad_star_sqr = (ds[0] * ds[0] + ds[1] * ds[1] + ds[2] * ds[2]) * (prod_N * prod_N)
    if shape == "gauss":
        return prod_N * torch.exp(-(rad_star_sqr / GAUSS_WIDTH * fudge))
    if shape == "tophat":
        return prod_N * (rad_star_sqr * fudge < TOPHAT_RADIUS_SQR).to(d[0].dtype)
    raise ValueError(f"unknown crystal shape {shape!r}")


def f_latt(hkl, N: torch.Tensor, shape: str, fudge, recip_A: torch.Tensor) -> torch.Tensor:
    """The C's signed F_latt [...] as it prints it (square: its unreduced sincg products;
    round: the C's sinc3 formula)."""
    h = tuple(hkl.unbind(-1)) if isinstance(hkl, torch.Tensor) else tuple(hkl)
    N = N.to(h[0].dtype)
    if shape == "square":
        out = torch.ones_like(h[0])
        for x, n in zip(h, N):
            out = torch.where(n > 1, out * sincg(math.pi * x, n), out)
        return out
    return _shape_factor(_offsets(h), N, shape, fudge, recip_A, c_sinc3=True)


def f_latt_sqr(hkl, N: torch.Tensor, shape: str, fudge: float, recip_A: torch.Tensor,
               c_sinc3: bool = False) -> torch.Tensor:
    """F_latt^2 [...]; `recip_A` [3, 3] rows a*, b*, c* (1/A, unrotated; gauss/tophat);
    `c_sinc3`: the round crystal's sinc3 by the C's formula (quirk 11, `-quirks c`)."""
    h = tuple(hkl.unbind(-1)) if isinstance(hkl, torch.Tensor) else tuple(hkl)
    N = N.to(h[0].dtype)
    if shape == "square":
        return _square_sqr(h, N)
    fl = _shape_factor(_offsets(h), N, shape, fudge, recip_A, c_sinc3)
    return fl * fl
