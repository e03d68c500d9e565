"""Structure factors: a dense HKL table and default_F, from an HKL file, an Fdump or neither.

The lookups (nearest, tricubic) are physics (`physics.structure_factors`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..io.hkl import FdumpFile, HKLTable, read_fdump, read_hkl


@dataclass
class StructureFactors:
    table: torch.Tensor | None     # [h_range, k_range, l_range] float64 or None (default_F only)
    mins: tuple                    # (h_min, k_min, l_min)
    ranges: tuple                  # (h_range, k_range, l_range)
    default_F: float | torch.Tensor   # a tensor when given as a differentiable param
    n_entries: int                 # the C's hkls


def build_structure_factors(hklfile: str | FdumpFile | None, default_F: float,
                            params: dict | None = None):
    """Structure factors from an ``h k l F`` file (path), an Fdump binary (`FdumpFile`, the
    C's ``-dump`` format; every cell counts as an entry, as in the C) or ``default_F`` alone
    (None).  ``params["F"]`` replaces the table values, ``params["default_F"]`` default_F."""
    p = params or {}
    if hklfile is None:
        return StructureFactors(None, (0, 0, 0), (0, 0, 0), p.get("default_F", default_F), 0)
    if isinstance(hklfile, FdumpFile):
        t: HKLTable = read_fdump(hklfile.path)
    else:
        t = _read_hkl_cached(hklfile, default_F)
    table = p.get("F", torch.tensor(t.F, dtype=torch.float64))
    return StructureFactors(table, (t.h_min, t.k_min, t.l_min), t.shape, default_F, t.n_entries)


_HKL_CACHE: dict = {}


def _read_hkl_cached(path: str, default_F: float) -> HKLTable:
    """read_hkl, remembered per process for an unchanged file (path, size, mtime): repeated
    renders (benchmarks, many-shot jobs, refinement loops) parse a large HKL list once."""
    st = os.stat(path) if os.path.exists(path) else None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, default_F) if st else None
    if key is None or key not in _HKL_CACHE:
        table = read_hkl(path, default_F)
        if key is not None:
            _HKL_CACHE.clear()                  # keep one table: bounded memory
            _HKL_CACHE[key] = table
        return table
    return _HKL_CACHE[key]


def hkl_table(sf: StructureFactors) -> HKLTable:
    """The dense table of `sf` (which must have one) as an `HKLTable`, e.g. for ``write_fdump``."""
    (h, k, l), (hr, kr, lr) = sf.mins, sf.ranges
    F = sf.table.detach().to(device="cpu", dtype=torch.float64).numpy()
    return HKLTable(h, h + hr - 1, k, k + kr - 1, l, l + lr - 1, F, sf.n_entries)
