"""Typed configuration resolved from `Settings` with nanoBragg.c's defaults and auto rules.

`resolve(settings)` performs the C's "fill in blanks" block, the convention block and the
auto-selection of phi / divergence / dispersion / thickness steps and mosaic domains.
Lengths are metres, angles radians; field names carry the unit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import conventions
from .constants import RTD
from .errors import NanoBraggError
from .io.hkl import FdumpFile
from .settings import Settings


@dataclass(frozen=True)
class DetectorConfig:
    fpixels: int
    spixels: int
    pixel_size_m: float
    detsize_f_m: float
    detsize_s_m: float
    distance_m: float
    close_distance_m: float            # NaN: derived from distance
    convention: str
    pivot: str
    fdet: tuple
    sdet: tuple
    odet: tuple
    twotheta_axis: tuple
    detector_rot_rad: tuple
    twotheta_rad: float
    Xbeam_m: float
    Ybeam_m: float
    Fbeam_m: float
    Sbeam_m: float
    Xclose_m: float
    Yclose_m: float
    Fclose_m: float
    Sclose_m: float
    thick_m: float
    thickstep_m: float
    thicksteps: int
    mu_per_m: float
    curved: bool
    point_pixel: bool
    roi: tuple                          # xmin, xmax, ymin, ymax (inclusive)
    oversample: int                     # <= 0: auto (needs the crystal; see precompute)
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    maskfile: str | None


@dataclass(frozen=True)
class BeamConfig:
    lambda0_m: float
    beam: tuple
    polar: tuple
    sourcefile: str | None
    hdivrange_rad: float
    hdivstep_rad: float
    hdivsteps: int
    vdivrange_rad: float
    vdivstep_rad: float
    vdivsteps: int
    round_div: bool
    dispersion_frac: float
    dispstep_frac: float
    dispsteps: int
    fluence_per_m2: float
    polarization_kahn: float
    nopolar: bool
    dmin_m: float


@dataclass(frozen=True)
class CrystalConfig:
    user_cell: bool
    cell_A: tuple
    cell_angles_rad: tuple
    matfile: str | None
    misset_mode: str
    misset_rad: tuple
    misset_seed: int
    N: tuple                            # Na, Nb, Nc as given
    sample_size_m: tuple                # x, y, z (0: use N)
    shape: str
    fudge: float
    mosaic_spread_rad: float
    mosaic_domains: int
    mosaic_seed: int
    phi0_rad: float
    phistep_rad: float
    phisteps: int
    osc_rad: float
    spindle: tuple
    hklfile: str | FdumpFile | None     # -hkl text file, else -dump binary, else None
    default_F: float
    interpolate: int                    # 2 auto, 1 on, 0 off
    water_size_m: float


@dataclass(frozen=True)
class SimulationConfig:
    detector: DetectorConfig
    beam: BeamConfig
    crystal: CrystalConfig
    quirks: str
    dtype: str
    backend: str
    device: str


def _auto_range_steps(rng, step, steps):
    """The C's rule for divergence and dispersion (range, step, count); -1 means unset."""
    if steps <= 0:
        if rng < 0.0:
            if step <= 0.0:
                return 0.0, 0.0, 1
            return step, step, 2
        if step <= 0.0:
            return rng, rng, 2
        return rng, step, math.ceil(rng / step)
    if rng < 0.0:
        if step <= 0.0:
            return 1.0, 1.0 / steps, steps
        return step, step, 2
    if step <= 0.0:
        steps = max(steps, 2)
        return rng, rng / (steps - 1), steps
    return rng, step, steps


def _sanitize(rng, step, steps):
    if rng <= 0.0 or step <= 0.0 or steps <= 0:
        return 0.0, 0.0, 1
    return rng, step, steps


def _phi_steps(osc, step, steps):
    """The C's phi rule: returns (osc, phistep, phisteps)."""
    if steps < 0:
        if osc < 0.0:
            if step <= 0.0:
                return 0.0, 0.0, 1
            return step, step, 2
        if step <= 0.0:
            return osc, osc / 2.0, 2
        return osc, step, math.ceil(osc / step)
    steps = max(steps, 1)
    if osc < 0.0:
        if step <= 0.0:
            osc = 1.0 / RTD
            return osc, osc / steps, steps
        return step, step, 2
    if step < 0.0:
        return osc, osc / steps, steps
    return osc, step, steps


def _thickness(thick, step, steps):
    """The C's detector-layer rule: returns (thick, thickstep, thicksteps)."""
    if steps <= 0:
        if thick < 0.0:
            if step <= 0.0:
                return 0.0, 0.0, 1
            return step, step, 2
        if step <= 0.0:
            return thick, thick / 2, 2
        return thick, step, math.ceil(thick / step)
    if thick < 0.0:
        if step <= 0.0:
            return 0.5e-6, 0.5e-6 / steps, steps
        return step, step, 2
    if step <= 0.0:
        steps = max(steps, 2)
        return thick, thick / (steps - 1), steps
    return thick, step, steps


def _mosaic(spread, domains):
    if domains <= 0:
        if spread < 0.0:
            return 0.0, 1
        return spread, (1 if spread == 0.0 else 10)
    if spread <= 0.0:
        return 0.0, 1
    return spread, domains


def _unit(v) -> tuple:
    """The C's unitize(): a zero vector stays zero."""
    mag = math.sqrt(sum(x * x for x in v))
    return tuple(x / mag for x in v) if mag != 0 else tuple(0.0 for _ in v)


def _structure_factor_file(s: Settings) -> str | FdumpFile | None:
    """-hkl is read (and -dump written from it by the CLI); -dump alone is read; no implicit
    Fdump.bin is ever read (specs/cli.md)."""
    if s.hklfile is not None:
        return s.hklfile
    return FdumpFile(s.dumpfile) if s.dumpfile is not None else None


def resolve(s: Settings) -> SimulationConfig:
    """Turn raw settings into typed configs, applying every C default and auto rule."""
    pixel = s.pixel_size_m
    if not pixel > 0:
        raise NanoBraggError(f"-pixel: pixel size must be positive, got {pixel * 1e3:g} mm")
    detsize_f = pixel * s.fpixels if s.fpixels else s.detsize_f_m
    detsize_s = pixel * s.spixels if s.spixels else s.detsize_s_m
    fpixels = math.ceil(detsize_f / pixel - 0.5)
    spixels = math.ceil(detsize_s / pixel - 0.5)
    if fpixels <= 0 or spixels <= 0:
        raise NanoBraggError(f"-detpixels/-detsize: detector has no pixels ({fpixels}x{spixels})")

    fluence = s.fluence_per_m2
    sample = [s.sample_x_m, s.sample_y_m, s.sample_z_m]
    if s.flux_per_s != 0.0 and s.exposure_s > 0.0 and s.beamsize_m >= 0:
        fluence = s.flux_per_s * s.exposure_s / s.beamsize_m / s.beamsize_m
    if s.beamsize_m >= 0:
        sample[1] = min(sample[1], s.beamsize_m)
        sample[2] = min(sample[2], s.beamsize_m)

    geom = conventions.apply(s, detsize_f, detsize_s, pixel)
    roi = list(s.roi)
    roi[0] = 0 if roi[0] < 0 else roi[0]
    roi[1] = fpixels if roi[1] < 0 else roi[1]
    roi[2] = 0 if roi[2] < 0 else roi[2]
    roi[3] = spixels if roi[3] < 0 else roi[3]
    if roi[0] > min(roi[1], fpixels - 1) or roi[2] > min(roi[3], spixels - 1):
        raise NanoBraggError(f"-roi: {' '.join(str(v) for v in s.roi)} selects no pixel of the "
                             f"{fpixels}x{spixels} detector")

    osc, phistep, phisteps = _phi_steps(s.osc_rad, s.phistep_rad, s.phisteps)
    hdiv = _sanitize(*_auto_range_steps(s.hdivrange_rad, s.hdivstep_rad, s.hdivsteps))
    vdiv = _sanitize(*_auto_range_steps(s.vdivrange_rad, s.vdivstep_rad, s.vdivsteps))
    disp = _sanitize(*_auto_range_steps(s.dispersion_frac, s.dispstep_frac, s.dispsteps))
    thick = _sanitize(*_thickness(s.detector_thick_m, s.detector_thickstep_m, s.detector_thicksteps))
    mu = s.detector_mu_per_m
    if thick[0] > 0.0 and mu < 0.0:
        mu = 1.0 / thick[0]
    spread, domains = _mosaic(s.mosaic_spread_rad, s.mosaic_domains)

    detector = DetectorConfig(
        fpixels=fpixels, spixels=spixels, pixel_size_m=pixel,
        detsize_f_m=detsize_f, detsize_s_m=detsize_s,
        distance_m=s.distance_m, close_distance_m=s.close_distance_m,
        convention=geom["convention"], pivot=geom["pivot"],
        fdet=geom["fdet"], sdet=geom["sdet"], odet=geom["odet"],
        twotheta_axis=geom["twotheta_axis"], detector_rot_rad=tuple(s.detector_rot_rad),
        twotheta_rad=s.twotheta_rad,
        Xbeam_m=geom["Xbeam"], Ybeam_m=geom["Ybeam"], Fbeam_m=geom["Fbeam"], Sbeam_m=geom["Sbeam"],
        Xclose_m=geom["Xclose"], Yclose_m=geom["Yclose"], Fclose_m=geom["Fclose"],
        Sclose_m=geom["Sclose"],
        thick_m=thick[0], thickstep_m=thick[1], thicksteps=thick[2], mu_per_m=mu,
        curved=s.curved_detector, point_pixel=s.point_pixel, roi=tuple(roi),
        oversample=s.oversample, oversample_thick=s.oversample_thick,
        oversample_polar=s.oversample_polar, oversample_omega=s.oversample_omega,
        maskfile=s.maskfile,
    )
    beam = BeamConfig(
        lambda0_m=s.lambda0_m, beam=geom["beam"], polar=geom["polar"], sourcefile=s.sourcefile,
        hdivrange_rad=hdiv[0], hdivstep_rad=hdiv[1], hdivsteps=hdiv[2],
        vdivrange_rad=vdiv[0], vdivstep_rad=vdiv[1], vdivsteps=vdiv[2], round_div=s.round_div,
        dispersion_frac=disp[0], dispstep_frac=disp[1], dispsteps=disp[2],
        fluence_per_m2=fluence, polarization_kahn=s.polarization_kahn, nopolar=s.nopolar,
        dmin_m=s.dmin_m,
    )
    crystal = CrystalConfig(
        user_cell=s.user_cell, cell_A=tuple(s.cell_A), cell_angles_rad=tuple(s.cell_angles_rad),
        matfile=s.matfile, misset_mode=s.misset_mode, misset_rad=tuple(s.misset_rad),
        misset_seed=s.misset_seed if s.misset_seed is not None else conventions.time_seed(),
        N=(s.Na, s.Nb, s.Nc), sample_size_m=tuple(sample), shape=s.xtal_shape, fudge=s.fudge,
        mosaic_spread_rad=spread, mosaic_domains=domains, mosaic_seed=s.mosaic_seed,
        phi0_rad=s.phi0_rad, phistep_rad=phistep, phisteps=phisteps, osc_rad=osc,
        spindle=_unit(geom["spindle"]), hklfile=_structure_factor_file(s), default_F=s.default_F,
        interpolate=s.interpolate, water_size_m=s.water_size_m,
    )
    if crystal.hklfile is None and s.default_F == 0.0:
        raise NanoBraggError("no structure factors: give -hkl FILE, -dump FILE or -default_F VALUE")
    if s.matfile is None and not (s.user_cell and s.cell_A[0] > 0):
        raise NanoBraggError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE")
    if not s.lambda0_m > 0 or not math.isfinite(s.lambda0_m):
        raise NanoBraggError("-lambda/-energy: wavelength must be positive and finite")
    return SimulationConfig(detector=detector, beam=beam, crystal=crystal, quirks=s.quirks,
                            dtype=s.dtype, backend=s.backend, device=s.device)
