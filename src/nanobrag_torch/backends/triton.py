"""Triton backend: launches the fused kernel of `nanobrag_kernels` on the render contract.

`accumulate(inputs, flags, dtype, device)` returns, like `torch_eager.accumulate`, ``I_geom``
[n_panels, slow, fast] on `device` (the C's per-pixel ``I * capture * polar * omega`` before
``r_e^2 fluence / steps``; zero outside the ROI and mask; float64 whatever the working
dtype, as the kernel sums in float64) and the C's ``omega_sum``.

Panels are launched one after the other (the kernel reads panel p's geometry from its
own parameter table), so image order runs panel by panel.  The C's order-dependent
behaviour becomes host decisions between launches of the same kernel body, so it is exact
and deterministic whatever order the GPU runs programs in:

1. phi = 0 carry-over (``flags.first_visit``, ``inputs.A_first``): only the first (pixel,
   layer, sub-pixel, source) not skipped by ``-dmin``, in image loop order, sweeps with
   ``A_first``.  Without ``-dmin`` that is the first rendered pixel's first source; with
   it a ``MODE_FREE`` pass gives every pixel's first unskipped index and the host takes the
   first pixel.
2. global interpolation switch-off (`Interpolation.TRICUBIC_SWITCH_OFF`): a ``MODE_PROBE``
   pass gives every pixel's first step whose stencil leaves the table; the image-order
   first one is the switch: earlier steps interpolate, that one and all later ones use the
   nearest F.
3. the render pass, chunked over pixels (``progress`` is called after each chunk).

This module is the only one importing `nanobrag_kernels` (and so Triton).
"""
from __future__ import annotations

import os

import torch
import triton
from nanobrag_kernels import accumulate as K

from ..contract import CrystalShape, FactorMode, Interpolation, RenderFlags, RenderInputs, WaterMode
from ..errors import NanoBraggError
from ..physics.polarization import polarization_frame

INTERPRETER_BLOCK = 16384     # the interpreter pays per op, not per lane: few big programs
CHUNK_PIXELS = 1 << 20        # pixels per render launch (progress granularity)
SHAPES = {CrystalShape(name): i for i, name in enumerate(K.SHAPE_NAMES)}     # -> the SHAPE flag
MODE_FREE, MODE_PROBE, MODE_RENDER = K.MODE_FREE.value, K.MODE_PROBE.value, K.MODE_RENDER.value
C_FIRST, C_RUNNING, FIXED, NONE = K.C_FIRST.value, K.C_RUNNING.value, K.FIXED.value, K.NONE.value


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _launch_options(n_pix: int) -> dict:
    """BLOCK and Triton launch options for a launch over n_pix pixels."""
    if _interpreting():
        return {"BLOCK": min(INTERPRETER_BLOCK, triton.next_power_of_2(max(n_pix, 16)))}
    return {"BLOCK": K.GPU_BLOCK, "num_warps": K.GPU_WARPS, "maxnreg": K.GPU_MAXNREG}


def _pixels(inp: RenderInputs, p: int) -> torch.Tensor:
    """Flat indices (int32) of panel p's rendered pixels (inside the ROI and the mask), image order."""
    S_, F_ = inp.spixels, inp.fpixels
    xmin, xmax, ymin, ymax = inp.roi
    idx = torch.arange(S_ * F_, dtype=torch.int64)
    fi, si = idx % F_, idx // F_
    keep = (fi >= xmin) & (fi <= xmax) & (si >= ymin) & (si <= ymax)
    if inp.mask is not None:
        keep &= inp.mask[p].cpu().reshape(-1)
    return idx[keep].to(torch.int32)


def _source_table(inp: RenderInputs) -> torch.Tensor:
    """[NS, SOURCE_STRIDE] float64: incident, lambda (m), B_in, E_in, weight factor."""
    incident = inp.incident
    B_in, E_in = (torch.stack(v, -1) for v in polarization_frame(inp.polar_axis, incident))
    rows = [K.pack(K.SOURCE_COLUMNS, {"incident": incident[i], "lambda": inp.lambda_m[i],
                                      "B_in": B_in[i], "E_in": E_in[i],
                                      "weight": inp.source_weight[i]})
            for i in range(inp.n_sources)]
    return torch.tensor(rows, dtype=torch.float64)


def _param_table(inp: RenderInputs, p: int) -> torch.Tensor:
    """The kernel's float64 PARAMS table for panel p."""
    NS, n_sub = inp.n_sources, inp.oversample ** 2
    values = {
        "fdet": inp.fdet[p], "sdet": inp.sdet[p], "odet": inp.odet[p], "pix0": inp.pix0[p],
        "beam": inp.beam, "distance": inp.distance[p], "close_distance": inp.close_distance[p],
        "pixel_size": inp.pixel_size, "thickstep": inp.thickstep,
        "step_mu": inp.step_mu, "dmin": inp.dmin, "kahn": inp.kahn, "fudge": inp.fudge, "N": inp.N,
        "default_F": inp.default_F, "I_bg": inp.water_I_bg,
        "water_fixed": float(inp.water_scale) / (n_sub * NS), "recip": inp.recip.reshape(-1)}
    values = {k: (v.detach().cpu().tolist() if isinstance(v, torch.Tensor) else v)
              for k, v in values.items()}
    return torch.tensor(K.pack(K.PARAMS, values), dtype=torch.float64)
class _Launcher:
    """The kernel's arguments for one image; `run` launches one pass over some pixels of a panel."""

    def __init__(self, inp: RenderInputs, flags: RenderFlags, dtype: torch.dtype, device):
        dev = torch.device(device)
        has_table = inp.sf_table is not None
        self.F = (inp.sf_table.detach().reshape(-1) if has_table else torch.zeros(1)).to(dtype=dtype, device=dev)
        self.A = inp.A.detach().to(dtype=dtype, device=dev).contiguous()
        self.A_first = inp.A_first.detach().to(dtype=dtype, device=dev).contiguous()
        self.par = [_param_table(inp, p).to(dev) for p in range(inp.n_panels)]
        self.src = _source_table(inp).to(dev)
        self.device = dev
        running = flags.factors == FactorMode.C_RUNNING
        over = flags.oversample_factors
        factors = {FactorMode.FIXED: FIXED, FactorMode.C_RUNNING: C_RUNNING, FactorMode.C_FIRST: C_FIRST}
        self.constexprs = dict(
            SHAPE=SHAPES[flags.shape], INTERP=flags.interpolation != Interpolation.NEAREST,
            FACTORS=factors[flags.factors], HAS_FIRST=flags.first_visit)
        self.ints = dict(
            fpixels=inp.fpixels, n_src=inp.n_sources, n_orient=inp.n_orient,
            h_min=inp.sf_mins[0], k_min=inp.sf_mins[1], l_min=inp.sf_mins[2],
            h_range=inp.sf_ranges[0] if has_table else 0, k_range=inp.sf_ranges[1] if has_table else 0,
            l_range=inp.sf_ranges[2] if has_table else 0,
            thicksteps=inp.thicksteps, oversample=inp.oversample, curved=int(flags.curved),
            point_pixel=int(flags.point_pixel), thick_on=int(flags.thick),
            polarize=int(not flags.polar_off), water_on=int(flags.water != WaterMode.NONE),
            os_thick=int(running and over[0]), os_polar=int(running and over[1]),
            os_omega=int(running and over[2]), switch_step=0)
        self.first = None          # (panel, flat pixel, tsn) of the C's first phi sweep
        self.switch = None         # (panel, flat pixel, step) of the interpolation switch-off
        if inp.steps_per_pixel >= NONE:
            raise NanoBraggError(f"-backend triton: {inp.steps_per_pixel} steps per pixel exceed the "
                                 "kernel's int32 step index (use -backend torch)")

    def _order_ints(self, p: int) -> dict:
        """first_pix/first_tsn and switch_pix/switch_step as panel p sees them."""
        out = dict(first_pix=-1, first_tsn=-1, switch_pix=NONE, switch_step=0)
        if self.first is not None and self.first[0] == p:
            out["first_pix"], out["first_tsn"] = self.first[1:]
        if self.switch is not None:
            sp, pix, step = self.switch
            out["switch_pix"] = NONE if p < sp else (pix if p == sp else -1)
            out["switch_step"] = step if p == sp else 0
        return out

    def run(self, mode, p: int, pixels: torch.Tensor):
        """One launch over `pixels` (int32, on the device) of panel p: (I, omega) or the int32 index."""
        n = int(pixels.numel())
        out = torch.zeros(n, dtype=torch.float64, device=self.device)
        omega = torch.zeros(n, dtype=torch.float64, device=self.device)
        first = torch.zeros(n, dtype=torch.int32, device=self.device)
        opts = _launch_options(n)
        ints = {**self.ints, **self._order_ints(p)}
        K.accumulate_kernel[(triton.cdiv(n, opts["BLOCK"]),)](
            out_ptr=out, omega_ptr=omega, first_ptr=first, pix_ptr=pixels, n_pix=n,
            par_ptr=self.par[p], src_ptr=self.src, A_ptr=self.A, A_first_ptr=self.A_first,
            F_ptr=self.F, MODE=mode, **ints, **self.constexprs, **opts)
        return (out, omega) if mode == MODE_RENDER else first


def _first_hit(run: _Launcher, mode, pixels: list, on_dev: list):
    """(panel, flat pixel, its index value) of the image-order first pixel whose `mode` pass
    index is not NONE, or None."""
    for p, (pix, dev_pix) in enumerate(zip(pixels, on_dev)):
        if pix.numel() == 0:
            continue
        index = run.run(mode, p, dev_pix).cpu()
        hit = torch.nonzero(index != NONE)
        if hit.numel():
            j = int(hit[0, 0])
            return p, int(pix[j]), int(index[j])
    return None


def accumulate(inputs: RenderInputs, flags: RenderFlags, dtype: torch.dtype,
               device: torch.device | str = "cpu", progress=None):
    """I_geom [n_panels, slow, fast] (float64, on `device`) and the C's omega_sum; see the
    module docstring.  `progress(done, total)`, if given, is called after each render chunk
    (flat pixels over all panels).  Amorphous components come as their own images
    (`RenderFlags.background` and ``background_image``, the compiled CPU kernel's forms, are
    refused)."""
    if flags.background or flags.background_image:
        raise ValueError("the Triton kernel does not add amorphous components (render them apart)")
    n_panels, S_, F_ = inputs.n_panels, inputs.spixels, inputs.fpixels
    total = n_panels * S_ * F_
    image = torch.zeros(n_panels, S_ * F_, dtype=torch.float64, device=device)
    pixels = [_pixels(inputs, p) for p in range(n_panels)]
    if sum(int(x.numel()) for x in pixels) == 0:
        if progress is not None:
            progress(total, total)
        return image.reshape(n_panels, S_, F_), 0.0
    run = _Launcher(inputs, flags, dtype, device)
    on_dev = [x.to(run.device) for x in pixels]
    if run.constexprs["HAS_FIRST"]:
        if flags.dmin:
            run.first = _first_hit(run, MODE_FREE, pixels, on_dev)
        else:
            p = next(p for p, x in enumerate(pixels) if x.numel())
            run.first = (p, int(pixels[p][0]), 0)
        if run.first is None:
            run.constexprs["HAS_FIRST"] = False
    if run.constexprs["INTERP"] and run.constexprs["FACTORS"] != FIXED:
        run.switch = _first_hit(run, MODE_PROBE, pixels, on_dev)
    omega_sum = 0.0
    for p in range(n_panels):
        for start in range(0, pixels[p].numel(), CHUNK_PIXELS):
            chunk = on_dev[p][start:start + CHUNK_PIXELS]
            I, omega = run.run(MODE_RENDER, p, chunk)
            image[p, chunk.long()] = I
            omega_sum += float(omega.sum())
            if progress is not None:
                last = start + CHUNK_PIXELS >= pixels[p].numel()
                done = (p + 1) * S_ * F_ if last else p * S_ * F_ + int(pixels[p][start + CHUNK_PIXELS - 1]) + 1
                progress(total if last and p == n_panels - 1 else done, total)
    return image.reshape(n_panels, S_, F_), omega_sum
