"""Torch backend: the reference engine (CPU, any device), eager or torch.compile'd.

For a chunk of P pixels the pixel x layer x sub-pixel x source x (phi, mosaic) block is
evaluated with tensors (no Python loop over any of those axes).  Chunks run in image order
so the C's order-dependent behaviour is reproduced exactly: while tricubic interpolation is
on (c: until the first out-of-range step switches it off for the rest of the image), for
the first-visit phi = 0 carry-over, and for the running-sum ``-oversample_*`` quirk, the
general path keeps every step ([P, T, S, NS, M]); all other chunks use `fused_chunk`.

`accumulate(inputs, flags, dtype, device)` reads only the contract (`contract.RenderInputs`,
`RenderFlags`) and returns ``I_geom`` [n_panels, slow, fast] (working dtype): the C's
per-pixel ``I * capture_fraction * polar * omega`` before ``r_e^2 * fluence / steps``,
zero outside the ROI and mask, plus the solid-angle sum the C prints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..contract import FactorMode, Interpolation, RenderFlags, RenderInputs
from ..physics.lattice import f_latt_sqr
from ..physics.structure_factors import nearest_F, out_of_range, tricubic_F
from . import torch_kernel as tk
from .compile_policy import fused_for

CHUNK_STEPS = 1 << 21      # steps per chunk (bounds memory: ~100 B per step on the general path)
MAX_CHUNK_PIXELS = 1 << 22
# Compiled kernels keep no per-step tensors, so their chunks hold this many times more steps.
# Each chunk wakes the second core (a new numba thread, or inductor's OpenMP team after the
# torch geometry between chunks), ~10 ms on this VM's idle vCPUs: the still of `bench.cases`
# (300 steps) ran 19 chunks a shot at 8 (numba 0.67-0.69 s a shot, package 0.52-0.56 s)
# against 3 at 64 (0.51 s both).
COMPILED_CHUNK_FACTOR = 64


class State:
    """Order-dependent state carried from chunk to chunk (single-threaded C semantics)."""

    def __init__(self, flags: RenderFlags):
        self.interpolate = flags.interpolation != Interpolation.NEAREST
        self.first_visit = flags.first_visit
        self.running = flags.factors == FactorMode.C_RUNNING

    def general(self) -> bool:
        return self.interpolate or self.first_visit or self.running


def _F_general(k: tk.KernelInputs, flags: RenderFlags, state: State, h, valid):
    """|F| per step [P, T, S, NS, M]: tricubic where the C would interpolate."""
    F_near = nearest_F(k.sf, h)
    if not state.interpolate:
        return F_near
    bad = out_of_range(k.sf, h)
    F_tri = tricubic_F(k.sf, h)
    if flags.interpolation == Interpolation.TRICUBIC_PER_STEP:
        return torch.where(bad, F_near, F_tri)
    hit = torch.nonzero((bad & valid).reshape(-1))
    if hit.numel() == 0:
        return F_tri
    state.interpolate = False        # the C's shared flag: off for this and every later step
    use_tri = (torch.arange(bad.numel(), device=bad.device) < int(hit[0])).reshape(bad.shape)
    return torch.where(use_tri, F_tri, F_near)


@dataclass
class Steps:
    """Every per-step quantity of a chunk of P pixels on the general path (the ``-printout``
    trace reads them): positions, geometry [P, T, os, os], source terms [P, T, os, os, NS],
    Miller indices and lattice/structure factors [P, T, os, os, NS, M]."""
    pos: tuple                 # (x, y, z) m
    airpath: torch.Tensor      # m
    d: tuple                   # unit diffracted vector
    omega: torch.Tensor        # sr
    capture: torch.Tensor      # capture fraction (1 without a sensor depth)
    scat: tuple                # scattering vector, 1/m
    keep: torch.Tensor         # 0 where -dmin skips the source
    polar: torch.Tensor        # polarization factor
    h: tuple                   # fractional Miller indices
    Fl2: torch.Tensor          # F_latt^2
    valid: torch.Tensor        # steps the C adds to the pixel sum
    F: torch.Tensor            # |F_cell|
    I_step: torch.Tensor       # F^2 F_latt^2 on valid steps, else 0
    first_at: tuple | None     # (pixel, layer, sub_s, sub_f, source) of the C's first sweep (A_first)


def general_steps(flags: RenderFlags, k: tk.KernelInputs, A_first, state: State, si, fi) -> Steps:
    """Every step of pixels (si, fi) kept, with the C's order-dependent rules (`state`)."""
    pos = tk.pixel_positions(si, fi, k)
    R, d, omega, capture = tk.geometry_at(pos, k, si, fi)               # [P, T, os, os]
    scat, keep, polar = tk.source_terms(d, k)                            # [P, T, os, os, NS]
    h = tk.miller(scat, k.A)                                             # [P, T, os, os, NS, M]
    at = None
    if state.first_visit:
        # the C's very first phi sweep: the first (pixel, layer, sub-pixel, source) with a step
        free = torch.nonzero(keep.reshape(-1) > 0)
        if free.numel():
            at = tuple(int(i) for i in torch.unravel_index(free[0], keep.shape))
            first = tk.miller(tuple(x[at] for x in scat), A_first.permute(1, 2, 0))
            for i in range(3):
                h[i][at] = first[i]
            state.first_visit = False
    Fl2 = f_latt_sqr(h, k.N, k.shape, k.fudge, k.recip, not k.fixed)
    valid = (keep[..., None] > 0) & ((Fl2 != 0) | k.water)
    F = _F_general(k, flags, state, h, valid)
    I_step = torch.where(valid, F * F * Fl2, torch.zeros_like(Fl2))
    return Steps(pos, R, d, omega, capture, scat, keep, polar, h, Fl2, valid, F, I_step, at)


def running_I(s: Steps, flags: RenderFlags, k: tk.KernelInputs) -> torch.Tensor:
    """The C's pixel sum I [P] (float64) under ``-oversample_*`` (`FactorMode.C_RUNNING`),
    before the factors that are not oversampled."""
    # with no sensor thickness the C's capture formula gives exp(0) - exp(0) = 0 per step
    run_capture = s.capture if k.thick else torch.zeros_like(s.capture)
    return _running_sum(s.I_step, s.valid, run_capture, s.polar, s.omega, flags.oversample_factors, k.I_bg)


def _general_chunk(flags: RenderFlags, k: tk.KernelInputs, A_first, state: State, si, fi):
    """Every step kept: (I_geom [P], omega_sum [P]) with the C's order-dependent rules."""
    s = general_steps(flags, k, A_first, state, si, fi)
    if not state.running:
        return tk.combine(s.I_step.sum(-1), s.keep, s.polar, s.omega, s.capture, k)
    # c mode with -oversample_thick/_polar/_omega (source weights are ignored in c mode)
    polar_first, omega_first, cap_last = tk.c_first_values(s.polar, s.omega, s.capture, s.keep, k.nopolar)
    over = flags.oversample_factors
    I = running_I(s, flags, k)
    I = I if over[0] else I * cap_last
    I = I if over[1] else I * polar_first
    I = I if over[2] else I * omega_first
    P = s.omega.shape[0]
    om = s.omega.reshape(P, -1).sum(1) if over[2] else omega_first * s.omega[0].numel()
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


def _sum64(x: torch.Tensor):
    """float64 sum of a chunk's values (numpy's on CPU: torch's float64 sum of a float32
    tensor is ~15x slower); a compiled chunk's omega comes summed by rows already."""
    x = x.detach()
    if x.device.type == "cpu":
        return float(x.numpy().sum(dtype=np.float64))
    return x.sum(dtype=torch.float64)


def _rows_per_chunk(inp: RenderInputs, width: int, compiled: bool) -> int:
    """Rows per chunk from a step budget (compiled kernels keep no per-step tensors)."""
    factor = COMPILED_CHUNK_FACTOR if compiled else 1
    pixels = min(CHUNK_STEPS * factor // inp.steps_per_pixel, MAX_CHUNK_PIXELS)
    return max(1, pixels // width)


def _covered(inp: RenderInputs) -> bool:
    """No mask and an ROI spanning the whole panel: every pixel is written."""
    xmin, xmax, ymin, ymax = inp.roi
    return (inp.mask is None and xmin <= 0 and ymin <= 0
            and xmax >= inp.fpixels - 1 and ymax >= inp.spixels - 1)


def takes_kept_image(inputs: RenderInputs, flags: RenderFlags) -> bool:
    """Whether `accumulate` can add a kept background inside the kernel
    (`RenderFlags.background_image`): every pixel of one panel, each through the fused
    kernel (no order-dependent state, `State.general`)."""
    return inputs.n_panels == 1 and _covered(inputs) and not State(flags).general()


def accumulate(inputs: RenderInputs, flags: RenderFlags, dtype: torch.dtype,
               device: torch.device | str = "cpu", progress=None):
    """I_geom [n_panels, slow, fast] (working dtype) and the C's omega_sum.

    The panels are stacked along the slow axis (global row = panel x slow + row, see
    `torch_kernel.at_rows`) and pixels run in blocks of whole ROI rows in image order; a block may
    span panels, so a render of n panels makes as many kernel calls as one panel with the
    same pixels.  `progress(done, total)`, if given, is called after each block with counts
    of ROI rows (over all panels).  Inputs that require grad run eagerly, chunks checkpointed."""
    inp = inputs.to(dtype, device)
    n_panels, S_, F_ = inp.n_panels, inp.spixels, inp.fpixels
    xmin, xmax, ymin, ymax = inp.roi
    x0, x1 = max(xmin, 0), min(xmax, F_ - 1) + 1
    y0, y1 = max(ymin, 0), min(ymax, S_ - 1) + 1
    k = tk.kernel_inputs(inp, flags)
    state = State(flags)
    grad = torch.is_grad_enabled() and inputs.requires_grad
    fused, compiled = (tk.fused_chunk, False) if grad else fused_for(inp, flags, k)
    if grad:
        fused = _checkpointed(fused)
    covered = _covered(inp)
    if flags.background_image and not takes_kept_image(inp, flags):
        raise ValueError("a kept background in the kernel needs every pixel of one panel, c-mode steps")
    out = (torch.empty if covered else torch.zeros)(n_panels, S_, F_, dtype=dtype, device=device)
    flat = out.view(n_panels * S_, F_)
    mask = inp.mask.reshape(n_panels * S_, F_) if inp.mask is not None else None
    omega_sum = torch.zeros((), dtype=torch.float64, device=device)
    cols = torch.arange(x0, x1, device=device)
    rows_all = (torch.arange(n_panels, device=device)[:, None] * S_
                + torch.arange(y0, y1, device=device)[None, :]).reshape(-1)
    n_rows, r = rows_all.numel(), 0
    while r < n_rows and x1 > x0:
        general = state.general()
        r_end = min(n_rows, r + _rows_per_chunk(inp, x1 - x0, compiled and not general))
        rows = rows_all[r:r_end]
        block = mask[rows, x0:x1] if mask is not None else None
        if general or block is not None:
            si, fi = rows[:, None].expand(-1, x1 - x0), cols[None, :].expand(r_end - r, -1)
            sel = block if block is not None else torch.ones_like(si, dtype=torch.bool)
            si, fi = si[sel], fi[sel]
            if si.numel():
                local, kr = tk.at_rows(k, si, S_)
                I, om = (_general_chunk(flags, kr, inp.A_first, state, local, fi) if general
                         else fused(local, fi, kr))
                flat[si, fi] = I.to(dtype)
                omega_sum += _sum64(om)
        else:
            local, kr = tk.at_rows(k, rows[:, None], S_)
            I, om = fused(local, cols[None, :], tk.block_rows(kr, r, r_end))
            I = I.reshape(r_end - r, x1 - x0).to(dtype)
            if covered and r_end - r == n_rows and I.is_contiguous():   # one block: its buffer
                out = I.reshape(out.shape)
            else:
                flat[rows, x0:x1] = I
            omega_sum += _sum64(om)
        r = r_end
        if progress is not None:
            progress(r, n_rows)
    return out, float(omega_sum)
