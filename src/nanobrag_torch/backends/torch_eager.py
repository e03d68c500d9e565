"""Eager-torch accumulation: the reference backend and CPU engine.

For a chunk of P pixels the whole pixel x layer x sub-pixel x source x (phi, mosaic) block
is evaluated as tensors [P, T, S, NS, M] (no Python loop over any of those axes); chunks
run in image order so that the C's order-dependent behaviour (global interpolation
switch-off, phi = 0 carry-over on the first visit) is reproduced exactly.

`accumulate(pre, dtype, device)` returns ``I_geom`` [slow, fast]: the C's per-pixel
``I * capture_fraction * polar * omega`` (before ``r_e^2 * fluence / steps``), zero
outside the ROI and mask, plus the solid-angle sum the C prints.
"""
from __future__ import annotations

import torch

from ..models.structure_factors import nearest, out_of_range, tricubic
from ..physics.lattice import f_latt
from ..physics.polarization import polarization_factor
from ..physics.vectors import dot, rotate_axis

DEFAULT_CHUNK_ELEMENTS = 1 << 21      # steps per chunk: bounds peak memory (~100 B per step)


class _State:
    """Order-dependent state carried from chunk to chunk (single-threaded C semantics)."""

    def __init__(self, interpolate: bool):
        self.interpolate = interpolate
        self.first_visit = True
        self.omega_sum = 0.0


def _positions(pre, fi: torch.Tensor, si: torch.Tensor) -> torch.Tensor:
    """Sub-pixel positions [P, T, S, 3] (m, float64) in the C's loop order."""
    d = pre.detector
    cfg = d.cfg
    os_ = pre.oversample
    sub = cfg.pixel_size_m / os_
    k = torch.arange(os_, dtype=torch.float64)
    Fdet = sub * (fi[:, None].double() * os_ + k) + sub / 2.0            # [P, os]
    Sdet = sub * (si[:, None].double() * os_ + k) + sub / 2.0
    Odet = torch.arange(cfg.thicksteps, dtype=torch.float64) * cfg.thickstep_m
    pos = (Fdet[:, None, None, :, None] * d.fdet + Sdet[:, None, :, None, None] * d.sdet
           + Odet[None, :, None, None, None] * d.odet + d.pix0_m)
    pos = pos.reshape(fi.shape[0], cfg.thicksteps, os_ * os_, 3)
    if cfg.curved:
        dist = d.distance_m
        base = (dist * d.beam).expand_as(pos)
        turned = rotate_axis(base, d.sdet, pos[..., 1] / dist)
        pos = rotate_axis(turned, d.fdet, pos[..., 2] / dist)
    return pos


def _geometry(pre, pos: torch.Tensor):
    """Unit diffracted vectors, solid angle and capture fraction per sub-pixel: [P, T, S]."""
    cfg = pre.detector.cfg
    R = torch.sqrt(dot(pos, pos))
    diffracted = pos / R[..., None]
    if cfg.point_pixel:
        omega = 1.0 / R / R
    else:
        omega = cfg.pixel_size_m * cfg.pixel_size_m / R / R * pre.detector.close_distance_m / R
    if cfg.thick_m == 0.0:
        capture = torch.ones_like(R)
    else:
        parallax = dot(diffracted, pre.detector.odet)
        t = torch.arange(cfg.thicksteps, dtype=torch.float64)[None, :, None]
        step_mu = cfg.thickstep_m * cfg.mu_per_m
        capture = torch.exp(-t * step_mu / parallax) - torch.exp(-(t + 1) * step_mu / parallax)
    return diffracted, omega, capture


def _structure_factor(pre, state: _State, hkl, valid):
    """|F| per step [P, T, S, NS, M], tricubic where the C would interpolate."""
    sf = pre.sf
    F_near = nearest(sf, hkl)
    if not state.interpolate:
        return F_near
    bad = out_of_range(sf, hkl)
    F_tri = tricubic(sf, hkl)
    if pre.quirks == "fixed":
        return torch.where(bad, F_near, F_tri)
    flat_bad = (bad & valid).reshape(-1)
    hit = torch.nonzero(flat_bad)
    if hit.numel() == 0:
        return F_tri
    first = int(hit[0])
    state.interpolate = False        # the C's shared flag: off for every later step
    use_tri = (torch.arange(flat_bad.numel(), device=hkl.device) < first).reshape(bad.shape)
    return torch.where(use_tri, F_tri, F_near)


def _chunk(pre, state: _State, fi, si, dtype, device):
    cfg = pre.cfg
    dcfg = cfg.detector
    pos = _positions(pre, fi, si)
    diffracted, omega, capture = _geometry(pre, pos)
    P, T, S = omega.shape
    src = pre.sources
    incident64 = -src.direction                                           # [NS, 3]
    d = diffracted.to(dtype=dtype, device=device)
    inc = incident64.to(dtype=dtype, device=device)
    lam = src.lambda_m.to(dtype=dtype, device=device)
    scat = (d[:, :, :, None, :] - inc) / lam[:, None]                   # [P, T, S, NS, 3] 1/m
    dmin = cfg.beam.dmin_m
    if dmin > 0.0:
        stol = 0.5 * torch.sqrt(dot(scat, scat))
        skip = (stol > 0) & (dmin > 0.5 / torch.where(stol > 0, stol, torch.ones_like(stol)))
    else:
        skip = torch.zeros(scat.shape[:-1], dtype=torch.bool, device=device)
    if cfg.beam.nopolar:
        polar = torch.ones(skip.shape, dtype=torch.float64)
    else:
        axis = torch.tensor(cfg.beam.polar, dtype=torch.float64)
        axis = axis / torch.sqrt(dot(axis, axis))
        polar = polarization_factor(cfg.beam.polarization_kahn, incident64,
                                    diffracted[:, :, :, None, :], axis)   # [P, T, S, NS]
    A = pre.A.to(dtype=dtype, device=device)
    hkl = torch.einsum("ptsnx,myx->ptsnmy", scat, A)                     # [P, T, S, NS, M, 3]
    skip_cpu = skip.cpu()
    if state.first_visit and pre.A_first is not None and P > 0:
        free = torch.nonzero(~skip_cpu[0, 0, 0])
        if free.numel():
            n0 = int(free[0])
            hkl[0, 0, 0, n0] = torch.einsum("x,myx->my", scat[0, 0, 0, n0],
                                            pre.A_first.to(dtype=dtype, device=device))
    if P > 0:
        state.first_visit = False
    crystal = pre.crystal
    Fl = f_latt(hkl, crystal.N.to(device), cfg.crystal.shape, cfg.crystal.fudge,
                crystal.recip_A.to(device))
    water = cfg.crystal.water_size_m != 0.0
    valid = ~skip[..., None] & ((Fl != 0) | water)
    F = _structure_factor(pre, state, hkl, valid)
    I_step = torch.where(valid, F * F * Fl * Fl, torch.zeros_like(Fl))
    I_step = I_step * pre.source_factor.to(dtype=dtype, device=device)[:, None]
    return _combine(pre, state, I_step.double().cpu() if dtype != torch.float64 else I_step.cpu(),
                    valid.cpu(), skip_cpu, polar, omega, capture)


def _first_polar(polar, skip):
    """The C caches polarization at the first non-skipped (layer, sub-pixel, source): [P]."""
    P = polar.shape[0]
    flat_ok = ~skip.reshape(P, -1)
    first = torch.argmax(flat_ok.to(torch.int8), dim=1)
    val = polar.reshape(P, -1).gather(1, first[:, None])[:, 0]
    return torch.where(flat_ok.any(dim=1), val, torch.zeros_like(val))


def _combine(pre, state: _State, I_step, valid, skip, polar, omega, capture):
    """Per-pixel I * factors [P] following the quirks mode (float64)."""
    dcfg = pre.cfg.detector
    P, T, S, NS, M = I_step.shape
    if pre.quirks == "fixed":
        g = capture[..., None] * omega[..., None] * polar                # [P, T, S, NS]
        out = (I_step.sum(-1) * g).sum((1, 2, 3))
        if pre.cfg.crystal.water_size_m != 0.0:
            wf = pre.source_factor[None, None, None, :]
            avg = (g * wf).sum((1, 2, 3)) / (S * NS)
            out = out + pre.water_F2_molecules * pre.steps * avg   # not divided by steps
        state.omega_sum += float(omega.sum())
        return out
    polar_first = _first_polar(polar, skip)
    omega_first = omega[:, 0, 0]
    cap_last = capture[:, T - 1, 0]
    I_bg = pre.water_I_bg
    flags = (dcfg.oversample_thick, dcfg.oversample_polar, dcfg.oversample_omega)
    if not any(flags):
        I = I_bg + I_step.reshape(P, -1).sum(1)
    else:
        m = torch.ones(P, T, S, NS, dtype=torch.float64)
        if flags[0]:
            m = m * capture[..., None]
        if flags[1]:
            m = m * polar
        if flags[2]:
            m = m * omega[..., None]
        m = torch.where(valid, m[..., None].expand(P, T, S, NS, M), torch.ones(()))
        m = m.reshape(P, -1)
        suffix = torch.flip(torch.cumprod(torch.flip(m, [1]), 1), [1])  # prod_{j >= n} m_j
        I = I_bg * suffix[:, 0] + (I_step.reshape(P, -1) * suffix).sum(1)
    out = I
    out = out if flags[0] else out * cap_last
    out = out if flags[1] else out * polar_first
    out = out if flags[2] else out * omega_first
    state.omega_sum += float(omega.sum()) if flags[2] else float(omega_first.sum()) * T * S
    return out


def _chunk_pixels(pre) -> int:
    per_pixel = (pre.cfg.detector.thicksteps * pre.oversample ** 2 * pre.sources.count
                 * int(pre.A.shape[0]))
    return max(1, DEFAULT_CHUNK_ELEMENTS // per_pixel)


def accumulate(pre, dtype: torch.dtype, device: torch.device | str = "cpu", progress=None):
    """I_geom [slow, fast] (float64) and the C's omega_sum.

    `progress(done, total)`, if given, is called after each chunk with flat pixel counts."""
    S_, F_ = pre.shape
    xmin, xmax, ymin, ymax = pre.cfg.detector.roi
    out = torch.zeros(S_ * F_, dtype=torch.float64)
    state = _State(pre.interpolate)
    step = _chunk_pixels(pre)
    mask = pre.mask.reshape(-1) if pre.mask is not None else None
    for start in range(ymin * F_ if ymin > 0 else 0, S_ * F_, step):
        idx = torch.arange(start, min(start + step, S_ * F_))
        fi, si = idx % F_, idx // F_
        keep = (fi >= xmin) & (fi <= xmax) & (si >= ymin) & (si <= ymax)
        if mask is not None:
            keep &= mask[idx]
        idx, fi, si = idx[keep], fi[keep], si[keep]
        if idx.numel() == 0:
            if progress is not None:
                progress(min(start + step, S_ * F_), S_ * F_)
            continue
        out[idx] = _chunk(pre, state, fi, si, dtype, device)
        if progress is not None:
            progress(min(start + step, S_ * F_), S_ * F_)
    return out.reshape(S_, F_), state.omega_sum
