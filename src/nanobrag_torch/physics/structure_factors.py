"""Structure-factor lookups of nanoBragg.c on a dense HKL table (torch; the Triton twins of
these functions carry the same names in `nanobrag_kernels._math`).

Lookups take fractional Miller indices (a [..., 3] tensor or an (h, k, l) tuple of tensors of
one shape; dimensionless) and return |F| [...].  `nearest_F` uses h0 = ceil(h - 0.5) and
``default_F`` outside the table (or with no table), as the C.  `tricubic_F` is the C's 4x4x4
Lagrange interpolation (polin3) on the integer grid around floor(h); `out_of_range` is the
C's test that switches interpolation off.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SFTable:
    """A dense |F| table: ``table`` [h_range, k_range, l_range] (None: default_F only),
    ``mins`` (h_min, k_min, l_min), ``ranges``, ``default_F`` (float or 0-d tensor)."""
    table: torch.Tensor | None
    mins: tuple
    ranges: tuple
    default_F: float | torch.Tensor


def _components(hkl) -> tuple:
    """(h, k, l) from a [..., 3] tensor or a tuple of three tensors."""
    return tuple(hkl.unbind(-1)) if isinstance(hkl, torch.Tensor) else tuple(hkl)


def _flat_index(sf: SFTable, ih, ik, il):
    kr, lr = sf.ranges[1], sf.ranges[2]
    return ((ih - sf.mins[0]) * kr + (ik - sf.mins[1])) * lr + (il - sf.mins[2])


def nearest_F(sf: SFTable, hkl) -> torch.Tensor:
    """|F| of the nearest reflection, default_F outside the table: [...].

    `hkl`: fractional indices as [..., 3] or (h, k, l) tensors of one shape."""
    h = _components(hkl)
    if sf.table is None:
        return torch.ones_like(h[0]) * sf.default_F
    h0 = [torch.ceil(x - 0.5) for x in h]
    inside = torch.ones_like(h0[0], dtype=torch.bool)
    for i in range(3):
        inside = inside & (h0[i] >= sf.mins[i]) & (h0[i] < sf.mins[i] + sf.ranges[i])
    # int32 index arithmetic (one vector lane per step in compiled code; a table of 2^31
    # entries would not fit in memory); outside the table the index is replaced by 0
    h0 = [x.to(torch.int32) for x in h0]
    idx = torch.where(inside, _flat_index(sf, *h0), torch.zeros_like(h0[0]))
    vals = sf.table.reshape(-1).to(h[0].dtype)[idx]
    return torch.where(inside, vals, torch.ones_like(vals) * sf.default_F)


def out_of_range(sf: SFTable, hkl) -> torch.Tensor:
    """The C's interpolation guard: True where the 4-point stencil leaves the table."""
    h = _components(hkl)
    bad = torch.zeros_like(h[0], dtype=torch.bool)
    for i in range(3):
        bad = bad | (h[i] - sf.mins[i] + 3 > sf.ranges[i]) | (h[i] - 2 < sf.mins[i])
    return bad


def _lagrange_weights(t: torch.Tensor) -> list:
    """Weights of nodes -1, 0, 1, 2 at offset t in [0, 1) (cubic Lagrange)."""
    return [-t * (t - 1) * (t - 2) / 6.0, (t + 1) * (t - 1) * (t - 2) / 2.0,
            -(t + 1) * t * (t - 2) / 2.0, (t + 1) * t * (t - 1) / 6.0]


def tricubic_F(sf: SFTable, hkl) -> torch.Tensor:
    """Tricubic-interpolated |F| at fractional hkl: [...].  Indices are clamped into the
    table, so callers must use `out_of_range` to decide where the result is meaningful."""
    h = _components(hkl)
    flr = [torch.floor(x) for x in h]
    w = [_lagrange_weights(x - f) for x, f in zip(h, flr)]
    base = [f.to(torch.int64) for f in flr]
    flat = sf.table.reshape(-1).to(h[0].dtype)
    idx = [[(base[i] + d - 1 - sf.mins[i]).clamp(0, sf.ranges[i] - 1) for d in range(4)]
           for i in range(3)]
    kr, lr = sf.ranges[1], sf.ranges[2]
    out = torch.zeros_like(h[0])
    for a in range(4):
        for b in range(4):
            row = (idx[0][a] * kr + idx[1][b]) * lr
            wab = w[0][a] * w[1][b]
            for c in range(4):
                out = out + wab * w[2][c] * flat[row + idx[2][c]]
    return out
