"""3-vector helpers in torch, following nanoBragg.c's rotate/rotate_axis/unitize exactly.

All functions take and return float64 tensors of shape (..., 3) and are differentiable.
"""
from __future__ import annotations

import torch


def vec(values, like: torch.Tensor | None = None) -> torch.Tensor:
    """A float64 3-vector (keeps autograd if `values` already is a tensor)."""
    if isinstance(values, torch.Tensor):
        return values.to(torch.float64)
    device = like.device if like is not None else None
    return torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)


def dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x[..., 0] * y[..., 0] + x[..., 1] * y[..., 1] + x[..., 2] * y[..., 2]


def cross(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[..., 1] * y[..., 2] - x[..., 2] * y[..., 1],
                        x[..., 2] * y[..., 0] - x[..., 0] * y[..., 2],
                        x[..., 0] * y[..., 1] - x[..., 1] * y[..., 0]], dim=-1)


def norm(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(dot(x, x))


def unitize(x: torch.Tensor) -> tuple:
    """(unit vector, magnitude); a zero vector stays zero, as in the C."""
    mag = norm(x)
    safe = torch.where(mag != 0, mag, torch.ones_like(mag))
    unit = torch.where((mag != 0)[..., None], x / safe[..., None], torch.zeros_like(x))
    return unit, mag


def _angle(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=torch.float64)


def rotate_xyz(v: torch.Tensor, phix, phiy, phiz) -> torch.Tensor:
    """The C's rotate(): about x, then y, then z (right-handed, radians)."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    if not _is_zero(phix):
        c, s = torch.cos(_angle(phix)), torch.sin(_angle(phix))
        y, z = y * c - z * s, y * s + z * c
    if not _is_zero(phiy):
        c, s = torch.cos(_angle(phiy)), torch.sin(_angle(phiy))
        x, z = x * c + z * s, -x * s + z * c
    if not _is_zero(phiz):
        c, s = torch.cos(_angle(phiz)), torch.sin(_angle(phiz))
        x, y = x * c - y * s, x * s + y * c
    return torch.stack([x, y, z], dim=-1)


def _is_zero(angle) -> bool:
    return (not isinstance(angle, torch.Tensor) or not angle.requires_grad) and float(angle) == 0.0


def rotate_axis(v: torch.Tensor, axis: torch.Tensor, phi) -> torch.Tensor:
    """The C's rotate_axis(): Rodrigues rotation of v about `axis` (assumed unit) by phi."""
    phi = _angle(phi).to(v.device)
    s, c = torch.sin(phi), torch.cos(phi)
    d = dot(axis, v) * (1.0 - c)
    ax, ay, az = axis[..., 0], axis[..., 1], axis[..., 2]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack([ax * d + vx * c + (-az * vy + ay * vz) * s,
                        ay * d + vy * c + (az * vx - ax * vz) * s,
                        az * d + vz * c + (-ay * vx + ax * vy) * s], dim=-1)


def axis_rotation_matrix(axis: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Matrices [..., 3, 3] equal to rotate_axis about `axis` for each angle in `phi` [...]."""
    eye = torch.eye(3, dtype=torch.float64, device=axis.device)
    cols = [rotate_axis(eye[i].expand(*phi.shape, 3), axis, phi) for i in range(3)]
    return torch.stack(cols, dim=-1)

