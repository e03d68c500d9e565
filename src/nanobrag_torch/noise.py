"""Exact ports of nanoBragg.c's random generator and its image output conversions.

Random numbers: Numerical Recipes ``ran1`` (Park-Miller minimal standard with a 32-entry
Bays-Durham shuffle), ``gaussdev`` (polar Box-Muller) and ``poidev`` (direct method below a mean
of 12, Lorentzian rejection method up to 1e6, Gaussian above), with the C's float32/float64
mix reproduced operation by operation so that noise images are bit-identical: every C variable
declared ``float`` is rounded to float32 after each operation (a float32 ``+ - * /`` equals the
float64 result rounded once to float32), while ``exp``/``log``/``tan``/``sqrt`` run in double
through Python's ``math`` (the same libm the C links). The C ``double -> unsigned`` casts follow
what gcc emits on x86-64 (truncate to int32, keep the low bits; NaN and out-of-range give 0).

Images are numpy arrays [slow, fast]; pixel (f, s) is ``image[s, f]``. A ROI is
``(xmin, xmax, ymin, ymax)``, inclusive pixel bounds with fast = x and slow = y, or None for the
whole image; pixels outside it are skipped (no random draws) and are 0 in every output.
"""

from __future__ import annotations

import math
import struct

import numpy as np

# (xmin, xmax, ymin, ymax), inclusive; fast = x, slow = y.
Roi = tuple[int, int, int, int]

_FLOAT = struct.Struct("<f")

# ran1 constants (Numerical Recipes in C, 2nd ed.)
_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM
_IQ = 127773
_IR = 2836
_NTAB = 32
_NDIV = 1 + (_IM - 1) // _NTAB
_RNMX = 1.0 - 1.2e-7
_GAMMLN_COF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)


def _f32(x: float) -> float:
    """Round a double to the nearest float32 (C assignment to ``float``); overflow gives inf."""
    try:
        return _FLOAT.unpack(_FLOAT.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _exp(x: float) -> float:
    """C ``exp``: inf on overflow instead of Python's OverflowError."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


_RNMX_F32 = _f32(_RNMX)


class CRandom:
    """The C's random state for one run.

    ``idum`` is the seed variable the C passes by pointer (the CLI stores ``-seed N`` as
    ``-N``; a value <= 0 re-initialises the shuffle table on the next draw). ``iy``/``iv`` are
    ran1's static shuffle state, shared in the C by every seed variable (seed, mosaic_seed,
    misset_seed): to draw from another seed variable, swap it into ``idum`` and read the
    advanced value back. ``gaussdev``'s spare deviate and ``poidev``'s cache of the last mean
    are statics too and live here.
    """

    def __init__(self, idum: int):
        self.idum = int(idum)
        self.iy = 0
        self.iv = [0] * _NTAB
        self._iset = 0
        self._gset = 0.0
        self._oldm = -1.0
        self._g = self._sq = self._alxm = 0.0

    def ran1(self) -> float:
        """Uniform deviate in (0, 1), a float32 value (at most float32(1 - 1.2e-7))."""
        idum = self.idum
        if idum <= 0 or not self.iy:
            idum = 1 if -idum < 1 else -idum
            for j in range(_NTAB + 7, -1, -1):
                k = idum // _IQ
                idum = _IA * (idum - k * _IQ) - _IR * k
                if idum < 0:
                    idum += _IM
                if j < _NTAB:
                    self.iv[j] = idum
            self.iy = self.iv[0]
        k = idum // _IQ
        idum = _IA * (idum - k * _IQ) - _IR * k
        if idum < 0:
            idum += _IM
        self.idum = idum
        j = self.iy // _NDIV
        self.iy = self.iv[j]
        self.iv[j] = idum
        temp = _f32(_AM * self.iy)
        return _RNMX_F32 if temp > _RNMX else temp

    def gaussdev(self) -> float:
        """Standard normal deviate (float32 value); generates two, returns the spare next time."""
        if self._iset:
            self._iset = 0
            return self._gset
        while True:
            v1 = _f32(2.0 * self.ran1() - 1.0)
            v2 = _f32(2.0 * self.ran1() - 1.0)
            rsq = _f32(_f32(v1 * v1) + _f32(v2 * v2))
            if not (rsq >= 1.0 or rsq == 0):
                break
        fac = _f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
        self._gset = _f32(v1 * fac)
        self._iset = 1
        return _f32(v2 * fac)

    def poidev(self, xm: float) -> float:
        """Poisson deviate of mean ``xm`` (a float32 value), returned as a float32 value."""
        if xm > 1.0e6:
            return _f32(xm + math.sqrt(xm) * self.gaussdev())
        if xm < 12.0:
            if xm != self._oldm:
                self._oldm = xm
                self._g = _f32(_exp(-xm))
            g = self._g
            em = -1.0
            t = 1.0
            while True:
                em += 1.0  # small integers: exact in float32
                t = _f32(t * self.ran1())
                if not t > g:
                    return em
        if xm != self._oldm:
            self._oldm = xm
            self._sq = _f32(math.sqrt(2.0 * xm))
            self._alxm = _f32(math.log(xm))
            self._g = _f32(_f32(xm * self._alxm) - self.gammln(_f32(xm + 1.0)))
        sq, alxm, g = self._sq, self._alxm, self._g
        while True:
            while True:
                y = _f32(math.tan(math.pi * self.ran1()))
                em = _f32(_f32(sq * y) + xm)
                if not em < 0.0:
                    break
            if math.isfinite(em):
                em = float(math.floor(em))
            # float32: y*y and the exponent's three terms; double: the rest (stored to float).
            exponent = _f32(_f32(_f32(em * alxm) - self.gammln(_f32(em + 1.0))) - g)
            t = _f32(0.9 * (1.0 + _f32(y * y)) * _exp(exponent))
            if not self.ran1() > t:
                return em

    @staticmethod
    def gammln(xx: float) -> float:
        """ln(Gamma(xx)) by the Lanczos series, in double, returned as a float32 value."""
        x = y = xx
        tmp = x + 5.5
        tmp -= (x + 0.5) * math.log(tmp)
        ser = 1.000000000190015
        for cof in _GAMMLN_COF:
            y += 1.0
            ser += cof / y
        return _f32(-tmp + math.log(2.5066282746310005 * ser / x))


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


def int_image(float_image: np.ndarray, scale: float, adc: float,
              roi: Roi | None = None) -> np.ndarray:
    """SMV ``-intfile`` pixels: ``floorf(clip(I*scale + adc, 0, 65535) + 0.5)``.

    Args:
        float_image: float32 [slow, fast], photons per pixel.
        scale: counts per photon; adc: offset added to every pixel (counts).
    Returns:
        uint16 [slow, fast]; 0 outside the ROI. The sum is in double and, as ``floorf`` takes a
        float, ``test + 0.5`` is rounded to float32 first (a sum of 100.49999999 gives 101).
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    values = image[rows, cols].astype(np.float64) * scale + adc
    values = np.where(values > 65535.0, 65535.0, values)
    values = np.where(values < 0.0, 0.0, values)
    out = np.zeros(image.shape, dtype=np.uint16)
    floored = np.floor((values + 0.5).astype(np.float32)).astype(np.float64)
    out[rows, cols] = _c_unsigned(floored, 16)
    return out


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
        deviates; overloads: number of pixels clipped at 65535).

    Pixels are drawn in C order (slow-major), row by row, by a plain Python loop: about
    1-5 us per pixel (0.04 s for the 128^2 golden case, roughly 40-80 s at 4096^2). The
    sequential RNG is the cost; a compiled ``_poisson_row`` would not change the results.
    """
    image = np.asarray(float_image, dtype=np.float32)
    rows, cols = _roi_slices(image.shape, roi)
    if rng is None:
        rng = CRandom(seed)
    else:
        rng.idum = int(seed)
    out = np.zeros(image.shape, dtype=np.uint16)
    photons = 0.0
    overloads = 0
    for row in range(rows.start, rows.stop):
        counts, photons, overloads = _poisson_row(image[row, cols].tolist(), rng, adc, photons,
                                                  overloads)
        out[row, cols] = _c_unsigned(np.asarray(counts, dtype=np.float64), 16)
    return out, photons, overloads


def _poisson_row(means: list[float], rng: CRandom, adc: float, photons: float,
                 overloads: int) -> tuple[list[float], float, int]:
    """Per pixel in order: deviate + adc, clipped at 65535 before the integer cast; the photon
    sum and overload count run on from the previous row."""
    poidev = rng.poidev
    counts = []
    for mean in means:
        test = poidev(mean)
        photons += test
        test += adc
        if test > 65535.0:
            test = 65535.0
            overloads += 1
        counts.append(test)
    return counts, photons, overloads


def _sequential_sum(values: np.ndarray, chunk: int = 1 << 20) -> float:
    """Left-to-right float64 sum (the C loop's rounding; numpy's sum is pairwise)."""
    total = 0.0
    for begin in range(0, values.size, chunk):
        part = np.empty(min(chunk, values.size - begin) + 1, dtype=np.float64)
        part[0] = total
        part[1:] = values[begin:begin + chunk]
        total = float(np.cumsum(part)[-1])
    return total


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
