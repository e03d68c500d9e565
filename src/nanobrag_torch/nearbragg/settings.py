"""nearBragg's settings as given on the command line (SI units: m, rad), with the C's
initial values (nearBragg.c lines 60-141).  Derived quantities (pixel counts, beam centre,
step grids, oversampling) are worked out by `geometry.setup`."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import RunChoices


@dataclass
class NearSettings(RunChoices):
    atomfile: str | None = None
    atoms_ignored: int = 0                                                   # -atoms: no effect
    Xbeam_m: float | None = None
    Ybeam_m: float | None = None
    fdet_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    sdet_vector: list = field(default_factory=lambda: [0.0, -1.0, 0.0])
    odet_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])
    spindle_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    beam_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])      # parsed, unused
    polar_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])     # parsed, unused
    pix0_vector_m: list | None = None
    hdivrange_rad: float = -1.0
    vdivrange_rad: float = -1.0
    hdivstep_rad: float = -1.0
    vdivstep_rad: float = -1.0
    hdivsteps: int = -1
    vdivsteps: int = -1
    distance_m: float = 100.0e-3
    twotheta_rad: float | None = None
    far_source: bool = False
    source_distance_m: float = 10.0
    source_depth_m: float = 0.0
    depthsteps: int = -1
    detsize_x_m: float = 102.4e-3
    detsize_y_m: float = 102.4e-3
    xpixels: int = 0
    ypixels: int = 0
    curved_detector: bool = False
    pixel_m: float = 0.1e-3
    point_pixel: bool = False
    nopolar: bool = False
    oversample: int = -1
    roi: list | None = None
    lambda0_m: float = 1.0e-10
    fluence: float = 1.25932015286227e+29
    dispersion: float = 0.0
    dispsteps: int = -1
    phi0_rad: float = 0.0
    floatfile: str = "floatimage.bin"
    sinfile: str = "sinimage.bin"
    cosfile: str = "cosimage.bin"
    intfile: str = "intimage.img"
    intfile_scale: float = 0.0
    adc_offset: float = 40.0
    coherent: bool = False
    printout: bool = False
    printout_pixel: tuple | None = None
    progress: bool = True
    debug: bool = False
    accumulate: bool = False
    # ours: dtype, backend, device, quirks (`RunChoices`)
    npyfile: str | None = None
