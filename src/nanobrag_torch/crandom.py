"""The C programs' random generator, ported exactly (nanoBragg.c and noisify.c share it).

Numerical Recipes ``ran1`` (Park-Miller minimal standard with a 32-entry Bays-Durham shuffle),
``gaussdev`` (polar Box-Muller) and ``poidev`` (direct method below a mean of 12, Lorentzian
rejection method up to 1e6, Gaussian above), with the C's float32/float64 mix reproduced
operation by operation so that noise images are bit-identical: every C variable declared
``float`` is rounded to float32 after each operation (a float32 ``+ - * /`` equals the float64
result rounded once to float32), while ``exp``/``log``/``tan``/``sqrt`` run in double (libm, as
the C).

The functions are compiled with numba (``njit``, cached on disk) and take the state as two
small arrays (see :class:`CRandom`), so compiled loops (``noise.py``, ``noisify/``) and single
draws from Python (``physics/mosaic.py``) share one generator state.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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


@njit(cache=True)
def _f32(x):
    """Round a double to the nearest float32 (C assignment to ``float``); overflow gives inf.
    The result is typed float64: numba would otherwise carry float32 values on and call the
    float32 ``logf``/``expf`` where the C calls the double ``log``/``exp``."""
    return np.float64(np.float32(x))


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
def _polar_pair(st):
    """gaussdev's draws: (v1, v2, rsq) float32 values, the first pair inside the unit circle."""
    while True:
        v1 = _f32(2.0 * _ran1(st) - 1.0)
        v2 = _f32(2.0 * _ran1(st) - 1.0)
        rsq = _f32(_f32(v1 * v1) + _f32(v2 * v2))
        if not (rsq >= 1.0 or rsq == 0.0):
            return v1, v2, rsq


@njit(cache=True)
def _gaussdev(st, fs):
    """Standard normal deviate (float32 value); makes two, returns the spare on the next call."""
    if fs[_ISET] != 0.0:
        fs[_ISET] = 0.0
        return fs[_GSET]
    v1, v2, rsq = _polar_pair(st)
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
        """Uniform deviate in (0, 1), a float32 value (at most float32(1 - 1.2e-7))."""
        return _ran1(self.ints)

    def gaussdev(self) -> float:
        """Standard normal deviate (float32 value)."""
        return _gaussdev(self.ints, self.floats)

    def poidev(self, xm: float) -> float:
        """Poisson deviate of mean ``xm`` (a float32 value), returned as a float32 value."""
        return _poidev(float(xm), self.ints, self.floats)
