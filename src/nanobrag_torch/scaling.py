"""Absolute scale: photons per pixel = r_e^2 * fluence * I_geom / steps (nanoBragg.c).

`I_geom` is the backend's per-pixel sum already multiplied by polarization, solid angle
and capture fraction; `steps` = sources x mosaic domains x phi steps x oversample^2.
"""
from __future__ import annotations

import torch

from .constants import R_E_SQR


def to_photons(pre, I_geom: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float image [slow, fast] in photons, in the working dtype."""
    fluence = pre.fluence
    scale = R_E_SQR * fluence / pre.steps
    return (I_geom * scale).to(dtype)
