"""Compiled CPU path of the background engine (numba, parallel over pixel rows, float64).

Used by `engine.render` when nothing needs gradients, the device is the CPU, the detector is
flat and the table is sorted (the C's index walk is then history-free, so rows can run in
parallel): the same sum as the vectorised torch path (same window cubics, same order of the
sub-pixel and source loops), one fused loop per pixel with a per-row index walk instead of a
binary search; several tables (components) add into one image, one pass each. The torch
path stays the reference for every other case.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=False)
def background_rows(fdet, sdet, pix0, fpixels, spixels, pixel, oversample, close, point_pixel,
                    roi, inc, inv2lam, weight, kahn, axis, nopolar, tx, coef, origin, scale, out):
    """Add ``scale`` times the sum to ``out`` [spixels, fpixels] (float32 or float64, zeroed by
    the caller; the tables of several components add up); returns (sum of omega over the ROI,
    number of NaN pixels)."""
    sub = pixel / oversample
    area_close = pixel * pixel * close
    n_src = inc.shape[0]
    last = tx.size - 3
    omega_rows = np.zeros(spixels)
    nan_rows = np.zeros(spixels, dtype=np.int64)
    for s in prange(spixels):
        if s < roi[2] or s > roi[3]:
            continue
        k = 1
        omega_row = 0.0
        for f in range(fpixels):
            if f < roi[0] or f > roi[1]:
                continue
            acc = 0.0
            for ss in range(oversample):
                Sdet = sub * (s * oversample + ss) + sub / 2.0
                for ff in range(oversample):
                    Fdet = sub * (f * oversample + ff) + sub / 2.0
                    x = Fdet * fdet[0] + Sdet * sdet[0] + pix0[0]
                    y = Fdet * fdet[1] + Sdet * sdet[1] + pix0[1]
                    z = Fdet * fdet[2] + Sdet * sdet[2] + pix0[2]
                    r2 = x * x + y * y + z * z
                    inv_R = 1.0 / math.sqrt(r2)
                    dx, dy, dz = x * inv_R, y * inv_R, z * inv_R
                    omega = inv_R * inv_R if point_pixel else area_close * inv_R * inv_R * inv_R
                    omega_row += omega
                    Ipix = 0.0
                    for n in range(n_src):
                        ix, iy, iz = inc[n, 0], inc[n, 1], inc[n, 2]
                        sx, sy, sz = dx - ix, dy - iy, dz - iz
                        stol = math.sqrt(sx * sx + sy * sy + sz * sz) * inv2lam[n]
                        while k < last and stol >= tx[k + 1]:
                            k += 1
                        while k > 1 and stol < tx[k]:
                            k -= 1
                        t = stol - origin[k]
                        F = coef[k, 0] + t * (coef[k, 1] + t * (coef[k, 2] + t * coef[k, 3]))
                        polar = 1.0
                        if not nopolar:
                            c2 = ix * dx + iy * dy + iz * dz
                            polar = 0.5 * (1.0 + c2 * c2)
                            if kahn != 0.0:
                                polar -= 0.5 * kahn * _cos2psi(inc[n], dx, dy, dz, axis) * (1.0 - c2 * c2)
                        Ipix += F * abs(F) * polar * omega * weight[n]     # the C's order
                    acc += Ipix
            out[s, f] += acc * scale
            if acc != acc:
                nan_rows[s] += 1
        omega_rows[s] = omega_row
    return omega_rows.sum(), nan_rows.sum()


@njit(cache=True)
def _cos2psi(i, dx, dy, dz, axis):
    """cos(2 psi) of the C's polarization_factor (E-vector nearest ``axis``)."""
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
