"""Flags of multi-panel detectors: ``-detector FILE`` and the panel-aware output files.

``-detector FILE`` is read before the other flags (like ``-img`` headers): its panels replace
the detector of the flags, its lab frame becomes the render's (custom convention; the beam,
E-vector and Kahn factor and the wavelength come from the file when it gives them, and later
``-lambda``/``-energy``, ``-polar``, ``-polar_vector``, ``-beam_vector`` override them, while
``-mat``, ``-misset`` and ``-spindle_axis`` are read in that frame).  Flags that place a single
detector conflict with it and are refused.
"""
from __future__ import annotations

import math

from .errors import NanoBraggError
from .flag_kinds import Flag, _path
from .io.detector_file import read_detector
from .settings import Settings

# flags that place or size nanoBragg's one detector: meaningless with a geometry file
CONFLICTS = ("-distance", "-close_distance", "-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX",
             "-ORGY", "-pivot", "-fdet_vector", "-sdet_vector", "-odet_vector", "-pix0_vector",
             "-detsize", "-detsize_f", "-detsize_s", "-detpixels", "-detpixels_f", "-detpixels_s",
             "-detpixels_x", "-detpixels_y", "-pixel", "-twotheta", "-detector_rotx",
             "-detector_roty", "-detector_rotz", "-mosflm", "-xds", "-adxv", "-denzo", "-dials",
             "-roi", "-mask", "-img", "-curved_det", "-curved_detector", "-printout", "-printout_pixel")

FLAGS = [
    Flag(("-detector",), 1, _path("detector_file"),
         "ours: detector geometry file (.expt/.json, .geom, NXmx): multi-panel render"),
    Flag(("-nxmxfile",), 1, _path("nxmxfile"), "ours: NXmx image, one NXdetector_module per panel"),
    Flag(("-cxifile",), 1, _path("cxifile"), "ours: CrystFEL-style HDF5 slab of the panels"),
    Flag(("-geomfile",), 1, _path("geomfile"), "ours: CrystFEL .geom describing the -cxifile slab"),
    Flag(("-exptfile",), 1, _path("exptfile"), "ours: dxtbx .expt of the simulated experiment"),
]


def load_detector(s: Settings, parsed: list) -> None:
    """Read ``s.detector_file`` into `s` (before the other flags are applied)."""
    for name, _, _ in parsed:
        if name in CONFLICTS:
            raise NanoBraggError(f"{name}: not with -detector {s.detector_file} (the file places "
                                 "every panel)")
        if name.startswith("-response_"):
            raise NanoBraggError(f"{name}: not with -detector (the detector response of panels: "
                                 "noisify.api.detector_response on the [panels, S, F] image)")
    ps = read_detector(s.detector_file)
    s.panels = ps
    s.convention, s.pivot = "custom", "sample"
    if ps.beam is not None:
        s.beam_vector = list(ps.beam)
    if ps.polar is not None:
        s.polar_vector = list(ps.polar)
    if ps.kahn is not None:
        s.polarization_kahn = ps.kahn
    if ps.wavelength_m is not None:
        s.lambda0_m = ps.wavelength_m
    # the template detector of the memory check: as many pixels as all panels together
    width = max(p.fpixels for p in ps.panels)
    s.pixel_size_m = ps.panels[0].pixel_size_m
    s.fpixels = width
    s.spixels = math.ceil(sum(p.fpixels * p.spixels for p in ps.panels) / width)
