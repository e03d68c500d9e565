"""The nonBragg Python API: ``background(args)`` renders the float image nonBragg.c writes.

Flags -> `NonBraggSettings` -> `setup.resolve` (models) -> `engine.render` -> photons.
``params`` may replace, with (differentiable) tensors in the flags' units (as nanoBragg's
`simulate` params, specs/params.md): ``thickness`` (sample size along the beam, mm),
``density`` (g/cm^3), ``table_scale`` (multiplies every F), and the detector's ``distance``,
``close_distance``, ``Xbeam``, ``Ybeam`` (mm), ``detector_rotx|y|z``, ``twotheta`` (deg).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import flags as flagmod
from ..errors import NanoBraggError
from ..models.detector import build_detector
from ..params import to_internal
from . import engine
from .flag_table import FLAGS, c_strstr_effects
from .settings import NonBraggSettings
from .setup import R_E_SQR, Job, apply_img_header, resolve, sample_block

DTYPES = {"float32": torch.float32, "float64": torch.float64}
GEOMETRY_PARAMS = ("distance", "close_distance", "Xbeam", "Ybeam", "detector_rotx",
                   "detector_roty", "detector_rotz", "twotheta")


@dataclass(eq=False)
class Result:
    image: torch.Tensor          # [slow, fast] photons per pixel (working dtype)
    job: Job
    rendered: engine.Rendered


def parse(args) -> NonBraggSettings:
    """Flag list -> settings: the -img header first, then the flags in order (as the C)."""
    parsed = flagmod.split_args([str(a) for a in args], FLAGS)
    quirks = flagmod.quirks_mode(parsed)
    s = NonBraggSettings()
    s.quirks = quirks
    for name, vals, _ in parsed:
        if name == "-img":
            s.imgfile = vals[0]
    if s.imgfile:
        apply_img_header(s, quirks)
    flagmod.apply_flags(s, c_strstr_effects(parsed) if quirks == "c" else parsed, quirks, FLAGS)
    return s


def table_tensors(job: Job, scale=None, device="cpu") -> dict:
    """The engine's table: x [n+4] (1/A), coef [n+4, 4] (times scale^1: F scales), origin;
    the model's digest when the coefficients are its own."""
    t = job.table
    coef = torch.from_numpy(t.coef).to(device)
    if scale is not None:
        coef = coef * scale
    return {"x": torch.from_numpy(t.x).to(device), "coef": coef,
            "origin": torch.from_numpy(t.origin).to(device), "digest": None if scale is not None else t.digest}


def pixels_of(job: Job, detector) -> engine.Pixels:
    s = job.s
    curved = (detector.distance_m, detector.beam) if s.curved_detector else None
    return engine.Pixels(fdet=detector.fdet, sdet=detector.sdet, pix0=detector.pix0_m,
                         fpixels=job.fpixels, spixels=job.spixels, pixel_m=s.pixel_size_m,
                         oversample=job.oversample, close_m=detector.close_distance_m,
                         point_pixel=s.point_pixel, curved=curved, roi=job.roi)


def render_job(job: Job, params: dict | None = None, keep_last: bool = False) -> Result:
    """Render a resolved job (photons per pixel), with optional tensor overrides."""
    p = params or {}
    s = job.s
    dtype, device = DTYPES[s.dtype], s.device
    if device == "cuda" and not torch.cuda.is_available():
        raise NanoBraggError("-device cuda: no CUDA device is available")
    detector = job.detector
    geo = to_internal({k: p[k] for k in GEOMETRY_PARAMS if k in p})
    if geo:
        detector = build_detector(detector.cfg, detector.beam, geo)
    beam = engine.Beam(incident=job.incident, lambda_A=job.lambda_m * 1e10, weight=job.weight,
                       kahn=s.polarization_kahn, axis=job.polar, nopolar=s.nopolar)
    walk = s.quirks == "c" and not job.table.sorted
    molecules = job.molecules
    if "thickness" in p or "density" in p:
        x, y, z = job.sample
        thick = p["thickness"] * 1e-3 if "thickness" in p else x
        density = p["density"] * 1e6 if "density" in p else s.density_g_m3
        molecules = sample_block(thick, y, z, density, s.molecular_weight, s.molecules, -1.0)[2]
    # a table too steep for a float32 stol (ice.stol) is computed in float64, then rounded
    compute = torch.float64 if dtype == torch.float32 and not job.table.float32_ok else dtype
    out = engine.render(pixels_of(job, detector), beam, table_tensors(job, p.get("table_scale"), device),
                        dtype=compute, device=device, walk=walk, keep_last=keep_last or s.Fmap,
                        scale=(R_E_SQR * job.fluence / job.steps) * molecules)
    image = out.image
    if s.Fmap:
        inside = engine.roi_mask(job.fpixels, job.spixels, job.roi, device)
        image = torch.where(inside, out.last["F"], torch.zeros_like(image))
    if engine.has_nan(out) if not s.Fmap else bool(torch.isnan(image.detach()).any()):
        raise NanoBraggError(f"{s.stolfile}: the table gives NaN pixels (repeated stol values make "
                             "the C's 4-point interpolation divide by zero; remove the duplicate rows "
                             "or the comment lines, or run with -quirks fixed)")
    return Result(image=image.to(dtype), job=job, rendered=out)


def run(args, *, params: dict | None = None, dtype: str | None = None, device: str | None = None,
        keep_last: bool = False) -> Result:
    """Parse, resolve and render a nonBragg command line (see module doc for ``params``)."""
    s = parse(args)
    if dtype is not None:
        s.dtype = dtype
    if device is not None:
        s.device = device
    return render_job(resolve(s), params, keep_last=keep_last)


def background(args, **kwargs) -> torch.Tensor:
    """Float image [slow, fast] (photons/pixel) of the nonBragg command line ``args``."""
    return run(args, **kwargs).image
