"""The C programs' random generator, ported exactly (nanoBragg.c and noisify.c share it).

Numerical Recipes ``ran1`` (Park-Miller minimal standard with a 32-entry Bays-Durham shuffle),
``gaussdev`` (polar Box-Muller) and ``poidev`` (direct method below a mean of 12, Lorentzian
rejection method up to 1e6, Gaussian above), with the C's float32/float64 mix reproduced
operation by operation so that noise images are bit-identical: float32 arithmetic where the C
declares ``float``, ``exp``/``log``/``tan``/``sqrt`` in double (libm, as the C).

Compiled with numba on first use (``lazy_numba``, cached on disk). The primitives (``ran1``, ``gaussdev``, ``poidev``) work on
the state held in local variables and return it, so a compiled loop keeps the generator in
registers (``noise.py``, ``noisify/stream.py``); :class:`CRandom` keeps the state between calls
in two small arrays (single ran1 draws from Python, in plain Python: ``physics/mosaic.py``).
Its users (``noise.py``, ``noisify/``) inline it: their disk cache is stamped with this
module's source as well (``lazy_numba``), so editing it recompiles them.
``polar_pair``, ``gaussdev`` and ``poidev`` draw from ``ran1``; their ``*_of`` forms take the
draw source as first argument (``ring_draw``: a stream drawn beforehand on another thread).
State: ``idum`` (the seed variable the C passes by pointer), ``iy`` and ``iv`` (int64 [32],
the shuffle table; statics shared by every seed variable in the C), gaussdev's spare
(``iset``, ``gset``) and poidev's cache ``cache`` = (oldm, g, sq, alxm), float32.
"""

from __future__ import annotations

import math

import numpy as np
from .lazy_numba import njit, python_form  # numba imported on the first call (start-up)

# ran1 constants (Numerical Recipes in C, 2nd ed.)
_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM
_NTAB = 32
_RNMX = 1.0 - 1.2e-7
_RNMX_F32 = float(np.float32(_RNMX))
_GAMMLN_COF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)
# Integer state: [idum, iy, iv[0..31]]; float state: [iset, gset, oldm, g, sq, alxm].
_IDUM, _IY, _IV = 0, 1, 2
_ISET, _GSET, _OLDM, _G, _SQ, _ALXM = range(6)
_F32 = np.float32


@njit(cache=True, inline="always")
def _lcg(idum):
    """16807 * idum mod (2^31 - 1) for 0 <= idum <= 2^31 - 1, what the C's Schrage method
    computes, without a division (2^31 = 1 mod the Mersenne prime)."""
    x = _IA * idum
    x = (x & _IM) + (x >> 31)
    return x - _IM if x >= _IM else x


@njit(cache=True, inline="always")
def ran1(idum, iy, iv):
    """ran1: (float32 deviate in (0, 1), idum, iy); the table ``iv`` is updated in place."""
    if idum <= 0 or iy == 0:
        idum = 1 if -idum < 1 else -idum
        for j in range(_NTAB + 7, -1, -1):
            idum = _lcg(idum)
            if j < _NTAB:
                iv[j] = idum
        iy = iv[0]
    idum = _lcg(idum)
    j = iy >> 26                     # iy / NDIV, NDIV = 1 + (IM - 1) / NTAB = 2^26
    iy = iv[j]
    iv[j] = idum
    temp = _F32(_AM * iy)
    return (_F32(_RNMX_F32) if temp > _RNMX else temp), idum, iy


@njit(cache=True, inline="always")
def ring_draw(pos, iy, ring):
    """A draw source like `ran1` reading a stream drawn beforehand: (``ring[pos mod size]``,
    pos + 1, iy) for a float32 ``ring`` whose size is a power of 2 (``noisify/pipeline.py``)."""
    return ring[pos & (ring.size - 1)], pos + 1, iy


@njit(cache=True, inline="always")
def polar_pair_of(draw, idum, iy, iv):
    """gaussdev's draws: (v1, v2, rsq float32, idum, iy), the first pair in the unit circle.
    ``draw`` is the draw source: `ran1`, or `ring_draw` (then idum is the ring position)."""
    while True:
        u, idum, iy = draw(idum, iy, iv)
        v1 = _F32(2.0 * u - 1.0)
        u, idum, iy = draw(idum, iy, iv)
        v2 = _F32(2.0 * u - 1.0)
        rsq = v1 * v1 + v2 * v2
        if not (rsq >= 1.0 or rsq == 0.0):
            return v1, v2, rsq, idum, iy


@njit(cache=True, inline="always")
def polar_pair(idum, iy, iv):
    return polar_pair_of(ran1, idum, iy, iv)


@njit(cache=True, inline="always")
def box_muller(v, rsq):
    """One half of a pair: v * fac, fac = sqrt(-2 ln(rsq) / rsq) in double stored as float."""
    fac = _F32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
    return _F32(v) * fac


@njit(cache=True, inline="always")
def gaussdev_of(draw, idum, iy, iv, iset, gset):
    """gaussdev: (float32 deviate, idum, iy, iset, gset); a new pair leaves its spare."""
    if iset:
        return gset, idum, iy, False, gset
    v1, v2, rsq, idum, iy = polar_pair_of(draw, idum, iy, iv)
    return box_muller(v2, rsq), idum, iy, True, box_muller(v1, rsq)


@njit(cache=True, inline="always")
def gaussdev(idum, iy, iv, iset, gset):
    return gaussdev_of(ran1, idum, iy, iv, iset, gset)


@njit(cache=True)
def _gammln(xx):
    """ln(Gamma(xx)) by the Lanczos series in double from a float32 ``xx``; float32 result."""
    x = np.float64(xx)
    y = x
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for cof in _GAMMLN_COF:
        y += 1.0
        ser += cof / y
    return _F32(-tmp + math.log(2.5066282746310005 * ser / x))


@njit(cache=True, inline="always")
def poidev_of(draw, xm, idum, iy, iv, iset, gset, cache):
    """poidev of the float32 mean ``xm``: (float32 deviate, idum, iy, iset, gset, cache)."""
    oldm, g, sq, alxm = cache
    if xm > 1.0e6:
        dev, idum, iy, iset, gset = gaussdev_of(draw, idum, iy, iv, iset, gset)
        return _F32(np.float64(xm) + math.sqrt(np.float64(xm)) * dev), idum, iy, iset, gset, cache
    if xm < 12.0:
        if xm != oldm:
            oldm = xm
            g = _F32(math.exp(-np.float64(xm)))
        em = _F32(0.0)
        t = _F32(1.0)
        while True:
            u, idum, iy = draw(idum, iy, iv)
            t = t * u
            if not t > g:
                return em, idum, iy, iset, gset, (oldm, g, sq, alxm)
            em += _F32(1.0)
    if xm != oldm:
        oldm = xm
        sq = _F32(math.sqrt(2.0 * np.float64(xm)))
        alxm = _F32(math.log(np.float64(xm)))
        g = xm * alxm - _gammln(_F32(np.float64(xm) + 1.0))
    while True:
        while True:
            u, idum, iy = draw(idum, iy, iv)
            y = _F32(math.tan(math.pi * np.float64(u)))
            em = sq * y + xm
            if not em < 0.0:
                break
        em = _F32(np.floor(np.float64(em)))
        exponent = em * alxm - _gammln(_F32(np.float64(em) + 1.0)) - g
        t = _F32(0.9 * (1.0 + np.float64(y * y)) * math.exp(np.float64(exponent)))
        u, idum, iy = draw(idum, iy, iv)
        if not u > t:
            return em, idum, iy, iset, gset, (oldm, g, sq, alxm)


@njit(cache=True, inline="always")
def poidev(xm, idum, iy, iv, iset, gset, cache):
    return poidev_of(ran1, xm, idum, iy, iv, iset, gset, cache)


@njit(cache=True, inline="always")
def load_floats(fs):
    """(iset, gset, cache) from the float state array."""
    return (fs[_ISET] != 0.0, _F32(fs[_GSET]),
            (_F32(fs[_OLDM]), _F32(fs[_G]), _F32(fs[_SQ]), _F32(fs[_ALXM])))


@njit(cache=True, inline="always")
def store_floats(fs, iset, gset, cache):
    fs[_ISET], fs[_GSET] = 1.0 if iset else 0.0, gset
    fs[_OLDM], fs[_G], fs[_SQ], fs[_ALXM] = cache


@njit(cache=True)
def _gaussdev_arrays(st, fs):
    iset, gset, cache = load_floats(fs)
    dev, st[_IDUM], st[_IY], iset, gset = gaussdev(st[_IDUM], st[_IY], st[_IV:], iset, gset)
    store_floats(fs, iset, gset, cache)
    return np.float64(dev)


@njit(cache=True)
def _poidev_arrays(xm, st, fs):
    iset, gset, cache = load_floats(fs)
    em, st[_IDUM], st[_IY], iset, gset, cache = poidev(_F32(xm), st[_IDUM], st[_IY], st[_IV:],
                                                       iset, gset, cache)
    store_floats(fs, iset, gset, cache)
    return np.float64(em)


class CRandom:
    """The C's random state for one run.

    ``idum`` is the seed variable the C passes by pointer (the CLI stores ``-seed N`` as
    ``-N``; a value <= 0 re-initialises the shuffle table on the next draw). ``iy``/``iv`` are
    ran1's static shuffle state, shared in the C by every seed variable (seed, mosaic_seed,
    misset_seed): to draw from another seed variable, assign it to ``idum`` and read the
    advanced value back. ``gaussdev``'s spare deviate and ``poidev``'s cache of the last mean
    are statics too and live here (``floats``).

    ``ints`` (int64 [34]: idum, iy, iv[32]) and ``floats`` (float64 [6]: gaussdev's iset and
    gset, poidev's oldm, g, sq, alxm) are the state arrays the compiled functions take.
    """

    def __init__(self, idum: int):
        self.ints = np.zeros(_IV + _NTAB, dtype=np.int64)   # [idum, iy, iv[32]]
        self.floats = np.array([0.0, 0.0, -1.0, 0.0, 0.0, 0.0])
        self.idum = idum

    @property
    def idum(self) -> int:
        return int(self.ints[_IDUM])

    @idum.setter
    def idum(self, value: int) -> None:
        self.ints[_IDUM] = int(value)

    def ran1(self) -> float:
        """Uniform deviate in (0, 1), a float32 value (at most float32(1 - 1.2e-7)); drawn in
        plain Python (mosaic domains and misset draw a few: numba's import costs ~0.6 s)."""
        st = self.ints
        u, st[_IDUM], st[_IY] = python_form(ran1)(int(st[_IDUM]), int(st[_IY]), st[_IV:])
        return float(u)

    def gaussdev(self) -> float:
        """Standard normal deviate (float32 value)."""
        return _gaussdev_arrays(self.ints, self.floats)

    def poidev(self, xm: float) -> float:
        """Poisson deviate of mean ``xm`` (a float32 value), returned as a float32 value."""
        return _poidev_arrays(float(xm), self.ints, self.floats)
