"""Beam model: the list of X-ray sources (direction, weight, wavelength) as nanoBragg.c builds it.

Sources come from `-sourcefile` (missing columns default as in the C) or from the
divergence x dispersion grid (with the C's elliptical trimming when `-round_div`).
Directions are unit vectors pointing from the sample towards the source; the incident
direction of a source is minus that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import BeamConfig
from ..errors import NanoBraggError
from ..io.sources import SourceTable
from ..physics.vectors import cross, rotate_axis, unitize, vec

SOURCE_DISTANCE_M = 10.0


@dataclass
class Sources:
    direction: torch.Tensor        # [n, 3] unit vectors sample -> source
    weight: torch.Tensor           # [n] as read (the C ignores them)
    lambda_m: torch.Tensor         # [n] wavelength, metres
    raw_xyz: torch.Tensor          # [n, 3] positions before unitizing (for the printout)
    divsteps: int                  # divergence points kept (-1 when read from a file: the C's
                                   # divsteps keeps its initial value, nanoBragg.c lines 202, 2496)

    @property
    def count(self) -> int:
        return int(self.lambda_m.shape[0])


def build_sources(cfg: BeamConfig, quirks: str, params: dict | None = None,
                  table: SourceTable | None = None) -> Sources:
    """The sources of `table` (the -sourcefile as `io.sources.read_sources` reads it), else
    the divergence x dispersion grid."""
    p = params or {}
    beam, _ = unitize(vec(cfg.beam))
    polar, _ = unitize(vec(cfg.polar))
    lambda0 = p.get("lambda", cfg.lambda0_m)
    if table is not None:
        xyz = torch.tensor([[x, y, z] for x, y, z in zip(table.X, table.Y, table.Z)], dtype=torch.float64)
        default = -SOURCE_DISTANCE_M * beam
        xyz = torch.where(torch.isnan(xyz), default.expand_as(xyz), xyz)
        weight = torch.tensor(table.weight, dtype=torch.float64)
        weight = torch.where(torch.isnan(weight), torch.ones_like(weight), weight)
        lam = torch.tensor(table.lambda_m, dtype=torch.float64)
        lam = torch.where(torch.isnan(lam), torch.as_tensor(lambda0, dtype=torch.float64).expand_as(lam), lam)
        if bool((lam <= 0).any()):
            raise NanoBraggError(f"{cfg.sourcefile}: source wavelength must be positive")
        if quirks == "fixed":
            _check_weights(cfg.sourcefile, weight)
        direction, _ = unitize(xyz)
        return Sources(direction=direction, weight=weight, lambda_m=lam, raw_xyz=xyz, divsteps=-1)
    return _grid(cfg, beam, polar, lambda0)


def _check_weights(path: str, weight: torch.Tensor) -> None:
    if bool(torch.isnan(weight).any()) or bool((weight < 0).any()):
        raise NanoBraggError(f"{path}: source weights must be non-negative numbers")
    if float(weight.sum()) <= 0:
        raise NanoBraggError(f"{path}: source weights sum to zero")


def _grid(cfg: BeamConfig, beam, polar, lambda0) -> Sources:
    vert, _ = unitize(cross(beam, polar))
    points = divergence_points((cfg.hdivrange_rad, cfg.hdivstep_rad, cfg.hdivsteps),
                               (cfg.vdivrange_rad, cfg.vdivstep_rad, cfg.vdivsteps), cfg.round_div)
    lambdas = [lambda0 * (1.0 + cfg.dispstep_frac * d - cfg.dispersion_frac / 2.0)
               for d in range(cfg.dispsteps)]
    if not points:
        raise NanoBraggError("-hdivrange/-vdivrange: the divergence grid keeps no source")
    start = -SOURCE_DISTANCE_M * beam
    xyz, lam = [], []
    for hdiv, vdiv in points:
        pos = rotate_axis(rotate_axis(start, polar, vdiv), vert, hdiv)
        for lam_d in lambdas:
            xyz.append(pos)
            lam.append(torch.as_tensor(lam_d, dtype=torch.float64))
    xyz = torch.stack(xyz)
    n = xyz.shape[0]
    direction, _ = unitize(xyz)
    return Sources(direction=direction, weight=torch.full((n,), 1.0 / n, dtype=torch.float64),
                   lambda_m=torch.stack(lam), raw_xyz=xyz, divsteps=len(points))


def divergence_points(h: tuple, v: tuple, round_div: bool) -> list:
    """The C's kept divergence grid [(hdiv, vdiv), ...] (rad), h outer: ``h`` and ``v`` are
    (range, step, steps) in rad; with ``round_div`` the points outside the ellipse are cut."""
    points = []
    for i in range(h[2]):
        for j in range(v[2]):
            hdiv, vdiv = h[1] * i - h[0] / 2.0, v[1] * j - v[0] / 2.0
            if round_div and _outside_ellipse(h, v, hdiv, vdiv):
                continue
            points.append((hdiv, vdiv))
    return points


def _outside_ellipse(h: tuple, v: tuple, hdiv: float, vdiv: float) -> bool:
    """The C's round_div test; a zero range gives NaN (0/0), which never trims."""
    def term(d, rng, step, steps):
        num = d * d - step * step / 4.0 * (1 - steps % 2)
        with_nan = math.nan if rng == 0 and num == 0 else (math.inf * num if rng == 0 else num / rng / rng)
        return with_nan
    return (term(hdiv, *h) + term(vdiv, *v)) * 4.0 > 1.1
