"""Polarization factor of nanoBragg.c (Kahn factor K, E-vector closest to `axis`); torch twin
of `nanobrag_kernels._math.polarization`.

0.5 (1 + cos^2 2theta - K cos(2 psi) sin^2 2theta), with psi the azimuth of the diffracted
ray about the incident beam, measured from the E-vector.  Zero vectors stay zero (as the
C's unitize), so an axis along the beam gives psi = 0.  Vectors are [..., 3] tensors or
(x, y, z) tuples of tensors (the form the fused kernels use).
"""
from __future__ import annotations

import torch


def _xyz(v) -> tuple:
    return tuple(v.unbind(-1)) if isinstance(v, torch.Tensor) else tuple(v)


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a, b) -> tuple:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(a) -> tuple:
    mag = torch.sqrt(_dot(a, a))
    inv = torch.where(mag == 0, torch.zeros_like(mag), 1.0 / torch.where(mag == 0, torch.ones_like(mag), mag))
    return tuple(x * inv for x in a)


def polarization_frame(axis, incident) -> tuple:
    """(B, E): unit vectors B = axis x incident and E = incident x B (the E-vector closest
    to `axis`), each an (x, y, z) tuple broadcast over the incident directions."""
    inc = _xyz(incident)
    B = _unit(_cross(_xyz(axis), inc))
    return B, _unit(_cross(inc, B))


def polarization(kahn, incident, diffracted, axis) -> torch.Tensor:
    """Polarization for unit `incident` and `diffracted` vectors (broadcast), axis (3,).

    `kahn`: a float, or a 0-d tensor (always treated as non-zero, as compiled kernels need)."""
    inc, d = _xyz(incident), _xyz(diffracted)
    cos2t = _dot(inc, d)
    cos2t_sqr = cos2t * cos2t
    if not isinstance(kahn, torch.Tensor) and kahn == 0.0:
        return 0.5 * (1.0 + cos2t_sqr)
    B, E = polarization_frame(axis, inc)
    psi = -torch.atan2(_dot(d, B), _dot(d, E))
    return 0.5 * (1.0 + cos2t_sqr - kahn * torch.cos(2 * psi) * (1 - cos2t_sqr))
