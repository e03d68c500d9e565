"""Per-pixel traces (``-printout``, ``-printout_pixel f s``) in nanoBragg.c's printout format.

`trace_pixel` walks one pixel's steps in the C's loop order (detector layer, sub-pixel row,
sub-pixel column, source, phi step, mosaic domain) with the models of `Precomputed` and keeps
every intermediate quantity the C prints: the last sub-pixel position and scattering geometry,
the last fractional and nearest h k l, F_cell and (signed) F_latt, the running pixel sum I with
the C's ``-oversample_*`` products, and the polarization, solid angle and capture fraction
the C applies (computed at the first sub-step unless oversampled, as in the C).
`trace_lines` formats them exactly as the C's printout block (so the two can be diffed) and
adds ``#`` lines with the vectors the C does not print.

The trace follows the C's loop (``-quirks c``) in both modes. Global state from earlier pixels
that it cannot see: in ``c`` mode with tricubic interpolation it assumes no earlier pixel
switched interpolation off. The ``pixel`` line is always the rendered image's value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import NanoBraggError
from .constants import R_E_SQR
from .contract import Interpolation
from .physics.structure_factors import SFTable, nearest_F, out_of_range, tricubic_F
from .physics.lattice import GAUSS_WIDTH, ROUND_VOLUME_CORRECTION, TOPHAT_RADIUS_SQR, sinc3
from .physics.polarization import polarization_factor
from .physics.vectors import rotate_axis

Vec = tuple[float, float, float]


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
    I: float                  # the C's running sum (F^2 F_latt^2, with oversample products)
    steps: int
    polar: float
    omega_sr: float
    capture: float
    abc_m: tuple[Vec, Vec, Vec]   # last rotated a, b, c (m)
    photons: float            # r_e^2 fluence I / steps x the non-oversampled factors


_C_INT_MIN = -2 ** 31        # gcc's (int) of NaN, infinity or an out-of-range double


def _c_int(x: int) -> int:
    return x if -2 ** 31 <= x < 2 ** 31 else _C_INT_MIN


def _dot(x, y) -> float:
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]


def _sincg(x: float, N: float) -> float:
    return N if x == 0.0 else math.sin(x * N) / math.sin(x)


def _f_latt(pre, hkl: Vec, hkl0: tuple) -> float:
    """The C's signed F_latt for one step (shape from -round_xtal etc.)."""
    cr = pre.cfg.crystal
    N = [float(n) for n in pre.crystal.N]
    if cr.shape == "square":
        out = 1.0
        for x, n in zip(hkl, N):
            if n > 1:
                out *= _sincg(math.pi * x, n)
        return out
    d = [x - x0 for x, x0 in zip(hkl, hkl0)]
    volume = N[0] * N[1] * N[2]
    if cr.shape == "round":
        hrad_sqr = sum(di * di * n * n for di, n in zip(d, N))
        x = torch.tensor(math.pi * math.sqrt(hrad_sqr * cr.fudge), dtype=torch.float64)
        return volume * ROUND_VOLUME_CORRECTION * float(sinc3(x))
    recip = pre.crystal.recip_A.tolist()
    dstar = [sum(d[i] * recip[i][j] for i in range(3)) for j in range(3)]
    rad_star_sqr = _dot(dstar, dstar) * volume * volume
    if cr.shape == "gauss":
        return volume * math.exp(-(rad_star_sqr / GAUSS_WIDTH * cr.fudge))
    return volume * float(rad_star_sqr * cr.fudge < TOPHAT_RADIUS_SQR)


def _f_cell(pre, hkl: Vec, interpolate: bool) -> tuple[float, bool]:
    """(F_cell, interpolation still on) for one step, as the C's nearest / tricubic choice."""
    t = torch.tensor([hkl], dtype=torch.float64)
    i = pre.inputs
    sf = SFTable(i.sf_table, i.sf_mins, i.sf_ranges, i.default_F)
    if interpolate:
        if not bool(out_of_range(sf, t)[0]):
            return float(tricubic_F(sf, t)[0]), True
        interpolate = pre.flags.interpolation == Interpolation.TRICUBIC_PER_STEP           # c: off for every later step
    return float(nearest_F(sf, t)[0]), interpolate


def _position(pre, fpixel: int, spixel: int, layer: int, sub_s: int, sub_f: int) -> list:
    """Sub-pixel position (m) as the C builds it, curved detector included."""
    d, dc = pre.detector, pre.cfg.detector
    sub = dc.pixel_size_m / pre.oversample
    Fdet = sub * (fpixel * pre.oversample + sub_f) + sub / 2.0
    Sdet = sub * (spixel * pre.oversample + sub_s) + sub / 2.0
    Odet = layer * dc.thickstep_m
    fdet, sdet, odet, pix0 = (v.tolist() for v in (d.fdet, d.sdet, d.odet, d.pix0_m))
    pos = [Fdet * fdet[i] + Sdet * sdet[i] + Odet * odet[i] + pix0[i] for i in range(3)]
    if dc.curved:
        dist = float(d.distance_m)
        turned = rotate_axis(dist * d.beam, d.sdet, pos[1] / dist)
        pos = rotate_axis(turned, d.fdet, pos[2] / dist).tolist()
    return pos


def rendered_pixels(pre):
    """Yield (fpixel, spixel) of every pixel the C renders (inside the ROI, not masked), in
    image order."""
    xmin, xmax, ymin, ymax = pre.cfg.detector.roi
    spixels, fpixels = pre.shape
    mask = None if pre.mask is None else pre.mask.numpy()
    for s in range(max(ymin, 0), min(ymax + 1, spixels)):
        for f in range(max(xmin, 0), min(xmax + 1, fpixels)):
            if mask is None or mask[s, f]:
                yield f, s


def trace_pixel(pre, fpixel: int, spixel: int, first_pixel: bool = False) -> PixelTrace:
    """Walk pixel (fpixel, spixel) step by step; `first_pixel` marks the first rendered pixel
    (its first phi sweep uses the unrotated cell under the C's phi = 0 carry-over)."""
    cfg, dc = pre.cfg, pre.cfg.detector
    beam, cr = cfg.beam, cfg.crystal
    over = (dc.oversample_thick, dc.oversample_polar, dc.oversample_omega)
    axis = torch.tensor(beam.polar, dtype=torch.float64)
    axis = axis / torch.linalg.norm(axis)
    directions, lambdas = pre.sources.direction.tolist(), pre.sources.lambda_m.tolist()
    A = pre.inputs.A.tolist()
    A_start = pre.inputs.A_first.tolist() if first_pixel and pre.flags.first_visit else A
    water = cr.water_size_m != 0.0
    interpolate = pre.flags.interpolation != Interpolation.NEAREST
    I, polar, omega = float(pre.inputs.water_I_bg), (1.0 if beam.nopolar else 0.0), 0.0
    v = dict(hkl=(0.0, 0.0, 0.0), hkl0=(0, 0, 0), F_cell=0.0, F_latt=0.0, abc=((0.0,) * 3,) * 3,
             stol=0.0, incident=(0.0,) * 3, lam=0.0, scattering=(0.0,) * 3)
    for layer in range(dc.thicksteps):
        capture = 1.0 if dc.thick_m == 0.0 else 0.0
        for sub_s in range(pre.oversample):
            for sub_f in range(pre.oversample):
                pos = _position(pre, fpixel, spixel, layer, sub_s, sub_f)
                airpath = math.sqrt(_dot(pos, pos))
                diffracted = [x / airpath for x in pos] if airpath != 0 else [0.0] * 3
                if omega == 0.0 or over[2]:
                    omega = (1.0 / airpath / airpath if dc.point_pixel else dc.pixel_size_m
                             * dc.pixel_size_m / airpath / airpath
                             * float(pre.detector.close_distance_m) / airpath)
                if capture == 0.0 or over[0]:
                    parallax = _dot(diffracted, pre.detector.odet.tolist())
                    mu_step = dc.thickstep_m * dc.mu_per_m
                    capture = (math.exp(-layer * mu_step / parallax)
                               - math.exp(-(layer + 1) * mu_step / parallax))
                for src, direction in enumerate(directions):
                    incident = [-x for x in direction]
                    lam = lambdas[src]
                    scattering = [(diffracted[i] - incident[i]) / lam for i in range(3)]
                    v.update(stol=0.5 * math.sqrt(_dot(scattering, scattering)),
                             incident=incident, lam=lam, scattering=scattering)
                    if beam.dmin_m > 0.0 and v["stol"] > 0.0 and beam.dmin_m > 0.5 / v["stol"]:
                        continue
                    if polar == 0.0 or over[1]:
                        polar = float(polarization_factor(
                            beam.polarization_kahn, torch.tensor(incident, dtype=torch.float64),
                            torch.tensor(diffracted, dtype=torch.float64), axis))
                    for abc in A_start:
                        hkl = tuple(_dot(row, scattering) for row in abc)
                        hkl0 = tuple(_c_int(math.ceil(x - 0.5)) if math.isfinite(x)
                                     else _C_INT_MIN for x in hkl)
                        F_latt = _f_latt(pre, hkl, hkl0)
                        v.update(hkl=hkl, hkl0=hkl0, F_latt=F_latt, abc=abc)
                        if F_latt == 0.0 and not water:
                            continue
                        F_cell, interpolate = _f_cell(pre, hkl, interpolate)
                        v["F_cell"] = F_cell
                        I += F_cell * F_cell * F_latt * F_latt
                        for on, factor in zip(over, (capture, polar, omega)):
                            I = I * factor if on else I
                    A_start = A
    photons = R_E_SQR * float(pre.fluence) * I / pre.steps
    for on, factor in zip(over, (capture, polar, omega)):
        photons = photons if on else photons * factor
    return PixelTrace(fpixel, spixel, tuple(pos), airpath, tuple(diffracted), tuple(v["incident"]),
                      v["lam"], tuple(v["scattering"]), v["stol"], v["hkl"], v["hkl0"],
                      v["F_cell"], v["F_latt"], I, pre.steps, polar, omega, capture,
                      tuple(tuple(r) for r in v["abc"]), photons)


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


def trace_lines(r, image_f32: np.ndarray) -> list[str]:
    """Printout lines for a `Result`: the -printout_pixel pixel, or with -printout alone every
    rendered pixel (as the C); `image_f32` [slow, fast] is the image written to -floatfile.

    Raises:
        NanoBraggError: the -printout_pixel pixel is outside the detector.
    """
    s, pre = r.settings, r.pre
    first = next(rendered_pixels(pre), None)
    wanted = rendered_pixels(pre)
    if s.printout_pixel is not None:
        f, sp = s.printout_pixel
        if not (0 <= f < pre.shape[1] and 0 <= sp < pre.shape[0]):
            raise NanoBraggError(f"-printout_pixel: pixel {f} {sp} is outside the "
                                 f"{pre.shape[1]}x{pre.shape[0]} detector")
        xmin, xmax, ymin, ymax = pre.cfg.detector.roi
        inside = xmin <= f <= xmax and ymin <= sp <= ymax
        wanted = [(f, sp)] if inside and (pre.mask is None or bool(pre.mask[sp, f])) else []
    lines = []
    for f, sp in wanted:
        t = trace_pixel(pre, f, sp, first_pixel=(f, sp) == first)
        lines += format_trace(t, float(image_f32[sp, f]), r.config.beam.lambda0_m)
    return lines
