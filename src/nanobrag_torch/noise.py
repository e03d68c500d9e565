"""Exact ports of nanoBragg.c's random generator and its image output conversions.

Random numbers: Numerical Recipes ``ran1`` (Park-Miller minimal standard with a 32-entry
Bays-Durham shuffle), ``gaussdev`` (polar Box-Muller) and ``poidev`` (direct method below a mean
of 12, Lorentzian rejection method up to 1e6, Gaussian above), with the C's float32/float64
mix reproduced operation by operation so that noise images are bit-identical: every C variable
declared ``float`` is rounded to float32 after each operation (a float32 ``+ - * /`` equals the
float64 result rounded once to float32), while ``exp``/``log``/``tan``/``sqrt`` run in double
(libm, as the C). The C ``double -> unsigned`` casts follow what gcc emits on x86-64 (truncate
to int32, keep the low bits; NaN and out-of-range give 0).

The generator is compiled with numba (``njit``, cached on disk): the C's noise stream is one
sequential ran1 sequence in pixel order, so it cannot be vectorised; compiled, a 4096^2 image
at a mean of 10 photons/pixel takes about a second (reports/noise.md). Its state lives in two
small arrays (see :class:`CRandom`) so the same compiled code serves single draws from Python.

Images are numpy arrays [slow, fast]; pixel (f, s) is ``image[s, f]``. A ROI is
``(xmin, xmax, ymin, ymax)``, inclusive pixel bounds with fast = x and slow = y, or None for the
whole image; pixels outside it are skipped (no random draws) and are 0 in every output.
"""

from __future__ import annotations

import math

import numpy as np
from .lazy_numba import njit  # numba imported on the first call (start-up)

# (xmin, xmax, ymin, ymax), inclusive; fast = x, slow = y.
Roi = tuple[int, int, int, int]

# ran1 constants (Numerical Recipes in C, 2nd ed.)
_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM
_IQ = 127773
_IR = 2836
_NTAB = 32
_NDIV = 1 + (_IM - 1) // _NTAB
_RNMX = 1.0 - 1.2e-7
_RNMX_F32 = float(np.float32(_RNMX))
_GAMMLN_COF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)
# Integer state: [idum, iy, iv[0..31]]; float state: [iset, gset, oldm, g, sq, alxm].
_IDUM, _IY, _IV = 0, 1, 2
_ISET, _GSET, _OLDM, _G, _SQ, _ALXM = range(6)
_ROWS_PER_BLOCK = 256        # noise rows per compiled call (bounds the float64 scratch block)


@njit(cache=True)
def _f32(x):
    """Round a double to the nearest float32 (C assignment to ``float``); overflow gives inf."""
    return float(np.float32(x))


@njit(cache=True)
def _ran1(st):
    """ran1 on the integer state ``st`` (int64 [34]): a float32 value in (0, 1)."""
    idum = st[_IDUM]
    if idum <= 0 or st[_IY] == 0:
        idum = 1 if -idum < 1 else -idum
        for j in range(_NTAB + 7, -1, -1):
            k = idum // _IQ
            idum = _IA * (idum - k * _IQ) - _IR * k
            if idum < 0:
                idum += _IM
            if j < _NTAB:
                st[_IV + j] = idum
        st[_IY] = st[_IV]
    k = idum // _IQ
    idum = _IA * (idum - k * _IQ) - _IR * k
    if idum < 0:
        idum += _IM
    st[_IDUM] = idum
    j = st[_IY] // _NDIV
    st[_IY] = st[_IV + j]
    st[_IV + j] = idum
    temp = _f32(_AM * st[_IY])
    return _RNMX_F32 if temp > _RNMX else temp


@njit(cache=True)
def _gaussdev(st, fs):
    """Standard normal deviate (float32 value); makes two, returns the spare on the next call."""
    if fs[_ISET] != 0.0:
        fs[_ISET] = 0.0
        return fs[_GSET]
    while True:
        v1 = _f32(2.0 * _ran1(st) - 1.0)
        v2 = _f32(2.0 * _ran1(st) - 1.0)
        rsq = _f32(_f32(v1 * v1) + _f32(v2 * v2))
        if not (rsq >= 1.0 or rsq == 0.0):
            break
    fac = _f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
    fs[_GSET] = _f32(v1 * fac)
    fs[_ISET] = 1.0
    return _f32(v2 * fac)


@njit(cache=True)
def _gammln(xx):
    """ln(Gamma(xx)) by the Lanczos series, in double, returned as a float32 value."""
    x = xx
    y = xx
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for cof in _GAMMLN_COF:
        y += 1.0
        ser += cof / y
    return _f32(-tmp + math.log(2.5066282746310005 * ser / x))


@njit(cache=True)
def _poidev(xm, st, fs):
    """Poisson deviate of mean ``xm`` (a float32 value), returned as a float32 value."""
    if xm > 1.0e6:
        return _f32(xm + math.sqrt(xm) * _gaussdev(st, fs))
    if xm < 12.0:
        if xm != fs[_OLDM]:
            fs[_OLDM] = xm
            fs[_G] = _f32(math.exp(-xm))
        g = fs[_G]
        em = -1.0
        t = 1.0
        while True:
            em += 1.0  # small integers: exact in float32
            t = _f32(t * _ran1(st))
            if not t > g:
                return em
    if xm != fs[_OLDM]:
        fs[_OLDM] = xm
        fs[_SQ] = _f32(math.sqrt(2.0 * xm))
        fs[_ALXM] = _f32(math.log(xm))
        fs[_G] = _f32(_f32(xm * fs[_ALXM]) - _gammln(_f32(xm + 1.0)))
    sq, alxm, g = fs[_SQ], fs[_ALXM], fs[_G]
    while True:
        while True:
            y = _f32(math.tan(math.pi * _ran1(st)))
            em = _f32(_f32(sq * y) + xm)
            if not em < 0.0:
                break
        em = np.floor(em)
        # float32: y*y and the exponent's three terms; double: the rest (stored to float).
        exponent = _f32(_f32(_f32(em * alxm) - _gammln(_f32(em + 1.0))) - g)
        t = _f32(0.9 * (1.0 + _f32(y * y)) * math.exp(exponent))
        if not _ran1(st) > t:
            return em


@njit(cache=True)
def _noise_block(means, st, fs, adc, totals, out):
    """C noise loop over ``means`` (float32 [rows, cols]) in row-major order: ``out`` (float64,
    same shape) = deviate + adc clipped at 65535; ``totals`` = [photons, overloads] carried on."""
    photons = totals[0]
    overloads = totals[1]
    for i in range(means.shape[0]):
        for j in range(means.shape[1]):
            test = _poidev(float(means[i, j]), st, fs)
            photons += test
            test += adc
            if test > 65535.0:
                test = 65535.0
                overloads += 1.0
            out[i, j] = test
    totals[0] = photons
    totals[1] = overloads


class CRandom:
    """The C's random state for one run.

    ``idum`` is the seed variable the C passes by pointer (the CLI stores ``-seed N`` as
    ``-N``; a value <= 0 re-initialises the shuffle table on the next draw). ``iy``/``iv`` are
    ran1's static shuffle state, shared in the C by every seed variable (seed, mosaic_seed,
    misset_seed): to draw from another seed variable, assign it to ``idum`` and read the
    advanced value back. ``gaussdev``'s spare deviate and ``poidev``'s cache of the last mean
    are statics too and live here (``_floats``).
    """

    def __init__(self, idum: int):
        self._ints = np.zeros(_IV + _NTAB, dtype=np.int64)   # [idum, iy, iv[32]]
        self._floats = np.array([0.0, 0.0, -1.0, 0.0, 0.0, 0.0])
        self.idum = idum

    @property
    def idum(self) -> int:
        return int(self._ints[_IDUM])

    @idum.setter
    def idum(self, value: int) -> None:
        self._ints[_IDUM] = int(value)

    def ran1(self) -> float:
        """Uniform deviate in (0, 1), a float32 value (at most float32(1 - 1.2e-7))."""
        return _ran1(self._ints)

    def gaussdev(self) -> float:
        """Standard normal deviate (float32 value)."""
        return _gaussdev(self._ints, self._floats)

    def poidev(self, xm: float) -> float:
        """Poisson deviate of mean ``xm`` (a float32 value), returned as a float32 value."""
        return _poidev(float(xm), self._ints, self._floats)

    def noise_rows(self, means: np.ndarray, adc: float, totals: np.ndarray) -> np.ndarray:
        """Deviates + adc, clipped at 65535, for float32 ``means`` [rows, cols] in C pixel
        order (float64, same shape); ``totals`` (float64 [2]: photons, overloads) runs on."""
        out = np.empty(means.shape, dtype=np.float64)
        _noise_block(np.ascontiguousarray(means, dtype=np.float32), self._ints, self._floats,
                     float(adc), totals, out)
        return out


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
    top = 65535.0 if bits == 16 else 2.0**31 - 1
    values = image[rows, cols].astype(np.float64) * scale + adc
    values = np.where(values > top, top, values)
    values = np.where(values < 0.0, 0.0, values)
    if bits == 32:
        out = np.zeros(image.shape, dtype=np.int32)
        out[rows, cols] = np.minimum(np.floor(np.nan_to_num(values) + 0.5), top).astype(np.int32)
        return out
    out = np.zeros(image.shape, dtype=np.uint16)
    floored = np.floor((values + 0.5).astype(np.float32)).astype(np.float64)
    out[rows, cols] = _c_unsigned(floored, 16)
    return out


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
        out[block, cols] = _c_unsigned(rng.noise_rows(image[block, cols], adc, totals), 16)
    return out, float(totals[0]), int(totals[1])


def _sequential_sum(values: np.ndarray, chunk: int = 1 << 20) -> float:
    """Left-to-right float64 sum (the C loop's rounding; numpy's sum is pairwise)."""
    total = 0.0
    for begin in range(0, values.size, chunk):
        part = np.empty(min(chunk, values.size - begin) + 1, dtype=np.float64)
        part[0] = total
        part[1:] = values[begin:begin + chunk]
        total = float(np.cumsum(part)[-1])
    return total


@np.errstate(all="ignore")
def image_stats(float_image: np.ndarray, roi: Roi | None = None, mask: np.ndarray | None = None
                ) -> tuple[float, tuple[int, int] | None, float, float, float]:
    """The statistics the C prints after rendering, computed as it does.

    First pass over ROI pixels not masked out (``mask`` [slow, fast], 0 = skipped, as for
    ``-mask``), in pixel order: max_I (running strict maximum from 0.0), sum and sum of squares
    in double (each square is a float32 product, as in the C); mean = sum/n,
    rms = sqrt(sumsqr/(n-1)). Second pass over all ROI pixels (masked ones included, as in the
    C): rmsd = sqrt(sum((I - mean)^2)/(n-1)). n <= 0 counts as 1 for the mean and n <= 1 as 2
    for the square roots. Sums are sequential, matching the C to the last bit.

    Returns:
        (max_I, argmax (slow, fast) of the first pixel reaching max_I or None when no pixel
        exceeds 0, mean, rms, rmsd), intensities in photons.
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    block = image[rows, cols]
    kept = None if mask is None else np.asarray(mask)[rows, cols].ravel() != 0
    values = block.ravel() if kept is None else block.ravel()[kept]

    max_I = float(np.max(values, initial=0.0, where=values > 0.0))
    argmax = None
    if max_I > 0.0:
        index = int(np.argmax(values == max_I))
        if kept is not None:
            index = int(np.flatnonzero(kept)[index])
        row, col = divmod(index, block.shape[1])
        argmax = (rows.start + row, cols.start + col)

    mean = _sequential_sum(values) / max(values.size, 1)
    rms = math.sqrt(_sequential_sum(values * values) / (max(values.size, 2) - 1))
    deviations = block.ravel().astype(np.float64) - mean
    rmsd = math.sqrt(_sequential_sum(deviations * deviations) / (max(deviations.size, 2) - 1))
    return max_I, argmax, mean, rms, rmsd


def panel_noise(images: list, seed: int, adc: float) -> list:
    """uint16 noise images of the panels (float32 [spixels, fpixels] each), drawn from one
    generator stream in panel order (`seed` as `noise.noise_image`'s: the negated -seed)."""
    rng, out = CRandom(seed), []
    for k, im in enumerate(images):
        out.append(noise_image(im, seed if k == 0 else rng.idum, adc, rng=rng)[0])
    return out
