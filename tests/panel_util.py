"""Two-panel render inputs built from a one-panel render (shared by the engine panel tests)."""
from __future__ import annotations

from dataclasses import replace

import torch

from nanobrag_torch.precompute import precompute
from nanobrag_torch.simulate import parse, resolve

ARGS = ("-cell 50 60 70 80 85 95 -misset 5 10 15 -default_F 100 -N 4 -lambda 1.5 -distance 80 "
        "-detpixels 12 -pixel 0.4 -oversample 2 -mosaic 0.5 -mosaic_domains 2").split()


def two_panels(extra=()):
    """(one-panel inputs, the second panel's own one-panel inputs, both as one two-panel
    input, flags): panel 1 is panel 0 moved 3 mm along the fast axis and 1 mm closer."""
    pre = precompute(resolve(parse(ARGS + list(extra))))
    one = pre.inputs
    shift = 3e-3 * one.fdet[0] - 1e-3 * one.odet[0]
    other = replace(one, pix0=one.pix0 + shift, close_distance=one.close_distance - 1e-3)
    both = replace(one, **{k: torch.cat([getattr(one, k), getattr(other, k)])
                           for k in ("fdet", "sdet", "odet", "pix0", "distance", "close_distance",
                                     "beam_dist")})
    return one, other, both, pre.flags
