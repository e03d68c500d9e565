"""noisify.c's point-spread function (``apply_psf``), exact, compiled with numba.

Kernel: the analytic integral of the profile over each unit pixel of a (2R+1)^2 grid, only where
dx^2 + dy^2 <= R^2, not renormalised: a unit-volume 2-D Gaussian of FWHM ``fwhm`` pixels, or the
fiber profile g / (2 pi (g^2 + r^2)^(3/2)) with g = 0.652383013252053 * fwhm. Application:
direct summation of every source pixel v > 0 (NaN included) over its own radius (the user's, or
automatic from v), deposits in source order (then dx, then dy) into float32 (``out =
(float)((double)out + (double)v*K)``), with the C's edge rule (x == width lands in column 0 of
the next row; other light off the image is lost) and the lost light of the truncated kernels
added back evenly.

Parallel form: each thread owns a band of output rows and walks, in source order, only the
sources that can reach it, so every output pixel sees the C's accumulation order exactly.
"""
from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, prange

from ..io.smv import _g
from ..lazy_numba import njit
from .engine import c_int32

GAUSS, FIBER = 1, 2
FIBER_G = 0.652383013252053            # g / fwhm of the fiber profile
_SQRT_LN2 = math.sqrt(math.log(2))
_SQRT_LN16 = math.sqrt(math.log(16))
_SQRT_LN16_LN2 = math.sqrt(math.log(16) / math.log(2))
_LOG4 = math.log(4)
_LOG16 = math.log(16)


@njit(cache=True)
def _gauss_integ(x, y):
    return 0.125 * (math.erf(2 * x * _SQRT_LN2) * math.erf(y * _SQRT_LN16) * _SQRT_LN16_LN2)


@njit(cache=True)
def _fiber_integ(x, y, g):
    return math.atan((x * y) / (g * math.sqrt(g * g + x * x + y * y))) / 2.0 / math.pi


@njit(cache=True)
def psf_kernel(kind, fwhm, radius):
    """The C's kernel: float64 [2R+1, 2R+1] indexed [R + dy, R + dx] (zero outside the
    circle of radius R); ``fwhm`` in pixels."""
    size = 2 * radius + 1
    kernel = np.zeros((size, size))
    g = fwhm * FIBER_G
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy > radius * radius:
                continue
            if kind == GAUSS:
                x, y, h = dx / fwhm, dy / fwhm, (1.0 / fwhm) / 2.0
                value = (_gauss_integ(x + h, y + h) - _gauss_integ(x + h, y - h)
                         - _gauss_integ(x - h, y + h) + _gauss_integ(x - h, y - h))
            else:
                value = (_fiber_integ(dx + 0.5, dy + 0.5, g) - _fiber_integ(dx + 0.5, dy - 0.5, g)
                         - _fiber_integ(dx - 0.5, dy + 0.5, g) + _fiber_integ(dx - 0.5, dy - 0.5, g))
            kernel[radius + dy, radius + dx] = value
    return kernel


@njit(cache=True)
def auto_radius(kind, fwhm, max_I):
    """The automatic kernel radius from the image maximum (before clipping), as the C prints."""
    lost = math.sqrt(max_I) / 10.0
    if kind == GAUSS:
        return c_int32(1 + np.ceil(math.sqrt(-math.log(lost / max_I) / _LOG4 / 2) * fwhm))
    return c_int32(1 + np.ceil(fwhm * FIBER_G * (max_I / lost)))


@njit(cache=True)
def _radius_lost(v, kind, fwhm, user_radius, maxwidth, fixed):
    """One source's radius (int; <= 0: no deposits, INT_MIN for NaN/huge as the C) and the
    light its truncated kernel loses (double), for a source value v > 0."""
    g = fwhm * FIBER_G
    if user_radius != 0:
        r = user_radius
    else:
        noise = math.sqrt(v) / 10.0
        if kind == GAUSS:
            rf = 1 + np.ceil(math.sqrt(-math.log(noise / v) / _LOG16) * fwhm)
        else:
            rf = 1 + np.ceil(g * (v / noise))
        if fixed:                  # the C: NaN (v < 0.01) or overflow -> INT_MIN
            rf = 1.0 if math.isnan(rf) else min(rf, maxwidth)
        r = c_int32(rf)
    if r == 0:
        r = 1
    if r > maxwidth:
        r = maxwidth
    if kind == GAUSS:
        t = np.float64(r) / fwhm
        return r, v * math.exp(-_LOG16 * (t * t))
    rr = np.int32(np.int64(r) * np.int64(r) & 0xFFFFFFFF)   # int product, wraps
    return r, v * g / math.sqrt(g * g + rr)


_TABLE = 4096            # sources with integer values up to this use a precomputed table


@njit(cache=True, parallel=True)
def radius_tables(kind, fwhm, user_radius, maxwidth, fixed):
    """(radius, lost light) of the integer source values 1.._TABLE (index = value)."""
    table_r = np.zeros(_TABLE + 1, dtype=np.int64)
    table_lost = np.zeros(_TABLE + 1)
    for n in prange(1, _TABLE + 1):
        table_r[n], table_lost[n] = _radius_lost(np.float64(n), kind, fwhm, user_radius,
                                                 maxwidth, fixed)
    return table_r, table_lost


@njit(cache=True, inline="always")
def _source_radius(image, i, kind, fwhm, user_radius, maxwidth, fixed, tables, radii, lost):
    """Source i's radius (int32; 0 = skipped source, -1 = no deposits) and lost light."""
    v = np.float64(image[i])
    radii[i] = 0
    lost[i] = 0.0
    if v <= 0.0 or (fixed and not math.isfinite(v)):
        return
    if v <= _TABLE and v == np.floor(v):
        r, lost[i] = tables[0][np.int64(v)], tables[1][np.int64(v)]
    else:
        r, lost[i] = _radius_lost(v, kind, fwhm, user_radius, maxwidth, fixed)
    radii[i] = r if r > 0 else -1          # INT_MIN (NaN/huge): no deposits


@njit(cache=True, parallel=True)
def _source_radii(image, kind, fwhm, user_radius, maxwidth, fixed, tables, radii, lost):
    for i in prange(image.size):
        _source_radius(image, i, kind, fwhm, user_radius, maxwidth, fixed, tables, radii, lost)


@njit(cache=True, nogil=True)
def source_radii_serial(image, i0, i1, kind, fwhm, user_radius, maxwidth, fixed, tables, radii,
                        lost, total):
    """Sources [i0, i1) as `_source_radii`, one thread; returns ``total`` + their lost light
    (summed in source order) and their largest radius."""
    rmax = 0
    for i in range(i0, i1):
        _source_radius(image, i, kind, fwhm, user_radius, maxwidth, fixed, tables, radii, lost)
        total += lost[i]
        rmax = max(rmax, radii[i])
    return total, rmax


_LIST_RMAX = 64          # offset lists for the interior fast path up to this radius


@njit(cache=True)
def _offset_lists(kernel, rmax, X):
    """For r = 1..rmax: the (j offset, kernel value) of every deposit of an interior source, in
    the C's order (dx outer, dy inner; nonzero entries within the circle r)."""
    half = kernel.shape[0] // 2
    starts = np.zeros(rmax + 2, dtype=np.int64)
    count = 0
    for r in range(1, rmax + 1):
        starts[r] = count
        count += (2 * r + 1) ** 2
    starts[rmax + 1] = count
    dj = np.empty(count, dtype=np.int64)
    kv = np.empty(count)
    for r in range(1, rmax + 1):
        n = starts[r]
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                value = kernel[half + dy, half + dx]
                if value != 0.0 and dx * dx + dy * dy <= r * r:
                    dj[n] = dy * X + dx
                    kv[n] = value
                    n += 1
        starts[r] = starts[r] | (n << 32)     # low: first entry, high: end
    return starts, dj, kv


@njit(cache=True, inline="always")
def _deposit_band(image, X, Y, kernel, radii, rmax, xmax, lists, out, ya, yb, i0, i1):
    """Deposits into output rows [ya, yb) from the sources in [i0, i1), in source order. A
    source whose whole disc lies inside the image and the band walks its offset list."""
    starts, dj, kv = lists
    fast = starts.size - 2
    size = kernel.shape[0]
    half = size // 2
    flat = kernel.ravel()
    jlo, jhi = ya * X, yb * X
    first = max(i0, (ya - rmax - 1) * X)
    last = min(i1, (yb + rmax + 1) * X)
    for i in range(first, last):
        r = radii[i]
        if r <= 0:
            continue
        v = np.float64(image[i])
        x0 = i % X
        y0 = i // X
        if r <= fast and x0 >= r and x0 + r < X and y0 - r >= ya and y0 + r < yb:
            begin, end = starts[r] & 0xFFFFFFFF, starts[r] >> 32
            for n in range(begin, end):
                out[i + dj[n]] = np.float64(out[i + dj[n]]) + v * kv[n]
            continue
        lo = max(-r, ya - 1 - y0)
        hi = min(r, yb - y0)
        for dx in range(-r, r + 1):
            x = x0 + dx
            if x < 0 or x > xmax:
                continue
            for dy in range(lo, hi + 1):
                k = size * (half + dy) + half + dx
                if k < 0 or k >= flat.size or flat[k] == 0.0:
                    continue
                if dx * dx + dy * dy > r * r:
                    continue
                y = y0 + dy
                if y < 0 or y > Y:
                    continue
                j = y * X + x
                if j < jlo or j >= jhi:
                    continue
                out[j] = np.float64(out[j]) + v * flat[k]


@njit(cache=True, parallel=True)
def _deposit(image, X, Y, kernel, radii, rmax, xmax, nbands, lists, out):
    """Band-parallel deposits of every source; x up to ``xmax`` (the C: X, one past the last
    column)."""
    rows = (Y + nbands - 1) // nbands
    for band in prange(nbands):
        ya = band * rows
        yb = min(Y, ya + rows)
        if ya < yb:
            _deposit_band(image, X, Y, kernel, radii, rmax, xmax, lists, out, ya, yb, 0,
                          X * Y)


@njit(cache=True, nogil=True)
def deposit_serial(image, X, Y, kernel, radii, rmax, xmax, lists, out, i0, i1):
    """Deposits of the sources [i0, i1) into the whole image, one thread, source order."""
    _deposit_band(image, X, Y, kernel, radii, rmax, xmax, lists, out, 0, Y, i0, i1)


@njit(cache=True, parallel=True)
def _add_back(out, share):
    for j in prange(out.size):
        out[j] = np.float64(out[j]) + share


def apply_psf(image: np.ndarray, X: int, Y: int, kind: int, fwhm: float, user_radius: int,
              fixed: bool = False, out=print) -> np.ndarray:
    """The C's ``apply_psf`` on ``image`` (float32 [X*Y], pixel order); returns a new float32
    [X*Y] image. ``fwhm`` in pixels (> 0), ``user_radius`` 0 for automatic radii; ``out``
    receives the C's printed lines. ``fixed`` (``-quirks fixed``): NaN sources are skipped
    instead of blanking the image, light falling right of the last column is lost instead of
    wrapping into the next row, and a source below 0.01 photons keeps a radius of 1 instead of
    vanishing (Gaussian automatic radius)."""
    radius = user_radius
    if radius <= 0:
        finite = image[~np.isnan(image)]
        max_I = max(0.0, float(finite.max())) if finite.size else 0.0
        out(f"  maximum input photon/pixel: {max_I:g}")
        if max_I <= 0.0:
            out("WARNING: no photons, PSF skipped")
            return np.zeros_like(image)
        radius = int(auto_radius(kind, fwhm, max_I))
        out(f"  auto-selected psf_radius = {radius} pixels")
        if radius == 0 or (fixed and radius < 0):
            radius = 1
        radius = max(radius, 0)  # INT_MIN (max_I < 0.01): every source's radius is too

    maxwidth = max(X, Y)
    radius = min(radius, maxwidth)
    kernel = psf_kernel(kind, fwhm, radius)
    radii = np.empty(image.size, dtype=np.int32)
    lost = np.empty(image.size, dtype=np.float64)
    tables = radius_tables(kind, fwhm, user_radius, maxwidth, fixed)
    _source_radii(image, kind, fwhm, user_radius, maxwidth, fixed, tables, radii, lost)
    total_lost = float(_sequential_sum(lost))
    result = np.zeros(image.size, dtype=np.float32)
    rmax = int(radii.max(initial=0))
    lists = _offset_lists(kernel, min(rmax, radius, _LIST_RMAX), X)
    _deposit(image, X, Y, kernel, radii, rmax, X - 1 if fixed else X,
             max(1, min(Y, 8 * get_num_threads())), lists, result)
    return finish(result, total_lost, X, Y, out)


def finish(result: np.ndarray, total_lost: float, X: int, Y: int, out) -> np.ndarray:
    """The C's last step: the lost light added back evenly (printed)."""
    out(f"adding back {_g(total_lost)} lost photons")
    _add_back(result, total_lost / (X * Y))
    return result


@njit(cache=True)
def _sequential_sum(values):
    total = 0.0
    for v in values:
        total += v
    return total
