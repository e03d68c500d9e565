"""Detector conventions (ADXV, MOSFLM, DENZO, XDS, DIALS, custom) as nanoBragg.c defines them.

`apply` reproduces the C's "defaults?" and convention blocks: it fills the beam-centre
defaults (metres) and, for the named conventions, overwrites the beam, detector, two-theta,
polarization and spindle vectors and forces the pivot.
"""
from __future__ import annotations

import math
import time


# name: (beam, fdet, sdet, odet, twotheta_axis, polar, spindle)
_VECTORS = {
    "adxv": ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "mosflm": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "denzo": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "xds": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "dials": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}


def time_seed() -> int:
    """The C's default seed: minus the current time in seconds."""
    return -int(time.time())


def apply(s, detsize_f: float, detsize_s: float, pixel: float) -> dict:
    """Beam-centre defaults and convention vectors; returns a dict of resolved values."""
    nan = math.isnan
    Fclose = (s.ORGX_px - 0.5) * pixel if not nan(s.ORGX_px) else math.nan
    Sclose = (s.ORGY_px - 0.5) * pixel if not nan(s.ORGY_px) else math.nan
    if nan(Fclose):
        Fclose = detsize_f / 2.0
    if nan(Sclose):
        Sclose = detsize_s / 2.0
    Xclose = Fclose if nan(s.Xclose_m) else s.Xclose_m
    Yclose = Sclose if nan(s.Yclose_m) else s.Yclose_m
    Xbeam, Ybeam = s.Xbeam_m, s.Ybeam_m
    conv, pivot = s.convention, s.pivot
    vec = dict(beam=tuple(s.beam_vector), fdet=tuple(s.fdet_vector), sdet=tuple(s.sdet_vector),
               odet=tuple(s.odet_vector), twotheta_axis=tuple(s.twotheta_axis),
               polar=tuple(s.polar_vector), spindle=tuple(s.spindle_vector))
    if conv in _VECTORS:
        keys = ("beam", "fdet", "sdet", "odet", "twotheta_axis", "polar", "spindle")
        vec.update({k: tuple(float(x) for x in v) for k, v in zip(keys, _VECTORS[conv])})
    if conv == "adxv":
        Xbeam = (detsize_f + pixel) / 2.0 if nan(Xbeam) else Xbeam
        Ybeam = (detsize_s - pixel) / 2.0 if nan(Ybeam) else Ybeam
        Fbeam, Sbeam, pivot = Xbeam, detsize_s - Ybeam, "beam"
    elif conv in ("mosflm", "denzo"):
        Xbeam = (detsize_s + pixel) / 2.0 if nan(Xbeam) else Xbeam
        Ybeam = (detsize_f + pixel) / 2.0 if nan(Ybeam) else Ybeam
        half = 0.5 * pixel if conv == "mosflm" else 0.0 * pixel
        Fbeam, Sbeam, pivot = Ybeam + half, Xbeam + half, "beam"
    elif conv in ("xds", "dials"):
        Xbeam = Xclose if nan(Xbeam) else Xbeam
        Ybeam = Yclose if nan(Ybeam) else Ybeam
        Fbeam, Sbeam, pivot = Xbeam, Ybeam, "sample"
    else:  # custom
        Xbeam = Xclose if nan(Xbeam) else Xbeam
        Ybeam = Yclose if nan(Ybeam) else Ybeam
        Fbeam, Sbeam = Xbeam, Ybeam
        Fclose, Sclose = Xbeam, Ybeam
    return dict(convention=conv, pivot=pivot, Xbeam=Xbeam, Ybeam=Ybeam, Fbeam=Fbeam, Sbeam=Sbeam,
                Xclose=Xclose, Yclose=Yclose, Fclose=Fclose, Sclose=Sclose, **vec)
