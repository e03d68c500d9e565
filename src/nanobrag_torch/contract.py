"""The contract between the models and every engine: `RenderInputs` and `RenderFlags`.

`precompute` builds one of each per render; every engine (the eager torch kernels, the
compiled kernel, the Triton launcher, the ``-printout`` trace) reads only these two objects,
a dtype and a device.  Nothing below the contract sees the configuration, the settings or
the ``-quirks`` string: every quirks decision is an enum of `RenderFlags`, resolved once.

`RenderInputs` holds float64 tensors (SI units: metres, 1/m, steradians come later) and the
integer sizes of the render.  Pixel geometry is per detector panel, ``[n_panels, 3]`` even
for one panel; all panels share the pixel counts, the pixel size and the sensor.
`RenderInputs.to(dtype, device)` is the only conversion: derived quantities an engine needs
in its working dtype (``inv_lambda``, ``sub_size``, ``step_mu``, ...) are computed here in
float64 first, so every engine rounds them the same way.
"""
from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass, fields

import torch


class CrystalShape(str, enum.Enum):
    """Lattice transform of the crystal (``-square_xtal`` ... ``-tophat_spots``)."""
    SQUARE = "square"
    ROUND = "round"
    GAUSS = "gauss"
    TOPHAT = "tophat"


class FactorMode(enum.Enum):
    """How polarization, solid angle and capture fraction enter a pixel's sum."""
    C_FIRST = "c-first-value"      # the C: the first step's cached values, applied at the end
    C_RUNNING = "c-running-sum"    # the C with -oversample_*: ``I += x; I *= factor`` per step
    FIXED = "fixed"                # each sub-step weighted by its own factors (and source weight)


class Interpolation(enum.Enum):
    """Structure-factor lookup."""
    NEAREST = "nearest"
    TRICUBIC_SWITCH_OFF = "tricubic-switch-off"  # the C: the first out-of-range stencil turns
    #                                              tricubic off for the rest of the image
    TRICUBIC_PER_STEP = "tricubic-per-step"      # fixed: nearest only where the stencil leaves


class WaterMode(enum.Enum):
    """Water background (``-water``)."""
    NONE = "none"
    C = "c"            # the C's I_bg added once to the pixel sum before its factors
    FIXED = "fixed"    # F_w^2 x molecules per sub-step, weighted like the Bragg term


def evolve(obj, **changes):
    """`dataclasses.replace` for the frozen dataclasses of this module (every field set by
    ``__init__``, no ``__post_init__``): a shallow copy with ``changes`` set, its instance
    dict copied directly (as `copy.copy` does, without its protocol): ~1.2 us against ~3 us
    by `copy.copy` and ~20 us by `dataclasses.replace` for `RenderInputs` (a render makes a few)."""
    unknown = changes.keys() - obj.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {sorted(unknown)}")
    new = object.__new__(type(obj))
    fields = new.__dict__
    fields.update(obj.__dict__)
    fields.update(changes)
    return new


@dataclass(frozen=True)
class RenderFlags:
    """Code-path choices of one render (hashable; part of a compiled kernel's identity)."""
    shape: CrystalShape
    factors: FactorMode
    oversample_factors: tuple      # (thick, polar, omega): recomputed per sub-step (C_RUNNING)
    interpolation: Interpolation
    first_visit: bool              # the C's phi = 0 carry-over: `A_first` on the first sweep
    water: WaterMode
    thick: bool                    # a sensor thickness: capture fraction per layer
    curved: bool                   # curved detector (pixel coordinates taken as angles)
    point_pixel: bool              # solid angle 1/R^2
    polarize: bool                 # False with -nopolar (factor 1)
    kahn: bool                     # Kahn factor non-zero (else the unpolarized formula)
    dmin: bool                     # -dmin resolution cut on
    background: bool = False       # amorphous components summed in the kernel (`bg_*` inputs)
    background_image: bool = False  # the kernel returns photons: I_geom x photon_scale + bg_image

    @property
    def polar_off(self) -> bool:
        """Whether the polarization factor is 1 in the spots: -nopolar, except under the C's
        running ``-oversample_polar``, which recomputes it at every step all the same
        (quirk 12; nanoBragg.c 2669, 2772-2776)."""
        return not self.polarize and not (self.factors == FactorMode.C_RUNNING and self.oversample_factors[1])


_CONVERTED: dict = {}    # id(source) -> (weakref to source, (version, dtype, device), converted)
_CONVERT_MIN = 4096     # elements: smaller tensors convert faster than a lookup


def _converted(v: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``v.to(dtype, device)``, remembered for the last large tensor converted (the
    structure-factor table each render of a batch or many-shot run converts again, unchanged;
    a conversion costs milliseconds of thread wake-ups on a busy machine).  Tensors that
    require grad, or are already in `dtype` on `device`, are not remembered."""
    if (v.requires_grad or v.numel() < _CONVERT_MIN
            or (v.dtype == dtype and v.device == device)):
        return v.to(dtype=dtype, device=device)
    key = (v._version, dtype, device)
    hit = _CONVERTED.get(id(v))
    if hit is None or hit[0]() is not v or hit[1] != key:
        _CONVERTED.clear()                      # keep one: bounded memory
        hit = _CONVERTED[id(v)] = (weakref.ref(v), key, v.to(dtype=dtype, device=device))
    return hit[2]


_INT_FIELDS = {"fpixels", "spixels", "oversample", "thicksteps", "steps", "roi", "sf_mins", "sf_ranges"}


@dataclass(frozen=True)
class RenderInputs:
    """Every number one render needs.  Tensors are float64 on the CPU as built; shapes and
    units below (P = n_panels, NS sources, M = phi steps x mosaic domains, T layers)."""
    # detector: per panel
    fdet: torch.Tensor             # [P, 3] unit fast axis
    sdet: torch.Tensor             # [P, 3] unit slow axis
    odet: torch.Tensor             # [P, 3] unit normal (towards the sensor depth)
    pix0: torch.Tensor             # [P, 3] m, sample -> outer corner of pixel (0, 0)
    distance: torch.Tensor         # [P] m, along the beam to the panel plane (curved detector)
    close_distance: torch.Tensor   # [P] m, sample to the panel plane (solid angle)
    beam: torch.Tensor             # (3,) unit incident beam direction
    beam_dist: torch.Tensor        # [P, 3] m, distance x beam (curved detector)
    fpixels: int
    spixels: int
    pixel_size: torch.Tensor       # () m
    sub_size: torch.Tensor         # () m, pixel_size / oversample
    oversample: int                # sub-pixels per pixel edge
    roi: tuple                     # (xmin, xmax, ymin, ymax) inclusive pixel indices, every panel
    mask: torch.Tensor | None      # [P, spixels, fpixels] bool, True = render; None = all
    # sensor
    thickness: torch.Tensor        # () m (0: no sensor depth)
    thicksteps: int                # T
    thickstep: torch.Tensor        # () m, layer thickness
    layer_depth: torch.Tensor      # [T] m, depth of each layer's front face (t x thickstep)
    mu: torch.Tensor               # () 1/m attenuation
    step_mu: torch.Tensor          # () layer thickness x mu (dimensionless)
    # sources
    incident: torch.Tensor         # [NS, 3] unit incident directions (sample <- source, negated)
    lambda_m: torch.Tensor         # [NS] m
    inv_lambda: torch.Tensor       # [NS] 1/m
    source_weight: torch.Tensor    # [NS] weight multiplier (ones under the C's rules)
    # crystal
    A: torch.Tensor                # [M, 3, 3] m, rows a, b, c of every (phi step, mosaic domain)
    A_first: torch.Tensor          # [M, 3, 3] the first sweep's (phi = 0 carry-over; == A if none)
    N: torch.Tensor                # (3,) unit cells along a, b, c
    recip: torch.Tensor            # [3, 3] 1/Angstrom, rows a*, b*, c* (unrotated)
    fudge: torch.Tensor            # () shape fudge factor
    # structure factors
    sf_table: torch.Tensor | None  # [h_range, k_range, l_range] |F|; None: default_F everywhere
    sf_mins: tuple                 # (h_min, k_min, l_min)
    sf_ranges: tuple               # (h_range, k_range, l_range)
    default_F: torch.Tensor        # () |F| outside the table
    # beam and background
    fluence: torch.Tensor          # () photons/m^2
    dmin: torch.Tensor             # () m, resolution cut (0: off)
    polar_axis: torch.Tensor       # (3,) unit E-vector reference axis
    kahn: torch.Tensor             # () Kahn polarization factor
    water_I_bg: torch.Tensor       # () the C's water I_bg (WaterMode.C)
    water_F2_molecules: torch.Tensor  # () F_w^2 x water molecules in the beam (WaterMode.FIXED)
    water_scale: torch.Tensor      # () water_F2_molecules x steps (WaterMode.FIXED)
    steps: int                     # sources x domains x phi steps x oversample^2 (the C's steps)
    # amorphous components summed in the kernel (RenderFlags.background; else None): their
    # scaled sum G(stol) of sign(F) F^2 in I_geom units, linear between nodes k h (1/A)
    bg_nodes: torch.Tensor | None = None    # [K] int64: float32 G_k (low half), G_{k+1} - G_k (high)
    bg_scale: torch.Tensor | None = None    # [NS] node intervals per unit |d - incident|: h^-1 / (2 lambda)
    bg_top: torch.Tensor | None = None      # () index of the last node interval (stol beyond: G_top)
    bg_weight: torch.Tensor | None = None   # [NS] source weights as nonBragg applies them
    # a kept background image added inside the kernel (RenderFlags.background_image; else None),
    # after the spots' scaling to photons, as `to_photons` and `add_background` form the sum
    bg_image: torch.Tensor | None = None    # [slow, fast] photons, float32 (one panel, every pixel)
    photon_scale: torch.Tensor | None = None  # () photons per I_geom unit: r_e^2 x fluence / steps

    @property
    def n_panels(self) -> int:
        return int(self.fdet.shape[0])

    @property
    def n_orient(self) -> int:
        return int(self.A.shape[0])

    @property
    def n_sources(self) -> int:
        return int(self.lambda_m.shape[0])

    @property
    def steps_per_pixel(self) -> int:
        """Loop iterations per pixel (layers included)."""
        return self.thicksteps * self.oversample ** 2 * self.n_sources * self.n_orient

    @property
    def requires_grad(self) -> bool:
        """Some input requires grad (the engines then run eagerly, checkpointed)."""
        return any(isinstance(v, torch.Tensor) and v.requires_grad
                   for v in (getattr(self, f.name) for f in fields(self)))

    def to(self, dtype: torch.dtype, device) -> "RenderInputs":
        """Floating tensors in `dtype` on `device` (the mask moves; sizes stay ints)."""
        def conv(v):
            if not isinstance(v, torch.Tensor):
                return v
            if v.is_floating_point():
                return _converted(v, dtype, torch.device(device))
            return v.to(device=device)
        return evolve(self, **{f.name: conv(getattr(self, f.name)) for f in fields(self)
                               if f.name not in _INT_FIELDS})

    def panel(self, p: int) -> "RenderInputs":
        """The inputs of panel `p` alone (n_panels = 1)."""
        per_panel = ("fdet", "sdet", "odet", "pix0", "distance", "close_distance", "beam_dist")
        out = {k: getattr(self, k)[p:p + 1] for k in per_panel}
        out["mask"] = None if self.mask is None else self.mask[p:p + 1]
        return evolve(self, **out)
