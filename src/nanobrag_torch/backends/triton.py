"""Triton backend: launches the fused kernel of `nanobrag_kernels` on a `Precomputed`.

`accumulate(pre, dtype, device)` returns, like `torch_eager.accumulate`, ``I_geom``
[slow, fast] on `device` (the C's per-pixel ``I * capture * polar * omega`` before
``r_e^2 fluence / steps``; zero outside the ROI and mask; float64 whatever the working
dtype, as the kernel sums in float64) and the C's ``omega_sum``.

The C's order-dependent behaviour becomes host decisions between launches of the same
kernel body, so it is exact and deterministic whatever order the GPU runs programs in:

1. phi = 0 carry-over (``pre.A_first``): only the first (pixel, layer, sub-pixel, source)
   not skipped by ``-dmin``, in image loop order, sweeps with ``A_first``.  Without
   ``-dmin`` that is the first rendered pixel's first source; with it a ``MODE_FREE``
   pass gives every pixel's first unskipped index and the host takes the first pixel.
2. global interpolation switch-off (``-quirks c``): a ``MODE_PROBE`` pass gives every
   pixel's first step whose stencil leaves the table; the image-order first one is the
   switch: earlier steps interpolate, that one and all later ones use the nearest F.
3. the render pass, chunked over pixels (``progress`` is called after each chunk).

This module is the only one importing `nanobrag_kernels` (and so Triton).
"""
from __future__ import annotations

import os

import torch
import triton
from nanobrag_kernels import accumulate as K

from ..errors import NanoBraggError
from ..physics.vectors import cross, dot

INTERPRETER_BLOCK = 16384     # the interpreter pays per op, not per lane: few big programs
CHUNK_PIXELS = 1 << 20        # pixels per render launch (progress granularity)
SHAPES = {"square": K.SQUARE.value, "round": K.ROUND.value, "gauss": K.GAUSS.value,
          "tophat": K.TOPHAT.value}
MODE_FREE, MODE_PROBE, MODE_RENDER = K.MODE_FREE.value, K.MODE_PROBE.value, K.MODE_RENDER.value
C_FIRST, C_RUNNING, FIXED, NONE = K.C_FIRST.value, K.C_RUNNING.value, K.FIXED.value, K.NONE.value


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _launch_options(n_pix: int) -> dict:
    """BLOCK and Triton launch options for a launch over n_pix pixels."""
    if _interpreting():
        return {"BLOCK": min(INTERPRETER_BLOCK, triton.next_power_of_2(max(n_pix, 16)))}
    return {"BLOCK": K.GPU_BLOCK, "num_warps": K.GPU_WARPS, "maxnreg": K.GPU_MAXNREG}


def _pixels(pre) -> torch.Tensor:
    """Flat indices (int32) of the rendered pixels (inside the ROI and the mask), image order."""
    S_, F_ = pre.shape
    xmin, xmax, ymin, ymax = pre.cfg.detector.roi
    idx = torch.arange(S_ * F_, dtype=torch.int64)
    fi, si = idx % F_, idx // F_
    keep = (fi >= xmin) & (fi <= xmax) & (si >= ymin) & (si <= ymax)
    if pre.mask is not None:
        keep &= pre.mask.reshape(-1)
    return idx[keep].to(torch.int32)


def _unit(x: torch.Tensor) -> torch.Tensor:
    mag = torch.sqrt(dot(x, x))
    return x / torch.where(mag == 0, torch.ones_like(mag), mag)[..., None]


def _source_table(pre) -> torch.Tensor:
    """[NS, SOURCE_STRIDE] float64: incident, lambda (m), B_in, E_in, weight factor."""
    src = pre.sources
    incident = -src.direction
    axis = torch.tensor(pre.cfg.beam.polar, dtype=torch.float64)
    axis = axis / torch.sqrt(dot(axis, axis))
    B_in = _unit(cross(axis.expand_as(incident), incident))
    E_in = _unit(cross(incident, B_in))
    rows = [K.pack(K.SOURCE_COLUMNS, {"incident": incident[i], "lambda": src.lambda_m[i],
                                      "B_in": B_in[i], "E_in": E_in[i],
                                      "weight": pre.source_factor[i]})
            for i in range(src.count)]
    return torch.tensor(rows, dtype=torch.float64)


def _param_table(pre) -> torch.Tensor:
    cfg, d = pre.cfg, pre.detector
    dc, cc = cfg.detector, cfg.crystal
    S, NS = pre.oversample ** 2, pre.sources.count
    f = lambda x: float(x.detach()) if isinstance(x, torch.Tensor) else float(x)   # noqa: E731
    values = {
        "fdet": d.fdet, "sdet": d.sdet, "odet": d.odet, "pix0": d.pix0_m, "beam": d.beam,
        "distance": f(d.distance_m), "close_distance": f(d.close_distance_m),
        "pixel_size": dc.pixel_size_m, "thickstep": dc.thickstep_m,
        "step_mu": dc.thickstep_m * dc.mu_per_m, "dmin": cfg.beam.dmin_m,
        "kahn": cfg.beam.polarization_kahn, "fudge": cc.fudge, "N": pre.crystal.N,
        "default_F": pre.sf.default_F, "I_bg": pre.water_I_bg,
        "water_fixed": pre.water_F2_molecules * pre.steps / (S * NS),
        "recip": pre.crystal.recip_A.reshape(-1)}
    values = {k: (v.detach().reshape(-1).tolist() if isinstance(v, torch.Tensor) else v)
              for k, v in values.items()}
    return torch.tensor(K.pack(K.PARAMS, values), dtype=torch.float64)


class _Launcher:
    """The kernel's arguments for one image; `run` launches one pass over some pixels."""

    def __init__(self, pre, dtype: torch.dtype, device):
        cfg = pre.cfg
        dc = cfg.detector
        sf = pre.sf
        dev = torch.device(device)
        has_table = sf.table is not None and sf.n_entries > 0
        self.F = (sf.table.detach().reshape(-1) if has_table else torch.zeros(1)).to(dtype=dtype, device=dev)
        self.A = pre.A.detach().to(dtype=dtype, device=dev).contiguous()
        A_first = pre.A_first if pre.A_first is not None else pre.A
        self.A_first = A_first.detach().to(dtype=dtype, device=dev).contiguous()
        self.par = _param_table(pre).to(dev)
        self.src = _source_table(pre).to(dev)
        self.device = dev
        fixed = pre.quirks == "fixed"
        flags = (dc.oversample_thick, dc.oversample_polar, dc.oversample_omega)
        running = not fixed and any(flags)
        self.constexprs = dict(
            SHAPE=SHAPES[cfg.crystal.shape], INTERP=bool(pre.interpolate and has_table),
            FACTORS=FIXED if fixed else (C_RUNNING if running else C_FIRST),
            HAS_FIRST=pre.A_first is not None and not fixed)
        self.ints = dict(
            fpixels=pre.shape[1], n_src=pre.sources.count, n_orient=int(pre.A.shape[0]),
            h_min=sf.mins[0], k_min=sf.mins[1], l_min=sf.mins[2],
            h_range=sf.ranges[0] if has_table else 0, k_range=sf.ranges[1] if has_table else 0,
            l_range=sf.ranges[2] if has_table else 0,
            thicksteps=dc.thicksteps, oversample=pre.oversample, curved=int(dc.curved),
            point_pixel=int(dc.point_pixel), thick_on=int(dc.thick_m != 0.0),
            polarize=int(not cfg.beam.nopolar), water_on=int(cfg.crystal.water_size_m != 0.0),
            os_thick=int(running and flags[0]), os_polar=int(running and flags[1]),
            os_omega=int(running and flags[2]),
            first_pix=-1, first_tsn=-1, switch_pix=NONE, switch_step=0)
        steps = dc.thicksteps * pre.oversample ** 2 * pre.sources.count * int(pre.A.shape[0])
        if steps >= NONE:
            raise NanoBraggError(f"-backend triton: {steps} steps per pixel exceed the kernel's "
                                 "int32 step index (use -backend torch)")

    def run(self, mode, pixels: torch.Tensor):
        """One launch over `pixels` (int32, on the device): (I, omega) or the int32 index."""
        n = int(pixels.numel())
        out = torch.zeros(n, dtype=torch.float64, device=self.device)
        omega = torch.zeros(n, dtype=torch.float64, device=self.device)
        first = torch.zeros(n, dtype=torch.int32, device=self.device)
        opts = _launch_options(n)
        K.accumulate_kernel[(triton.cdiv(n, opts["BLOCK"]),)](
            out_ptr=out, omega_ptr=omega, first_ptr=first, pix_ptr=pixels, n_pix=n,
            par_ptr=self.par, src_ptr=self.src, A_ptr=self.A, A_first_ptr=self.A_first,
            F_ptr=self.F, MODE=mode, **self.ints, **self.constexprs, **opts)
        return (out, omega) if mode == MODE_RENDER else first


def _first_hit(index: torch.Tensor, pixels: torch.Tensor):
    """(flat pixel, its index value) of the first pixel whose index is not NONE, or None."""
    hit = torch.nonzero(index != NONE)
    if hit.numel() == 0:
        return None
    j = int(hit[0, 0])
    return int(pixels[j]), int(index[j])


def accumulate(pre, dtype: torch.dtype, device: torch.device | str = "cpu", progress=None):
    """I_geom [slow, fast] (float64, on `device`) and the C's omega_sum; see the module docstring.

    `progress(done, total)`, if given, is called after each render chunk (flat pixels)."""
    S_, F_ = pre.shape
    total = S_ * F_
    image = torch.zeros(total, dtype=torch.float64, device=device)
    pixels = _pixels(pre)
    if pixels.numel() == 0:
        if progress is not None:
            progress(total, total)
        return image.reshape(S_, F_), 0.0
    run = _Launcher(pre, dtype, device)
    on_dev = pixels.to(run.device)
    if run.constexprs["HAS_FIRST"]:
        if pre.cfg.beam.dmin_m > 0.0:
            hit = _first_hit(run.run(MODE_FREE, on_dev).cpu(), pixels)
        else:
            hit = (int(pixels[0]), 0)
        if hit is None:
            run.constexprs["HAS_FIRST"] = False
        else:
            run.ints["first_pix"], run.ints["first_tsn"] = hit
    if run.constexprs["INTERP"] and run.constexprs["FACTORS"] != FIXED:
        hit = _first_hit(run.run(MODE_PROBE, on_dev).cpu(), pixels)
        if hit is not None:
            run.ints["switch_pix"], run.ints["switch_step"] = hit
    omega_sum = 0.0
    for start in range(0, pixels.numel(), CHUNK_PIXELS):
        chunk = on_dev[start:start + CHUNK_PIXELS]
        I, omega = run.run(MODE_RENDER, chunk)
        image[chunk.long()] = I
        omega_sum += float(omega.sum())
        if progress is not None:
            done = int(pixels[min(start + CHUNK_PIXELS, pixels.numel()) - 1]) + 1
            progress(total if start + CHUNK_PIXELS >= pixels.numel() else done, total)
    return image.reshape(S_, F_), omega_sum
