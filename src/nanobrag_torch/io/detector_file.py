"""`-detector FILE`: read a detector geometry file by its extension (see specs/detector_formats.md).

``.expt`` / ``.json``: dxtbx experiment list or detector JSON (`io.dxtbx_expt`); ``.geom``:
CrystFEL (`io.crystfel_geom`); ``.nxs`` / ``.nx5`` / ``.h5`` / ``.hdf5``: NXmx (`io.nxmx_panels`).
"""
from __future__ import annotations

import os

from ..errors import NanoBraggError
from .panel_set import PanelSet


def read_detector(path: str) -> PanelSet:
    """The `PanelSet` of a geometry file (one-line NanoBraggError naming file and panel)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".expt", ".json"):
        from .dxtbx_expt import read_expt
        return read_expt(path)
    if ext == ".geom":
        from .crystfel_geom import read_geom
        return read_geom(path)
    if ext in (".nxs", ".nx5", ".h5", ".hdf5", ".nexus"):
        from .nxmx_panels import read_nxmx
        return read_nxmx(path)
    raise NanoBraggError(f"{path}: unknown detector file type '{ext}' (expected .expt, .json, "
                         ".geom or an NXmx .nxs/.h5)")
