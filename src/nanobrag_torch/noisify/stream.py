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
    _IV,
    _IY,
    gaussdev,
    gaussdev_of,
    load_floats,
    poidev,
    poidev_of,
    polar_pair,
    polar_pair_of,
    ran1,
    ring_draw,
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


@njit(cache=True, nogil=True)
def ring_fill(st, ring, start, count):
    """``count`` ran1 draws of the seed variable ``st[_IDUM]`` (state as `noise_pass1`'s
    ``st``, advanced) into ``ring`` (float32, power-of-2 size) from position ``start`` on."""
    idum, iy, iv = st[_IDUM], st[_IY], st[_IV:].copy()
    mask = ring.size - 1
    for k in range(start, start + count):
        ring[k & mask], idum, iy = ran1(idum, iy, iv)
    st[_IDUM], st[_IY], st[_IV:] = idum, iy, iv


# Why `noise_pass1_ring` stopped: more draws needed, a pixel read past them, a calibration
# deviate that draws from the calibration seed's own LCG (not in the ring).
RING_MORE, RING_OVERRUN, RING_CALIB = 0, 1, 2


@njit(cache=True, nogil=True)
def noise_pass1_ring(photon, i, flicker, calibration, fs, ring, pos, avail, margin, total):
    """`noise_pass1` (shared generator) from pixel ``i`` with the seed's draws read from
    ``ring`` (positions < ``avail`` are drawn; ``pos`` is the next), pixel by pixel while at
    least ``margin`` draws are left. A pixel that reads past ``avail`` is undone. Stops before
    a pixel whose calibration deviate is not the spare (it would draw from calib_seed).
    Returns (next pixel, pos, total, why: RING_*); ``fs`` as in `noise_pass1`."""
    iset, gset, cache = load_floats(fs)
    why = RING_MORE
    iy = 0
    while i < photon.size and avail - pos >= margin:
        if calibration > 0.0 and iset == (flicker > 0.0):
            why = RING_CALIB
            break
        start, before = pos, (iset, gset, cache)
        p = np.float64(photon[i])
        if flicker > 0.0:
            dev, pos, iy, iset, gset = gaussdev_of(ring_draw, pos, iy, ring, iset, gset)
            p *= 1.0 + flicker * dev
        if calibration > 0.0:                  # the spare: no draw
            dev, pos, iy, iset, gset = gaussdev_of(ring_draw, pos, iy, ring, iset, gset)
            p *= 1.0 + calibration * dev
        em, pos, iy, iset, gset, cache = poidev_of(ring_draw, _F32(p), pos, iy, ring, iset,
                                                   gset, cache)
        if pos > avail:
            pos, (iset, gset, cache) = start, before
            why = RING_OVERRUN
            break
        photon[i] = em
        total += np.float64(em)
        i += 1
    store_floats(fs, iset, gset, cache)
    return i, pos, total, why


@njit(cache=True, nogil=True)
def ring_pairs(ring, pos, avail, margin, k, pairs, v1s, v2s, rsqs):
    """`readout_pairs` with the seed's draws read from ``ring`` (as `noise_pass1_ring`): pairs
    k.. while at least ``margin`` draws are left; a pair read past ``avail`` is undone.
    Returns (next pair, pos, overrun)."""
    iy = 0
    while k < pairs and avail - pos >= margin:
        v1, v2, rsq, end, iy = polar_pair_of(ring_draw, pos, iy, ring)
        if end > avail:
            return k, pos, True
        v1s[k], v2s[k], rsqs[k] = v1, v2, rsq
        pos = end
        k += 1
    return k, pos, False


@njit(cache=True)
def readout_pairs(pairs, seeds, st, v1s, v2s, rsqs):
    """The sequential half of pass 2's readout gaussdev calls: its ``pairs`` accepted
    Box-Muller pairs (v1, v2, rsq as float32 values, stored as float64 [>= pairs]) in draw
    order, without the log/sqrt; the generator (``seeds``, ``st``) advanced as the C's loop."""
    idum, iy, iv = seeds[0], st[_IY], st[_IV:].copy()
    for k in range(pairs):
        v1s[k], v2s[k], rsqs[k], idum, iy = polar_pair(idum, iy, iv)
    seeds[0] = idum
    st[_IDUM], st[_IY], st[_IV:] = idum, iy, iv
