"""miniCBF images (Pilatus-style header) written with fabio.

The header is the ``PILATUS_1.2`` convention readers such as dxtbx, ADXV, XDS and fabio
parse: pixel size, sensor, exposure, count cutoff, wavelength, distance, beam centre
(``Beam_xy``: fast, slow pixels from the outer corner of the first pixel), start angle and
oscillation, detector two-theta.  Pixels are int32, byte-offset compressed.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from nanobrag_torch.io.atomic import OutputBatch, atomic_write
from nanobrag_torch.io.optional import require

MATERIALS = {"Si": "Silicon", "CdTe": "CdTe", "GaAs": "GaAs", "Ge": "Germanium"}


@dataclass(frozen=True)
class CbfGeometry:
    """Header geometry: lengths in metres, angles in degrees, wavelength in Angstrom;
    beam centre in pixels (fast, slow)."""
    pixel_m: float
    distance_m: float
    wavelength_A: float
    beam_xy_px: tuple
    exposure_s: float
    sensor_material: str
    sensor_thickness_m: float
    start_angle_deg: float
    angle_increment_deg: float
    twotheta_deg: float
    count_cutoff: int


def header_lines(g: CbfGeometry) -> list:
    """The ``# ...`` lines of ``_array_data.header_contents`` (full double precision)."""
    material = MATERIALS.get(g.sensor_material, g.sensor_material)
    return [
        "# Detector: nanoBragg simulation",
        f"# Pixel_size {float(g.pixel_m)!r} m x {float(g.pixel_m)!r} m",
        f"# {material} sensor, thickness {float(g.sensor_thickness_m)!r} m",
        f"# Exposure_time {float(g.exposure_s)!r} s",
        f"# Exposure_period {float(g.exposure_s)!r} s",
        f"# Count_cutoff {g.count_cutoff} counts",
        f"# Wavelength {g.wavelength_A!r} A",
        f"# Detector_distance {float(g.distance_m)!r} m",
        f"# Beam_xy ({float(g.beam_xy_px[0])!r}, {float(g.beam_xy_px[1])!r}) pixels",
        f"# Start_angle {float(g.start_angle_deg)!r} deg.",
        f"# Angle_increment {float(g.angle_increment_deg)!r} deg.",
        f"# Detector_2theta {float(g.twotheta_deg)!r} deg.",
    ]


def cbf_bytes(image: np.ndarray, g: CbfGeometry) -> bytes:
    """The bytes of a miniCBF holding `image` [slow, fast] (int32) with header `g`."""
    cbfimage = require("fabio.cbfimage", "-cbffile")
    header = {"_array_data.header_convention": "PILATUS_1.2",
              "_array_data.header_contents": "\r\n".join(header_lines(g))}
    img = cbfimage.CbfImage(data=np.ascontiguousarray(image, dtype=np.int32), header=header)
    with tempfile.TemporaryDirectory() as tmp:   # fabio writes to a path only
        path = os.path.join(tmp, "image.cbf")
        img.write(path)
        with open(path, "rb") as handle:
            return handle.read()


def write_cbf(path: str, image: np.ndarray, g: CbfGeometry, batch: OutputBatch | None = None) -> None:
    """Write `image` as a miniCBF (atomically; staged in `batch` when given)."""
    atomic_write(path, cbf_bytes(image, g), batch)
