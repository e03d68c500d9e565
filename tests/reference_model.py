"""An independent, deliberately plain numpy model of the *physically correct* nanoBragg image.

Used to check `-quirks fixed` against something that is not the package itself.  Scope:
MOSFLM convention, no detector rotation, an orthorhombic cell along x, y, z (the C's -cell
orientation for 90-degree cells), square crystal shape, Kahn factor 0, sources given as
(direction towards the source, weight, wavelength), phi about z, detector layers, water
background, structure factors from a dict (nearest) or tricubic on a dense table.
Every sub-step gets its own polarization, solid angle and capture fraction.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

R_E_SQR = 7.94079248018965e-30
AVOGADRO = 6.02214179e23


def sincg(x, N):
    return N if x == 0 else math.sin(N * x) / math.sin(x)


def lagrange(t):
    return [-t * (t - 1) * (t - 2) / 6, (t + 1) * (t - 1) * (t - 2) / 2,
            -(t + 1) * t * (t - 2) / 2, (t + 1) * t * (t - 1) / 6]


def model(*, cell_A, N, lam_A, distance_mm, pixels, pixel_mm, default_F, fluence=1.25932015286227e29,
          oversample=1, sources=None, phis_deg=(0.0,), F_table=None, table_min=(0, 0, 0),
          interpolate=False, thick_um=0.0, layers=1, mu_per_um=None, water_um=0.0):
    p = pixel_mm * 1e-3
    dist = distance_mm * 1e-3
    lam = lam_A * 1e-10
    beam = np.array([1.0, 0, 0])
    fdet, sdet, odet = np.array([0, 0, 1.0]), np.array([0, -1.0, 0]), np.array([1.0, 0, 0])
    det = pixels * p
    Xbeam = Ybeam = (det + p) / 2
    pix0 = -(Ybeam + p / 2) * fdet - (Xbeam + p / 2) * sdet + dist * beam
    if sources is None:
        sources = [(-beam, 1.0, lam)]
    wsum = sum(w for _, w, _ in sources)
    cell = np.diag(np.array(cell_A, dtype=float) * 1e-10)       # rows a, b, c
    step_t = thick_um * 1e-6 / (layers - 1) if layers > 1 else 0.0
    mu = 1.0 / (mu_per_um * 1e-6) if mu_per_um else 0.0
    n_steps = len(sources) * len(phis_deg) * oversample ** 2
    sub = p / oversample
    img = np.zeros((pixels, pixels))
    molecules = (water_um * 1e-6) ** 3 * 1e6 * AVOGADRO / 18.0
    for s_px, f_px in itertools.product(range(pixels), range(pixels)):
        total = 0.0
        water = 0.0
        for t, sS, sF in itertools.product(range(layers), range(oversample), range(oversample)):
            pos = (pix0 + (sub * (f_px * oversample + sF) + sub / 2) * fdet
                   + (sub * (s_px * oversample + sS) + sub / 2) * sdet + t * step_t * odet)
            R = np.linalg.norm(pos)
            d = pos / R
            omega = p * p / R / R * dist / R
            cap = 1.0
            if thick_um > 0:
                par = d @ odet
                cap = math.exp(-t * step_t * mu / par) - math.exp(-(t + 1) * step_t * mu / par)
            for direction, w, lam_s in sources:
                inc = -np.asarray(direction) / np.linalg.norm(direction)
                c2 = inc @ d
                polar = 0.5 * (1 + c2 * c2)
                geo = cap * omega * polar * w / wsum * len(sources)
                water += geo / (oversample ** 2 * len(sources))
                q = (d - inc) / lam_s
                for phi in phis_deg:
                    ph = math.radians(phi)
                    Rz = np.array([[math.cos(ph), -math.sin(ph), 0], [math.sin(ph), math.cos(ph), 0], [0, 0, 1]])
                    hkl = (cell @ Rz.T) @ q
                    Fl = 1.0
                    for i in range(3):
                        if N[i] > 1:
                            Fl *= sincg(math.pi * hkl[i], N[i])
                    F = _F(hkl, default_F, F_table, table_min, interpolate)
                    total += geo * F * F * Fl * Fl
        img[s_px, f_px] = R_E_SQR * fluence * (total / n_steps + 2.57 ** 2 * molecules * water)
    return img


def _F(hkl, default_F, table, mins, interpolate):
    if table is None:
        return default_F
    shape = table.shape
    if interpolate:
        flr = np.floor(hkl).astype(int)
        ok = all(hkl[i] - 2 >= mins[i] and hkl[i] - mins[i] + 3 <= shape[i] for i in range(3))
        if ok:
            w = [lagrange(hkl[i] - flr[i]) for i in range(3)]
            val = 0.0
            for a, b, c in itertools.product(range(4), repeat=3):
                val += w[0][a] * w[1][b] * w[2][c] * table[flr[0] - 1 + a - mins[0],
                                                           flr[1] - 1 + b - mins[1],
                                                           flr[2] - 1 + c - mins[2]]
            return val
    h0 = [int(math.ceil(x - 0.5)) for x in hkl]
    if all(0 <= h0[i] - mins[i] < shape[i] for i in range(3)):
        return table[h0[0] - mins[0], h0[1] - mins[1], h0[2] - mins[2]]
    return default_F
