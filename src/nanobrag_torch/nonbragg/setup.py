"""nonBragg.c's defaults and auto rules (lines 826-1375): settings -> a `Job` of models.

Geometry goes through the spots engine's detector model (`models.detector.build_detector`,
nonBragg's Xbeam/Ybeam being the fast/slow beam-spot coordinates, i.e. the "custom"
convention's Fbeam/Sbeam) and the divergence/dispersion grid through `models.beam`.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import BeamConfig, DetectorConfig, _auto_range_steps, _sanitize
from ..errors import NanoBraggError
from ..io.sources import read_sources
from ..io.stol import read_stol
from ..models.beam import build_sources
from ..models.detector import Detector, build_detector
from ..precompute import R_E_SQR
from ..physics.vectors import cross, dot, rotate_xyz, unitize, vec
from .settings import NonBraggSettings
from .components import sample_block
from .table import AmorphousTable, build_table

RTD = 180.0 * (1.0 / math.pi)


@dataclass(eq=False)
class Job:
    """Everything one nonBragg render needs (float64; lengths in m)."""

    s: NonBraggSettings
    fpixels: int
    spixels: int
    detsize: tuple                 # (fast, slow) as requested (m)
    detector: Detector
    header: dict                   # distance, Xbeam, Ybeam, close, ORGX, ORGY for SMV/printout
    source_xyz: torch.Tensor       # [N, 3] positions as printed (m)
    incident: torch.Tensor         # [N, 3] unit
    lambda_m: torch.Tensor         # [N]
    weight: torch.Tensor           # [N]
    divsteps: int
    lambdas: list
    div: tuple                     # (hrange, hstep, hsteps, vrange, vstep, vsteps, disp, dstep, dsteps)
    table: AmorphousTable
    sample: tuple                  # x, y, z (m) after clipping
    density: float                 # g/m^3
    molecules: float
    fluence: float
    oversample: int
    steps: int
    roi: tuple
    polar: torch.Tensor            # (3,) unit
    warnings: list = field(default_factory=list)

    @property
    def scale(self) -> float:
        """Photons per unit of the engine's sum: r_e^2 * fluence * molecules / steps."""
        return R_E_SQR * self.fluence * self.molecules / self.steps


def apply_img_header(s: NonBraggSettings, quirks: str) -> None:
    """The C's -img block (lines 313-357), before the flags: nanoBragg's header block with
    BEAM_CENTER_Y measured from the far edge. ``c``: ValueOf's last substring match
    (DISTANCE may read CLOSE_DISTANCE, ORGX XDS_ORGX) and the pixels little-endian whatever
    BYTE_ORDER says (GetFrame sets swap_bytes, lines 2515-2521, and never uses it); ``fixed``:
    exact keys, BYTE_ORDER honoured. The C reads TWOTHETA into a scratch variable: ignored."""
    from ..simulate import apply_header        # simulate imports this package (via flags)
    img = apply_header(s, s.imgfile, True, exact_keys=quirks == "fixed")
    big = not img.fields.get("BYTE_ORDER", "little_endian").startswith("little_end")
    s.img_pixels = img.data.byteswap() if quirks == "c" and big else img.data


def _pixel_count(detsize: float, pixel: float, requested: int, quirks: str) -> int:
    """C: ceil(detsize/pixel) even after detsize = pixel*N (N+1 for many N); fixed: N."""
    if quirks == "fixed" and requested:
        return requested
    ratio = detsize / pixel
    return math.ceil(ratio * (1 - 1e-12)) if quirks == "fixed" else math.ceil(ratio)


def resolve(s: NonBraggSettings) -> Job:
    """Apply the C's defaults and auto rules and build the models."""
    q = s.quirks
    if s.stolfile is None:
        raise NanoBraggError("no table: give -stol FILE (or -4stol/-Q; built in: water, air, ice, "
                             "nanoice, shortwater, unity)")
    pixel = s.pixel_size_m
    det_f = pixel * s.fpixels if s.fpixels else s.detsize_f_m
    det_s = pixel * s.spixels if s.spixels else s.detsize_s_m
    fpixels = _pixel_count(det_f, pixel, s.fpixels, q)
    spixels = _pixel_count(det_s, pixel, s.spixels, q)
    if fpixels <= 0 or spixels <= 0:
        raise NanoBraggError(f"-detpixels/-detsize: detector has no pixels ({fpixels}x{spixels})")
    Xclose = s.ORGX_px * pixel if not math.isnan(s.ORGX_px) else s.Xclose_m
    Yclose = s.ORGY_px * pixel if not math.isnan(s.ORGY_px) else s.Yclose_m
    if math.isnan(Xclose):
        Xclose = det_f / 2.0 if q == "fixed" else (det_f - pixel) / 2.0
    if math.isnan(Yclose):
        Yclose = det_s / 2.0 if q == "fixed" else (det_s + pixel) / 2.0
    Xbeam = Xclose if math.isnan(s.Xbeam_m) else s.Xbeam_m
    Ybeam = Yclose if math.isnan(s.Ybeam_m) else s.Ybeam_m
    roi = list(s.roi)
    roi = (max(roi[0], 0), fpixels if roi[1] < 0 else roi[1], max(roi[2], 0), spixels if roi[3] < 0 else roi[3])

    fluence = s.fluence_per_m2
    if s.flux_per_s != 0.0 and s.exposure_s > 0.0 and s.beamsize_m >= 0:
        fluence = s.flux_per_s * s.exposure_s / s.beamsize_m / s.beamsize_m
    sample, density, molecules, warnings = sample_block(
        s.sample_x_m, s.sample_y_m, s.sample_z_m, s.density_g_m3, s.molecular_weight, s.molecules,
        s.beamsize_m)

    beam, _ = unitize(vec(s.beam_vector))
    fdet, _ = unitize(vec(s.fdet_vector))
    sdet, _ = unitize(vec(s.sdet_vector))
    odet, _ = unitize(cross(fdet, sdet))
    polar, _ = unitize(vec(s.polar_vector))
    h = _sanitize(*_auto_range_steps(s.hdivrange_rad, s.hdivstep_rad, s.hdivsteps))
    v = _sanitize(*_auto_range_steps(s.vdivrange_rad, s.vdivstep_rad, s.vdivsteps))
    d = _sanitize(*_auto_range_steps(s.dispersion_frac, -1.0, s.dispsteps))

    rot = tuple(s.detector_rot_rad)
    ratio = float(dot(beam, rotate_xyz(odet, *rot)))
    ratio = ratio if ratio != 0.0 else sys.float_info.min
    close = s.close_distance_m if not math.isnan(s.close_distance_m) else ratio * s.distance_m
    dcfg = DetectorConfig(
        fpixels=fpixels, spixels=spixels, pixel_size_m=pixel, detsize_f_m=det_f, detsize_s_m=det_s,
        distance_m=close / ratio, close_distance_m=close, convention="custom", pivot=s.pivot,
        fdet=tuple(fdet.tolist()), sdet=tuple(sdet.tolist()), odet=tuple(odet.tolist()),
        twotheta_axis=tuple(s.twotheta_axis), detector_rot_rad=rot, twotheta_rad=s.twotheta_rad,
        Xbeam_m=Xbeam, Ybeam_m=Ybeam, Fbeam_m=Xbeam, Sbeam_m=Ybeam, Xclose_m=Xclose,
        Yclose_m=Yclose, Fclose_m=Xclose, Sclose_m=Yclose, thick_m=0.0, thickstep_m=0.0,
        thicksteps=1, mu_per_m=0.0, curved=s.curved_detector, point_pixel=s.point_pixel,
        roi=roi, oversample=max(s.oversample, 1), oversample_thick=False, oversample_polar=False,
        oversample_omega=False, maskfile=None)
    det = build_detector(dcfg, tuple(beam.tolist()))
    header = _header_values(det, beam, pixel, q)

    bcfg = BeamConfig(lambda0_m=s.lambda0_m, beam=tuple(beam.tolist()), polar=tuple(polar.tolist()),
                      sourcefile=None, hdivrange_rad=h[0], hdivstep_rad=h[1], hdivsteps=h[2],
                      vdivrange_rad=v[0], vdivstep_rad=v[1], vdivsteps=v[2], round_div=s.round_div,
                      dispersion_frac=d[0], dispstep_frac=d[1], dispsteps=d[2],
                      fluence_per_m2=fluence, polarization_kahn=s.polarization_kahn,
                      nopolar=s.nopolar, dmin_m=0.0)
    lambdas = [s.lambda0_m * (1.0 + d[1] * i - d[0] / 2.0) for i in range(d[2])]
    if s.sourcefile is not None:
        xyz, weight, lam = _file_sources(s, beam)
        divsteps = -1            # printed: the C's initial value, no grid is made (line 1290)
    else:
        grid = build_sources(bcfg, q)
        xyz = grid.direction * s.source_distance_m
        weight = torch.ones(grid.count, dtype=torch.float64)
        lam, divsteps = grid.lambda_m, grid.divsteps
    incident, _ = unitize(-xyz)
    if bool((lam <= 0).any()) or not bool(torch.isfinite(lam).all()):
        raise NanoBraggError(f"{s.sourcefile}: source wavelengths must be positive")
    table_rows = read_stol(s.stolfile, q)
    table = build_table(table_rows.x, table_rows.F, s.stol_unit, q)
    oversample = max(s.oversample, 1)
    return Job(s=s, fpixels=fpixels, spixels=spixels, detsize=(det_f, det_s), detector=det,
               header=header, source_xyz=xyz, incident=incident, lambda_m=lam, weight=weight,
               divsteps=divsteps, lambdas=lambdas, div=(*h, *v, *d), table=table,
               sample=sample, density=density, molecules=molecules, fluence=fluence,
               oversample=oversample, steps=incident.shape[0] * oversample ** 2, roi=roi,
               polar=polar, warnings=warnings)


def _file_sources(s: NonBraggSettings, beam: torch.Tensor):
    """-sourcefile: X Y Z weight lambda (m); missing columns as the C (lines 1263-1288)."""
    t = read_sources(s.sourcefile)
    default = (-s.source_distance_m * beam).numpy()
    xyz = np.stack([t.X, t.Y, t.Z], 1)
    xyz = np.where(np.isnan(xyz), default[None, :], xyz)
    weight = np.where(np.isnan(t.weight), 1.0, t.weight)
    lam = np.where(np.isnan(t.lambda_m), s.lambda0_m, t.lambda_m)
    return (torch.from_numpy(xyz), torch.from_numpy(weight), torch.from_numpy(lam))


def _header_values(det: Detector, beam: torch.Tensor, pixel: float, quirks: str) -> dict:
    """SMV/printout geometry. c: the C's values (distance and beam spot from the ratio
    computed before the two-theta swing); fixed: the true beam spot on the rotated detector."""
    close = float(det.close_distance_m)
    distance, Xbeam, Ybeam = float(det.distance_m), float(det.Fbeam_m), float(det.Sbeam_m)
    if quirks == "fixed":
        ratio = float(dot(beam, det.odet))
        if ratio != 0.0:
            spot = close / ratio * beam - det.pix0_m
            distance, Xbeam, Ybeam = close / ratio, float(dot(det.fdet, spot)), float(dot(det.sdet, spot))
    return dict(distance=distance, Xbeam=Xbeam, Ybeam=Ybeam, close=close,
                ORGX=float(det.Fclose_m) / pixel, ORGY=float(det.Sclose_m) / pixel,
                Xclose=float(det.Fclose_m), Yclose=float(det.Sclose_m))
