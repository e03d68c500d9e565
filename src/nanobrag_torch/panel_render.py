"""Multi-panel renders: every panel of a `PanelSet` rendered in the file's lab frame.

Each panel gets the configuration nanoBragg.c would use for that panel alone in the custom
convention (`models.panels.custom_flags`: its pixel counts and size, custom convention,
sample pivot, full-panel ROI, its bad-region mask, its sensor when the file gives one) and its
own `Detector` built from the (possibly perturbed) panel frame, so each panel keeps its own
auto oversampling.  Panels that agree on everything but their placement (pixel counts, pixel
size, oversampling, sensor) form one `RenderInputs` with ``n_panels`` rows (`precompute` runs
once per group, the rows come from the panels' detectors) and render in ONE engine call
(`backends`: eager, compiled or Triton): one Python iteration per panel shape, not per panel.
The C's order-dependent quirks (tricubic switch-off, phi = 0 carry-over) then run over
the panels of a group in order, as over one image.

`params` may hold ``panel_offset`` [n, 3] (mm) and ``panel_rotation`` [n, 3] (deg, about x, y
then z through each panel's centre), differentiable; the single-detector overrides
(distance, beam centre, detector rotations) do not apply to panels and are refused.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch.profiler import record_function

from .config import SimulationConfig, _auto_range_steps, _sanitize
from .errors import NanoBraggError
from .io.panel_set import PanelSet
from .models.panels import panel_detector, panel_frames
from .nonbragg.components import add_background, render_components
from .params import RTD
from .precompute import auto_oversample
from .precision import working_dtype
from .simulate import DTYPES, Result, _precompute, select_backend, to_photons

PANEL_PARAMS = ("panel_offset", "panel_rotation")
SINGLE_DETECTOR = ("distance", "close_distance", "Xbeam", "Ybeam", "detector_rotx", "detector_roty",
                   "detector_rotz", "twotheta")


@dataclass
class PanelResult(Result):
    """`Result` of a multi-panel render: ``image`` [panels, slow, fast] when every panel has
    the same shape (else a list of [slow, fast]); ``pre`` is the first panel's."""
    panel_set: PanelSet | None = None
    results: list | None = None          # one `Result` per panel


def panel_config(cfg: SimulationConfig, panel) -> SimulationConfig:
    """The configuration that renders `panel` alone (custom convention, sample pivot)."""
    d = cfg.detector
    F, S = panel.fpixels, panel.spixels
    thick = (d.thick_m, d.thickstep_m, d.thicksteps, d.mu_per_m)
    if panel.thickness_m is not None and d.thick_m == 0.0:
        t = _sanitize(*_auto_range_steps(panel.thickness_m, -1.0, -1, unset=0.5e-6, one_step=0.5))
        thick = (*t, panel.mu_per_m if panel.mu_per_m else 1.0 / t[0])
    det = replace(d, fpixels=F, spixels=S, pixel_size_m=panel.pixel_size_m,
                  detsize_f_m=F * panel.pixel_size_m, detsize_s_m=S * panel.pixel_size_m,
                  convention="custom", pivot="sample", roi=(0, F, 0, S), maskfile=None,
                  thick_m=thick[0], thickstep_m=thick[1], thicksteps=thick[2], mu_per_m=thick[3])
    return replace(cfg, detector=det, panels=None)


def _split_params(params: dict | None, n: int) -> tuple:
    """(params without the panel ones, offset [n, 3] m or None, rotation [n, 3] rad or None)."""
    p = dict(params or {})
    for name in SINGLE_DETECTOR:
        if name in p:
            raise NanoBraggError(f"params: '{name}' does not apply to a multi-panel detector "
                                 "(use panel_offset / panel_rotation)")
    out = []
    for name, scale in zip(PANEL_PARAMS, (1e-3, 1.0 / RTD)):
        v = p.pop(name, None)
        if v is not None:
            v = v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.float64)
            if tuple(v.shape) != (n, 3):
                raise NanoBraggError(f"params: '{name}' must have shape ({n}, 3), got {tuple(v.shape)}")
            v = v.to(torch.float64) * scale
        out.append(v)
    return p, out[0], out[1]


def _precompute_panel(cfg, det, panel, params: dict, common: dict):
    """`precompute` of one panel's configuration with its detector and mask, sharing the
    sources and structure factors through `common`."""
    mine = {k: common[k] for k in ("sources", "sf") if k in common}
    mine["detector"] = det
    mine["mask"] = None if panel.bad is None else torch.from_numpy(~panel.bad)
    with record_function("nb.setup"):
        pre = _precompute(cfg, params, mine)
    common.update({k: mine[k] for k in ("sources", "sf") if k in mine})
    return pre


def _with_panels(inputs, dets: list, bads: list):
    """`inputs` with one panel row per detector of `dets` (and their bad-pixel masks)."""
    rows = {"fdet": torch.stack([d.fdet for d in dets]), "sdet": torch.stack([d.sdet for d in dets]),
            "odet": torch.stack([d.odet for d in dets]), "pix0": torch.stack([d.pix0_m for d in dets]),
            "distance": torch.stack([d.distance_m for d in dets]),
            "close_distance": torch.stack([d.close_distance_m for d in dets]),
            "beam_dist": torch.stack([d.distance_m * d.beam for d in dets])}
    if any(b is not None for b in bads):
        rows["mask"] = torch.stack([torch.from_numpy(~b) if b is not None else
                                    torch.ones((inputs.spixels, inputs.fpixels), dtype=torch.bool) for b in bads])
    return replace(inputs, **rows)


def render_panels(s, cfg: SimulationConfig, params: dict | None = None, *,
                  shared: dict | None = None, progress=None, bg_params: dict | None = None) -> PanelResult:
    """Render every panel of ``cfg.panels``; `shared` as in `simulate.render` (sources and
    structure factors are built once and reused by every panel and later renders).  The
    amorphous components of ``-bg_*`` (`bg_params` their tensors) are added per panel, each
    rendered on that panel's own inputs (`nonbragg.components.render_components`)."""
    ps = cfg.panels
    rest, offset, rotation = _split_params(params, len(ps.panels))
    fast, slow, origin = panel_frames(ps.panels, offset, rotation)
    beam = torch.tensor(cfg.beam.beam, dtype=torch.float64)
    beam = beam / torch.linalg.norm(beam)
    common = shared if shared is not None else {}
    cfgs = [panel_config(cfg, p) for p in ps.panels]
    dets = [panel_detector(c.detector, fast[i], slow[i], origin[i], beam) for i, c in enumerate(cfgs)]
    first = _precompute_panel(cfgs[0], dets[0], ps.panels[0], rest, common)
    groups: dict = {}
    for i, (c, p) in enumerate(zip(cfgs, ps.panels)):
        d = c.detector
        key = (p.fpixels, p.spixels, p.pixel_size_m, auto_oversample(c, first.crystal, dets[i])[1],
               d.thick_m, d.thicksteps, d.mu_per_m)
        groups.setdefault(key, []).append(i)
    dtype = working_dtype(first.inputs, DTYPES[cfg.dtype])
    images, pres, omega, name = [None] * len(ps.panels), [None] * len(ps.panels), 0.0, "torch"
    total, done = sum(p.spixels for p in ps.panels), 0
    for members in groups.values():        # one engine call per panel shape
        i0 = members[0]
        pre = first if i0 == 0 else _precompute_panel(cfgs[i0], dets[i0], ps.panels[i0], rest, common)
        inputs = _with_panels(pre.inputs, [dets[i] for i in members], [ps.panels[i].bad for i in members])
        name, accumulate = select_backend(cfg.backend, cfg.device, needs_grad=inputs.requires_grad)

        def step(rows, _total, base=done):
            if progress is not None:
                progress(base + rows, total)
        with record_function("nb.accumulate"):
            I_geom, om = accumulate(inputs, pre.flags, dtype, cfg.device, progress=step)
        with record_function("nb.scaling"):
            photons = to_photons(pre, I_geom, dtype)
        for row, i in enumerate(members):
            images[i] = photons[row]
            pres[i] = replace(pre, cfg=cfgs[i], detector=dets[i], inputs=inputs.panel(row))
            if s.backgrounds:
                with record_function("nb.background"):
                    bg = render_components(pres[i], s.backgrounds, s.beamsize_m, dtype, cfg.device, bg_params)
                images[i] = add_background(images[i].clone(), bg)
        omega += om
        done += sum(ps.panels[i].spixels for i in members)
    images = [im.to(DTYPES[cfg.dtype]) for im in images]
    results = [Result(image=im, pre=pre, settings=s, backend=name, omega_sum=0.0)
               for im, pre in zip(images, pres)]
    same = len({tuple(im.shape) for im in images}) == 1
    return PanelResult(image=torch.stack(images) if same else images, pre=pres[0], settings=s,
                       backend=name, omega_sum=omega, panel_set=ps, results=results)
