"""nanobrag_torch: nanoBragg.c (nanocrystal X-ray diffraction simulator) in PyTorch.

    >>> from nanobrag_torch import simulate
    >>> img = simulate("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 "
    ...                "-distance 100 -detpixels 128".split())

The names below are imported on first use, so that a subpackage that needs no torch
(``nanobrag_torch.noisify``'s command line) starts fast.
"""
from importlib import import_module

from .errors import NanoBraggError

_LAZY = {"simulate": ".simulate", "run": ".simulate", "parse": ".simulate", "Result": ".simulate",
         "resolve": ".config", "SimulationConfig": ".config", "DetectorConfig": ".config",
         "BeamConfig": ".config", "CrystalConfig": ".config"}

__all__ = ["simulate", "run", "parse", "resolve", "Result", "NanoBraggError", "SimulationConfig",
           "DetectorConfig", "BeamConfig", "CrystalConfig"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
