"""Node tables of amorphous components (numpy only, no numba): the scaled sum of several
tables' sign(F) F^2 on uniform nodes in stol, interpolated linearly by `fast32`'s
background kernel and by the spots kernel's `torch_kernel.background_sum`.

`node_spacing` picks, per table, the coarsest spacing at which linear interpolation stays
within LINEAR_REL of the table's largest |value|; `linear_nodes` puts the scaled sum of
several tables on the finest of their spacings.  Both are kept per table digest (and
scales), so the same components on many geometries build them once.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

LINEAR_REL = 1e-6           # linear interpolation of sign(F) F^2: max error / max |value|
MAX_NODES = 1 << 18
_NODES: OrderedDict = OrderedDict()         # (digest, stol_max) -> node spacing h (1/A);
#                                             (digest, h, stol_max) -> values on that grid;
#                                             ("sum", digests, scales, stol_max) -> linear_nodes


def stol_span(lambda_A) -> float:
    """The node range [0, stol_span] for wavelengths ``lambda_A`` (A, tensor or array): the
    smallest power of two at or above the largest stol they reach, 1 / lambda_min (a power
    of two, so that renders at nearby wavelengths share one node table)."""
    return 2.0 ** math.ceil(math.log2(float((1.0 / lambda_A).max())))


def _exact(table: dict, stol: np.ndarray) -> np.ndarray:
    """sign(F) F^2 of an engine table dict at ``stol`` (float64; the sorted lookup's window)."""
    x, coef, origin = (np.asarray(table[k].detach().cpu(), dtype=np.float64) for k in ("x", "coef", "origin"))
    k = np.clip(np.searchsorted(x, stol, side="right") - 1, 1, x.size - 3)
    t = stol - origin[k]
    c = coef[k]
    F = c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))
    return F * np.abs(F)


def node_spacing(table: dict, stol_max: float) -> float | None:
    """The coarsest node spacing h = (closest rows) / 2^k on [0, stol_max] at which linear
    interpolation of sign(F) F^2 stays within LINEAR_REL of its largest |value| over the
    table's rows, checked at the quarter points of every interval; None when that needs more
    than MAX_NODES nodes (or the table has no cell grid). Kept per table digest."""
    key = (table.get("digest"), stol_max)
    if key in _NODES:
        return _NODES[key]
    x = np.asarray(table["x"].detach().cpu(), dtype=np.float64)
    gaps = np.diff(x[2:x.size - 2])
    h = float(gaps.min()) if gaps.size and gaps.min() > 0 else 0.0
    while h > 0 and stol_max / h + 2 <= MAX_NODES:
        nodes = h * np.arange(int(math.ceil(stol_max / h)) + 2)
        G = _exact(table, nodes)
        quarter = (np.arange(nodes.size - 1)[:, None] + np.array([0.25, 0.5, 0.75])) * h
        linear = G[:-1, None] + (quarter / h - np.arange(nodes.size - 1)[:, None]) * np.diff(G)[:, None]
        err = np.abs(linear - _exact(table, quarter.ravel()).reshape(quarter.shape)).max()
        bound = LINEAR_REL * np.abs(G[nodes <= x[x.size - 3]]).max(initial=0.0)
        if err <= bound:
            break
        # smooth parts: the error falls as h^2; skip the spacings that cannot meet the
        # bound then, and check again (kinks between windows fall only as h)
        h /= 2.0 ** max(1, math.ceil(0.5 * math.log2(err / bound))) if bound > 0 else 2.0
    else:
        h = None
    return _keep(key, h)


def linear_nodes(tables: list, scales: list, stol_max: float) -> tuple | None:
    """(1/h, nodes [2M] float32: G_i, G_{i+1} - G_i interleaved) of G = sum_t scale_t
    sign(F_t) F_t^2 at stol = i h on [0, stol_max], h the finest `node_spacing` of the
    tables; None when a table has none. Kept per (table digests, scales, stol_max): the
    same components on many geometries build it once."""
    key = ("sum", tuple(t.get("digest") for t in tables), tuple(float(sc) for sc in scales), stol_max)
    if key in _NODES:
        return _NODES[key]
    spacing = [node_spacing(t, stol_max) for t in tables]
    if any(h is None for h in spacing):
        return None
    h = min(spacing)
    G = sum(float(sc) * _on_grid(t, h, stol_max) for t, sc in zip(tables, scales))
    return _keep(key, (1.0 / h, np.ascontiguousarray(np.stack([G[:-1], np.diff(G)], axis=1).reshape(-1),
                                                     dtype=np.float32)))


def _on_grid(table: dict, h: float, stol_max: float) -> np.ndarray:
    """sign(F) F^2 of ``table`` at stol = i h, i h <= stol_max + h (kept per table digest)."""
    key = (table.get("digest"), h, stol_max)
    if key in _NODES:
        return _NODES[key]
    return _keep(key, _exact(table, h * np.arange(int(math.ceil(stol_max / h)) + 2)))


def _keep(key, value):
    """value, kept in _NODES under ``key`` (the last 32 entries)."""
    _NODES[key] = value
    while len(_NODES) > 32:
        _NODES.popitem(last=False)
    return value
