"""Compiled CPU path of the background engine (numba, parallel over pixel rows, float64).

Used by `engine.render` when nothing needs gradients, the device is the CPU, the detector is
flat and the tables are sorted (the C's index walk is then history-free, so rows can run in
parallel): the same sum as the vectorised torch path (same window cubics, same sub-pixel and
source order). Per pixel row, a first pass computes every evaluation's stol and geometric
weight polar x omega x w once; a second pass per table (component) walks the table index
along the row (a bisection for the first pixel) and adds scale x sum of sign(F) F^2 x weight
into the image. The torch path stays the reference for every other case.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def background_rows(fdet, sdet, pix0, fpixels, spixels, pixel, oversample, close, point_pixel,
                    roi, inc, inv2lam, weight, kahn, axis, nopolar, tx, coef, origin, lasts,
                    scales, out):
    """Add to ``out`` [spixels, fpixels] (float32/float64, zeroed by the caller) the sum over
    tables t of ``scales[t]`` x the sum of table t (``tx`` [T, L] window starts in 1/A, padded
    with +inf; ``coef`` [T, L, 4]; ``origin`` [T, L]; ``lasts`` [T]: last window). Geometry:
    unit ``fdet``/``sdet``, ``pix0`` (m), ``pixel`` (m), ``close`` (m), ``roi`` inclusive
    (xmin, xmax, ymin, ymax); sources ``inc`` [N, 3], ``inv2lam`` [N] (1/(2 lambda), 1/A),
    ``weight`` [N]. Returns (sum of omega over the ROI, number of NaN pixels)."""
    sub = pixel / oversample
    area_close = pixel * pixel * close
    n_src = inc.shape[0]
    per_pixel = oversample * oversample * n_src
    f_lo, f_hi = max(roi[0], 0), min(roi[1], fpixels - 1)
    omega_rows = np.zeros(spixels)
    nan_rows = np.zeros(spixels, dtype=np.int64)
    for s in prange(max(roi[2], 0), min(roi[3], spixels - 1) + 1):
        count = max(f_hi - f_lo + 1, 0) * per_pixel
        stols = np.empty(count)
        geo = np.empty(count)
        j = 0
        omega_row = 0.0
        for f in range(f_lo, f_hi + 1):
            for ss in range(oversample):
                Sdet = sub * (s * oversample + ss) + sub / 2.0
                for ff in range(oversample):
                    Fdet = sub * (f * oversample + ff) + sub / 2.0
                    x = Fdet * fdet[0] + Sdet * sdet[0] + pix0[0]
                    y = Fdet * fdet[1] + Sdet * sdet[1] + pix0[1]
                    z = Fdet * fdet[2] + Sdet * sdet[2] + pix0[2]
                    inv_R = 1.0 / math.sqrt(x * x + y * y + z * z)
                    dx, dy, dz = x * inv_R, y * inv_R, z * inv_R
                    omega = inv_R * inv_R if point_pixel else area_close * inv_R * inv_R * inv_R
                    omega_row += omega
                    for n in range(n_src):
                        ix, iy, iz = inc[n, 0], inc[n, 1], inc[n, 2]
                        sx, sy, sz = dx - ix, dy - iy, dz - iz
                        stols[j] = math.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam[n]
                        polar = 1.0
                        if not nopolar:
                            c2 = ix * dx + iy * dy + iz * dz
                            polar = 0.5 * (1.0 + c2 * c2)
                            if kahn != 0.0:
                                polar -= 0.5 * kahn * _cos2psi(inc[n], dx, dy, dz, axis) * (1.0 - c2 * c2)
                        geo[j] = polar * omega * weight[n]
                        j += 1
        omega_rows[s] = omega_row
        for t in range(tx.shape[0]):
            last = lasts[t]
            k = _bisect(tx[t], last, stols[0]) if count > 0 else 1
            j = 0
            for f in range(f_lo, f_hi + 1):
                acc = 0.0
                for _ in range(per_pixel):
                    stol = stols[j]
                    while k < last and stol >= tx[t, k + 1]:
                        k += 1
                    while k > 1 and stol < tx[t, k]:
                        k -= 1
                    u = stol - origin[t, k]
                    F = coef[t, k, 0] + u * (coef[t, k, 1] + u * (coef[t, k, 2] + u * coef[t, k, 3]))
                    acc += F * abs(F) * geo[j]
                    j += 1
                out[s, f] += acc * scales[t]
                if acc != acc:
                    nan_rows[s] += 1
    return omega_rows.sum(), nan_rows.sum()


@njit(cache=True)
def _bisect(x, last, value):
    """Largest window k in [1, last] with x[k] <= value (x sorted up to ``last``)."""
    lo, hi = 1, last
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[mid] <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True)
def _cos2psi(i, dx, dy, dz, axis):
    """cos(2 psi) of the C's polarization (E-vector nearest ``axis``)."""
    bx = axis[1] * i[2] - axis[2] * i[1]
    by = axis[2] * i[0] - axis[0] * i[2]
    bz = axis[0] * i[1] - axis[1] * i[0]
    bn = math.sqrt(bx * bx + by * by + bz * bz)
    if bn > 0:
        bx, by, bz = bx / bn, by / bn, bz / bn
    ex = i[1] * bz - i[2] * by
    ey = i[2] * bx - i[0] * bz
    ez = i[0] * by - i[1] * bx
    en = math.sqrt(ex * ex + ey * ey + ez * ez)
    if en > 0:
        ex, ey, ez = ex / en, ey / en, ez / en
    psi = -math.atan2(dx * bx + dy * by + dz * bz, dx * ex + dy * ey + dz * ez)
    return math.cos(2.0 * psi)
