"""Lattice shape transforms F_latt (nanoBragg.c's square, round, gauss and tophat crystals).

Inputs are fractional Miller indices ``hkl`` [..., 3] (dimensionless) and cell counts
``N`` (3,).  Only F_latt**2 enters the intensity, so the sign (-1)**((N-1)h0) of the
grating function is dropped.  The grating function is evaluated on the offset from the
nearest integer, which keeps float32 accurate near Bragg peaks.
"""
from __future__ import annotations

import math

import torch

ROUND_VOLUME_CORRECTION = 0.723601254558268   # the C's sqrt(volume ratio) cube -> sphere
GAUSS_WIDTH = 0.63
TOPHAT_RADIUS_SQR = 0.3969


def sincg_abs(h: torch.Tensor, N: torch.Tensor) -> torch.Tensor:
    """|sin(N pi h) / sin(pi h)| with the limit N at integer h (C: sincg(pi*h, N))."""
    delta = h - torch.round(h)
    x = math.pi * delta
    den = torch.sin(x)
    safe = torch.where(den == 0, torch.ones_like(den), den)
    val = torch.where(den == 0, N.to(h.dtype).expand_as(h), torch.sin(N.to(h.dtype) * x) / safe)
    return torch.abs(val)


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """3 (sin x / x - cos x) / x^2, 1 at x = 0 (Fourier transform of a sphere)."""
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.ones_like(x), 3.0 * (torch.sin(safe) / safe - torch.cos(safe)) / (safe * safe))


def f_latt(hkl: torch.Tensor, N: torch.Tensor, shape: str, fudge: float,
           recip_A: torch.Tensor) -> torch.Tensor:
    """Lattice factor for each fractional index triple: [...] from hkl [..., 3].

    `recip_A` [3, 3] holds the unrotated reciprocal vectors (1/A) used by gauss/tophat.
    """
    N = N.to(hkl.dtype)
    if shape == "square":
        out = torch.ones_like(hkl[..., 0])
        for i in range(3):
            if float(N[i]) > 1:
                out = out * sincg_abs(hkl[..., i], N[i])
        return out
    d = hkl - torch.ceil(hkl - 0.5)
    prod_N = N[0] * N[1] * N[2]
    if shape == "round":
        hrad_sqr = (d * d * (N * N)).sum(-1)
        return prod_N * ROUND_VOLUME_CORRECTION * sinc3(math.pi * torch.sqrt(hrad_sqr * fudge))
    dstar = d @ recip_A.to(hkl.dtype)                      # [..., 3] in 1/A
    rad_star_sqr = (dstar * dstar).sum(-1) * (prod_N * prod_N)
    if shape == "gauss":
        return prod_N * torch.exp(-(rad_star_sqr / GAUSS_WIDTH * fudge))
    if shape == "tophat":
        return prod_N * (rad_star_sqr * fudge < TOPHAT_RADIUS_SQR).to(hkl.dtype)
    raise ValueError(f"unknown crystal shape {shape!r}")
