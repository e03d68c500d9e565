"""Multi-panel detectors for the engines: the panels of `io.panel_set` as torch geometry.

`single_panel(detector)` is the one-panel case of today's conventions and flags;
`panel_frames(panels, offset, rotation)` gives the [n, 3] fast/slow/origin tensors with
per-panel differentiable offsets (m) and rotations (rad, about x, y then z through the panel
centre); `panel_detector` the `Detector` of one panel; `custom_flags(panel, beam, polar)` the
nanoBragg.c flags that render one panel alone.  Models read no files: the readers are in
``io/`` (`io.detector_file`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..io.panel_set import Panel
from ..physics.vectors import cross, dot, rotate_xyz, unitize
from .detector import Detector


def single_panel(detector, name: str = "panel0") -> Panel:
    """The one panel of today's conventions and flags (a built `models.detector.Detector`)."""
    cfg = detector.cfg

    def t(x):
        return tuple(float(v) for v in x.detach().cpu())
    return Panel(name=name, fpixels=cfg.fpixels, spixels=cfg.spixels, pixel_size_m=cfg.pixel_size_m,
                 fast=t(detector.fdet), slow=t(detector.sdet), origin_m=t(detector.pix0_m),
                 thickness_m=cfg.thick_m or None, mu_per_m=cfg.mu_per_m if cfg.thick_m else None)


def panel_frames(panels, offset: torch.Tensor | None = None, rotation: torch.Tensor | None = None):
    """(fast, slow, origin) float64 tensors [n, 3]: each panel turned by `rotation` [n, 3]
    (rad, about lab x, y then z, through the panel centre) and moved by `offset` [n, 3] (m)."""
    fast = torch.tensor([p.fast for p in panels], dtype=torch.float64)
    slow = torch.tensor([p.slow for p in panels], dtype=torch.float64)
    origin = torch.tensor([p.origin_m for p in panels], dtype=torch.float64)
    if rotation is not None:
        half = torch.tensor([[p.fpixels * p.pixel_size_m / 2, p.spixels * p.pixel_size_m / 2]
                             for p in panels], dtype=torch.float64)
        centre = origin + half[:, :1] * fast + half[:, 1:] * slow
        turn = [torch.stack([rotate_xyz(v[i], *rotation[i].unbind()) for i in range(len(panels))])
                for v in (fast, slow, origin - centre)]
        fast, slow, origin = turn[0], turn[1], centre + turn[2]
    if offset is not None:
        origin = origin + offset
    return fast, slow, origin


def custom_flags(panel: Panel, beam, polar) -> list:
    """nanoBragg.c flags rendering `panel` alone (lengths mm): the custom convention with
    ``-pivot sample -Xbeam (-o.f) -Ybeam (-o.s) -close_distance (o.n)``, o its origin and n its
    normal ``f x s`` (``-(f x s)`` for a mirrored grid: `Panel.normal`)."""
    f, s, o, n = (np.asarray(v, dtype=float) for v in (panel.fast, panel.slow, panel.origin_m, panel.normal))
    mm = 1e3

    def v(x):
        return [repr(float(c)) for c in x]
    return (["-fdet_vector", *v(f), "-sdet_vector", *v(s), "-odet_vector", *v(n),
             "-beam_vector", *v(beam), "-polar_vector", *v(polar),
             "-pixel", repr(panel.pixel_size_m * mm),
             "-detpixels_f", str(panel.fpixels), "-detpixels_s", str(panel.spixels),
             "-Xbeam", repr(float(-o @ f) * mm), "-Ybeam", repr(float(-o @ s) * mm),
             "-close_distance", repr(float(o @ n) * mm), "-pivot", "sample"])


def panel_detector(dcfg, fast: torch.Tensor, slow: torch.Tensor, origin: torch.Tensor,
                   beam: torch.Tensor):
    """A `models.detector.Detector` for one panel (fast, slow, origin (3,) float64, m; beam the
    unit direction of travel): the derived quantities nanoBragg.c computes after its pivot."""
    odet, _ = unitize(cross(fast, slow))
    if float(dot(origin, odet).detach()) < 0:        # a mirrored grid: the normal away from the sample
        odet = -odet
    ratio = dot(beam, odet)
    close = dot(origin, odet)
    distance = close / ratio
    spot = distance * beam - origin
    Fclose, Sclose = -dot(origin, fast), -dot(origin, slow)
    pixel = dcfg.pixel_size_m
    return Detector(cfg=dcfg, fdet=fast, sdet=slow, odet=odet, pix0_m=origin, beam=beam,
                    distance_m=distance, close_distance_m=close, Fbeam_m=dot(fast, spot),
                    Sbeam_m=dot(slow, spot), Fclose_m=Fclose, Sclose_m=Sclose,
                    ORGX=Fclose / pixel + 0.5, ORGY=Sclose / pixel + 0.5,
                    dials_origin_mm=1000.0 * torch.stack([origin[2], origin[1], -origin[0]]),
                    odet_regenerated=False)
