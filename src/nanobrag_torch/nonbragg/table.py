"""The structure-factor table model of nonBragg.c (lines 1224-1256, 1506-1510, polint 2181).

The C extends the file rows (stol converted to 1/m) by two sentinel rows at each end
(-1e99, -1e98 with the first valid F; 1e98, 1e99 with the last valid F), finds an index
``nearest`` and evaluates the 4-point Lagrange polynomial through extended rows
nearest-1 .. nearest+2. Here each possible window k (extended index 1 .. n+1) is turned once
into a cubic in ``t = stol - origin_k`` (stol in 1/A) whose coefficients are computed in
float64 from the window's real rows only: a sentinel's Lagrange term is below 1e-80 of the
others, so windows touching the ends are the line/parabola through their real rows, exactly
what the C evaluates (the linear extrapolation beyond the table, NOTES "Structure-factor
table"). A window with two equal stol values gives NaN coefficients, as the C's division by 0.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NanoBraggError

# table file units -> stol in 1/A (the C's stol_file_mult / 1e10)
UNIT_TO_STOL = {"stol": 1.0, "4stol": 0.25, "Q": 1.0 / math.pi / 4.0}


@dataclass(frozen=True, eq=False)
class AmorphousTable:
    """x: extended stol [n+4] (1/A, sentinels +-1e98/1e99 as in the C, scaled to 1/A);
    F: extended F [n+4]; coef: [n+4, 4] cubic coefficients of window k (c0 + c1 t + c2 t^2 +
    c3 t^3, rows 0 and n+2, n+3 unused); origin: [n+4] t origin of window k (1/A);
    sorted: rows non-decreasing (the C's index walk is then history-free);
    file_mult: file units -> 1/A; rows: n; digest: of x and coef (identifies the table);
    float32_ok: a float32 stol moves sign(F) F^2 by less than FLOAT32_SENSITIVITY of its
    largest value (`float32_sensitivity`), so float32 renders may compute in float32."""

    x: np.ndarray
    F: np.ndarray
    coef: np.ndarray
    origin: np.ndarray
    sorted: bool
    file_mult: float
    rows: int
    digest: str
    float32_ok: bool = True


# float32 renders of tables more sensitive than this compute in float64 (ice.stol: 1.4e-5, its
# rows 1.6e-5 1/A from zero rows give cubics that overshoot to +-3500: a float32 stol moved its
# images by up to 4e-5 of the maximum and their sums by up to 6e-4; water 1.7e-7, air 3.7e-8)
FLOAT32_SENSITIVITY = 4e-6


def build_table(x_file: np.ndarray, F_file: np.ndarray, unit: str, quirks: str) -> AmorphousTable:
    """Extended table from file rows (``x_file`` in file units, ``F_file`` NaN where missing).

    ``c``: rows in file order, a missing F is 0 and not used for the end values (as the C).
    ``fixed``: rows sorted by stol (stable); repeated stol values are refused.
    """
    mult = UNIT_TO_STOL[unit]
    x = np.asarray(x_file, dtype=np.float64) * mult
    F = np.asarray(F_file, dtype=np.float64)
    if quirks == "fixed":
        order = np.argsort(x, kind="stable")
        x, F = x[order], F[order]
        dup = np.flatnonzero(np.diff(x) == 0)
        if dup.size:
            raise NanoBraggError(f"stol table: repeated stol value {x[dup[0]] / mult:g} (the "
                                 "interpolation would divide by zero)")
    valid = ~np.isnan(F)
    if not valid.any():
        raise NanoBraggError("stol table: no row has an F value")
    low, high = F[valid][0], F[valid][-1]
    F = np.where(valid, F, 0.0)
    n = x.size
    ext_x = np.concatenate([[-1e89, -1e88], x, [1e88, 1e89]])   # 1e98/1e99 (1/m) in 1/A
    ext_F = np.concatenate([[low, low], F, [high, high]])
    k = np.arange(1, n + 2)
    origin = np.zeros(n + 4)
    origin[1:n + 2] = ext_x[np.clip(k, 2, n + 1)]
    coef = np.zeros((n + 4, 4))          # rows 0, n+2, n+3: never used
    coef[1:n + 2] = _window_cubics(ext_x, ext_F, k, origin[1:n + 2], n)
    is_sorted = bool(np.all(np.diff(x) >= 0))
    digest = hashlib.sha1(ext_x.tobytes() + coef.tobytes() + bytes(is_sorted)).hexdigest()
    ok = bool(float32_sensitivity(ext_x, coef, origin, n) <= FLOAT32_SENSITIVITY)
    return AmorphousTable(x=ext_x, F=ext_F, coef=coef, origin=origin, sorted=is_sorted,
                          file_mult=mult, rows=n, digest=digest, float32_ok=ok)


@np.errstate(all="ignore")
def float32_sensitivity(ext_x, coef, origin, n: int) -> float:
    """Largest relative change of sign(F) F^2 for one float32 rounding of stol (2^-24 x stol):
    max |2 F F'| x stol over 9 points of each cell between rows, over max F^2 there (NaN
    windows ignored; 0 for a flat table)."""
    k = np.arange(2, n + 1)
    if k.size == 0:
        return 0.0
    lo, hi = ext_x[k] - origin[k], ext_x[k + 1] - origin[k]
    t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 9)[None, :]
    c = coef[k]
    F = c[:, :1] + t * (c[:, 1:2] + t * (c[:, 2:3] + t * c[:, 3:4]))
    slope = c[:, 1:2] + t * (2.0 * c[:, 2:3] + t * 3.0 * c[:, 3:4])
    top = np.nanmax(F * F) if np.isfinite(F).any() else 0.0
    if not top > 0:
        return 0.0
    return float(np.nanmax(np.abs(2.0 * F * slope) * np.abs(origin[k][:, None] + t)) / top * 2.0**-24)


@np.errstate(all="ignore")
def _window_cubics(ext_x, ext_F, k, origin, n) -> np.ndarray:
    """Monomial coefficients [K, 4] in t = stol - origin of the Lagrange polynomial through the
    real rows among extended rows k-1 .. k+2 of each window k [K] (sentinel rows left out)."""
    nodes = k[:, None] + np.arange(-1, 3)[None, :]                       # [K, 4]
    valid = (nodes >= 2) & (nodes <= n + 1)
    t = ext_x[np.clip(nodes, 0, n + 3)] - origin[:, None]
    f = ext_F[np.clip(nodes, 0, n + 3)]
    coef = np.zeros((k.size, 4))
    for j in range(4):
        poly = np.zeros((k.size, 4))
        poly[:, 0] = 1.0
        denom = np.ones(k.size)
        for m in range(4):
            if m == j:
                continue
            use = valid[:, m]
            shifted = np.zeros_like(poly)
            shifted[:, 1:] = poly[:, :-1]                                 # poly * t
            poly = np.where(use[:, None], shifted - t[:, m:m + 1] * poly, poly)
            denom = np.where(use, denom * (t[:, j] - t[:, m]), denom)
        coef += np.where(valid[:, j:j + 1], poly * (f[:, j] / denom)[:, None], 0.0)
    return coef


def lookup_sorted(table_x: torch.Tensor, stol: torch.Tensor) -> torch.Tensor:
    """Window index k for a non-decreasing table: the last extended row with x <= stol
    (>= 1), which is where the C's walk ends whatever its start. table_x: [n+4]; stol: any shape."""
    k = torch.searchsorted(table_x, stol.contiguous(), right=True) - 1
    return k.clamp_(1, table_x.numel() - 3)


def evaluate(coef: torch.Tensor, origin: torch.Tensor, k: torch.Tensor, stol: torch.Tensor) -> torch.Tensor:
    """F at ``stol`` (1/A) with window ``k`` (same shape): Horner on the window's cubic."""
    c = coef[k]
    t = stol - origin[k]
    return c[..., 0] + t * (c[..., 1] + t * (c[..., 2] + t * c[..., 3]))
