"""nanobrag_torch: nanoBragg.c (nanocrystal X-ray diffraction simulator) in PyTorch.

    >>> from nanobrag_torch import simulate
    >>> img = simulate("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 "
    ...                "-distance 100 -detpixels 128".split())
"""
from .config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig, resolve
from .errors import NanoBraggError
from .simulate import Result, parse, run, simulate

__all__ = ["simulate", "run", "parse", "resolve", "Result", "NanoBraggError", "SimulationConfig",
           "DetectorConfig", "BeamConfig", "CrystalConfig"]
__version__ = "0.1.0"
