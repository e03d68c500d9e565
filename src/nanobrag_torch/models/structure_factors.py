"""Structure factors: a dense HKL table (read by `io.hkl`) and default_F, or default_F alone.

The lookups (nearest, tricubic) are physics (`physics.structure_factors`).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from ..io.hkl import HKLTable


@dataclass
class StructureFactors:
    table: torch.Tensor | None     # [h_range, k_range, l_range] float64 or None (default_F only)
    mins: tuple                    # (h_min, k_min, l_min)
    ranges: tuple                  # (h_range, k_range, l_range)
    default_F: float | torch.Tensor   # a tensor when given as a differentiable param
    n_entries: int                 # the C's hkls


def build_structure_factors(t: HKLTable | None, default_F: float, params: dict | None = None):
    """Structure factors from a table read by `io.hkl.read_structure_factors` (None:
    ``default_F`` alone).  ``params["F"]`` replaces the table values, ``params["default_F"]``
    default_F."""
    p = params or {}
    if t is None:
        return StructureFactors(None, (0, 0, 0), (0, 0, 0), p.get("default_F", default_F), 0)
    table = p["F"] if "F" in p else _table_tensor(t)
    return StructureFactors(table, (t.h_min, t.k_min, t.l_min), t.shape, default_F, t.n_entries)


_TABLES: "weakref.WeakKeyDictionary[HKLTable, torch.Tensor]" = weakref.WeakKeyDictionary()


def _table_tensor(t: HKLTable) -> torch.Tensor:
    """``t.F`` as a float64 tensor, made once per table (`io.hkl` keeps a file's table across
    renders, so a batch of renders of one HKL file copies it once)."""
    if t not in _TABLES:
        _TABLES[t] = torch.tensor(t.F, dtype=torch.float64)
    return _TABLES[t]


def hkl_table(sf: StructureFactors) -> HKLTable:
    """The dense table of `sf` (which must have one) as an `HKLTable`, e.g. for ``write_fdump``."""
    (h, k, l), (hr, kr, lr) = sf.mins, sf.ranges
    F = sf.table.detach().to(device="cpu", dtype=torch.float64).numpy()
    return HKLTable(h, h + hr - 1, k, k + kr - 1, l, l + lr - 1, F, sf.n_entries)
