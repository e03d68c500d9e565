"""Raw settings of nonBragg.c: its variables after reading the command line (lines 150-787),
before the defaults and auto rules (`setup.resolve`). Metres, radians, g/m^3 as the C stores
them; NaN = not given, -1 = auto."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

NAN = math.nan
FLUENCE = 125932015286227086360700780544.0


@dataclass
class NonBraggSettings:
    """Every user-settable quantity of nonBragg.c, with the C defaults."""

    # table
    stolfile: str | None = None
    stol_unit: str = "stol"              # stol | 4stol | Q (file units)
    # sample (sample_x is along the beam)
    sample_x_m: float = 1e-4
    sample_y_m: float = 1e-4
    sample_z_m: float = 1e-4
    density_g_m3: float = 1.0e6
    molecular_weight: float = 18.0
    molecules: float = 0.0
    # beam
    beam_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])
    polar_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    lambda0_m: float = 1.0e-10
    dispersion_frac: float = 0.0
    dispsteps: int = -1
    hdivrange_rad: float = -1.0
    hdivstep_rad: float = -1.0
    hdivsteps: int = -1
    vdivrange_rad: float = -1.0
    vdivstep_rad: float = -1.0
    vdivsteps: int = -1
    round_div: bool = True
    fluence_per_m2: float = FLUENCE
    flux_per_s: float = 0.0
    exposure_s: float = 1.0
    beamsize_m: float = 1e-4
    polarization_kahn: float = 0.0
    nopolar: bool = False
    sourcefile: str | None = None
    source_distance_m: float = 10.0
    # detector
    pixel_size_m: float = 0.1e-3
    fpixels: int = 0
    spixels: int = 0
    detsize_f_m: float = 102.4e-3
    detsize_s_m: float = 102.4e-3
    distance_m: float = 100.0e-3
    close_distance_m: float = NAN
    fdet_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    sdet_vector: list = field(default_factory=lambda: [0.0, -1.0, 0.0])
    odet_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])     # ignored (fdet x sdet)
    spindle_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])  # ignored
    pix0_vector_m: list | None = None                                      # ignored
    twotheta_axis: list = field(default_factory=lambda: [0.0, 1.0, 0.0])
    twotheta_rad: float = 0.0
    detector_rot_rad: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    pivot: str = "beam"
    curved_detector: bool = False
    point_pixel: bool = False
    Fmap: bool = False
    Xbeam_m: float = NAN
    Ybeam_m: float = NAN
    Xclose_m: float = NAN
    Yclose_m: float = NAN
    ORGX_px: float = NAN
    ORGY_px: float = NAN
    roi: list = field(default_factory=lambda: [-1, -1, -1, -1])
    oversample: int = -1
    # header-only angles
    phi0_rad: float = 0.0
    osc_rad: float = -1.0
    phistep_rad: float = -1.0
    phisteps: int = -1
    # -img inverse path
    imgfile: str | None = None
    ignore_values: list = field(default_factory=list)
    stoloutfile: str = "output.stol"
    gain: float = 1.0
    img_pixels: object = None            # uint16 [slow, fast] of the -img file (read first)
    # outputs
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    calculate_noise: bool = True
    write_pgm: bool = True               # -nopgm (ignored by the C in c mode)
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc_offset: float = 40.0
    seed: int | None = None              # stored negated; None = time-based
    printout: bool = False
    printout_pixel: tuple | None = None
    progress: bool = True
    coherent: bool = False               # accepted, no effect (as the C)
    reject: bool = False                 # -noreject: accepted, no effect
    # ours
    dtype: str = "float32"
    device: str = "cpu"
    quirks: str = "c"
