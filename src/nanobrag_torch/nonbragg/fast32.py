"""float32 compiled CPU path of the background engine (numba; the geometry vectorised per row).

Used by `engine.render` for float32 renders that the compiled path serves (`fast.py` stays
the float64 path): the same sum in float32 arithmetic. Per pixel row and per (sub-pixel row,
sub-pixel column, source), one loop over the row's pixels (its branches are loop-invariant)
computes the direction, omega, stol and the weight polar x omega x w, then each table adds
sign(F) F^2 x weight into its own image row. The direction is recomputed per source: with
one source this fused pass costs ~60 % of separate passes over stored directions; with 87
sources (-divergence/-dispersion steps, 1024^2) the render is ~9 % slower than with them,
a trade made for the common one-source render and the components of a spots render.

The table window of a stol is found without a search (`cell_records`): a uniform grid of
cells over the table's rows, no wider than its closest two rows, so that a cell holds at most
one window start; each cell's record holds that start and the two cubics on either side of
it, and the window is picked by one comparison, exactly as the C's walk ends on a sorted
table (a stol within float32 rounding of a cell edge may take the neighbouring window, whose
cubic passes through the same row). cos(2 psi) sin^2(2 theta) of the polarization is
E^2 - B^2, E and B the components of the diffracted direction along the E-vector and
B = axis x incident (algebraically the C's cos(-2 atan2(B, E)) times 1 - cos^2(2 theta):
E^2 + B^2 = sin^2(2 theta)), with no division. Error against float64: specs/tolerances.md, "nonBragg".

Several tables that are only wanted as their scaled sum (the components of a spots render)
go through one interpolated table instead (`nodes.linear_nodes`): sum_t scale_t sign(F_t)
F_t^2 on uniform nodes over [0, stol_max], spaced so that linear interpolation stays within
`nodes.LINEAR_REL` of the largest value (checked when built), one lookup per evaluation
whatever the number of tables.
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
    pixels and the number of NaN pixels of each table [T]. With one source and one sub-pixel
    each pixel's single term goes straight into ``out``; otherwise the terms add up in
    float64 first."""
    n_tab, rows, cols = out.shape
    direct = oversample == 1 and inc.shape[0] == 1
    blocks = min(rows, 64)
    omega_rows = np.zeros(rows)
    nan_rows = np.zeros((rows, n_tab), dtype=np.int64)
    for b in prange(blocks):
        scratch = (np.empty(cols, dtype=np.float32), np.empty(cols, dtype=np.float32),
                   np.empty(cols, dtype=np.uint32))
        acc = np.empty((n_tab, 1, cols) if not direct else (0, 0, 0))   # float64: many terms stay unbiased
        for r in range(b * rows // blocks, (b + 1) * rows // blocks):
            args = (s_lo + r, fdet, sdet, pix0, f_lo, sub, oversample, area_close, point_pixel,
                    inc, inv2lam, weight, kahn, bvec, evec, polarize, lo, inv_h, top, records,
                    nodes, scratch)
            if direct:
                omega_rows[r] = _row(*args, out, r)
            else:
                omega_rows[r] = _row(*args, acc, 0)
                for t in range(n_tab):           # no temporary array per row
                    for j in range(cols):
                        out[t, r, j] = acc[t, 0, j]
            for t in range(n_tab):
                nans = 0
                for j in range(cols):
                    v = out[t, r, j]
                    nans += v != v
                nan_rows[r, t] = nans
    return omega_rows.sum(), nan_rows.sum(axis=0)


@njit(**OPTIONS)
def _row(s, fdet, sdet, pix0, f_lo, sub, oversample, area_close, point_pixel, inc, inv2lam,
         weight, kahn, bvec, evec, polarize, lo, inv_h, top, records, nodes, scratch, dst, d):
    """Pixel row ``s`` into row ``d`` of ``dst`` [T, rows, cols] (float64 sums, or the
    float32 image itself); returns its sum of omega. ``scratch``: stol, geo [cols] float32
    and node indices [cols] uint32."""
    stol, geo, index = scratch
    step = sub * oversample
    fx, fy, fz = np.float32(step * fdet[0]), np.float32(step * fdet[1]), np.float32(step * fdet[2])
    omega_row = 0.0
    for ss in range(oversample):
        Sdet = sub * (s * oversample + ss) + sub / 2.0
        for ff in range(oversample):
            Fdet = sub * (f_lo * oversample + ff) + sub / 2.0
            o = (np.float32(Sdet * sdet[0] + Fdet * fdet[0] + pix0[0]),
                 np.float32(Sdet * sdet[1] + Fdet * fdet[1] + pix0[1]),
                 np.float32(Sdet * sdet[2] + Fdet * fdet[2] + pix0[2]))
            for n in range(inc.shape[0]):
                omega_sum = _weights(o, (fx, fy, fz), np.float32(area_close), point_pixel, inc[n],
                                     inv2lam[n], weight[n], kahn, bvec[n], evec[n], polarize, stol, geo)
                if n == 0:
                    omega_row += omega_sum
                first = ss == 0 and ff == 0 and n == 0       # stores; the later terms add
                if nodes.size:
                    _linear(stol, geo, inv_h[0], top[0], nodes, dst[0, d], index, first)
                else:
                    for t in range(dst.shape[0]):
                        _table(stol, geo, lo[t], inv_h[t], top[t], records[t], dst[t, d], first)
    return omega_row


@njit(**OPTIONS)
def _weights(o, f, ac, point_pixel, i, inv2lam, w, kahn, bv, ev, polarize, stol, geo):
    """stol [cols] (1/A) and polar x omega x w [cols] of one source at the sub-pixels
    o + j f (m, j = 0 .. cols - 1), all in one vectorised loop; returns their sum of omega.
    Polarization: 1/2 (1 + c^2 - kahn (E^2 - B^2)), c = cos(2 theta), which is the C's
    1/2 (1 + c^2 - kahn cos(2 psi) sin^2(2 theta)) since E^2 + B^2 = sin^2(2 theta)."""
    one, half = np.float32(1.0), np.float32(0.5)
    ix, iy, iz = i[0], i[1], i[2]
    k32 = np.float32(kahn)
    omega_sum = np.float32(0.0)
    for j in range(stol.size):
        jf = np.float32(j)
        x, y, z = o[0] + jf * f[0], o[1] + jf * f[1], o[2] + jf * f[2]
        r2 = x * x + y * y + z * z
        inv_R = one / np.sqrt(r2)
        dx, dy, dz = x * inv_R, y * inv_R, z * inv_R
        omega = one / r2 if point_pixel else ac * inv_R * inv_R * inv_R
        omega_sum += omega
        sx, sy, sz = dx - ix, dy - iy, dz - iz
        stol[j] = np.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam
        if polarize:
            c = ix * dx + iy * dy + iz * dz
            polar = one + c * c
            if kahn != 0.0:
                E = ev[0] * dx + ev[1] * dy + ev[2] * dz
                B = bv[0] * dx + bv[1] * dy + bv[2] * dz
                polar -= k32 * (E * E - B * B)
            geo[j] = half * polar * omega * w
        else:
            geo[j] = omega * w
    return omega_sum


@njit(**OPTIONS)
def _table(stol, geo, lo, inv_h, top, rec, acc, first):
    """acc[j] (=, or += unless ``first``) sign(F) F^2 geo[j], F of ``rec`` (one table's
    records, flat; cells 0 .. ``top``) at stol[j]; ``acc`` float64 or float32. Unsigned
    indices: no negative-index wrapping in the loop."""
    u1, u2, u3, u4, u5, u16 = (np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4),
                               np.uint64(5), np.uint64(16))
    for j in range(stol.size):
        v = stol[j]
        c = np.uint64(min(max((v - lo) * inv_h, np.float32(0.0)), top)) * u16
        b = c + u1 + u5 * np.uint64(v >= rec[c])
        t = v - rec[b]
        F = rec[b + u1] + t * (rec[b + u2] + t * (rec[b + u3] + t * rec[b + u4]))
        v = np.float64(F * abs(F) * geo[j])
        acc[j] = v if first else acc[j] + v


@njit(**OPTIONS)
def _linear(stol, geo, inv_h, top, nodes, acc, index, first):
    """acc[j] (=, or += unless ``first``) G(stol[j]) geo[j], G interpolated linearly between nodes i h (``nodes``:
    G_i, G_{i+1} - G_i; intervals 0 .. ``top``). Two loops: the node index and fraction
    (vectorised; the fraction overwrites ``stol``, the index goes to ``index``), then the
    lookups (scalar: no gathers on these CPUs): ~25 % faster than one loop."""
    u1, u2 = np.uint32(1), np.uint32(2)
    for j in range(stol.size):
        c = min(max(stol[j] * inv_h, np.float32(0.0)), top)
        i = np.uint32(c)
        index[j] = i * u2
        stol[j] = c - np.float32(i)
    for j in range(stol.size):
        k = index[j]
        v = np.float64((nodes[k] + stol[j] * nodes[k + u1]) * geo[j])
        acc[j] = v if first else acc[j] + v
