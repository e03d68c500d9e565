"""Flags of the formats feature: structure factors from an MTZ or an atomic model (gemmi),
and images and geometry for processing programs (miniCBF, single-image NXmx, pyFAI PONI).
See the README section "From a PDB entry or an MTZ to an image"."""
from __future__ import annotations

from .flag_kinds import Flag, _choice, _path, _setter

FLAGS = [
    Flag(("-mtz",), 1, _path("mtzfile"), "ours: |F| from an MTZ column, expanded to P1"),
    Flag(("-mtz_column",), 1, _path("mtz_column"), "ours: the MTZ amplitude column to use"),
    Flag(("-model",), 1, _path("modelfile"), "ours: |F| computed from an mmCIF/PDB model"),
    Flag(("-model_dmin",), 1, _setter("model_dmin_m", 1e-10, positive=True),
         "ours: resolution of -model's |F| (A; default: the detector corners)"),
    Flag(("-cbffile",), 1, _path("cbffile"), "ours: miniCBF (Pilatus header) of the int image"),
    Flag(("-nxsfile",), 1, _path("nxsfile"), "ours: single-image NXmx HDF5"),
    Flag(("-nxs_dtype",), 1, _choice("nxs_dtype", ("float32", "int32")),
         "ours: -nxsfile pixels: float32 photons or int32 counts"),
    Flag(("-ponifile",), 1, _path("ponifile"), "ours: pyFAI geometry (PONI) of the render"),
    Flag(("-sensor_material",), 1, _path("sensor_material"), "ours: NXmx sensor material (Si)"),
]
