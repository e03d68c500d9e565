"""Detector geometry: orientation, pivots, beam centre and pixel positions (nanoBragg.c).

`build_detector(cfg, beam_vector)` returns a `Detector` whose vectors are float64 tensors
(unit vectors; pix0 in metres).  The construction follows the C step by step: rotations
about x, y, z then the two-theta swing, sample or beam pivot, then the derived
Fclose/Sclose/close_distance, Fbeam/Sbeam, distance, ORGX/ORGY and the DIALS origin.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch

from ..config import DetectorConfig
from ..physics.vectors import cross, dot, rotate_axis, rotate_xyz, unitize, vec

DBL_MIN = sys.float_info.min


@dataclass
class Detector:
    cfg: DetectorConfig
    fdet: torch.Tensor            # (3,) unit, fast axis
    sdet: torch.Tensor            # (3,) unit, slow axis
    odet: torch.Tensor            # (3,) unit, normal
    pix0_m: torch.Tensor          # (3,) vector from sample to the corner of pixel (0, 0)
    beam: torch.Tensor            # (3,) unit incident beam direction
    distance_m: torch.Tensor      # along the beam to the detector plane
    close_distance_m: torch.Tensor
    Fbeam_m: torch.Tensor
    Sbeam_m: torch.Tensor
    Fclose_m: torch.Tensor
    Sclose_m: torch.Tensor
    ORGX: torch.Tensor
    ORGY: torch.Tensor
    dials_origin_mm: torch.Tensor
    odet_regenerated: bool

    @property
    def shape(self) -> tuple:
        return (self.cfg.spixels, self.cfg.fpixels)


def _t(x, ref: torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64,
                                                                device=ref.device)


def build_detector(cfg: DetectorConfig, beam_vector, params: dict | None = None) -> Detector:
    """Geometry of the detector.  `params` may override distance/close_distance/Xbeam/Ybeam/
    detector_rotx/roty/rotz/twotheta with (differentiable) tensors."""
    p = params or {}
    beam, _ = unitize(vec(beam_vector))
    fdet, _ = unitize(vec(cfg.fdet))
    sdet, _ = unitize(vec(cfg.sdet))
    odet, mag = unitize(vec(cfg.odet))
    regenerated = float(mag) != 1.0
    if regenerated:
        odet, _ = unitize(cross(fdet, sdet))
    twotheta_axis = vec(cfg.twotheta_axis)
    rx = p.get("detector_rotx", cfg.detector_rot_rad[0])
    ry = p.get("detector_roty", cfg.detector_rot_rad[1])
    rz = p.get("detector_rotz", cfg.detector_rot_rad[2])
    twotheta = p.get("twotheta", cfg.twotheta_rad)
    distance = _t(p.get("distance", cfg.distance_m), beam)
    close_distance = p.get("close_distance", cfg.close_distance_m)
    Fbeam, Sbeam = _t(cfg.Fbeam_m, beam), _t(cfg.Sbeam_m, beam)
    Fclose, Sclose = _t(cfg.Fclose_m, beam), _t(cfg.Sclose_m, beam)
    if "Xbeam" in p or "Ybeam" in p:
        Fbeam, Sbeam, Fclose, Sclose = _beam_centre_override(cfg, p, Fbeam, Sbeam, Fclose, Sclose)

    ratio = dot(beam, rotate_xyz(odet, rx, ry, rz))
    if float(ratio.detach()) == 0.0:
        ratio = ratio + DBL_MIN
    if not isinstance(close_distance, torch.Tensor) and close_distance != close_distance:
        close_distance = torch.abs(ratio * distance)
    close_distance = _t(close_distance, beam)
    distance = close_distance / ratio

    pix0 = None
    if cfg.pivot == "sample":
        pix0 = -Fclose * fdet - Sclose * sdet + close_distance * odet
        pix0 = rotate_axis(rotate_xyz(pix0, rx, ry, rz), twotheta_axis, twotheta)
    fdet = rotate_axis(rotate_xyz(fdet, rx, ry, rz), twotheta_axis, twotheta)
    sdet = rotate_axis(rotate_xyz(sdet, rx, ry, rz), twotheta_axis, twotheta)
    odet = rotate_axis(rotate_xyz(odet, rx, ry, rz), twotheta_axis, twotheta)
    if cfg.pivot == "beam":
        pix0 = -Fbeam * fdet - Sbeam * sdet + distance * beam

    Fclose = -dot(pix0, fdet)
    Sclose = -dot(pix0, sdet)
    close_distance = dot(pix0, odet)
    beam_spot = close_distance / ratio * beam - pix0
    Fbeam = dot(fdet, beam_spot)
    Sbeam = dot(sdet, beam_spot)
    distance = close_distance / ratio
    pixel = cfg.pixel_size_m
    dials = 1000.0 * torch.stack([pix0[2], pix0[1], -pix0[0]])
    return Detector(cfg=cfg, fdet=fdet, sdet=sdet, odet=odet, pix0_m=pix0, beam=beam,
                    distance_m=distance, close_distance_m=close_distance,
                    Fbeam_m=Fbeam, Sbeam_m=Sbeam, Fclose_m=Fclose, Sclose_m=Sclose,
                    ORGX=Fclose / pixel + 0.5, ORGY=Sclose / pixel + 0.5,
                    dials_origin_mm=dials, odet_regenerated=regenerated)


def _beam_centre_override(cfg, p, Fbeam, Sbeam, Fclose, Sclose):
    """Re-derive Fbeam/Sbeam (and custom Fclose/Sclose) from overridden Xbeam/Ybeam (metres)."""
    X = p.get("Xbeam", cfg.Xbeam_m)
    Y = p.get("Ybeam", cfg.Ybeam_m)
    pixel = cfg.pixel_size_m
    conv = cfg.convention
    if conv == "adxv":
        return X, cfg.detsize_s_m - Y, Fclose, Sclose
    if conv == "mosflm":
        return Y + 0.5 * pixel, X + 0.5 * pixel, Fclose, Sclose
    if conv == "denzo":
        return Y, X, Fclose, Sclose
    if conv == "custom":
        return X, Y, X, Y
    return X, Y, Fclose, Sclose


def corner_dmin_A(detector: Detector, lambda_min_m: float, divergence_rad: float) -> float:
    """The d-spacing (A) at the largest scattering angle over the detector's edges (pixel
    corners of a flat detector), widened by the beam divergence, at wavelength `lambda_min_m`."""
    cfg = detector.cfg
    f = torch.arange(cfg.fpixels + 1, dtype=torch.float64) * cfg.pixel_size_m
    sl = torch.arange(cfg.spixels + 1, dtype=torch.float64) * cfg.pixel_size_m
    fmax, smax = f[-1], sl[-1]
    edges = [(f, torch.zeros_like(f)), (f, torch.full_like(f, smax)),
             (torch.zeros_like(sl), sl), (torch.full_like(sl, fmax), sl)]
    pts = torch.cat([detector.pix0_m.detach()[None] + a[:, None] * detector.fdet.detach()
                     + b[:, None] * detector.sdet.detach() for a, b in edges])
    cos2t = (pts @ detector.beam.detach()) / torch.linalg.norm(pts, dim=1)
    twotheta = float(torch.arccos(cos2t.clamp(-1, 1)).max()) + divergence_rad
    return lambda_min_m * 1e10 / (2.0 * math.sin(min(twotheta, math.pi) / 2))
