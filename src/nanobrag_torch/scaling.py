"""Absolute scale: photons per pixel = r_e^2 * fluence * I_geom / steps (nanoBragg.c).

`I_geom` is the backend's per-pixel sum already multiplied by polarization, solid angle
and capture fraction; `steps` = sources x mosaic domains x phi steps x oversample^2.
"""
from __future__ import annotations

import torch

from .constants import R_E_SQR


def photon_scale(pre):
    """Photons per unit of I_geom: r_e^2 x fluence / steps (a float, or a tensor with the
    fluence's gradient)."""
    return R_E_SQR * pre.fluence / pre.steps


def to_photons(pre, I_geom: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float image [slow, fast] in photons, in the working dtype: `I_geom` itself, scaled in
    place, when it is already in `dtype` and needs no grad (it is the backend's fresh output)."""
    scale = photon_scale(pre)
    if I_geom.requires_grad or I_geom.dtype != dtype:
        return (I_geom * scale).to(dtype)
    return I_geom.mul_(scale)         # the backend's own buffer: no new image in memory
