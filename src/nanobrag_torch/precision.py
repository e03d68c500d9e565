"""The working precision of a nanoBragg render: float32 unless float32 cannot hold the
crystal's fractional Miller indices finely enough for its spots.

A float32 render carries ~6e-8 absolute error in each component of the unit diffracted
vector (the one along the beam is ~1 before the incident direction is subtracted) and in
the rounded geometry, so each index h = (d - i) . a / lambda moves by ~6e-8 |a| / lambda,
and F_latt^2 of N cells by ~2 pi N x that on a spot's flank.  The sharpness
N |a| / lambda (cells x cell length in wavelengths, the largest over the three axes) sets
the error: measured against nanoBragg.c (`python -m bench.float32_sweep`,
reports/float32_sweep.md), a cubic 100 A cell at 1 A gave float32 image sums 1e-5 .. 3.7e-5
from the C's at N = 9 (sharpness 900) and up to 1.8e-4 at N = 20 and 40 (2000, 4000), above
the golden float32 threshold of 1e-4; the golden cases with more spots or mosaic spread stay
near 1e-6.  Beyond F32_SHARPNESS_LIMIT a float32 render computes in float64 and rounds its
image to float32 (bit-identical to the C's on those sweep cases).  Reference workloads stay
in float32: W1 80, W4 630.
"""
from __future__ import annotations

import logging

import torch

log = logging.getLogger("nanobrag_torch")

F32_SHARPNESS_LIMIT = 1000.0


def sharpness(inputs) -> float:
    """max over a, b, c of N x |cell vector| / lambda_min (dimensionless) of the contract
    ``inputs`` (A [M, 3, 3] rows a, b, c in m, N (3,), inv_lambda [NS] 1/m)."""
    lengths = inputs.A.detach().double().norm(dim=-1).amax(0)              # [3] m
    return float((lengths * inputs.N.detach().double()).amax() * inputs.inv_lambda.detach().double().amax())


def working_dtype(inputs, dtype: torch.dtype) -> torch.dtype:
    """``dtype``, or float64 for a float32 render sharper than F32_SHARPNESS_LIMIT (logged)."""
    if dtype != torch.float32:
        return dtype
    sharp = sharpness(inputs)
    if sharp <= F32_SHARPNESS_LIMIT:
        return dtype
    log.info("float32 is too coarse for these spots (N |a| / lambda = %.0f > %.0f): computing "
             "in float64, the image rounded to float32", sharp, F32_SHARPNESS_LIMIT)
    return torch.float64
