"""Differentiable parameter overrides for `simulate(args, params=...)`.

``params`` maps a flag name (without the dash) to a value or tensor, in the flag's own units,
that replaces the parsed value; tensors may require grad.  `to_internal` converts them to
the units the models use (metres, radians) while keeping the autograd graph.  The table
below is the documented list (specs/params.md).
"""
from __future__ import annotations

import torch

from .constants import RTD
from .errors import NanoBraggError

# name: (scale to the models' units, shape, unit of the value given by the user)
PARAMS = {
    "distance": (1e-3, (), "mm"),
    "close_distance": (1e-3, (), "mm"),
    "Xbeam": (1e-3, (), "mm"),
    "Ybeam": (1e-3, (), "mm"),
    "detector_rotx": (1 / RTD, (), "deg"),
    "detector_roty": (1 / RTD, (), "deg"),
    "detector_rotz": (1 / RTD, (), "deg"),
    "twotheta": (1 / RTD, (), "deg"),
    "cell": (1.0, (6,), "A, A, A, deg, deg, deg"),
    "misset": (1.0, (3,), "deg (about x, y, z)"),
    "lambda": (1e-10, (), "A"),
    "mosaic": (1 / RTD, (), "deg (domains keep their seeded axes; angles scale)"),
    "phi": (1 / RTD, (), "deg"),
    "osc": (1 / RTD, (), "deg"),
    "fluence": (1.0, (), "photons/m^2"),
    "Na": (1.0, (), "cells (continuous)"),
    "Nb": (1.0, (), "cells (continuous)"),
    "Nc": (1.0, (), "cells (continuous)"),
    "default_F": (1.0, (), "electrons"),
    "F": (1.0, None, "electrons, tensor [h_range, k_range, l_range] over the HKL table"),
}


def requires_grad(params: dict | None) -> bool:
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in (params or {}).values())


def to_internal(params: dict | None) -> dict:
    """Validated overrides in the models' units (float64 tensors, graph kept)."""
    out = {}
    for name, value in (params or {}).items():
        if name not in PARAMS:
            raise NanoBraggError(f"params: unknown parameter '{name}' (known: {', '.join(PARAMS)})")
        scale, shape, _ = PARAMS[name]
        # plain numbers stay float64 (torch.as_tensor would round them to float32)
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.float64)
        t = t.to(torch.float64)
        if shape is not None and tuple(t.shape) != shape:
            raise NanoBraggError(f"params: '{name}' must have shape {shape}, got {tuple(t.shape)}")
        out[name] = _CONVERT[name](t) if name in _CONVERT else (t * scale if scale != 1.0 else t)
    return out


# angles given in degrees among other units, divided as the flags divide them
_CONVERT = {"cell": lambda t: torch.cat([t[:3], t[3:] / RTD]), "misset": lambda t: t / RTD}
