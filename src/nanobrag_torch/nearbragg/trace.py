"""``-debug`` with ``-printout``: the C's per-atom trace of a printed pixel (nearBragg.c
1112-1115), ``index  x y z -> phase Fa Fb`` (m, rad, running amplitude sums) for every
sub-pixel, wavelength, divergence point, depth plane and atom, in the C's order and
double-precision sequence (numpy, one pixel).  Stdout only; the image comes from the
engines."""
from __future__ import annotations

import math

import numpy as np

from .engine import TWOPI_C
from .geometry import NearSetup


def atom_trace(g: NearSetup, x: int, y: int, xyz: np.ndarray, occ: np.ndarray, B: np.ndarray,
               phase: np.ndarray, coherent: bool, curved_fixed: bool = False) -> list:
    """Trace lines of pixel (x fast, y slow); xyz [M, 3] m, phase rad (float64 numpy)."""
    out, Fa, Fb = [], 0.0, 0.0
    sub = g.pixel / g.oversample
    for suby in range(g.oversample):
        for subz in range(g.oversample):
            Xd = sub * (x * g.oversample + subz) + sub / 2.0
            Yd = sub * (y * g.oversample + suby) + sub / 2.0
            p = [Xd * g.fdet[k] + Yd * g.sdet[k] + g.pix0[k] for k in range(3)]
            if g.curved:
                a, b, d = p[2] / g.distance, p[1] / g.distance, g.distance
                p = [d * math.cos(a) * math.cos(b), d * math.cos(a) * math.sin(b),
                     (1 if curved_fixed else -1) * d * math.sin(a)]
            for lam in g.lambdas:
                for row in g.source_points():
                    for src in row:
                        for i in range(xyz.shape[0]):
                            ax, ay, az = xyz[i]
                            s2a = ax if src is None else math.sqrt(
                                (src[0] - ax) * (src[0] - ax) + (src[1] - ay) * (src[1] - ay) + (src[2] - az) * (src[2] - az))
                            a2p = math.sqrt((p[0] - ax) * (p[0] - ax) + (p[1] - ay) * (p[1] - ay) + (p[2] - az) * (p[2] - az))
                            ph = TWOPI_C * (s2a + a2p) / lam + phase[i]
                            s2a = 1.0 if src is None else s2a
                            w = occ[i]
                            if B[i] != 0.0:
                                S0 = (1.0, 0.0, 0.0) if src is None else [(xyz[i][k] - src[k]) / s2a for k in range(3)]
                                sv = [((p[k] - xyz[i][k]) / a2p - S0[k]) / (lam * 1e10) for k in range(3)]
                                stol = math.sqrt(sv[0] * sv[0] + sv[1] * sv[1] + sv[2] * sv[2]) / 2.0
                                w *= math.exp(-B[i] * stol * stol)
                            Fa += w * math.cos(ph) / s2a / a2p
                            Fb += w * math.sin(ph) / s2a / a2p
                            out.append(f"{i}  {ax:g} {ay:g} {az:g} -> {ph:g} {Fa:g} {Fb:g}")
                    if not coherent:
                        Fa = Fb = 0.0
    return out
