"""The Python API: ``simulate(args)`` renders the float image nanoBragg.c would write.

Data flow: flags -> `Settings` -> `config.resolve` -> models -> `Precomputed` ->
backend accumulation -> scaling.  `run(args)` returns a `Result` with the image and
everything the CLI prints and writes; `simulate(args)` returns just the image tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.profiler import record_function

from . import flags as flagmod
from . import flags_detector
from .backends import select_backend
from .backends.compile_policy import package_ready
from .config import SimulationConfig, resolve
from .constants import RTD
from .errors import NanoBraggError
from .io.smv import read_smv
from .memory import check_fits
from .nonbragg.components import add_background, in_kernel, kept_in_kernel, render_components, split_params
from .params import to_internal
from .precision import working_dtype
from .precompute import Precomputed, precompute
from .scaling import to_photons
from .settings import Settings

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Result:
    image: torch.Tensor            # [slow, fast] photons per pixel, working dtype
    pre: Precomputed
    settings: Settings
    backend: str
    omega_sum: float

    @property
    def config(self) -> SimulationConfig:
        return self.pre.cfg


def apply_header(s, path: str, is_mask: bool, exact_keys: bool = False):
    """The C's -mask / -img header block: geometry defaults from an SMV header (nonBragg's
    -img block is the same with ``is_mask``'s BEAM_CENTER_Y rule). ``exact_keys``: read
    KEY=value fields instead of the C's last substring match. Returns the `SMVImage`."""
    img = read_smv(path)
    s.fpixels, s.spixels = img.width, img.height
    v = _exact_value(img, path) if exact_keys else img.value_of
    if not math.isnan(v("PIXEL_SIZE")):
        s.pixel_size_m = v("PIXEL_SIZE") / 1000.0
    s.detsize_f_m = s.pixel_size_m * s.fpixels
    s.detsize_s_m = s.pixel_size_m * s.spixels
    for key, attr, scale in (("DISTANCE", "distance_m", 1e-3), ("CLOSE_DISTANCE", "close_distance_m", 1e-3),
                             ("WAVELENGTH", "lambda0_m", 1e-10), ("BEAM_CENTER_X", "Xbeam_m", 1e-3),
                             ("ORGX", "ORGX_px", 1.0), ("ORGY", "ORGY_px", 1.0),
                             ("PHI", "phi0_rad", 1 / RTD), ("OSC_RANGE", "osc_rad", 1 / RTD)):
        if not math.isnan(v(key)):
            setattr(s, attr, v(key) * scale)
    if not math.isnan(v("BEAM_CENTER_Y")):
        y = v("BEAM_CENTER_Y") / 1000.0
        s.Ybeam_m = s.detsize_s_m - y if is_mask else y
    return img


def _exact_value(img, path: str):
    def value(key: str) -> float:
        text = img.fields.get(key)
        try:
            return float(text) if text is not None else math.nan
        except ValueError:
            raise NanoBraggError(f"{path}: header {key}={text} is not a number") from None
    return value


def parse(args) -> Settings:
    """Flag list -> Settings (header files first, then flags in order, as the C)."""
    parsed = flagmod.split_args(list(args))
    quirks = flagmod.quirks_mode(parsed)
    s = Settings()
    for name, vals, _ in parsed:
        if name == "-mask":
            s.maskfile = vals[0]
    for name, vals, _ in parsed:
        if name == "-detector":
            s.detector_file = vals[0]
    for name, vals, _ in parsed:
        if name == "-img":
            s.imgfile = vals[0]
    if s.maskfile:
        apply_header(s, s.maskfile, True)
    if s.imgfile:
        apply_header(s, s.imgfile, False)
    if s.detector_file:
        flags_detector.load_detector(s, parsed)
    flagmod.apply_flags(s, parsed, quirks)
    if s.matfile is None and not s.user_cell and (s.mtzfile or s.modelfile):
        _cell_from_file(s)
    return s


def _cell_from_file(s: Settings) -> None:
    """-mtz / -model without -cell or -mat: the unit cell of the file, as -cell would set it."""
    if s.mtzfile:
        from .io.mtz import mtz_cell
        cell = mtz_cell(s.mtzfile)
    else:
        from .io.structure import model_cell
        cell = model_cell(s.modelfile)
    s.user_cell = True
    s.cell_A = [float(x) for x in cell[:3]]
    s.cell_angles_rad = [float(x) / RTD for x in cell[3:]]


def run(args, *, params: dict | None = None, dtype: str | torch.dtype | None = None,
        device: str | None = None, progress=None) -> Result:
    """Render the image for a nanoBragg command line; see `simulate`.  `progress(done, total)`
    is called as pixel chunks finish."""
    with record_function("nb.setup"):
        s, cfg = configure(args, dtype, device)
    return render(s, cfg, params, progress=progress)


def render(s: Settings, cfg: SimulationConfig, params: dict | None = None, *,
           shared: dict | None = None, progress=None) -> Result:
    """One image of a configured run: precompute (reusing the pieces in `shared`, see
    `precompute`), accumulate, scale.  `run` is `configure` + `render`; `many.simulate_many`
    calls `render` once per shot with one `shared` dict.  A multi-panel config (``-detector``)
    renders every panel (`panel_render.render_panels`)."""
    params, bg_params = split_params(params)
    if cfg.panels is not None:
        from .panel_render import render_panels
        return render_panels(s, cfg, params, shared=shared, progress=progress, bg_params=bg_params)
    if {"panel_offset", "panel_rotation"} & (params or {}).keys():
        raise NanoBraggError("params: panel_offset / panel_rotation need a -detector FILE")
    with record_function("nb.setup"):
        pre = _precompute(cfg, params, shared)
    name, accumulate = select_backend(cfg.backend, cfg.device, needs_grad=pre.needs_grad)
    torch_dtype = working_dtype(pre.inputs, DTYPES[cfg.dtype])
    background, inputs, flags = None, pre.inputs, pre.flags
    if s.backgrounds:
        with record_function("nb.background"):
            kernel_form = (name, torch_dtype, cfg.device, bg_params)
            fused = _in_kernel(lambda: in_kernel(pre, s.backgrounds, s.beamsize_m), *kernel_form)
            if fused is not None:
                inputs, flags = fused
            else:               # before the spots: the compiled CPU path then has the cores
                background = render_components(pre, s.backgrounds, s.beamsize_m, torch_dtype,
                                               cfg.device, bg_params)
                fused = _in_kernel(lambda: kept_in_kernel(pre, background), *kernel_form)
                if fused is not None:
                    (inputs, flags), background = fused, None
    with record_function("nb.accumulate"):
        I_geom, omega_sum = accumulate(inputs, flags, torch_dtype, cfg.device, progress=progress)
    I_geom = I_geom[0]                       # [n_panels, slow, fast] -> one panel
    with record_function("nb.scaling"):      # (photons already with a kept background)
        image = I_geom if flags.background_image else to_photons(pre, I_geom, torch_dtype)
    if background is not None:
        image = add_background(image, background, cfg.quirks)
    return Result(image=image.to(DTYPES[cfg.dtype]), pre=pre, settings=s, backend=name, omega_sum=omega_sum)


def _in_kernel(contract, backend: str, dtype, device, bg_params: dict) -> tuple | None:
    """``contract()`` -- the contract with the ``-bg_*`` components inside the spots kernel
    (`components.in_kernel`: their sum interpolated there; `components.kept_in_kernel`: their
    kept image added there) -- or None: only a float32 render on the compiled CPU kernel, with
    no tensors given for the components and the package of that kind ready
    (`compile_policy.package_ready`; a missing one is built at the process's end when worth
    it), gains from it; elsewhere the components' own pass is as fast or faster."""
    if backend != "torch" or dtype != torch.float32 or bg_params:
        return None
    fused = contract()
    if fused is None or not package_ready(*fused, dtype, device):
        return None
    return fused


def configure(args, dtype=None, device=None) -> tuple:
    """Flags -> settings -> resolved config (checked to fit in memory): (Settings, config)."""
    s = parse(args)
    if dtype is not None:
        s.dtype = dtype if isinstance(dtype, str) else {v: k for k, v in DTYPES.items()}[dtype]
    if device is not None:
        s.device = str(device)
    cfg = resolve(s)
    check_fits(cfg)
    return s, cfg


def _precompute(cfg: SimulationConfig, params: dict | None, shared: dict | None) -> Precomputed:
    """`precompute` with degenerate-input math errors turned into a NanoBraggError."""
    try:
        pre = precompute(cfg, to_internal(params), shared)
    except (ZeroDivisionError, OverflowError, ValueError) as exc:   # math on degenerate input
        raise NanoBraggError(f"degenerate geometry or crystal ({exc}): check the detector and "
                             "beam vectors, distances, beam centre and cell") from None
    if pre.oversample > max(cfg.detector.oversample, 1) or (cfg.beam.sourcefile and pre.sources.count > 1):
        # more steps than `check_fits` counted before (an automatic oversample, a source file's
        # rows): check again (the check reads the memory files: ~80 us, not for every render)
        check_fits(cfg, oversample=pre.oversample, sources=pre.sources.count)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise NanoBraggError("-device cuda: no CUDA device is available")
    return pre


def simulate(args, *, params: dict | None = None, dtype: str | torch.dtype | None = None,
             device: str | None = None) -> torch.Tensor:
    """Float image [slow, fast] (photons/pixel) for the nanoBragg flag list `args`.

    `params` maps flag names (no dash) to values or tensors that replace the parsed
    values; `dtype` ('float32' | 'float64') and `device` override -dtype / -device.
    """
    return run(args, params=params, dtype=dtype, device=device).image
