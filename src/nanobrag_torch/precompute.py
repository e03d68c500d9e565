"""Everything one render needs, built once from the models: `Precomputed`.

`precompute(cfg, params)` builds the detector, sources, crystal (orientations for every
phi step and mosaic domain, drawn with the C generator) and structure factors, applies
the C's remaining auto rules (oversample, interpolation) and returns the models together
with the engines' contract (`contract.RenderInputs`, float64, and `contract.RenderFlags`,
every ``-quirks`` decision resolved here).  Engines read only ``pre.inputs`` and ``pre.flags``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from .config import SimulationConfig
from .constants import AVOGADRO, R_E_SQR, WATER_F, WATER_MW
from .contract import CrystalShape, FactorMode, Interpolation, RenderFlags, RenderInputs, WaterMode
from .io.hkl import read_structure_factors
from .io.matrix import read_mat
from .io.smv import read_smv
from .io.sources import read_sources
from .models.beam import Sources, build_sources
from .models.crystal import Crystal, build_crystal, orientations
from .models.detector import Detector, build_detector, corner_dmin_A
from .models.structure_factors import StructureFactors, build_structure_factors
from .io.structure import ModelFile
from .errors import NanoBraggError
from .crandom import CRandom


@dataclass
class Precomputed:
    cfg: SimulationConfig
    detector: Detector
    sources: Sources
    crystal: Crystal
    sf: StructureFactors
    oversample: int
    recommended_oversample: int
    interpolation_note: str
    mask: torch.Tensor | None        # [slow, fast] bool, True = render
    steps: int
    fluence: torch.Tensor | float
    inputs: RenderInputs             # the engines' contract (float64)
    flags: RenderFlags
    needs_grad: bool = False         # some override requires grad (eager, checkpointed)
    warnings: list = field(default_factory=list)

    @property
    def shape(self) -> tuple:
        return self.detector.shape


def _mask(cfg: SimulationConfig) -> torch.Tensor | None:
    if cfg.detector.maskfile is None:
        return None
    img = read_smv(cfg.detector.maskfile)
    d = cfg.detector
    if img.data.shape != (d.spixels, d.fpixels):
        raise NanoBraggError(f"{d.maskfile}: mask is {img.data.shape[1]}x{img.data.shape[0]} pixels, "
                             f"detector is {d.fpixels}x{d.spixels}")
    return torch.from_numpy(img.data.astype("int64") != 0)


def _detector_piece(cfg: SimulationConfig, p: dict) -> Detector:
    """The detector with overrides `p`; without any, the process's copy (`_plain_detector`)."""
    if p:
        return build_detector(cfg.detector, cfg.beam.beam, p)
    return _plain_detector(repr((cfg.detector, cfg.beam.beam)), cfg.detector, cfg.beam.beam)


def _sources_piece(cfg: SimulationConfig, p: dict) -> Sources:
    """The sources (a -sourcefile read each time), else the grid with overrides `p`, else the
    process's copy of the grid (`_plain_sources`)."""
    if cfg.beam.sourcefile:
        return build_sources(cfg.beam, cfg.quirks, p, read_sources(cfg.beam.sourcefile))
    if p:
        return build_sources(cfg.beam, cfg.quirks, p)
    return _plain_sources(repr(cfg.beam), cfg.beam, cfg.quirks)


# Pieces that renders of one config can share: the overrides each depends on, and its builder.
SHAREABLE = {
    "detector": (frozenset({"distance", "close_distance", "Xbeam", "Ybeam", "detector_rotx",
                            "detector_roty", "detector_rotz", "twotheta"}), _detector_piece),
    "sources": (frozenset({"lambda"}), _sources_piece),
    "sf": (frozenset({"F", "default_F"}), lambda cfg, p: build_structure_factors(
        read_structure_factors(cfg.crystal.hklfile, cfg.crystal.default_F, table_dmin(cfg)),
        cfg.crystal.default_F, p)),
    "mask": (frozenset(), lambda cfg, p: _mask(cfg)),
}


@functools.lru_cache(maxsize=4)
def _plain_detector(key: str, detector, beam) -> Detector:
    """The detector of configs (`DetectorConfig`, beam direction) without overrides, built
    once per process: the lines of a ``-batch`` file mostly share one (~1.5 ms each).
    `key`: the config's repr, so that configs equal but for the sign of a zero (which the
    printed geometry shows) do not share one."""
    return build_detector(detector, beam, {})


@functools.lru_cache(maxsize=4)
def _plain_sources(key: str, beam, quirks: str) -> Sources:
    """The source grid of configs (`BeamConfig`, no -sourcefile: a file may change between
    renders) without overrides, built once per process as `_plain_detector` (~1.2 ms;
    `key` as there)."""
    return build_sources(beam, quirks, {})


def table_dmin(cfg: SimulationConfig) -> float | None:
    """The detector-corner resolution (A) a model's |F| must reach (at the shortest wavelength,
    widened by the divergence), or None when the run has no model or -model_dmin is given."""
    source = cfg.crystal.hklfile
    if not isinstance(source, ModelFile) or source.dmin_A > 0:
        return None
    b = cfg.beam
    return corner_dmin_A(build_detector(cfg.detector, b.beam), b.lambda0_m * (1.0 - b.dispersion_frac / 2.0),
                         max(b.hdivrange_rad, b.vdivrange_rad))


def _piece(name: str, cfg: SimulationConfig, p: dict, shared: dict | None):
    """Build piece `name`, or reuse the copy in `shared` built without overrides when none of
    the overrides it depends on is given (the builders are deterministic, so it is the same)."""
    deps, build = SHAREABLE[name]
    if shared is None or deps & p.keys():
        return build(cfg, p)
    if name not in shared:
        shared[name] = build(cfg, {})
    return shared[name]


def precompute(cfg: SimulationConfig, params: dict | None = None,
               shared: dict | None = None) -> Precomputed:
    """Inputs of one render.  `shared`: a dict kept across renders of this same `cfg` (e.g.
    by `many.simulate_many`) in which the detector, sources, structure factors and mask are
    built once and reused whenever `params` does not override them."""
    p = params or {}
    quirks = cfg.quirks
    rng = CRandom(0)
    detector = _piece("detector", cfg, p, shared)
    sources = _piece("sources", cfg, p, shared)
    mat = read_mat(cfg.crystal.matfile) if cfg.crystal.matfile is not None else None
    crystal = build_crystal(cfg.crystal, cfg.beam.lambda0_m, quirks, rng, p, mat)
    orient = orientations(crystal, quirks, rng, p)
    sf = _piece("sf", cfg, p, shared)

    recommended, oversample = auto_oversample(cfg, crystal, detector)

    interp = cfg.crystal.interpolate
    note = ""
    if interp > 1:
        interp = 1 if min(cfg.crystal.N) <= 2 else 0
        note = "auto-selected tricubic interpolation of structure factors" if interp else \
            "auto-selected no interpolation"
    if sf.n_entries == 0:
        interp = 0

    n_src = sources.count
    if quirks == "fixed":
        w = sources.weight
        source_factor = w * (n_src / w.sum())
    else:
        source_factor = torch.ones(n_src, dtype=torch.float64)
    steps = n_src * cfg.crystal.mosaic_domains * cfg.crystal.phisteps * oversample * oversample
    fluence = p.get("fluence", cfg.beam.fluence_per_m2)
    mask = _piece("mask", cfg, p, shared)
    flags = _flags(cfg, bool(interp), not torch.equal(orient["A_first"], orient["A"]))
    inputs = _inputs(cfg, detector, sources, crystal, sf, orient, source_factor, mask,
                     oversample, steps, fluence)
    return Precomputed(cfg=cfg, detector=detector, sources=sources, crystal=crystal, sf=sf,
                       oversample=oversample, recommended_oversample=recommended,
                       interpolation_note=note, mask=mask, steps=steps, fluence=fluence,
                       inputs=inputs, flags=flags,
                       needs_grad=any(isinstance(v, torch.Tensor) and v.requires_grad for v in p.values()),
                       warnings=list(crystal.warnings))


def auto_oversample(cfg: SimulationConfig, crystal: Crystal, detector: Detector) -> tuple:
    """(recommended, used) oversampling: the C's rule from the largest crystal dimension and
    the reciprocal pixel size at the detector's distance along the beam; -oversample wins."""
    size = [float(crystal.N[i].detach()) * float(torch.linalg.norm(crystal.a0_m[i].detach())) for i in range(3)]
    recip_pixel = cfg.beam.lambda0_m * float(detector.distance_m.detach()) / cfg.detector.pixel_size_m
    if not (math.isfinite(recip_pixel) and recip_pixel > 0 and math.isfinite(max(size))):
        raise NanoBraggError(f"impossible geometry: sample-to-detector distance along the beam is "
                             f"{float(detector.distance_m.detach()) * 1e3:g} mm (check -distance, -twotheta, "
                             "-detector_rot*, the detector and beam vectors)")
    recommended = max(math.ceil(3.0 * max(size) / recip_pixel), 1)
    oversample = cfg.detector.oversample if cfg.detector.oversample > 0 else recommended
    return recommended, oversample


def _flags(cfg: SimulationConfig, interpolate: bool, first_visit: bool) -> RenderFlags:
    """Every code-path choice of the render, the quirks mode included (the one place)."""
    fixed = cfg.quirks == "fixed"
    dc, beam = cfg.detector, cfg.beam
    over = (dc.oversample_thick, dc.oversample_polar, dc.oversample_omega)
    factors = FactorMode.FIXED if fixed else (FactorMode.C_RUNNING if any(over) else FactorMode.C_FIRST)
    interp = (Interpolation.NEAREST if not interpolate else
              Interpolation.TRICUBIC_PER_STEP if fixed else Interpolation.TRICUBIC_SWITCH_OFF)
    water = (WaterMode.NONE if cfg.crystal.water_size_m == 0.0 else
             WaterMode.FIXED if fixed else WaterMode.C)
    return RenderFlags(shape=CrystalShape(cfg.crystal.shape), factors=factors, oversample_factors=over,
                       interpolation=interp, first_visit=first_visit and not fixed, water=water,
                       thick=dc.thick_m != 0.0, curved=dc.curved, point_pixel=dc.point_pixel,
                       polarize=not beam.nopolar, kahn=beam.polarization_kahn != 0.0,
                       dmin=beam.dmin_m > 0.0)


def _as_float(x) -> float:
    """A Python float of `x` (a float or a tensor, detached) without a float32 detour:
    ``torch.as_tensor`` of a Python float makes a float32 tensor, which rounds the
    fluence ~1e29 by up to 6e-8 relative."""
    return float(x.detach()) if torch.is_tensor(x) else float(x)


def _inputs(cfg, detector, sources, crystal, sf, orient, source_factor, mask, oversample: int,
            steps: int, fluence) -> RenderInputs:
    """The contract's tensors (float64) for one render; one detector panel."""
    dc, beam = cfg.detector, cfg.beam

    def t(x):
        return torch.as_tensor(x, dtype=torch.float64)
    axis = t(beam.polar)
    axis = axis / torch.sqrt((axis * axis).sum()) if float((axis * axis).sum()) > 0 else axis
    molecules = cfg.crystal.water_size_m ** 3 * 1e6 * AVOGADRO / WATER_MW
    has_table = sf.table is not None and sf.n_entries > 0
    T = dc.thicksteps
    return RenderInputs(
        fdet=detector.fdet[None], sdet=detector.sdet[None], odet=detector.odet[None],
        pix0=detector.pix0_m[None], distance=t(detector.distance_m).reshape(1),
        close_distance=t(detector.close_distance_m).reshape(1),
        beam=detector.beam, beam_dist=(detector.distance_m * detector.beam)[None],
        fpixels=dc.fpixels, spixels=dc.spixels, pixel_size=t(dc.pixel_size_m),
        sub_size=t(dc.pixel_size_m / oversample), oversample=oversample, roi=tuple(dc.roi),
        mask=None if mask is None else mask[None],
        thickness=t(dc.thick_m), thicksteps=T, thickstep=t(dc.thickstep_m),
        layer_depth=torch.arange(T, dtype=torch.float64) * dc.thickstep_m, mu=t(dc.mu_per_m),
        step_mu=t(dc.thickstep_m * dc.mu_per_m),
        incident=-sources.direction, lambda_m=sources.lambda_m, inv_lambda=1.0 / sources.lambda_m,
        source_weight=source_factor, A=orient["A"], A_first=orient["A_first"], N=crystal.N,
        recip=crystal.recip_A, fudge=t(cfg.crystal.fudge),
        sf_table=sf.table if has_table else None, sf_mins=tuple(sf.mins), sf_ranges=tuple(sf.ranges),
        default_F=t(sf.default_F), fluence=t(fluence), dmin=t(beam.dmin_m), polar_axis=axis,
        kahn=t(beam.polarization_kahn),
        water_I_bg=t(WATER_F * WATER_F * R_E_SQR * _as_float(fluence) * molecules),
        water_F2_molecules=t(WATER_F * WATER_F * molecules),
        water_scale=t(WATER_F * WATER_F * molecules * steps), steps=steps)
