"""Everything the accumulation needs, built once from the models: `Precomputed`.

`precompute(cfg, params)` builds the detector, sources, crystal (orientations for every
phi step and mosaic domain, drawn with the C generator) and structure factors, applies
the C's remaining auto rules (oversample, interpolation) and returns one dataclass of
tensors.  Geometry stays float64 here; the backend casts to the working dtype.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .config import SimulationConfig
from .io.smv import read_smv
from .models.beam import Sources, build_sources
from .models.crystal import Crystal, build_crystal, orientations
from .models.detector import Detector, build_detector
from .models.structure_factors import StructureFactors, build_structure_factors
from .errors import NanoBraggError
from .crandom import CRandom

R_E_SQR = 7.94079248018965e-30       # Thomson cross section, m^2 (as the C)
AVOGADRO = 6.02214179e23
WATER_F = 2.57
WATER_MW = 18.0


@dataclass
class Precomputed:
    cfg: SimulationConfig
    detector: Detector
    sources: Sources
    crystal: Crystal
    sf: StructureFactors
    oversample: int
    recommended_oversample: int
    interpolate: bool
    interpolation_note: str
    A: torch.Tensor                  # [phisteps*domains, 3, 3] rows a, b, c (m)
    A_first: torch.Tensor | None     # same for the first visit when the phi=0 carry-over differs
    umats: torch.Tensor
    phis: torch.Tensor
    source_factor: torch.Tensor      # [sources] weight multiplier (1 in c mode)
    mask: torch.Tensor | None        # [slow, fast] bool, True = render
    steps: int
    fluence: torch.Tensor | float
    water_I_bg: float                # the C's I_bg (c mode)
    water_F2_molecules: float        # F_water^2 x water molecules in the beam (fixed mode)
    needs_grad: bool = False         # some override requires grad (eager, checkpointed)
    warnings: list = field(default_factory=list)

    @property
    def shape(self) -> tuple:
        return self.detector.shape

    @property
    def quirks(self) -> str:
        return self.cfg.quirks


def _mask(cfg: SimulationConfig) -> torch.Tensor | None:
    if cfg.detector.maskfile is None:
        return None
    img = read_smv(cfg.detector.maskfile)
    d = cfg.detector
    if img.data.shape != (d.spixels, d.fpixels):
        raise NanoBraggError(f"{d.maskfile}: mask is {img.data.shape[1]}x{img.data.shape[0]} pixels, "
                             f"detector is {d.fpixels}x{d.spixels}")
    return torch.from_numpy(img.data.astype("int64") != 0)


# Pieces that renders of one config can share: the overrides each depends on, and its builder.
SHAREABLE = {
    "detector": (frozenset({"distance", "close_distance", "Xbeam", "Ybeam", "detector_rotx",
                            "detector_roty", "detector_rotz", "twotheta"}),
                 lambda cfg, p: build_detector(cfg.detector, cfg.beam.beam, p)),
    "sources": (frozenset({"lambda"}), lambda cfg, p: build_sources(cfg.beam, cfg.quirks, p)),
    "sf": (frozenset({"F", "default_F"}),
           lambda cfg, p: build_structure_factors(cfg.crystal.hklfile, cfg.crystal.default_F, p)),
    "mask": (frozenset(), lambda cfg, p: _mask(cfg)),
}


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
    crystal = build_crystal(cfg.crystal, cfg.beam.lambda0_m, quirks, rng, p)
    orient = orientations(crystal, quirks, rng, p)
    sf = _piece("sf", cfg, p, shared)

    # auto oversample from the largest crystal dimension and the reciprocal pixel size
    size = [float(crystal.N[i].detach()) * float(torch.linalg.norm(crystal.a0_m[i].detach())) for i in range(3)]
    recip_pixel = cfg.beam.lambda0_m * float(detector.distance_m.detach()) / cfg.detector.pixel_size_m
    if not (math.isfinite(recip_pixel) and recip_pixel > 0 and math.isfinite(max(size))):
        raise NanoBraggError(f"impossible geometry: sample-to-detector distance along the beam is "
                             f"{float(detector.distance_m.detach()) * 1e3:g} mm (check -distance, -twotheta, "
                             "-detector_rot*, the detector and beam vectors)")
    recommended = max(math.ceil(3.0 * max(size) / recip_pixel), 1)
    oversample = cfg.detector.oversample if cfg.detector.oversample > 0 else recommended

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
    A = orient["A"]
    A_first = orient["A_first"]
    A_first = None if torch.equal(A_first, A) else A_first
    steps = n_src * cfg.crystal.mosaic_domains * cfg.crystal.phisteps * oversample * oversample
    fluence = p.get("fluence", cfg.beam.fluence_per_m2)
    water = cfg.crystal.water_size_m
    molecules = water ** 3 * 1e6 * AVOGADRO / WATER_MW
    water_I_bg = WATER_F * WATER_F * R_E_SQR * float(torch.as_tensor(fluence).detach()) * molecules
    return Precomputed(cfg=cfg, detector=detector, sources=sources, crystal=crystal, sf=sf,
                       oversample=oversample, recommended_oversample=recommended,
                       interpolate=bool(interp), interpolation_note=note,
                       A=A, A_first=A_first, umats=orient["umats"], phis=orient["phis"],
                       source_factor=source_factor, mask=_piece("mask", cfg, p, shared), steps=steps,
                       fluence=fluence, water_I_bg=water_I_bg,
                       water_F2_molecules=WATER_F * WATER_F * molecules,
                       needs_grad=any(isinstance(v, torch.Tensor) and v.requires_grad for v in p.values()),
                       warnings=list(crystal.warnings))
