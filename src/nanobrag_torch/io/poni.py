"""pyFAI geometry files (PONI, version 2) of a flat detector.

pyFAI places the sample at the origin with the beam along its axis 3; a pixel (row i1, column
i2) sits at ``d1 = (i1 + 0.5) pixel1``, ``d2 = (i2 + 0.5) pixel2`` on the detector, the point of
normal incidence (PONI) at (poni1, poni2) a perpendicular distance ``dist`` from the sample,
the detector turned by rot1, rot2, rot3 (radians).  Rows are nanoBragg's slow axis, columns
its fast axis, and pix0 (the outer corner of the first pixel) is pyFAI's detector origin.

The rotations are solved from nanoBragg's vectors in a pyFAI lab frame whose axis 3 is the
beam and whose axis 1 is the slow axis's component across the beam (so rot3 = 0); when
nanoBragg's fast/slow/normal triad has the other handedness than pyFAI's (rows, columns,
normal) the frame's axis 2 is reversed (a mirror through the beam, which keeps two-theta).
Two-theta of every pixel is exact; the azimuth chi is measured from that axis 1 (its origin
is not the polarization plane).
"""
from __future__ import annotations

import json
import math

import numpy as np

from nanobrag_torch.errors import NanoBraggError
from nanobrag_torch.io.atomic import OutputBatch, atomic_write


def poni_parameters(fdet, sdet, pix0_m, beam) -> dict:
    """dist, poni1, poni2 (m) and rot1, rot2, rot3 (rad) of a flat detector given in any lab
    frame: unit fast and slow directions `fdet`, `sdet` (3,), the first pixel's outer corner
    `pix0_m` (3,, m, from the sample) and the beam direction `beam` (3,)."""
    f, s, p, b = (np.asarray(v, dtype=float) for v in (fdet, sdet, pix0_m, beam))
    b = b / np.linalg.norm(b)
    n = np.cross(f, s)
    n = n / np.linalg.norm(n)
    if p @ n < 0:
        n = -n
    dist = float(p @ n)
    foot = dist * n - p
    across = s - (s @ b) * b
    if np.linalg.norm(across) < 1e-12:
        raise NanoBraggError("-ponifile: the detector's slow axis is along the beam")
    e1 = across / np.linalg.norm(across)
    e2 = np.cross(b, e1)
    axes = (e1, e2) if np.cross(s, f) @ n > 0 else (e1, -e2)

    def lab(v):
        return np.array([v @ axes[0], v @ axes[1], v @ b])
    s_, f_, n_ = lab(s), lab(f), lab(n)
    rot2 = math.asin(max(-1.0, min(1.0, s_[2])))
    return {"dist": dist, "poni1": float(foot @ s), "poni2": float(foot @ f),
            "rot1": math.atan2(-f_[2], n_[2]), "rot2": rot2, "rot3": math.atan2(s_[1], s_[0])}


def poni_text(params: dict, pixel_m: float, shape: tuple, wavelength_m: float) -> str:
    """A PONI (version 2) file: `params` from `poni_parameters`, square pixels `pixel_m`,
    `shape` (slow, fast) pixels, `wavelength_m`."""
    config = {"pixel1": pixel_m, "pixel2": pixel_m, "max_shape": [int(shape[0]), int(shape[1])]}
    lines = ["# pyFAI geometry of a nanoBragg render (nanobrag_torch; rows = slow, columns = fast)",
             "poni_version: 2", "Detector: Detector", f"Detector_config: {json.dumps(config)}",
             f"Distance: {params['dist']!r}", f"Poni1: {params['poni1']!r}",
             f"Poni2: {params['poni2']!r}", f"Rot1: {params['rot1']!r}", f"Rot2: {params['rot2']!r}",
             f"Rot3: {params['rot3']!r}", f"Wavelength: {wavelength_m!r}"]
    return "\n".join(lines) + "\n"


def write_poni(path: str, text: str, batch: OutputBatch | None = None) -> None:
    atomic_write(path, text.encode("ascii"), batch)
