"""nanobrag_torch: nanoBragg.c (nanocrystal X-ray diffraction simulator) in PyTorch.

    >>> from nanobrag_torch import simulate
    >>> img = simulate("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 "
    ...                "-distance 100 -detpixels 128".split())

The names below are imported on first use, so that a subpackage that needs no torch
(``nanobrag_torch.noisify``'s command line) starts without importing it.
"""
import sys
import types
from importlib import import_module

from . import teardown
from .errors import NanoBraggError

_LAZY = {"simulate": ".simulate", "run": ".simulate", "parse": ".simulate", "Result": ".simulate",
         "resolve": ".config", "SimulationConfig": ".config", "DetectorConfig": ".config",
         "BeamConfig": ".config", "CrystalConfig": ".config", "keep_freed_memory": ".heap"}

__all__ = ["simulate", "run", "parse", "resolve", "Result", "NanoBraggError", "SimulationConfig",
           "DetectorConfig", "BeamConfig", "CrystalConfig", "keep_freed_memory"]
__version__ = "0.1.0"


class _Package(types.ModuleType):
    """The public names resolve on first use, and keep resolving to the functions after the
    submodule of the same name (``nanobrag_torch.simulate``) has been imported."""

    def __getattribute__(self, name: str):
        if name in _LAZY:
            return getattr(import_module(_LAZY[name], __name__), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package
teardown.register()           # exit without re-walking the imports' objects (teardown.py)
