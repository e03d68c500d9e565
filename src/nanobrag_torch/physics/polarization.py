"""Polarization factor of nanoBragg.c (Kahn factor K, E-vector closest to `axis`).

0.5 (1 + cos^2 2theta - K cos(2 psi) sin^2 2theta), with psi the azimuth of the diffracted
ray about the incident beam, measured from the E-vector.
"""
from __future__ import annotations

import torch

from .vectors import cross, dot


def _unit(x: torch.Tensor) -> torch.Tensor:
    mag = torch.sqrt(dot(x, x))
    return x / torch.where(mag == 0, torch.ones_like(mag), mag)[..., None]


def polarization_factor(kahn: float, incident: torch.Tensor, diffracted: torch.Tensor,
                        axis: torch.Tensor) -> torch.Tensor:
    """incident [..., 3] and diffracted [..., 3] unit vectors (broadcast), axis (3,): [...]."""
    cos2t = dot(incident, diffracted)
    cos2t_sqr = cos2t * cos2t
    sin2t_sqr = 1 - cos2t_sqr
    if kahn == 0.0:
        return 0.5 * (1.0 + cos2t_sqr)
    B_in = _unit(cross(axis.expand_as(incident), incident))
    E_in = _unit(cross(incident, B_in))
    psi = -torch.atan2(dot(diffracted, B_in), dot(diffracted, E_in))
    return 0.5 * (1.0 + cos2t_sqr - kahn * torch.cos(2 * psi) * sin2t_sqr)
