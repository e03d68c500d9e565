"""Random rotations drawn with nanoBragg.c's generator: mosaic domains and `-misset random`.

`mosaic_umats` reproduces the C's ``mosaic_rotation_umat`` (including its single-precision
spread and ``powf``) domain by domain, so the domains match the C bit for bit; domain 0 is
forced to the identity after its draws.  `random_misset` reproduces ``-misset random``:
a rotation on a "90" cap, converted to x/y/z angles by the C's ``umat2misset``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np
import torch


def _libm_powf():
    """The C library's ``powf`` (float32 in and out), or None where there is no libm."""
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6").powf
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float, ctypes.c_float]
    return fn


_POWF = _libm_powf()


def c_powf(x: float, y: float) -> float:
    """C ``powf(x, y)`` of float32 arguments: the C library's own when it can be loaded
    (nanoBragg.c links glibc's; glibc powf is not correctly rounded, ~0.07 % of the
    rotation draws differ from the rounded exact value, numpy's float32 power in ~14 %),
    else the double power rounded to float32."""
    x32, y32 = float(np.float32(x)), float(np.float32(y))
    if _POWF is not None:
        return float(_POWF(x32, y32))
    with np.errstate(all="ignore"):
        return float(np.float32(np.power(x32, y32)))


def _rot(mosaicity: float, r3: float) -> float:
    """``mosaicity*powf(1.0-r3*r3, 1.0/3.0)`` of mosaic_rotation_umat: float x float is a
    float32 product (nanoBragg.c line 3453)."""
    with np.errstate(all="ignore"):
        return float(np.float32(mosaicity) * np.float32(c_powf(1.0 - r3 * r3, 1.0 / 3.0)))


def _umat(rng, mosaicity: float) -> list:
    """One 9-element rotation matrix (row-major) as the C's mosaic_rotation_umat."""
    r1 = 2.0 * rng.ran1() - 1.0
    r2 = 2.0 * rng.ran1() - 1.0
    r3 = 2.0 * rng.ran1() - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    rot = _rot(mosaicity, r3)
    v1 = xyrad * math.sin(math.pi * r1)
    v2 = xyrad * math.cos(math.pi * r1)
    v3 = r2
    t1 = math.cos(rot)
    t2 = 1.0 - t1
    t6 = t2 * v1
    t7 = t6 * v2
    t8 = math.sin(rot)
    t9 = t8 * v3
    t11 = t6 * v3
    t12 = t8 * v2
    t19 = t2 * v2 * v3
    t20 = t8 * v1
    return [t1 + t2 * v1 * v1, t7 - t9, t11 + t12,
            t7 + t9, t1 + t2 * v2 * v2, t19 - t20,
            t11 - t12, t19 + t20, t1 + t2 * v3 * v3]


def mosaic_umats(rng, spread_rad, domains: int, seed: int) -> torch.Tensor:
    """[domains, 3, 3] float64 rotation matrices; identity everywhere when spread <= 0.

    A tensor `spread_rad` (differentiable mosaic spread) scales each domain's rotation
    angle drawn for unit spread, keeping the axes and relative angles fixed."""
    if not isinstance(spread_rad, torch.Tensor) and spread_rad <= 0.0:
        return torch.eye(3, dtype=torch.float64).expand(domains, 3, 3).clone()
    rng.idum = seed
    if isinstance(spread_rad, torch.Tensor):
        return _scaled_umats(rng, spread_rad, domains)
    mats = [_umat(rng, spread_rad) for _ in range(domains)]
    mats[0] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return torch.tensor(mats, dtype=torch.float64).reshape(domains, 3, 3)


def _scaled_umats(rng, spread: torch.Tensor, domains: int) -> torch.Tensor:
    out = []
    for m in range(domains):
        r1, r2, r3 = (2.0 * rng.ran1() - 1.0 for _ in range(3))
        xyrad = math.sqrt(1.0 - r2 * r2)
        axis = torch.tensor([xyrad * math.sin(math.pi * r1), xyrad * math.cos(math.pi * r1), r2],
                            dtype=torch.float64)
        rot = spread * c_powf(1.0 - r3 * r3, 1.0 / 3.0)
        if m == 0:
            rot = rot * 0.0
        K = torch.zeros(3, 3, dtype=torch.float64)
        K[0, 1], K[0, 2], K[1, 2] = -axis[2], axis[1], -axis[0]
        K = K - K.T
        out.append(torch.eye(3, dtype=torch.float64) + torch.sin(rot) * K + (1 - torch.cos(rot)) * K @ K)
    return torch.stack(out)


def umat2misset(u: list) -> list:
    """The C's umat2misset: x/y/z rotation angles (radians) of a 3x3 matrix (row-major)."""
    m = [u[0:3], u[3:6], u[6:9]]
    mags = [math.sqrt(sum(x * x for x in row)) for row in m]
    m = [[x / mag for x in row] if mag > 0 else row for row, mag in zip(m, mags)]
    (uxx, uxy, uxz), (uyx, uyy, uyz), (uzx, uzy, uzz) = m
    if uzx * uzx < 1.0:
        return [math.atan2(uzy, uzz), math.atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz)),
                math.atan2(uyx, uxx)]
    return [math.atan2(1, 1) * 4, math.atan2(1, 1) * 2, math.atan2(uxy, -uyy)]


def random_misset(rng, seed: int) -> list:
    """`-misset random`: angles (radians) of a random rotation drawn with `seed`."""
    rng.idum = seed
    return umat2misset(_umat(rng, 90.0))
