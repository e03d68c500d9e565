"""noisify.c's pixel passes, compiled with numba: photon scale, noise passes 1 and 2, and the
integer conversions of the SMV outputs.

Images are flat float32 arrays in C pixel order (fast index fastest), [pixels]. The random
state is a :class:`nanobrag_torch.crandom.CRandom` (one shared ran1 shuffle table, gaussdev
spare and poidev cache) plus the two seed variables ``seeds`` (int64 [2]: seed, calib_seed),
which the C passes by pointer to the same generator. Pass 1 is one sequential random stream;
pass 2 is sequential only when readout noise draws from the stream, parallel otherwise.

Integer conversions reproduce gcc's x86-64 code: ``(unsigned short) adu`` truncates to int32
(NaN and out-of-range give INT_MIN) and keeps the low 16 bits; ``(unsigned int) adu`` truncates
to int64 and keeps the low 32 bits, except in the noiseless image, whose vectorised loop
converts blocks of 8 pixels through int32 (``c_blocks``).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ..crandom import _GSET, _ISET, box_muller
from ..lazy_numba import njit

_INT32_MIN = -2147483648
_INT64_MIN = -(1 << 63)


@njit(cache=True, inline="always")
def c_int32(x):
    """gcc's double -> int conversion (cvttsd2si): truncation, INT_MIN for NaN/out of range."""
    if not (x > -2147483649.0 and x < 2147483648.0):
        return _INT32_MIN
    return np.int64(x)


@njit(cache=True, inline="always")
def _c_int64(x):
    if not (x >= -9223372036854775808.0 and x < 9223372036854775808.0):
        return _INT64_MIN
    return np.int64(x)


@njit(cache=True, parallel=True)
def photon_image(values, factor, scale, out):
    """``out[i] = (float)(((fluence*r_e^2) * scale) * (double)values[i])`` (``factor`` is
    fluence*r_e^2). Returns max_I, the running strict maximum of the input from 0.0."""
    n = values.size
    for i in prange(n):
        out[i] = factor * scale * np.float64(values[i])
    max_I = 0.0
    for i in range(n):
        v = np.float64(values[i])
        if max_I < v:
            max_I = v
    return max_I


@njit(cache=True, inline="always")
def _convert(adu, bits, out, i):
    """Clip and store one pixel as the C's pass 2; returns 1 for an overload of ``bits``."""
    over = 0
    if adu > 2147483647.0:
        adu = 2147483647.0
        if bits == 32:
            over = 1
    if bits == 32:
        out[i] = _c_int64(adu) & 0xFFFFFFFF
        return over
    if adu > 65535.0:
        adu = 65535.0
        over = 1
    out[i] = c_int32(adu) & 0xFFFF
    return over


def noise_pass2(photon, gain, adc, readout, bits, fs, draw_pairs, out):
    """Pass 2 as the C's loop (gain, offset, one readout gaussdev per pixel from the seed
    stream, clipping, conversion into ``out``), the random draws sequential and cheap (pair
    acceptance only: ``draw_pairs(pairs, v1s, v2s, rsqs)``, e.g. `stream.readout_pairs` on
    the generator), the Box-Muller log/sqrt and the rest in parallel; ``fs``: the
    generator's float state. Returns (double sum of ``photon`` in order, overloads)."""
    n = photon.size
    iset0 = int(fs[_ISET] != 0.0)          # a spare left by pass 1 serves pixel 0
    pairs = (n - iset0 + 1) // 2 if readout > 0.0 else 0
    v1s, v2s, rsqs = (np.empty(max(pairs, 1)) for _ in range(3))
    spare0 = float(fs[_GSET])
    if pairs:
        draw_pairs(pairs, v1s, v2s, rsqs)
    total, overloads = _pass2_pixels(photon, gain, adc, readout, bits, iset0, v1s, v2s, rsqs,
                                     spare0, out)
    if readout > 0.0 and n % 2:
        fs[_ISET] = 1.0 - iset0              # each pixel takes the spare or leaves one
    if fs[_ISET] and pairs:
        fs[_GSET] = box_muller(v1s[pairs - 1], rsqs[pairs - 1])
    return total, int(overloads)


@njit(cache=True, parallel=True)
def _pass2_pixels(photon, gain, adc, readout, bits, iset0, v1s, v2s, rsqs, spare0, out):
    """Pixel i (j = i + iset0) takes v2*fac of pair j//2 - iset0 for even j (a new pair), else
    the spare: v1*fac of that pair, or ``spare0`` before the first pair."""
    n = photon.size
    overloads = 0
    for i in prange(n):
        adu = np.float64(photon[i]) * gain + adc
        if readout > 0.0:
            j = i + iset0
            p = j // 2 - iset0
            if p < 0:
                deviate = spare0
            elif j % 2 == 0:
                deviate = box_muller(v2s[p], rsqs[p])
            else:
                deviate = box_muller(v1s[p], rsqs[p])
            adu += readout * deviate
        overloads += _convert(adu, bits, out, i)
    total = 0.0
    for i in range(n):
        total += np.float64(photon[i])
    return total, overloads


@njit(cache=True, parallel=True)
def noiseless_ints(photon, gain, adc, c_blocks, out16, out32):
    """The noiseless image: ``adu = photon*gain + adc`` clipped at 2147483647 then 65535 (both
    before conversion), truncated. ``out16`` always (it feeds the PGM); ``out32`` when not
    None. With ``c_blocks`` the 32-bit values of the first ``pixels - pixels % 8`` pixels go
    through int32 as gcc's vectorised loop does (NaN -> 2147483648), the tail through int64."""
    n = photon.size
    blocked = n - n % 8 if c_blocks else 0
    for i in prange(n):
        adu = np.float64(photon[i]) * gain + adc
        if adu > 2147483647.0:
            adu = 2147483647.0
        if adu > 65535.0:
            adu = 65535.0
        wide = c_int32(adu)
        out16[i] = wide & 0xFFFF
        if out32 is not None:
            out32[i] = (wide if i < blocked else _c_int64(adu)) & 0xFFFFFFFF


@njit(cache=True, parallel=True)
def pgm_bytes(int16, out):
    """PGM pixels: the 16-bit noiseless value capped at 255."""
    for i in prange(int16.size):
        out[i] = min(int16[i], 255)
