"""nearBragg's derived setup (pure: no files, no engine): pixel counts and beam centre,
detector vectors after two-theta, pix0, ROI, the divergence / dispersion / depth step grids
with the C's auto rules and elliptical cut, and the oversampling (nearBragg.c 479-746,
837-857, 904-935).  Lengths in m, angles in rad, float64 numpy/python numbers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import NanoBraggError
from ..memory import _size, available_bytes
from ..models.beam import divergence_points

BYTES_PER_PIXEL = 48      # float64 result images (2, 4 coherent), float32 outputs, int image


def step_rule(steps: int, rng: float, step: float) -> tuple:
    """The C's (count, range, step) rules, identical for the four grids (523-746)."""
    if steps <= 0:
        if rng < 0.0:
            steps, rng, step = (2, step, step) if step > 0.0 else (1, 0.0, 0.0)
        elif step <= 0.0:
            steps, step = 2, rng
        else:
            steps = math.ceil(rng / step)
    elif rng < 0.0:
        if step <= 0.0:
            rng = 1.0
            step = rng / steps
        else:
            rng, steps = step, 2
    elif step <= 0.0:
        steps = max(steps, 2)
        step = rng / (steps - 1)
    if rng <= 0.0 or step <= 0.0 or steps <= 0:
        steps, rng, step = 1, 0.0, 0.0
    return steps, rng, step


def rotate_axis_c(v, axis, phi: float) -> list:
    """nearBragg.c rotate_axis (1334-1347): Rodrigues about `axis`, not normalised."""
    s, c = math.sin(phi), math.cos(phi)
    d = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - c)
    return [axis[0] * d + v[0] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s,
            axis[1] * d + v[1] * c + (+axis[2] * v[0] - axis[0] * v[2]) * s,
            axis[2] * d + v[2] * c + (-axis[1] * v[0] + axis[0] * v[1]) * s]


@dataclass
class NearSetup:
    """Everything the render needs besides the atoms."""
    xpixels: int
    ypixels: int
    detsize_x: float
    detsize_y: float
    pixel: float
    distance: float
    Xbeam: float
    Ybeam: float
    fdet: list
    sdet: list
    odet: list
    pix0: list
    roi: tuple                      # xmin, xmax, ymin, ymax inclusive, clipped to the image
    roi_c: tuple                    # as the C prints them (one past the end by default)
    oversample: int
    recommended_oversample: int
    divs: list                      # [(hdiv, vdiv)] rad, after the elliptical cut
    lambdas: list                   # m
    depths: list                    # m (ddepth along x)
    far_source: bool
    source_distance: float
    curved: bool
    point_pixel: bool
    grids: dict = field(default_factory=dict)   # printed ranges and steps

    @property
    def steps(self) -> int:
        return len(self.divs) * len(self.lambdas) * len(self.depths) * self.oversample ** 2

    def source_points(self) -> list:
        """[(depth index, div index) -> (x, y, z)] source positions, None with the far source."""
        if self.far_source:
            return [[None] * len(self.depths) for _ in self.divs]
        D = self.source_distance
        return [[(-D + dd, math.atan(h) * D, math.atan(v) * D) for dd in self.depths]
                for h, v in self.divs]


def _grid(steps: int, rng: float, step: float) -> list:
    return [step * i - rng / 2.0 for i in range(steps)]


def _divergence(s) -> tuple:
    hs, hr, hst = step_rule(s.hdivsteps, s.hdivrange_rad, s.hdivstep_rad)
    vs, vr, vst = step_rule(s.vdivsteps, s.vdivrange_rad, s.vdivstep_rad)
    divs = divergence_points((hr, hst, hs), (vr, vst, vs), True)     # round_div is always on
    return divs, {"hdivrange": hr, "hdivstep": hst, "vdivrange": vr, "vdivstep": vst}


def setup(s, extent_A: float) -> NearSetup:
    """Derive the render setup from settings `s` and the atoms' largest extent (A)."""
    pixel = s.pixel_m
    detsize_x = pixel * s.xpixels if s.xpixels else s.detsize_x_m
    detsize_y = pixel * s.ypixels if s.ypixels else s.detsize_y_m
    xpixels, ypixels = math.ceil(detsize_x / pixel), math.ceil(detsize_y / pixel)
    if xpixels <= 0 or ypixels <= 0:
        raise NanoBraggError(f"-detsize/-detpixels: the detector has no pixel ({xpixels}x{ypixels})")
    need, available = xpixels * ypixels * BYTES_PER_PIXEL, available_bytes()
    if available is not None and need > available:
        raise NanoBraggError(f"-detpixels/-detsize: a {xpixels}x{ypixels}-pixel detector needs about "
                             f"{_size(need)} of memory, more than the {_size(available)} available")
    Xbeam = s.Xbeam_m if s.Xbeam_m is not None else (detsize_x - pixel) / 2.0
    Ybeam = s.Ybeam_m if s.Ybeam_m is not None else (detsize_y + pixel) / 2.0
    fdet, sdet, odet = list(s.fdet_vector), list(s.sdet_vector), list(s.odet_vector)
    if s.twotheta_rad is not None:
        fdet, sdet, odet = (rotate_axis_c(v, s.spindle_vector, s.twotheta_rad) for v in (fdet, sdet, odet))
    if s.pix0_vector_m is not None:
        pix0 = list(s.pix0_vector_m)
    else:
        pix0 = [-Xbeam * fdet[k] - Ybeam * sdet[k] + s.distance_m * odet[k] for k in range(3)]
    r = list(s.roi) if s.roi is not None else [-1, -1, -1, -1]
    roi_c = (r[0] if r[0] >= 0 else 0, r[1] if r[1] >= 0 else xpixels,
             r[2] if r[2] >= 0 else 0, r[3] if r[3] >= 0 else ypixels)
    roi = (roi_c[0], min(roi_c[1], xpixels - 1), roi_c[2], min(roi_c[3], ypixels - 1))
    if s.quirks != "c" and (roi[0] > roi[1] or roi[2] > roi[3]):     # c: the C renders nothing
        raise NanoBraggError(f"-roi: {' '.join(map(str, r))} selects no pixel of the "
                             f"{xpixels}x{ypixels} detector")
    divs, grids = _divergence(s)
    if not divs:
        raise NanoBraggError("-hdivstep/-vdivstep: the elliptical cut leaves no divergence point "
                             f"(h {grids['hdivrange']:g} rad in steps of {grids['hdivstep']:g}, v "
                             f"{grids['vdivrange']:g} in steps of {grids['vdivstep']:g}); the C divides "
                             "every pixel by 0 steps")
    ds, disp, dstep = step_rule(s.dispsteps, s.dispersion, -1.0)
    ts, depth, tstep = step_rule(s.depthsteps, s.source_depth_m, -1.0)
    grids.update(dispersion=disp, dispstep=dstep, source_depth=depth, depthstep=tstep)
    lambdas = [s.lambda0_m * (1.0 + dstep * i - disp / 2.0) for i in range(ds)]
    depths = _grid(ts, depth, tstep)
    recommended = math.ceil(3.0 * (extent_A * 1e-10) / (s.lambda0_m * s.distance_m / pixel))
    recommended = max(recommended, 1)
    oversample = s.oversample if s.oversample > 0 else recommended
    if any(not lam > 0 for lam in lambdas):
        raise NanoBraggError("-dispersion: the wavelength grid reaches zero or negative "
                             f"wavelengths ({', '.join('%g' % x for x in lambdas)} m)")
    return NearSetup(xpixels, ypixels, detsize_x, detsize_y, pixel, s.distance_m, Xbeam, Ybeam,
                     fdet, sdet, odet, pix0, roi, roi_c, oversample, recommended, divs, lambdas,
                     depths, s.far_source, s.source_distance_m, s.curved_detector, s.point_pixel,
                     grids)
