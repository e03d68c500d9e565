"""nearBragg's pixel loop: sub-pixel positions, solid angle, the source grid, and the C's
(or the corrected) summation rules around an amplitude engine (eager `engine.amplitude` or
the Triton one).  Chunked over pixels (and, inside the engine, over atoms), so memory is
bounded by the images whatever the atom count.

Summation (nearBragg.c 1004-1172; ``fixed`` corrections in specs/quirks.md):

- ``c``, incoherent: I = sum over (sub-pixel, wavelength, divergence) of |sum over depth
  planes and atoms F|^2; pixel = I/steps * omega_last * fluence r_e^2, omega_last =
  pixel^2 distance/|p| of the last sub-pixel.
- ``c``, coherent: F = sum over everything + F_old steps; sin/cos = F/steps; pixel =
  |F/steps|^2 omega_last fluence r_e^2.
- ``fixed``: depth planes add in intensity, sub-pixels never interfere, each sub-pixel has
  its own solid angle (true plane distance) and the unpolarised polarization factor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NanoBraggError
from ..noise import sequential_sum
from . import engine
from .geometry import NearSetup

R_E_SQR = 7.94079248018965e-30     # m^2 (line 66)


@dataclass
class RenderResult:
    """Flat [S*F] float64 tensors (zero outside the ROI): image = pixel value before any
    accumulated float image; I_raw (the C's I); F_re/F_im = mean complex amplitude (sin/cos
    images, coherent only, else None; ``fixed``: I weighted by omega and polarization);
    omega_sum: the C's printed sum of pixel^2 distance/R."""
    image: torch.Tensor
    I_raw: torch.Tensor
    F_re: torch.Tensor | None
    F_im: torch.Tensor | None
    omega_sum: float


def positions(g: NearSetup, xp: torch.Tensor, yp: torch.Tensor, suby: int, subz: int,
              fixed: bool = False) -> tuple:
    """Sub-pixel (suby, subz) of pixels (xp fast, yp slow) [n]: position p [n, 3] (m),
    omega_Rsqr [n] (the C's pixel^2 distance/|p|, or the corrected one) and |p| [n]."""
    sub = g.pixel / g.oversample
    Xdet = sub * (xp * g.oversample + subz).to(torch.float64) + sub / 2.0
    Ydet = sub * (yp * g.oversample + suby).to(torch.float64) + sub / 2.0
    f, s, o = (torch.tensor(v, dtype=torch.float64) for v in (g.fdet, g.sdet, g.pix0))
    p = Xdet[:, None] * f + Ydet[:, None] * s + o
    if g.curved:                # rotate (d,0,0) about y, then z (1019-1026); glibc sin/cos
        d = g.distance          # (numpy): torch's vectorised ones are 1 ulp off at times
        alpha, beta = (p[:, 2] / d).numpy(), (p[:, 1] / d).numpy()
        ca = d * np.cos(alpha)
        z = d * np.sin(alpha) if fixed else -(d * np.sin(alpha))
        p = torch.from_numpy(np.stack([ca * np.cos(beta), ca * np.sin(beta), z], axis=-1))
    R = torch.sqrt(p[:, 0] * p[:, 0] + p[:, 1] * p[:, 1] + p[:, 2] * p[:, 2])
    if g.point_pixel:
        omega = torch.ones_like(R)
    elif not fixed:
        omega = g.pixel * g.pixel * g.distance / R
    elif g.curved:
        omega = torch.full_like(R, g.pixel * g.pixel)
    else:
        normal = torch.linalg.cross(f, s)
        area = torch.sqrt((normal * normal).sum())
        omega = g.pixel * g.pixel * torch.abs(p @ (normal / area)) / R * area
    return p, omega, R


def check_on_pixel(p: torch.Tensor, R: torch.Tensor, xyz: torch.Tensor, radius: torch.Tensor) -> None:
    """Refuse an atom exactly at a sub-pixel position (the C divides by a zero path there).
    Only atoms whose distance from the origin lies within this block's [min, max] |p| are
    compared, so the usual case (atoms near the origin, detector far) costs nothing."""
    near = (radius >= R.min() * (1 - 1e-9)) & (radius <= R.max() * (1 + 1e-9))
    if bool(near.any()):
        hit = (p[:, None, :] == xyz[near][None, :, :]).all(-1)
        if bool(hit.any()):
            a = xyz[near][hit.any(0)][0] * 1e10
            raise NanoBraggError(f"-file: an atom sits exactly on a detector pixel position "
                                 f"({a[0]:g}, {a[1]:g}, {a[2]:g} A): zero atom-to-pixel path")


def _polar(p: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Unpolarised Thomson factor (1 + cos^2 2theta)/2, beam along +x."""
    c = p[:, 0] / R
    return 0.5 * (1.0 + c * c)


def render(g: NearSetup, atoms: engine.AtomArrays, *, coherent: bool, fixed: bool,
           polarization: bool, dtype, fluence: float, F_old: tuple | None = None,
           exact_c: bool = False, amplitude=engine.amplitude, chunk: int | None = None,
           progress=None) -> RenderResult:
    """Render the ROI.  F_old: (re, im) flat float64 [S*F] read by coherent -accumulate;
    `amplitude`: engine function (eager, compiled or Triton), `chunk`: pixels per block."""
    S, F = g.ypixels, g.xpixels
    idx = torch.arange(S * F)
    xs, ys = idx % F, idx // F
    xmin, xmax, ymin, ymax = g.roi
    idx = idx[(xs >= xmin) & (xs <= xmax) & (ys >= ymin) & (ys <= ymax)]
    terms = [[[engine.source_terms(atoms, lam, src, dtype, fixed) for src in row]
              for row in g.source_points()] for lam in g.lambdas]
    steps, os2 = g.steps, g.oversample ** 2
    n_gt = steps // os2
    scale = fluence * R_E_SQR
    full = {key: torch.zeros(S * F, dtype=torch.float64)
            for key in (("image", "I", "re", "im") if coherent else ("image", "I"))}
    omega_sum = 0.0
    chunk = chunk or engine.pixel_chunk(atoms.count)
    xyz = atoms.xyz.detach()
    radius = torch.sqrt((xyz * xyz).sum(-1))
    for start in range(0, idx.numel(), chunk):
        j = idx[start:start + chunk]
        xp, yp = j % F, j // F
        zero = torch.zeros(j.numel(), dtype=torch.float64)
        I_raw, I_w, F_re, F_im = zero, zero, zero, zero
        omegas = []
        for suby in range(g.oversample):
            for subz in range(g.oversample):
                p, omega, R = positions(g, xp, yp, suby, subz, fixed)
                check_on_pixel(p, R, xyz, radius)
                omega_c = omega if not fixed else positions(g, xp, yp, suby, subz)[1]
                omegas.append(omega_c)
                weight = omega * (_polar(p, R) if fixed and polarization else 1.0)
                u_re, u_im = zero, zero
                for per_lambda in terms:
                    for per_div in per_lambda:
                        d_re, d_im = (F_re, F_im) if exact_c and coherent else (zero, zero)
                        for t in per_div:
                            if exact_c:     # the C's running Fa, Fb, atom by atom (1108-1109)
                                d_re, d_im = amplitude(p, t, dtype, True, start=(d_re, d_im))
                                continue
                            a_re, a_im = amplitude(p, t, dtype, exact_c)
                            if fixed and not coherent:
                                I_w = I_w + (a_re * a_re + a_im * a_im) * weight
                            d_re, d_im = d_re + a_re, d_im + a_im
                        if exact_c and coherent:
                            F_re, F_im = d_re, d_im
                        if not coherent and not fixed:
                            I_raw = I_raw + (d_re * d_re + d_im * d_im)     # I += (Fa*Fa + Fb*Fb)
                        u_re, u_im = u_re + d_re, u_im + d_im
                if coherent and fixed:
                    m_re, m_im = u_re / n_gt, u_im / n_gt
                    if F_old is not None:
                        m_re, m_im = m_re + F_old[0][j], m_im + F_old[1][j]
                    I_w = I_w + (m_re * m_re + m_im * m_im) * weight
                    F_re, F_im = F_re + m_re / os2, F_im + m_im / os2
                elif coherent and not exact_c:
                    F_re, F_im = F_re + u_re, F_im + u_im
        # omega_sum += omega_Rsqr_pixel in the C's order: pixel, then suby, then subz
        order = torch.stack(omegas, dim=1).flatten().numpy()
        omega_sum = sequential_sum(order, start=omega_sum)
        if coherent and not fixed:
            if F_old is not None:       # cosimage[j]*steps: a float32 product in the C (1151)
                n32 = torch.tensor(float(steps), dtype=torch.float32)
                F_re = F_re + (F_old[0][j].to(torch.float32) * n32).to(torch.float64)
                F_im = F_im + (F_old[1][j].to(torch.float32) * n32).to(torch.float64)
            a_re, a_im = F_re / math.sqrt(steps), F_im / math.sqrt(steps)
            I_raw = a_re * a_re + a_im * a_im
            F_re, F_im = F_re / steps, F_im / steps
        if fixed:
            I_raw = I_w                  # printout: the solid-angle and polarization weighted sum
            value = I_w / (os2 if coherent else steps) * scale
        else:
            value = I_raw / steps * omega * fluence * R_E_SQR      # the C's order (1169)
        for key, part in (("image", value), ("I", I_raw), ("re", F_re), ("im", F_im)):
            if key in full:
                full[key].index_copy_(0, j, part)
        if progress is not None:
            progress(min(start + chunk, idx.numel()), idx.numel())
    return RenderResult(full["image"], full["I"], full.get("re"), full.get("im"), omega_sum)
