"""Multi-panel renders: every panel of a `PanelSet` rendered in the file's lab frame.

Each panel is rendered exactly as nanoBragg.c renders that panel alone in the custom
convention (`models.panels.custom_flags`): its own `DetectorConfig` (pixel counts and size,
custom convention, sample pivot, full-panel ROI, its bad-region mask, its sensor when the
file gives one) and its own `Detector` built from the (possibly perturbed) panel frame, with
the crystal, sources and structure factors built once and shared.  The engines have no panel
axis yet (they take one pixel grid per render), so this loops once per panel; see
`reports/multipanel.md`.

`params` may hold ``panel_offset`` [n, 3] (mm) and ``panel_rotation`` [n, 3] (deg, about x, y
then z through each panel's centre), differentiable; the single-detector overrides
(distance, beam centre, detector rotations) do not apply to panels and are refused.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .config import SimulationConfig, _sanitize, _thickness
from .errors import NanoBraggError
from .models.panels import PanelSet, panel_detector, panel_frames
from .params import RTD
from .simulate import Result, render

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
        t = _sanitize(*_thickness(panel.thickness_m, -1.0, -1))
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


def render_panels(s, cfg: SimulationConfig, params: dict | None = None, *,
                  shared: dict | None = None, progress=None) -> PanelResult:
    """Render every panel of ``cfg.panels``; `shared` as in `simulate.render` (sources and
    structure factors are built once and reused by every panel and later renders)."""
    ps = cfg.panels
    rest, offset, rotation = _split_params(params, len(ps.panels))
    fast, slow, origin = panel_frames(ps.panels, offset, rotation)
    beam = torch.tensor(cfg.beam.beam, dtype=torch.float64)
    beam = beam / torch.linalg.norm(beam)
    common = shared if shared is not None else {}
    total = sum(p.spixels for p in ps.panels)
    results, done = [], 0
    for i, panel in enumerate(ps.panels):
        pcfg = panel_config(cfg, panel)
        mine = {k: common[k] for k in ("sources", "sf") if k in common}
        mine["detector"] = panel_detector(pcfg.detector, fast[i], slow[i], origin[i], beam)
        mine["mask"] = None if panel.bad is None else torch.from_numpy(~panel.bad)

        def step(rows, _total, base=done):
            if progress is not None:
                progress(base + rows, total)
        r = render(s, pcfg, rest, shared=mine, progress=step)
        common.update({k: mine[k] for k in ("sources", "sf") if k in mine})
        results.append(r)
        done += panel.spixels
    images = [r.image for r in results]
    same = len({tuple(im.shape) for im in images}) == 1
    first = results[0]
    return PanelResult(image=torch.stack(images) if same else images, pre=first.pre, settings=s,
                       backend=first.backend, omega_sum=sum(r.omega_sum for r in results),
                       panel_set=ps, results=results)
