"""Detector geometry as read from and written to files: a list of flat panels in one lab frame.

A `Panel` is a flat grid of ``spixels x fpixels`` square pixels: the corner of pixel (0, 0)
``origin_m`` (3,), the unit fast and slow vectors (3,) along which pixel indices grow, and the
pixel size; pixel (s, f) has its centre at ``origin + (f + 1/2) p fast + (s + 1/2) p slow``
(nanoBragg.c's ``pix0``, dxtbx's ``origin``, CrystFEL's ``corner``).  `PanelSet` adds what a
geometry file says about the beam (direction of travel, wavelength, E-vector and Kahn factor).
All lengths in metres, numpy only.  The readers and writers of this package build and consume
these; `models.panels` turns them into the engines' per-panel detectors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import NanoBraggError

UNIT_TOL = 1e-4       # |1 - |v|| above this is not rounding of a unit vector: an error
ORTHO_TOL = 1e-6      # |fast . slow| above this: not a rectangular pixel grid


@dataclass(frozen=True)
class Panel:
    name: str
    fpixels: int
    spixels: int
    pixel_size_m: float
    fast: tuple                          # (3,) unit
    slow: tuple                          # (3,) unit
    origin_m: tuple                      # (3,) sample -> corner of pixel (0, 0), m
    thickness_m: float | None = None     # sensor thickness (None: the command line's)
    mu_per_m: float | None = None        # sensor attenuation coefficient
    data_origin: tuple | None = None     # (slow, fast) of pixel (0, 0) in the data slab
    data_block: tuple = ()               # which 2-d slab: e.g. (data path, fixed indices) of .geom
    bad: np.ndarray | None = field(default=None, compare=False)   # [spixels, fpixels] True = bad

    def __post_init__(self):
        for name in ("fast", "slow", "origin_m"):
            object.__setattr__(self, name, tuple(float(x) for x in getattr(self, name)))

    @property
    def shape(self) -> tuple:
        return (self.spixels, self.fpixels)

    @property
    def normal(self) -> tuple:
        """Unit normal +-(fast x slow), the sign that points away from the sample (a grid read
        out mirrored, fast x slow towards the sample, keeps a positive close distance)."""
        n = np.cross(self.fast, self.slow)
        n = n / np.linalg.norm(n)
        return tuple(-n if float(np.asarray(self.origin_m) @ n) < 0 else n)

    def centres(self) -> np.ndarray:
        """Pixel centres [spixels, fpixels, 3] (m), float64."""
        f = (np.arange(self.fpixels) + 0.5) * self.pixel_size_m
        s = (np.arange(self.spixels) + 0.5) * self.pixel_size_m
        return (np.asarray(self.origin_m) + s[:, None, None] * np.asarray(self.slow)
                + f[None, :, None] * np.asarray(self.fast))


@dataclass(frozen=True)
class PanelSet:
    panels: tuple
    source: str = ""                     # file the geometry came from (for messages)
    beam: tuple | None = None            # unit direction of travel of the beam
    wavelength_m: float | None = None
    polar: tuple | None = None           # E-vector
    kahn: float | None = None            # polarization (Kahn) factor, nanoBragg's -polar

    def __len__(self) -> int:
        return len(self.panels)


def unit_vector(v, what: str, where: str) -> tuple:
    """`v` normalised; a zero, non-finite or clearly non-unit vector is a one-line error."""
    a = np.asarray(v, dtype=float)
    n = float(np.linalg.norm(a)) if a.shape == (3,) else float("nan")
    if not math.isfinite(n) or n == 0.0:
        raise NanoBraggError(f"{where}: {what} vector {list(np.ravel(a))} is zero or not finite")
    if abs(n - 1.0) > UNIT_TOL:
        raise NanoBraggError(f"{where}: {what} vector has length {n:g}, not 1 (pixels must be "
                             "square; give the pixel size separately)")
    return tuple(float(x) for x in a / n) if n != 1.0 else tuple(float(x) for x in a)


def validate(ps: PanelSet) -> PanelSet:
    """Check every panel (one-line error naming file and panel): distinct names, pixels,
    perpendicular fast/slow, the sample in front of the panel (origin . (fast x slow) > 0 and
    in front of the sample along the beam), no two panels sharing a place in the data slab."""
    seen = set()
    beam = np.asarray(ps.beam if ps.beam is not None else (0.0, 0.0, 1.0))
    for p in ps.panels:
        where = f"{ps.source}: panel {p.name}"
        if p.name in seen:
            raise NanoBraggError(f"{where}: two panels have this name")
        seen.add(p.name)
        if p.fpixels <= 0 or p.spixels <= 0 or not p.pixel_size_m > 0:
            raise NanoBraggError(f"{where}: needs positive pixel counts and pixel size")
        f, s = np.asarray(p.fast), np.asarray(p.slow)
        if abs(float(f @ s)) > ORTHO_TOL:
            raise NanoBraggError(f"{where}: fast and slow vectors are parallel or not "
                                 f"perpendicular (fast . slow = {float(f @ s):g})")
        close = float(np.asarray(p.origin_m) @ np.asarray(p.normal))
        centre = np.asarray(p.origin_m) + p.pixel_size_m / 2 * (p.fpixels * f + p.spixels * s)
        if not close > 0 or not float(centre @ beam) > 0:
            raise NanoBraggError(f"{where}: panel is behind the sample or its plane contains it "
                                 f"(close distance {close * 1e3:g} mm, centre . beam "
                                 f"{float(centre @ beam) * 1e3:g} mm)")
    _check_slab(ps)
    return ps


def _check_slab(ps: PanelSet) -> None:
    placed = [p for p in ps.panels if p.data_origin is not None]
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            if a.data_block != b.data_block:
                continue
            (sa, fa), (sb, fb) = a.data_origin, b.data_origin
            if sa < sb + b.spixels and sb < sa + a.spixels and fa < fb + b.fpixels and fb < fa + a.fpixels:
                raise NanoBraggError(f"{ps.source}: panel {b.name} overlaps panel {a.name} in the data slab")


def slab_layout(ps: PanelSet) -> tuple:
    """(panels with a data_origin each, slab shape (slow, fast)): the file's places when every
    panel has one in one 2-d block, else panels stacked along slow in order."""
    panels = list(ps.panels)
    if any(p.data_origin is None for p in panels) or len({p.data_block for p in panels}) > 1:
        row, out = 0, []
        for p in panels:
            out.append(replace(p, data_origin=(row, 0), data_block=()))
            row += p.spixels
        panels = out
    shape = (max(p.data_origin[0] + p.spixels for p in panels),
             max(p.data_origin[1] + p.fpixels for p in panels))
    return panels, shape


def fill_slab(ps: PanelSet, images: list, dtype=np.float32) -> tuple:
    """(panels placed by `slab_layout`, slab [slow, fast] of `dtype`) with each panel's image
    [spixels, fpixels] at its place (0 between panels)."""
    panels, shape = slab_layout(ps)
    slab = np.zeros(shape, dtype=dtype)
    for p, img in zip(panels, images):
        so, fo = p.data_origin
        slab[so:so + p.spixels, fo:fo + p.fpixels] = img
    return panels, slab


def rotated(ps: PanelSet, R) -> PanelSet:
    """`ps` in a frame turned by the rotation matrix `R` [3, 3] (panels, beam and E-vector)."""
    R = np.asarray(R, dtype=float)

    def turn(v):
        return None if v is None else tuple(R @ np.asarray(v, dtype=float))
    panels = tuple(replace(p, fast=turn(p.fast), slow=turn(p.slow), origin_m=turn(p.origin_m))
                   for p in ps.panels)
    return replace(ps, panels=panels, beam=turn(ps.beam), polar=turn(ps.polar))
