"""An independent long-double numpy model of nearBragg in ``-quirks fixed`` (specs/quirks.md,
section nearBragg), written from the quirk definitions, sharing no code with the package:
exact paths source -> atom -> pixel, amplitude occ |s|/(s2a a2p) (unit incident amplitude at
the origin), depth planes and sources added in intensity (incoherent) or amplitude
(coherent), sub-pixels never interfering, each sub-pixel with its own solid angle
pixel^2 |n.p|/|p| (R^2 times the true solid angle) and the unpolarised factor
(1 + cos^2 2theta)/2 (beam along +x).  Only what the quirk tests use: no B factors, no
divergence or dispersion grids beyond lists given explicitly."""
from __future__ import annotations

import numpy as np

L = np.longdouble
TWOPI_C = L("6.28318530717959")
R_E_SQR_FLUENCE = L("7.94079248018965e-30") * L("1.25932015286227e+29")


def model(atoms, *, n=4, pixel=1e-4, distance=1e-3, lam=1e-10, source_distance=1e-3,
          depths=(0.0,), oversample=1, coherent=False, pix0=None, curved=False, polar=True,
          point_pixel=False):
    """Float image [n, n] (float64) of atoms [(X, Y, Z, occ, phase_deg)] in A and deg, with the
    default vectors fdet (0,0,1), sdet (0,-1,0), odet (1,0,0) and the default beam centre."""
    a = np.array([[L(v) for v in row] for row in atoms], dtype=L)
    xyz, occ, P = a[:, :3] / L(1e10), a[:, 3], a[:, 4] / (L(180) / L("3.14159265358979"))
    f, s, o = (np.array(v, dtype=L) for v in ((0, 0, 1), (0, -1, 0), (1, 0, 0)))
    size = L(pixel) * n
    Xbeam, Ybeam = (size - L(pixel)) / 2, (size + L(pixel)) / 2
    origin = np.array(pix0, dtype=L) if pix0 is not None else -Xbeam * f - Ybeam * s + L(distance) * o
    normal = np.cross(f, s)
    img = np.zeros((n, n))
    sub = L(pixel) / oversample
    for y in range(n):
        for x in range(n):
            total = L(0)
            for sy in range(oversample):
                for sz in range(oversample):
                    p = sub * (x * oversample + sz) * f + sub * (y * oversample + sy) * s + sub / 2 * (f + s) + origin
                    if curved:
                        al, be = p[2] / L(distance), p[1] / L(distance)
                        p = L(distance) * np.array([np.cos(al) * np.cos(be), np.cos(al) * np.sin(be), np.sin(al)])
                    R = np.sqrt((p * p).sum())
                    omega = L(1) if point_pixel else (L(pixel) ** 2 if curved else L(pixel) ** 2 * abs(normal @ p) / R)
                    weight = omega * ((1 + (p[0] / R) ** 2) / 2 if polar else L(1))
                    amps = []
                    for dd in depths:
                        src = np.array([L(-source_distance) + L(dd), L(0), L(0)])
                        s2a = np.sqrt(((src - xyz) ** 2).sum(-1))
                        a2p = np.sqrt(((p - xyz) ** 2).sum(-1))
                        phase = TWOPI_C * (s2a + a2p) / L(lam) + P
                        w = occ * np.sqrt((src * src).sum()) / s2a / a2p
                        amps.append(complex((w * np.cos(phase)).sum(), (w * np.sin(phase)).sum()))
                    if coherent:
                        mean = sum(amps) / len(amps)
                        total += L(abs(mean) ** 2) * weight / oversample ** 2
                    else:
                        total += sum(L(abs(A) ** 2) for A in amps) * weight / (len(amps) * oversample ** 2)
            img[y, x] = float(total * R_E_SQR_FLUENCE)
    return img
