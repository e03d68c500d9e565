"""float32 compiled CPU path of the background engine (numba; the geometry vectorised per row).

Used by `engine.render` for float32 renders that the compiled path serves (`fast.py` stays
the float64 path): the same sum in float32 arithmetic. Per pixel row and per (sub-pixel row,
sub-pixel column, source), one branch-free loop over the row's pixels computes stol and the
weight polar x omega x w, then each table adds sign(F) F^2 x weight into its own image row.

The table window of a stol is found without a search (`cell_records`): a uniform grid of
cells over the table's rows, no wider than its closest two rows, so that a cell holds at most
one window start; each cell's record holds that start and the two cubics on either side of
it, and the window is picked by one comparison, exactly as the C's walk ends on a sorted
table (a stol within float32 rounding of a cell edge may take the neighbouring window, whose
cubic passes through the same row). cos(2 psi) of the polarization is (E^2 - B^2)/(E^2 + B^2),
E and B the components of the diffracted direction along the E-vector and B = axis x incident
(algebraically cos(-2 atan2(B, E))). Error against float64: specs/tolerances.md, "nonBragg".

Several tables that are only wanted as their scaled sum (the components of a spots render)
go through one interpolated table instead (`linear_nodes`): sum_t scale_t sign(F_t) F_t^2 on
uniform nodes over [0, stol_max], spaced so that linear interpolation stays within
LINEAR_REL of the largest value (checked when built), one lookup per evaluation whatever
the number of tables.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from numba import njit, prange

MAX_CELLS = 1 << 15          # cells of one table's grid (records of 64 bytes: 2 MB)
RECORD = 16                  # floats per cell: start, (origin, c0..c3) below, (origin, c0..c3) above
# fast-math without "nnan"/"ninf": NaN pixels must stay detectable (and be counted)
OPTIONS = dict(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"},
               error_model="numpy", boundscheck=False)
BEYOND = np.float32(3e38)    # the start of the window past the last row: never reached


def cell_records(x: np.ndarray, coef: np.ndarray, origin: np.ndarray) -> tuple | None:
    """(lo, 1/h, records [cells, RECORD] float32) of a table model (`table.AmorphousTable`'s
    ``x`` [n+4] extended stol in 1/A, ``coef`` [n+4, 4], ``origin`` [n+4]; windows 1 .. n+1).
    Cell c covers [lo + c h, lo + (c+1) h); lo is one cell below the first row (the window
    below the table starts there). None when the rows are not strictly increasing or closer
    than MAX_CELLS allows (the float64 kernel serves those)."""
    last = x.size - 3
    real = x[2:last + 1]
    gaps = np.diff(real)
    if real.size < 2 or not gaps.min() > 0:
        return None
    h = float(gaps.min())
    lo = float(real[0]) - h
    cells = int(math.ceil((float(real[-1]) - lo) / h)) + 1
    if cells > MAX_CELLS:
        return None
    starts = lo + h * np.arange(cells)
    below = np.clip(np.searchsorted(x[:last + 1], starts, side="right") - 1, 1, last)
    inside = np.clip(np.searchsorted(x[:last + 1], starts + h, side="left") - 1, 1, last)
    if np.any(inside - below > 1):
        return None
    above = np.minimum(below + 1, last)
    rec = np.zeros((cells, RECORD), dtype=np.float32)
    rec[:, 0] = np.where(below < last, x[np.minimum(below + 1, last)], BEYOND)
    rec[:, 1], rec[:, 2:6] = origin[below], coef[below]
    rec[:, 6], rec[:, 7:11] = origin[above], coef[above]
    return lo, 1.0 / h, rec


_CELLS: OrderedDict = OrderedDict()         # table digest -> cell_records (last 16 tables)


def cells_of(table: dict) -> tuple | None:
    """`cell_records` of an engine table dict (``x``, ``coef``, ``origin`` tensors), kept by
    its optional ``digest`` (the table model's: unscaled coefficients)."""
    digest = table.get("digest")
    if digest in _CELLS:
        _CELLS.move_to_end(digest)
        return _CELLS[digest]
    cells = cell_records(*(np.asarray(table[k].detach().cpu(), dtype=np.float64)
                           for k in ("x", "coef", "origin")))
    if digest is not None:
        _CELLS[digest] = cells
        while len(_CELLS) > 16:
            _CELLS.popitem(last=False)
    return cells


LINEAR_REL = 1e-6           # linear interpolation of sign(F) F^2: max error / max |value|
MAX_NODES = 1 << 18
_NODES: OrderedDict = OrderedDict()         # (digest, stol_max) -> node spacing h (1/A);
#                                             (digest, h, stol_max) -> values on that grid


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
    _NODES[key] = h
    return h


def linear_nodes(tables: list, scales: list, stol_max: float) -> tuple | None:
    """(1/h, nodes [2M] float32: G_i, G_{i+1} - G_i interleaved) of G = sum_t scale_t
    sign(F_t) F_t^2 at stol = i h on [0, stol_max], h the finest `node_spacing` of the
    tables; None when a table has none."""
    spacing = [node_spacing(t, stol_max) for t in tables]
    if any(h is None for h in spacing):
        return None
    h = min(spacing)
    G = sum(float(sc) * _on_grid(t, h, stol_max) for t, sc in zip(tables, scales))
    return 1.0 / h, np.ascontiguousarray(np.stack([G[:-1], np.diff(G)], axis=1).reshape(-1), dtype=np.float32)


def _on_grid(table: dict, h: float, stol_max: float) -> np.ndarray:
    """sign(F) F^2 of ``table`` at stol = i h, i h <= stol_max + h (kept per table digest)."""
    key = (table.get("digest"), h, stol_max)
    if key not in _NODES:
        _NODES[key] = _exact(table, h * np.arange(int(math.ceil(stol_max / h)) + 2))
        while len(_NODES) > 32:
            _NODES.popitem(last=False)
    return _NODES[key]


@njit(parallel=True, **OPTIONS)
def background_rows32(fdet, sdet, pix0, f_lo, s_lo, sub, oversample, area_close, point_pixel,
                      inc, inv2lam, weight, kahn, bvec, evec, polarize, lo, inv_h, top, records,
                      nodes, out):
    """Write into ``out`` [T, rows, cols] float32 the unscaled sum of table t at pixel
    (s_lo + row, f_lo + col). Geometry (float64): unit ``fdet``, ``sdet``, ``pix0`` (m),
    sub-pixel size ``sub`` (m), ``area_close`` = pixel^2 x close distance (m^3),
    ``point_pixel``; sources (float32): ``inc`` [N, 3] unit, ``inv2lam`` [N] (1/(2 lambda),
    1/A), ``weight`` [N], ``kahn``, ``bvec``/``evec`` [N, 3] unit B and E-vector,
    ``polarize`` (bool); tables: ``lo``, ``inv_h``, ``top`` (last cell) [T] float32 and
    ``records`` [T, cells x RECORD] float32 (`cell_records`, padded); or, when ``nodes``
    (`linear_nodes`) is not empty, one scaled sum of all tables interpolated linearly from
    it (``inv_h``, ``top`` [1]; ``out`` [1, rows, cols]). Returns the sum of omega over the
    pixels and the number of NaN pixels of each table [T]."""
    n_tab, rows, cols = out.shape
    blocks = min(rows, 64)
    omega_rows = np.zeros(rows)
    nan_rows = np.zeros((rows, n_tab), dtype=np.int64)
    for b in prange(blocks):
        scratch = np.empty((6, cols), dtype=np.float32)
        acc = np.empty((n_tab, cols))        # float64: sums over many sources stay unbiased
        for r in range(b * rows // blocks, (b + 1) * rows // blocks):
            omega_rows[r] = _row(s_lo + r, fdet, sdet, pix0, f_lo, sub, oversample, area_close,
                                 point_pixel, inc, inv2lam, weight, kahn, bvec, evec, polarize,
                                 lo, inv_h, top, records, nodes, acc, scratch)
            for t in range(n_tab):
                nans = 0
                for j in range(cols):            # no temporary array per row
                    v = acc[t, j]
                    out[t, r, j] = v
                    nans += v != v
                nan_rows[r, t] = nans
    return omega_rows.sum(), nan_rows.sum(axis=0)


@njit(**OPTIONS)
def _row(s, fdet, sdet, pix0, f_lo, sub, oversample, area_close, point_pixel, inc, inv2lam,
         weight, kahn, bvec, evec, polarize, lo, inv_h, top, records, nodes, acc, scratch):
    """One pixel row ``s`` into ``acc`` [T, cols] (float64); returns its sum of omega."""
    dx, dy, dz, om, stol, geo = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    acc[:] = 0
    cols = acc.shape[1]
    one = np.float32(1.0)
    step = sub * oversample
    fx, fy, fz = np.float32(step * fdet[0]), np.float32(step * fdet[1]), np.float32(step * fdet[2])
    ac = np.float32(area_close)
    omega_row = 0.0
    for ss in range(oversample):
        Sdet = sub * (s * oversample + ss) + sub / 2.0
        for ff in range(oversample):
            Fdet = sub * (f_lo * oversample + ff) + sub / 2.0
            ox = np.float32(Sdet * sdet[0] + Fdet * fdet[0] + pix0[0])
            oy = np.float32(Sdet * sdet[1] + Fdet * fdet[1] + pix0[1])
            oz = np.float32(Sdet * sdet[2] + Fdet * fdet[2] + pix0[2])
            omega_sum = np.float32(0.0)
            for j in range(cols):
                jf = np.float32(j)
                x, y, z = ox + jf * fx, oy + jf * fy, oz + jf * fz
                r2 = x * x + y * y + z * z
                inv_R = one / np.sqrt(r2)
                dx[j], dy[j], dz[j] = x * inv_R, y * inv_R, z * inv_R
                omega = one / r2 if point_pixel else ac * inv_R * inv_R * inv_R
                om[j] = omega
                omega_sum += omega
            omega_row += omega_sum
            for n in range(inc.shape[0]):
                _weights(dx, dy, dz, om, inc[n], inv2lam[n], weight[n], kahn, bvec[n], evec[n],
                         polarize, stol, geo)
                if nodes.size:
                    _linear(stol, geo, inv_h[0], top[0], nodes, acc[0])
                else:
                    for t in range(acc.shape[0]):
                        _table(stol, geo, lo[t], inv_h[t], top[t], records[t], acc[t])
    return omega_row


@njit(**OPTIONS)
def _weights(dx, dy, dz, om, i, inv2lam, w, kahn, bv, ev, polarize, stol, geo):
    """stol [cols] (1/A) and polar x omega x w [cols] of the row's directions for one source."""
    one, half = np.float32(1.0), np.float32(0.5)
    ix, iy, iz = i[0], i[1], i[2]
    if not polarize:
        for j in range(dx.size):
            sx, sy, sz = dx[j] - ix, dy[j] - iy, dz[j] - iz
            stol[j] = np.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam
            geo[j] = om[j] * w
    elif kahn == 0.0:
        for j in range(dx.size):
            sx, sy, sz = dx[j] - ix, dy[j] - iy, dz[j] - iz
            stol[j] = np.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam
            c2 = ix * dx[j] + iy * dy[j] + iz * dz[j]
            geo[j] = half * (one + c2 * c2) * om[j] * w
    else:
        k32, tiny = np.float32(kahn), np.float32(1e-30)
        for j in range(dx.size):
            sx, sy, sz = dx[j] - ix, dy[j] - iy, dz[j] - iz
            stol[j] = np.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam
            c2 = ix * dx[j] + iy * dy[j] + iz * dz[j]
            c2 = c2 * c2
            E = ev[0] * dx[j] + ev[1] * dy[j] + ev[2] * dz[j]
            B = bv[0] * dx[j] + bv[1] * dy[j] + bv[2] * dz[j]
            cos2psi = (E * E - B * B) / (E * E + B * B + tiny)     # no NaN along the beam
            geo[j] = half * (one + c2 - k32 * cos2psi * (one - c2)) * om[j] * w


@njit(**OPTIONS)
def _table(stol, geo, lo, inv_h, top, rec, acc):
    """acc[j] += sign(F) F^2 geo[j], F of ``rec`` (one table's records, flat; cells 0 ..
    ``top``) at stol[j]. Unsigned indices: no negative-index wrapping in the loop."""
    u1, u2, u3, u4, u5, u16 = (np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4),
                               np.uint64(5), np.uint64(16))
    for j in range(stol.size):
        v = stol[j]
        c = np.uint64(min(max((v - lo) * inv_h, np.float32(0.0)), top)) * u16
        b = c + u1 + u5 * np.uint64(v >= rec[c])
        t = v - rec[b]
        F = rec[b + u1] + t * (rec[b + u2] + t * (rec[b + u3] + t * rec[b + u4]))
        acc[j] += np.float64(F * abs(F) * geo[j])


@njit(**OPTIONS)
def _linear(stol, geo, inv_h, top, nodes, acc):
    """acc[j] += G(stol[j]) geo[j], G interpolated linearly between nodes i h (``nodes``:
    G_i, G_{i+1} - G_i; intervals 0 .. ``top``)."""
    u1, u2 = np.uint64(1), np.uint64(2)
    for j in range(stol.size):
        c = min(max(stol[j] * inv_h, np.float32(0.0)), top)
        i = np.uint64(c)
        k = i * u2
        acc[j] += np.float64((nodes[k] + (c - np.float32(i)) * nodes[k + u1]) * geo[j])
