"""Noise pass 1 of noisify.c (flicker, calibration, Poisson per pixel, in pixel order) and the
draws of pass 2's readout noise: one sequential random stream, so these are the time-critical
loops. The generator (:mod:`nanobrag_torch.crandom`) is held in local variables for the whole
pass (registers, a private copy of the shuffle table) and written back to the state arrays at
the end, so calls chain with every other user of the generator.
"""
from __future__ import annotations

import numpy as np

from ..crandom import (
    _F32,
    _IDUM,
    _ISET,
    _IV,
    _IY,
    gaussdev,
    load_floats,
    poidev,
    polar_pair,
    store_floats,
)
from ..lazy_numba import njit


@njit(cache=True, nogil=True)
def noise_pass1(photon, flicker, calibration, seeds, st, fs, cst, cfs, shared, total):
    """Flicker, calibration and Poisson noise in place on ``photon`` (float32 [pixels]), in
    pixel order; returns ``total`` + the counts, summed in order (the C's ``sum``; chunks of an
    image chain through ``total`` and the state arrays). ``seeds`` (int64
    [2]) are the seed variables (seed, calib_seed); ``st``/``fs`` the generator state (int64
    [34], float64 [6] as :class:`~nanobrag_torch.crandom.CRandom`); the calibration draws use
    the same table and spare when ``shared`` (the C), ``cst``/``cfs`` otherwise (fixed)."""
    idum, cidum = seeds[0], seeds[1]
    iy, iv = st[_IY], st[_IV:].copy()
    iset, gset, cache = load_floats(fs)
    ciy, civ = cst[_IY], cst[_IV:].copy()
    ciset, cgset, ccache = load_floats(cfs)
    for i in range(photon.size):
        p = np.float64(photon[i])
        if flicker > 0.0:
            dev, idum, iy, iset, gset = gaussdev(idum, iy, iv, iset, gset)
            p *= 1.0 + flicker * dev
        if calibration > 0.0:
            if shared:
                dev, cidum, iy, iset, gset = gaussdev(cidum, iy, iv, iset, gset)
            else:
                dev, cidum, ciy, ciset, cgset = gaussdev(cidum, ciy, civ, ciset, cgset)
            p *= 1.0 + calibration * dev
        em, idum, iy, iset, gset, cache = poidev(_F32(p), idum, iy, iv, iset, gset, cache)
        photon[i] = em
        total += np.float64(em)
    seeds[0], seeds[1] = idum, cidum
    st[_IDUM], st[_IY], st[_IV:] = idum, iy, iv
    store_floats(fs, iset, gset, cache)
    if not shared:
        cst[_IDUM], cst[_IY], cst[_IV:] = cidum, ciy, civ
        store_floats(cfs, ciset, cgset, ccache)
    return total


@njit(cache=True)
def readout_pairs(n, seeds, st, fs, v1s, v2s, rsqs, fresh, index):
    """The sequential half of pass 2's readout gaussdev calls: the accepted Box-Muller pairs
    (v1, v2, rsq as float32 values, stored as float64) in draw order, without the log/sqrt.
    Pixel i takes ``fresh[i]`` (uint8 [n]): 1 = v2*fac of pair ``index[i]`` (int64 [n]), 0 =
    the spare: v1*fac of pair ``index[i]``, or for ``index[i] == -1`` the spare left by pass 1.
    Leaves the generator as the C's loop does, except the spare value, which the caller sets.
    Returns the number of pairs."""
    idum, iy, iv = seeds[0], st[_IY], st[_IV:].copy()
    iset = fs[_ISET] != 0.0
    pairs = 0
    for i in range(n):
        if iset:
            iset = False
            fresh[i] = 0
        else:
            v1, v2, rsq, idum, iy = polar_pair(idum, iy, iv)
            v1s[pairs], v2s[pairs], rsqs[pairs] = v1, v2, rsq
            pairs += 1
            fresh[i] = 1
            iset = True
        index[i] = pairs - 1
    seeds[0] = idum
    st[_IDUM], st[_IY], st[_IV:] = idum, iy, iv
    fs[_ISET] = 1.0 if iset else 0.0
    return pairs
