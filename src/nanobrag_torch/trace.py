"""Per-pixel traces (``-printout``, ``-printout_pixel f s``) in nanoBragg.c's printout format.

The trace is the eager engine's general path (`torch_eager.general_steps`, every step kept)
run in float64 on the traced pixels, from the render contract alone (`RenderInputs`,
`RenderFlags`); `trace_pixels` picks from its per-step tensors what the C holds when it
prints: the last sub-pixel position and scattering geometry, the last fractional and nearest
h k l with its F_latt (signed, as the C computes it) and F_cell, the pixel sum I with the
C's ``-oversample_*`` products, and the polarization, solid angle and capture fraction the C
applies (its first-step values unless oversampled).  `trace_lines` formats them exactly as
the C's printout block (so the two can be diffed) and adds ``#`` lines with the vectors the
C does not print.

The trace follows the C's loop in both quirks modes (no source weights, the C's cached
factors; structure factors as the render looks them up).  Pixels run in image order with
the engine's order-dependent state, so ``-printout`` alone sees the C's global switches;
one ``-printout_pixel`` starts from the render's initial state (no earlier pixel switched
tricubic interpolation off).  The ``pixel`` line is always the rendered image's value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from .backends import torch_eager as te
from .backends import torch_kernel as tk
from .constants import R_E_SQR
from .contract import FactorMode, RenderFlags, RenderInputs, WaterMode
from .errors import NanoBraggError
from .physics.lattice import f_latt

Vec = tuple[float, float, float]
TRACE_STEPS = 1 << 20        # steps per block of traced pixels


@dataclass
class PixelTrace:
    """One pixel's last-step quantities, as the C holds them when it prints (SI units)."""

    fpixel: int
    spixel: int
    pixel_pos_m: Vec          # last sub-pixel position (m, from the sample)
    airpath_m: float
    diffracted: Vec           # unit vector to the last sub-pixel
    incident: Vec             # unit vector of the last source's beam
    lambda_m: float           # last source's wavelength
    scattering: Vec           # (diffracted - incident) / lambda, 1/m
    stol: float               # 0.5 |scattering|, 1/m
    hkl: Vec                  # last fractional Miller indices
    hkl0: tuple[int, int, int]
    F_cell: float
    F_latt: float
    I: float                  # the C's pixel sum (F^2 F_latt^2, with oversample products)
    steps: int
    polar: float
    omega_sr: float
    capture: float
    abc_m: tuple[Vec, Vec, Vec]   # last rotated a, b, c (m)
    photons: float            # r_e^2 fluence I / steps x the non-oversampled factors


_C_INT_MIN = -2 ** 31        # gcc's (int) of NaN, infinity or an out-of-range double


def _c_int(x: float) -> int:
    if not math.isfinite(x):
        return _C_INT_MIN
    x = math.ceil(x - 0.5)
    return x if -2 ** 31 <= x < 2 ** 31 else _C_INT_MIN


def c_loop_flags(flags: RenderFlags) -> RenderFlags:
    """The flags of the C's own loop for a render's flags (what the trace follows)."""
    factors = FactorMode.C_RUNNING if any(flags.oversample_factors) else FactorMode.C_FIRST
    water = WaterMode.C if flags.water != WaterMode.NONE else WaterMode.NONE
    return replace(flags, factors=factors, water=water)


def _last(mask: torch.Tensor):
    """Index tuple of the last True entry of `mask` (C loop order), or None."""
    hit = torch.nonzero(mask.reshape(-1))
    return None if hit.numel() == 0 else tuple(int(i) for i in torch.unravel_index(hit[-1, 0], mask.shape))


def _pixel(s: te.Steps, j: int, inp: RenderInputs, flags: RenderFlags, k: tk.KernelInputs,
           I: float, fs: tuple) -> PixelTrace:
    """Pick pixel j's printed values out of the block's steps."""
    over = flags.oversample_factors
    T, os_, NS, M = s.keep.shape[1], s.keep.shape[2], s.keep.shape[4], inp.n_orient
    last_sub = (j, T - 1, os_ - 1, os_ - 1)
    last_src = (*last_sub, NS - 1)
    kept = s.keep[j] > 0                                         # [T, os, os, NS]
    last_kept = _last(kept)
    polar = 1.0 if flags.polar_off else 0.0
    if last_kept is not None:
        first_kept = tuple(int(i) for i in torch.unravel_index(torch.nonzero(kept.reshape(-1))[0, 0], kept.shape))
        polar = float(s.polar[j][last_kept if over[1] else first_kept])
    omega = float(s.omega[last_sub] if over[2] else s.omega[j, 0, 0, 0])
    if flags.thick:
        capture = float(s.capture[last_sub] if over[0] else s.capture[j, T - 1, 0, 0])
    else:
        capture = 0.0 if over[0] else 1.0
    hkl, hkl0, F_latt, abc = (0.0,) * 3, (0, 0, 0), 0.0, ((0.0,) * 3,) * 3
    if last_kept is not None:
        at = (j, *last_kept, M - 1)
        hkl = tuple(float(x[at]) for x in s.h)
        hkl0 = tuple(_c_int(x) for x in hkl)
        F_latt = float(f_latt(torch.tensor(hkl, dtype=torch.float64), inp.N, flags.shape.value,
                              inp.fudge, inp.recip))
        A = inp.A_first if s.first_at == (j, *last_kept) else inp.A
        abc = tuple(tuple(float(v) for v in row) for row in A[M - 1])
    last_valid = _last(s.valid[j])
    F_cell = float(s.F[j][last_valid]) if last_valid is not None else 0.0
    pos = tuple(float(x[last_sub]) for x in s.pos)
    scat = tuple(float(x[last_src]) for x in s.scat)
    photons = R_E_SQR * float(inp.fluence) * I / inp.steps
    for on, factor in zip(over, (capture, polar, omega)):
        photons = photons if on else photons * factor
    return PixelTrace(fs[0], fs[1], pos, float(s.airpath[last_sub]), tuple(float(x[last_sub]) for x in s.d),
                      tuple(float(x) for x in inp.incident[NS - 1]), float(inp.lambda_m[NS - 1]), scat,
                      0.5 * math.sqrt(scat[0] * scat[0] + scat[1] * scat[1] + scat[2] * scat[2]),
                      hkl, hkl0, F_cell, F_latt, I, inp.steps, polar, omega, capture, abc, photons)


def trace_pixels(inputs: RenderInputs, flags: RenderFlags, pixels: list, from_start: bool) -> list:
    """PixelTrace of every (fpixel, spixel) in `pixels` (panel 0, image order); `from_start`:
    the pixels begin with the first rendered one (the C's first phi sweep is among them)."""
    inp = replace(inputs.to(torch.float64, "cpu"), source_weight=torch.ones_like(inputs.lambda_m))
    cflags = c_loop_flags(flags)
    k = tk.kernel_inputs(inp.panel(0), cflags)
    state = te.State(cflags)
    state.first_visit = cflags.first_visit and from_start
    block = max(1, TRACE_STEPS // inp.steps_per_pixel)
    out = []
    with torch.no_grad():
        for b in range(0, len(pixels), block):
            chunk = pixels[b:b + block]
            fi = torch.tensor([f for f, _ in chunk])
            si = torch.tensor([sp for _, sp in chunk])
            si, kr = tk.at_rows(k, si, inp.spixels)
            s = te.general_steps(cflags, kr, inp.A_first, state, si, fi)
            if cflags.factors == FactorMode.C_RUNNING:
                I = te.running_I(s, cflags, kr)
            else:
                I = kr.I_bg + s.I_step.sum(-1).reshape(len(chunk), -1).sum(1)
            out += [_pixel(s, j, inp, cflags, kr, float(I[j]), fs) for j, fs in enumerate(chunk)]
    return out


def rendered_pixels(inputs: RenderInputs):
    """Yield (fpixel, spixel) of every pixel the C renders (inside the ROI, not masked), in
    image order (panel 0)."""
    xmin, xmax, ymin, ymax = inputs.roi
    mask = None if inputs.mask is None else inputs.mask[0].cpu().numpy()
    for s in range(max(ymin, 0), min(ymax + 1, inputs.spixels)):
        for f in range(max(xmin, 0), min(xmax + 1, inputs.fpixels)):
            if mask is None or mask[s, f]:
                yield f, s


def format_trace(t: PixelTrace, pixel_value: float, lambda0_m: float) -> list[str]:
    """The C's printout block for one pixel, then our ``#`` lines."""
    x, y, z = t.pixel_pos_m
    twotheta = math.atan2(math.sqrt(y * y + z * z), x)
    a, b, c = t.abc_m
    lines = ["%4d %4d : stol = %g or %g" % (t.fpixel, t.spixel, t.stol,
                                            math.sin(twotheta / 2.0) / (lambda0_m * 1e10)),
             "at %g %g %g" % t.pixel_pos_m,
             "hkl= %f %f %f  hkl0= %d %d %d" % (*t.hkl, *t.hkl0),
             " F_cell=%g  F_latt=%g   I = %g" % (t.F_cell, t.F_latt, t.I),
             "I/steps %15.10g" % (t.I / t.steps),
             "polar   %15.10g" % t.polar,
             "omega   %15.10g" % t.omega_sr,
             "capfrac %15.10g" % t.capture,
             "pixel   %15.10g" % pixel_value,
             "real-space cell vectors (Angstrom):",
             "     %-10s  %-10s  %-10s" % ("a", "b", "c")]
    lines += ["%s: %11.8f %11.8f %11.8f" % (axis, a[i] * 1e10, b[i] * 1e10, c[i] * 1e10)
              for i, axis in enumerate("XYZ")]
    lines += ["# airpath %.10g m, diffracted %.10g %.10g %.10g" % (t.airpath_m, *t.diffracted),
              "# incident %.10g %.10g %.10g, lambda %.10g m" % (*t.incident, t.lambda_m),
              "# scattering %.10g %.10g %.10g 1/m" % t.scattering,
              "# steps %d, photons (r_e^2 fluence I/steps x factors) %.10g" % (t.steps, t.photons)]
    return lines


def trace_lines(inputs: RenderInputs, flags: RenderFlags, image_f32: np.ndarray,
                printout_pixel: tuple | None, lambda0_m: float) -> list[str]:
    """Printout lines: the `printout_pixel` (f, s), or with None every rendered pixel (as the
    C's -printout alone); `image_f32` [slow, fast] is the image written to -floatfile.

    Raises:
        NanoBraggError: the -printout_pixel pixel is outside the detector.
    """
    wanted = list(rendered_pixels(inputs))
    first = wanted[0] if wanted else None
    if printout_pixel is not None:
        f, sp = printout_pixel
        if not (0 <= f < inputs.fpixels and 0 <= sp < inputs.spixels):
            raise NanoBraggError(f"-printout_pixel: pixel {f} {sp} is outside the "
                                 f"{inputs.fpixels}x{inputs.spixels} detector")
        xmin, xmax, ymin, ymax = inputs.roi
        inside = xmin <= f <= xmax and ymin <= sp <= ymax
        unmasked = inputs.mask is None or bool(inputs.mask[0, sp, f])
        wanted = [(f, sp)] if inside and unmasked else []
    traces = trace_pixels(inputs, flags, wanted, bool(wanted) and wanted[0] == first)
    return [line for t in traces for line in format_trace(t, float(image_f32[t.spixel, t.fpixel]), lambda0_m)]
