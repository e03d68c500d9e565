"""nanoBragg.c's image output conversions and its Poisson noise image.

The random numbers come from :mod:`nanobrag_torch.crandom` (the C's ran1/gaussdev/poidev,
ported exactly). The C's noise stream is one sequential ran1 sequence in pixel order, so it
cannot be vectorised; compiled with numba, a 4096^2 image at a mean of 10 photons/pixel takes
about a second (reports/noise.md). The C ``double -> unsigned`` casts follow what gcc emits on
x86-64 (truncate to int32, keep the low bits; NaN and out-of-range give 0).

Images are numpy arrays [slow, fast]; pixel (f, s) is ``image[s, f]``. A ROI is
``(xmin, xmax, ymin, ymax)``, inclusive pixel bounds with fast = x and slow = y, or None for the
whole image; pixels outside it are skipped (no random draws) and are 0 in every output.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch

from .lazy_numba import njit  # numba imported on the first call (start-up)

from .crandom import _IDUM, _IV, _IY, CRandom, load_floats, poidev, store_floats
from .printed_stats import printed_sums

# (xmin, xmax, ymin, ymax), inclusive; fast = x, slow = y.
Roi = tuple[int, int, int, int]

_ROWS_PER_BLOCK = 256        # noise rows per compiled call (bounds the float64 scratch block)


@njit(cache=True)
def _noise_block(means, st, fs, adc, totals, out):
    """C noise loop over ``means`` (float32 [rows, cols]) in row-major order: ``out`` (float64,
    same shape) = deviate + adc clipped at 65535; ``totals`` = [photons, overloads] carried on.
    The generator state is loaded from ``st``/``fs`` and stored back at the end."""
    idum, iy, iv = st[_IDUM], st[_IY], st[_IV:].copy()
    iset, gset, cache = load_floats(fs)
    photons = totals[0]
    overloads = totals[1]
    for i in range(means.shape[0]):
        for j in range(means.shape[1]):
            dev, idum, iy, iset, gset, cache = poidev(means[i, j], idum, iy, iv, iset, gset,
                                                      cache)
            test = np.float64(dev)
            photons += test
            test += adc
            if test > 65535.0:
                test = 65535.0
                overloads += 1.0
            out[i, j] = test
    st[_IDUM], st[_IY], st[_IV:] = idum, iy, iv
    store_floats(fs, iset, gset, cache)
    totals[0] = photons
    totals[1] = overloads


def _roi_slices(shape: tuple[int, ...], roi: Roi | None) -> tuple[slice, slice]:
    """(slow, fast) slices of the pixels inside the inclusive ROI, clipped to the image."""
    if roi is None:
        return slice(0, shape[0]), slice(0, shape[1])
    xmin, xmax, ymin, ymax = roi
    return (slice(max(ymin, 0), max(min(ymax + 1, shape[0]), 0)),
            slice(max(xmin, 0), max(min(xmax + 1, shape[1]), 0)))


def _c_unsigned(values: np.ndarray, bits: int) -> np.ndarray:
    """gcc x86-64 ``(unsigned char/short)`` of doubles: int32 truncation, low ``bits`` kept;
    NaN, infinities and values outside int32 give 0."""
    valid = np.isfinite(values) & (values > -2.0**31 - 1.0) & (values < 2.0**31)
    truncated = np.trunc(np.where(valid, values, 0.0)).astype(np.int64)
    return (truncated & ((1 << bits) - 1)).astype(np.uint8 if bits == 8 else np.uint16)


def auto_int_scale(max_I: float) -> float:
    """The C's automatic ``-scale``: 55000/max_I, or 1 when max_I <= 0."""
    return 55000.0 / max_I if max_I > 0.0 else 1.0


def auto_pgm_scale(rmsd: float, int_scale: float) -> float:
    """The C's automatic ``-pgmscale``: 250/(5*rmsd), or the int-image scale when rmsd <= 0."""
    return 250.0 / (5.0 * rmsd) if rmsd > 0.0 else int_scale


@np.errstate(all="ignore")          # inf/NaN pixels convert as the C's casts do, silently
def int_image(float_image: np.ndarray, scale: float, adc: float,
              roi: Roi | None = None, bits: int = 16) -> np.ndarray:
    """SMV ``-intfile`` pixels: ``floorf(clip(I*scale + adc, 0, 65535) + 0.5)``; with
    ``bits=32`` the 32-bit image of ``-cbffile`` / ``-nxs_dtype int32`` (ours):
    ``floor(clip(I*scale + adc, 0, 2^31 - 1) + 0.5)`` in double, no overflow.

    Args:
        float_image: float32 [slow, fast], photons per pixel.
        scale: counts per photon; adc: offset added to every pixel (counts).
    Returns:
        uint16 (int32 for ``bits=32``) [slow, fast]; 0 outside the ROI. The 16-bit sum is in
        double and, as ``floorf`` takes a float, ``test + 0.5`` is rounded to float32 first (a
        sum of 100.49999999 gives 101).
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    if bits == 16 and compiled_outputs():
        out = np.zeros(image.shape, dtype=np.uint16)
        _int16_pixels(image[rows, cols], float(scale), float(adc), out[rows, cols])
        return out
    top = 65535.0 if bits == 16 else 2.0**31 - 1
    values = image[rows, cols].astype(np.float64)      # one scratch array, updated in place
    values *= scale
    values += adc
    np.clip(values, 0.0, top, out=values)              # NaN stays NaN
    if bits == 32:
        out = np.zeros(image.shape, dtype=np.int32)
        out[rows, cols] = np.minimum(np.floor(np.nan_to_num(values) + 0.5), top).astype(np.int32)
        return out
    out = np.zeros(image.shape, dtype=np.uint16)
    values += 0.5
    rounded = values.astype(np.float32)                # floorf takes a float
    np.floor(rounded, out=rounded)
    np.copyto(rounded, 0.0, where=np.isnan(rounded))   # in [0, 65535] or NaN: the cast is exact
    out[rows, cols] = rounded
    return out


def compiled_outputs() -> bool:
    """Whether `int_image` (16-bit) and `image_stats` run their compiled loops
    (`_int16_pixels`, `_stat_sums`): when numba is already imported (noise images and the
    numba step sum import it), since importing it costs a process ~0.3 s.  Both forms give
    the same bits (tests/test_io_outputs.py)."""
    return "numba" in sys.modules


@njit(cache=True, nogil=True)
def _int16_pixels(values, scale, adc, out):
    """`int_image`'s 16-bit pixels in one pass: out = floorf(float(clip(v*scale + adc, 0,
    65535) + 0.5)), NaN -> 0 (values float32, out uint16, both [rows, cols])."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            test = values[i, j] * scale + adc
            if test > 65535.0:
                test = 65535.0
            if test < 0.0:
                test = 0.0
            rounded = np.floor(np.float32(test + 0.5))
            out[i, j] = 0 if np.isnan(rounded) else np.uint16(rounded)


@np.errstate(all="ignore")
def pgm_image(float_image: np.ndarray, pgm_scale: float, roi: Roi | None = None) -> np.ndarray:
    """PGM pixels: ``(unsigned char) min(255, I*pgm_scale)`` in double.

    Args:
        float_image: float32 [slow, fast], photons per pixel; pgm_scale: grey levels per photon.
    Returns:
        uint8 [slow, fast]; 0 outside the ROI (negative values wrap as gcc's cast does).
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    values = image[rows, cols].astype(np.float64) * pgm_scale
    out = np.zeros(image.shape, dtype=np.uint8)
    out[rows, cols] = _c_unsigned(np.where(values > 255.0, 255.0, values), 8)
    return out


def noise_image(float_image: np.ndarray, seed: int, adc: float, roi: Roi | None = None,
                rng: CRandom | None = None) -> tuple[np.ndarray, float, int]:
    """Poisson-noise SMV pixels: ``(unsigned short) min(poidev(I) + adc, 65535)``.

    Args:
        float_image: float32 [slow, fast], the mean photons per pixel.
        seed: the C's ``seed`` variable, i.e. the NEGATED ``-seed`` value (the CLI stores
            ``-atoi``); a seed <= 0 re-initialises ran1.
        adc: offset added to every pixel (counts).
        rng: the run's :class:`CRandom` when earlier draws (mosaic, misset) must carry over
            their shared ran1 table, which matters only for a seed > 0; a fresh one otherwise.
    Returns:
        (uint16 [slow, fast] image, 0 outside the ROI; photons: double sum of the Poisson
        deviates in pixel order; overloads: number of pixels clipped at 65535).

    Pixels are drawn in C order (slow-major) by the compiled loop, a block of rows at a time.
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    if rng is None:
        rng = CRandom(seed)
    else:
        rng.idum = seed
    out = np.zeros(image.shape, dtype=np.uint16)
    totals = np.zeros(2, dtype=np.float64)
    for begin in range(rows.start, rows.stop, _ROWS_PER_BLOCK):
        block = slice(begin, min(begin + _ROWS_PER_BLOCK, rows.stop))
        means = np.ascontiguousarray(image[block, cols])
        noisy = np.empty(means.shape, dtype=np.float64)
        _noise_block(means, rng.ints, rng.floats, float(adc), totals, noisy)
        out[block, cols] = _c_unsigned(noisy, 16)
    return out, float(totals[0]), int(totals[1])


_SCRATCH: list = []   # [terms, running sums]: float64 buffers reused by `sequential_sum`


def sequential_sum(values: np.ndarray, square: bool = False, shift: float | None = None,
                   chunk: int = 1 << 22, start: float = 0.0) -> float:
    """Left-to-right float64 sum (the C loop's rounding; numpy's sum is pairwise) of `values`,
    or with `square` of ``values * values`` -- a float32 product for float32 values, as the
    C's -- or, given `shift`, of float64 ``(values - shift)^2``.  The running sum is torch's
    CPU cumsum (a sequential loop in the input dtype, float64 here; numpy's is ~5x slower)
    into buffers kept between calls.  `start`: the running sum the values are added to."""
    flat = values.ravel()
    n = min(chunk, flat.size)
    if not _SCRATCH or _SCRATCH[0].numel() < n + 1:
        _SCRATCH[:] = [torch.empty(n + 1, dtype=torch.float64) for _ in range(2)]
    total = float(start)
    for begin in range(0, flat.size, chunk):
        piece = flat[begin:begin + chunk]
        terms, sums = (t[:piece.size + 1] for t in _SCRATCH)
        part = terms.numpy()
        part[0] = total
        if square and shift is None:
            np.multiply(piece, piece, out=part[1:], dtype=piece.dtype, casting="unsafe")
        else:
            part[1:] = piece
            if shift is not None:
                part[1:] -= shift
                part[1:] *= part[1:]
        torch.cumsum(terms, 0, out=sums)
        total = float(sums[-1])
    return total


@np.errstate(all="ignore")
def image_stats(float_image: np.ndarray, roi: Roi | None = None, mask: np.ndarray | None = None,
                exact: bool = True) -> tuple[float, tuple[int, int] | None, float, float, float]:
    """The statistics the C prints after rendering, computed as it does.

    First pass over ROI pixels not masked out (``mask`` [slow, fast], 0 = skipped, as for
    ``-mask``), in pixel order: max_I (running strict maximum from 0.0), sum and sum of squares
    in double (each square is a float32 product, as in the C); mean = sum/n,
    rms = sqrt(sumsqr/(n-1)). Second pass over all ROI pixels (masked ones included, as in the
    C): rmsd = sqrt(sum((I - mean)^2)/(n-1)). n <= 0 counts as 1 for the mean and n <= 1 as 2
    for the square roots. Sums are sequential, matching the C to the last bit; with ``exact``
    False (the values are only printed with ``%g``) and no mask, mean, rms and rmsd may come
    from `printed_stats.printed_sums` instead: their ``%g`` texts are the C's, proven by an
    error bound (max_I and argmax are always exact).

    Returns:
        (max_I, argmax (slow, fast) of the first pixel reaching max_I or None when no pixel
        exceeds 0, mean, rms, rmsd), intensities in photons.
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    block = image[rows, cols]
    kept = None if mask is None else np.asarray(mask)[rows, cols].ravel() != 0
    values = block.ravel() if kept is None else block.ravel()[kept]

    compiled = compiled_outputs()
    printed = None if exact or compiled or mask is not None else printed_sums(values)
    if compiled:
        top, first, total, squares = _stat_sums(np.ascontiguousarray(values))
    else:
        top = float(np.fmax.reduce(values)) if values.size else 0.0     # fmax skips NaN
        first = int(np.argmax(values == top)) if top > 0.0 else -1
        if printed is None:
            total, squares = sequential_sum(values), sequential_sum(values, square=True)
    max_I = top if top > 0.0 else 0.0
    argmax = None
    if max_I > 0.0:
        index = first if kept is None else int(np.flatnonzero(kept)[first])
        row, col = divmod(index, block.shape[1])
        argmax = (rows.start + row, cols.start + col)
    if printed is not None:
        return (max_I, argmax, *printed)

    mean = total / max(values.size, 1)
    rms = math.sqrt(squares / (max(values.size, 2) - 1))
    n_all = block.size
    deviations = (_deviation_sum(np.ascontiguousarray(block).ravel(), mean) if compiled
                  else sequential_sum(block, square=True, shift=mean))
    rmsd = math.sqrt(deviations / (max(n_all, 2) - 1))
    return max_I, argmax, mean, rms, rmsd


@njit(cache=True, nogil=True)
def _stat_sums(values):
    """`image_stats`' first pass in one loop over float32 `values` [n]: (running strict
    maximum from 0.0, index of the first pixel reaching it or -1, sequential double sum,
    sequential double sum of float32 squares)."""
    top, first, total, squares = 0.0, -1, 0.0, 0.0
    for i in range(values.size):
        v = values[i]
        if v > top:
            top, first = np.float64(v), i
        total += v
        squares += v * v
    return top, first, total, squares


@njit(cache=True, nogil=True)
def _deviation_sum(values, mean):
    """Sequential double sum of (v - mean)^2 over float32 `values` [n] (`image_stats`' rmsd)."""
    total = 0.0
    for i in range(values.size):
        d = np.float64(values[i]) - mean
        total += d * d
    return total


def panel_noise(images: list, seed: int, adc: float) -> list:
    """uint16 noise images of the panels (float32 [spixels, fpixels] each), drawn from one
    generator stream in panel order (`seed` as `noise.noise_image`'s: the negated -seed)."""
    rng, out = CRandom(seed), []
    for k, im in enumerate(images):
        out.append(noise_image(im, seed if k == 0 else rng.idum, adc, rng=rng)[0])
    return out
