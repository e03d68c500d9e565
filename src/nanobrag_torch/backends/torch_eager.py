"""Torch backend: the reference engine (CPU, any device), eager or torch.compile'd.

For a chunk of P pixels the pixel x layer x sub-pixel x source x (phi, mosaic) block is
evaluated with tensors (no Python loop over any of those axes).  Chunks run in image order
so the C's order-dependent behaviour is reproduced exactly: while tricubic interpolation is
on (c: until the first out-of-range step switches it off for the rest of the image), for
the first-visit phi = 0 carry-over, and for the running-sum ``-oversample_*`` quirk, the
general path keeps every step ([P, T, S, NS, M]); all other chunks use `fused_chunk`.

`accumulate(pre, dtype, device)` returns ``I_geom`` [slow, fast] (working dtype): the C's
per-pixel ``I * capture_fraction * polar * omega`` before ``r_e^2 * fluence / steps``,
zero outside the ROI and mask, plus the solid-angle sum the C prints.
"""
from __future__ import annotations

import torch

from ..models.structure_factors import nearest, out_of_range, tricubic
from ..physics.lattice import f_latt_sqr
from . import torch_kernel as tk
from .compile_policy import fused_for

CHUNK_STEPS = 1 << 21      # steps per chunk (bounds memory: ~100 B per step on the general path)
MAX_CHUNK_PIXELS = 1 << 22


def build_inputs(pre, dtype: torch.dtype, device) -> tk.KernelInputs:
    """Per-render constants for the kernels, in the working dtype on `device`."""
    cfg = pre.cfg
    det, dcfg, beam = pre.detector, cfg.detector, cfg.beam

    def t(x):
        return torch.as_tensor(x, dtype=torch.float64).to(dtype=dtype, device=device)
    axis = torch.tensor(beam.polar, dtype=torch.float64)
    axis = axis / torch.sqrt((axis * axis).sum()) if float((axis * axis).sum()) > 0 else axis
    T = dcfg.thicksteps
    return tk.KernelInputs(
        pix0=t(det.pix0_m), fdet=t(det.fdet), sdet=t(det.sdet), odet=t(det.odet),
        beam_dist=t(det.distance_m * det.beam), sub_off=t(torch.arange(pre.oversample)),
        layer_off=t(torch.arange(T, dtype=torch.float64) * dcfg.thickstep_m),
        layer_idx=t(torch.arange(T, dtype=torch.float64)),
        incident=t(-pre.sources.direction.T), inv_lambda=t(1.0 / pre.sources.lambda_m),
        source_factor=t(pre.source_factor), polar_axis=t(axis), A=t(pre.A.permute(1, 2, 0)), N=t(pre.crystal.N),
        recip=t(pre.crystal.recip_A), sf=pre.sf.to(dtype, device),
        sub_size=t(dcfg.pixel_size_m / pre.oversample), fudge=t(cfg.crystal.fudge),
        pixel_size=t(dcfg.pixel_size_m), close_distance=t(det.close_distance_m),
        distance=t(det.distance_m), step_mu=t(dcfg.thickstep_m * dcfg.mu_per_m),
        I_bg=t(pre.water_I_bg), water_coeff=t(pre.water_F2_molecules * pre.steps),
        dmin=t(beam.dmin_m) if beam.dmin_m > 0.0 else None,
        kahn=t(beam.polarization_kahn) if beam.polarization_kahn != 0.0 else 0.0,
        shape=cfg.crystal.shape, thick=dcfg.thick_m != 0.0, nopolar=beam.nopolar,
        point_pixel=dcfg.point_pixel, curved=dcfg.curved, water=cfg.crystal.water_size_m != 0.0,
        fixed=pre.quirks == "fixed")


class _State:
    """Order-dependent state carried from chunk to chunk (single-threaded C semantics)."""

    def __init__(self, pre):
        self.interpolate = pre.interpolate
        self.first_visit = pre.A_first is not None
        dcfg = pre.cfg.detector
        self.running = pre.quirks == "c" and (dcfg.oversample_thick or dcfg.oversample_polar
                                              or dcfg.oversample_omega)

    def general(self) -> bool:
        return self.interpolate or self.first_visit or self.running


def _F_general(k: tk.KernelInputs, state: _State, h, valid):
    """|F| per step [P, T, S, NS, M]: tricubic where the C would interpolate."""
    F_near = nearest(k.sf, h)
    if not state.interpolate:
        return F_near
    bad = out_of_range(k.sf, h)
    F_tri = tricubic(k.sf, h)
    if k.fixed:
        return torch.where(bad, F_near, F_tri)
    hit = torch.nonzero((bad & valid).reshape(-1))
    if hit.numel() == 0:
        return F_tri
    state.interpolate = False        # the C's shared flag: off for this and every later step
    use_tri = (torch.arange(bad.numel(), device=bad.device) < int(hit[0])).reshape(bad.shape)
    return torch.where(use_tri, F_tri, F_near)


def _general_chunk(pre, k: tk.KernelInputs, state: _State, si, fi):
    """Every step kept: (I_geom [P], omega_sum [P]) with the order-dependent quirks."""
    d, omega, capture = tk.pixel_geometry(si, fi, k)                    # [P, T, os, os]
    scat, keep, polar = tk.source_terms(d, k)                            # [P, T, os, os, NS]
    h = tk.miller(scat, k.A)                                             # [P, T, os, os, NS, M]
    if state.first_visit:
        # the C's very first phi sweep: the first (pixel, layer, sub-pixel, source) with a step
        free = torch.nonzero(keep.reshape(-1) > 0)
        if free.numel():
            at = tuple(int(i) for i in torch.unravel_index(free[0], keep.shape))
            A_first = pre.A_first.permute(1, 2, 0).to(dtype=h[0].dtype, device=h[0].device)
            first = tk.miller(tuple(x[at] for x in scat), A_first)
            for i in range(3):
                h[i][at] = first[i]
            state.first_visit = False
    Fl2 = f_latt_sqr(h, k.N, k.shape, k.fudge, k.recip)
    valid = (keep[..., None] > 0) & ((Fl2 != 0) | k.water)
    F = _F_general(k, state, h, valid)
    I_step = torch.where(valid, F * F * Fl2, torch.zeros_like(Fl2))
    if not state.running:
        return tk.combine(I_step.sum(-1), keep, polar, omega, capture, k)
    # c mode with -oversample_thick/_polar/_omega (source weights are ignored in c mode)
    polar_first, omega_first, cap_last = tk.c_first_values(polar, omega, capture, keep, k.nopolar)
    dcfg = pre.cfg.detector
    flags = (dcfg.oversample_thick, dcfg.oversample_polar, dcfg.oversample_omega)
    # with no sensor thickness the C's capture formula gives exp(0) - exp(0) = 0 per step
    run_capture = capture if k.thick else torch.zeros_like(capture)
    I = _running_sum(I_step, valid, run_capture, polar, omega, flags, k.I_bg)
    I = I if flags[0] else I * cap_last
    I = I if flags[1] else I * polar_first
    I = I if flags[2] else I * omega_first
    P = omega.shape[0]
    om = omega.reshape(P, -1).sum(1) if flags[2] else omega_first * omega[0].numel()
    return I, om


def _running_sum(I_step, valid, capture, polar, omega, flags, I_bg):
    """The C's `I += x; I *= m` at every step, in closed form: I_bg prod(m) + sum x_n prod_{j>=n} m_j."""
    P = I_step.shape[0]
    m = torch.ones_like(polar)                                           # [P, T, os, os, NS]
    if flags[0]:
        m = m * capture[..., None]
    if flags[1]:
        m = m * polar
    if flags[2]:
        m = m * omega[..., None]
    m = torch.where(valid, m[..., None].expand_as(I_step), torch.ones_like(I_step))
    m = m.reshape(P, -1).double()
    suffix = torch.flip(torch.cumprod(torch.flip(m, [1]), 1), [1])
    return I_bg * suffix[:, 0] + (I_step.reshape(P, -1).double() * suffix).sum(1)


def _checkpointed(fn):
    """Recompute each chunk in the backward pass: memory stays bounded by one chunk."""
    from torch.utils.checkpoint import checkpoint

    def run(si, fi, k):
        return checkpoint(fn, si, fi, k, use_reentrant=False)
    return run


def _rows_per_chunk(pre, width: int, compiled: bool) -> int:
    """Rows per chunk from a step budget (compiled kernels keep no per-step tensors)."""
    per_pixel = (pre.cfg.detector.thicksteps * pre.oversample ** 2 * pre.sources.count
                 * int(pre.A.shape[0]))
    pixels = min(CHUNK_STEPS * (8 if compiled else 1) // per_pixel, MAX_CHUNK_PIXELS)
    return max(1, pixels // width)


def accumulate(pre, dtype: torch.dtype, device: torch.device | str = "cpu", progress=None):
    """I_geom [slow, fast] (working dtype) and the C's omega_sum.

    Pixels run in blocks of whole ROI rows, in image order.  `progress(done, total)`, if
    given, is called after each block with counts of ROI rows."""
    S_, F_ = pre.shape
    xmin, xmax, ymin, ymax = pre.cfg.detector.roi
    x0, x1 = max(xmin, 0), min(xmax, F_ - 1) + 1
    y0, y1 = max(ymin, 0), min(ymax, S_ - 1) + 1
    k = build_inputs(pre, dtype, device)
    state = _State(pre)
    grad = torch.is_grad_enabled() and pre.needs_grad
    fused, compiled = (tk.fused_chunk, False) if grad else fused_for(pre, k)
    if grad:
        fused = _checkpointed(fused)
    out = torch.zeros(S_, F_, dtype=dtype, device=device)
    omega_sum = torch.zeros((), dtype=torch.float64, device=device)
    mask = pre.mask.to(device) if pre.mask is not None else None
    cols = torch.arange(x0, x1, device=device)
    r = y0
    while r < y1 and x1 > x0:
        general = state.general()
        r_end = min(y1, r + _rows_per_chunk(pre, x1 - x0, compiled and not general))
        rows = torch.arange(r, r_end, device=device)
        block = mask[r:r_end, x0:x1] if mask is not None else None
        if general or block is not None:
            si, fi = rows[:, None].expand(-1, x1 - x0), cols[None, :].expand(r_end - r, -1)
            sel = block if block is not None else torch.ones_like(si, dtype=torch.bool)
            si, fi = si[sel], fi[sel]
            if si.numel():
                I, om = (_general_chunk(pre, k, state, si, fi) if general else fused(si, fi, k))
                out[r:r_end, x0:x1][sel] = I.to(dtype)
                omega_sum += om.detach().double().sum()
        else:
            I, om = fused(rows[:, None], cols[None, :], k)
            out[r:r_end, x0:x1] = I.reshape(r_end - r, x1 - x0).to(dtype)
            omega_sum += om.detach().double().sum()
        r = r_end
        if progress is not None:
            progress(r - y0, y1 - y0)
    return out, float(omega_sum)
