"""Noise pass 1 of noisify.c (flicker, calibration, Poisson per pixel, in pixel order): one
sequential random stream, so this is the time-critical loop. The generator state is held in
local variables for the whole pass (registers, a private shuffle table), not in the shared
state arrays; the arithmetic is the C's, float32 where the C declares ``float``, so results
are identical to :mod:`nanobrag_torch.crandom` draw by draw. The state arrays are read at the
start and written back at the end, so calls chain with every other user of the generator.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..crandom import (_ALXM, _AM, _G, _GSET, _IA, _IDUM, _IM, _ISET, _IV, _IY, _NTAB, _OLDM,
                       _RNMX, _RNMX_F32, _SQ, _gammln)

_F32 = np.float32


@njit(cache=True, inline="always")
def _lcg(idum):
    """16807 * idum mod (2^31 - 1) for 0 <= idum <= 2^31 - 1, what Schrage's method computes,
    without a division (2^31 = 1 mod the Mersenne prime)."""
    x = _IA * idum
    x = (x & _IM) + (x >> 31)
    return x - _IM if x >= _IM else x


@njit(cache=True, inline="always")
def _ran1(idum, iy, iv):
    """ran1 on local state: (float32 deviate, idum, iy); ``iv`` (int64 [32]) updated."""
    if idum <= 0 or iy == 0:
        idum = 1 if -idum < 1 else -idum
        for j in range(_NTAB + 7, -1, -1):
            idum = _lcg(idum)
            if j < _NTAB:
                iv[j] = idum
        iy = iv[0]
    idum = _lcg(idum)
    j = iy >> 26                     # iy / NDIV, NDIV = 2^26
    iy = iv[j]
    iv[j] = idum
    temp = _F32(_AM * iy)
    return (_F32(_RNMX_F32) if temp > _RNMX else temp), idum, iy


@njit(cache=True, inline="always")
def _gaussdev(idum, iy, iv, iset, gset):
    """gaussdev: (float32 deviate, idum, iy, iset, gset)."""
    if iset:
        return gset, idum, iy, False, gset
    while True:
        u, idum, iy = _ran1(idum, iy, iv)
        v1 = _F32(2.0 * u - 1.0)
        u, idum, iy = _ran1(idum, iy, iv)
        v2 = _F32(2.0 * u - 1.0)
        rsq = v1 * v1 + v2 * v2                 # float32
        if not (rsq >= 1.0 or rsq == 0.0):
            break
    fac = _F32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
    return v2 * fac, idum, iy, True, v1 * fac


@njit(cache=True)
def noise_pass1(photon, flicker, calibration, seeds, st, fs, cst, cfs, shared):
    """Flicker, calibration and Poisson noise in place on ``photon`` (float32 [pixels]), in
    pixel order; returns the double sum of the counts (the C's ``sum``). ``seeds`` (int64
    [2]) are the seed variables (seed, calib_seed); ``st``/``fs`` the generator state (int64
    [34], float64 [6] as :class:`~nanobrag_torch.crandom.CRandom`); the calibration draws use
    the same table and spare when ``shared`` (the C), ``cst``/``cfs`` otherwise (fixed)."""
    idum, cidum = seeds[0], seeds[1]
    iy, iv = st[_IY], st[_IV:_IV + _NTAB].copy()
    iset, gset = fs[_ISET] != 0.0, _F32(fs[_GSET])
    oldm, g, sq, alxm = _F32(fs[_OLDM]), _F32(fs[_G]), _F32(fs[_SQ]), _F32(fs[_ALXM])
    ciy, civ = cst[_IY], cst[_IV:_IV + _NTAB].copy()
    ciset, cgset = cfs[_ISET] != 0.0, _F32(cfs[_GSET])
    total = 0.0
    for i in range(photon.size):
        p = np.float64(photon[i])
        if flicker > 0.0:
            dev, idum, iy, iset, gset = _gaussdev(idum, iy, iv, iset, gset)
            p *= 1.0 + flicker * dev
        if calibration > 0.0:
            if shared:
                dev, cidum, iy, iset, gset = _gaussdev(cidum, iy, iv, iset, gset)
            else:
                dev, cidum, ciy, ciset, cgset = _gaussdev(cidum, ciy, civ, ciset, cgset)
            p *= 1.0 + calibration * dev
        xm = _F32(p)
        if xm > 1.0e6:
            dev, idum, iy, iset, gset = _gaussdev(idum, iy, iv, iset, gset)
            em = _F32(np.float64(xm) + math.sqrt(np.float64(xm)) * dev)
        elif xm < 12.0:
            if xm != oldm:
                oldm = xm
                g = _F32(math.exp(-np.float64(xm)))
            em = _F32(0.0)
            t = _F32(1.0)
            while True:
                u, idum, iy = _ran1(idum, iy, iv)
                t = t * u
                if not t > g:
                    break
                em += _F32(1.0)
        else:
            if xm != oldm:
                oldm = xm
                sq = _F32(math.sqrt(2.0 * np.float64(xm)))
                alxm = _F32(math.log(np.float64(xm)))
                g = xm * alxm - _F32(_gammln(np.float64(_F32(np.float64(xm) + 1.0))))
            while True:
                while True:
                    u, idum, iy = _ran1(idum, iy, iv)
                    y = _F32(math.tan(math.pi * np.float64(u)))
                    em = sq * y + xm
                    if not em < 0.0:
                        break
                em = _F32(np.floor(np.float64(em)))
                exponent = em * alxm - _F32(_gammln(np.float64(_F32(np.float64(em) + 1.0)))) - g
                t = _F32(0.9 * (1.0 + np.float64(y * y)) * math.exp(np.float64(exponent)))
                u, idum, iy = _ran1(idum, iy, iv)
                if not u > t:
                    break
        photon[i] = em
        total += np.float64(em)
    seeds[0], seeds[1] = idum, cidum
    st[_IDUM], st[_IY], st[_IV:_IV + _NTAB] = idum, iy, iv
    fs[_ISET], fs[_GSET] = 1.0 if iset else 0.0, gset
    fs[_OLDM], fs[_G], fs[_SQ], fs[_ALXM] = oldm, g, sq, alxm
    if not shared:
        cst[_IDUM], cst[_IY], cst[_IV:_IV + _NTAB] = cidum, ciy, civ
        cfs[_ISET], cfs[_GSET] = 1.0 if ciset else 0.0, cgset
    return total
