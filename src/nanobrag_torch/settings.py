"""Raw settings: the values nanoBragg.c holds after reading its command line.

`Settings` mirrors the C program's variables *before* its "fill in blanks" and
auto-selection logic (that logic lives in `config.resolve`).  Lengths are in metres,
angles in radians, exactly as the C stores them after unit conversion.  NaN means
"not given" where the C uses NaN; -1 means "auto" where the C uses -1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

NAN = math.nan

# Output file defaults of nanoBragg.c (it writes all four unless told otherwise).
DEFAULT_FLOATFILE = "floatimage.bin"
DEFAULT_INTFILE = "intimage.img"
DEFAULT_PGMFILE = "image.pgm"
DEFAULT_NOISEFILE = "noiseimage.img"


@dataclass
class RunChoices:
    """Our own flags, shared by every program of the suite (nanoBragg, nonBragg, nearBragg)."""
    dtype: str = "float32"              # float32 | float64
    backend: str = "auto"               # auto | torch | triton
    device: str = "cpu"                 # cpu | cuda
    quirks: str = "c"                   # c | fixed (specs/quirks.md)


@dataclass
class Settings(RunChoices):
    """Every user-settable quantity of nanoBragg.c, with the C defaults."""

    # --- beam ---
    beam_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])
    polar_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    lambda0_m: float = 1.0e-10
    dispersion_frac: float = 0.0          # delta-lambda/lambda (fraction, flag is percent)
    dispstep_frac: float = -1.0
    dispsteps: int = -1
    hdivrange_rad: float = -1.0
    hdivstep_rad: float = -1.0
    hdivsteps: int = -1
    vdivrange_rad: float = -1.0
    vdivstep_rad: float = -1.0
    vdivsteps: int = -1
    round_div: bool = True
    fluence_per_m2: float = 125932015286227086360700780544.0
    flux_per_s: float = 0.0
    exposure_s: float = 1.0
    beamsize_m: float = 1e-4
    polarization_kahn: float = 0.0
    nopolar: bool = False
    sourcefile: str | None = None
    dmin_m: float = 0.0
    coherent: bool = False

    # --- crystal ---
    user_cell: bool = False
    cell_A: list = field(default_factory=lambda: [0.0, 0.0, 0.0])        # a, b, c (Angstrom)
    cell_angles_rad: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    misset_mode: str = "none"          # none | angles | random
    misset_rad: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    matfile: str | None = None
    Na: float = 1.0
    Nb: float = 1.0
    Nc: float = 1.0
    sample_x_m: float = 0.0
    sample_y_m: float = 0.0
    sample_z_m: float = 0.0
    xtal_shape: str = "square"          # square | round | gauss | tophat
    fudge: float = 1.0
    mosaic_spread_rad: float = -1.0
    mosaic_domains: int = -1
    mosaic_seed: int = -12345678        # stored negated, as the C does
    misset_seed: int | None = None      # None: the C's time-based default
    phi0_rad: float = 0.0
    osc_rad: float = -1.0
    phistep_rad: float = -1.0
    phisteps: int = -1
    spindle_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])

    # --- structure factors ---
    hklfile: str | None = None
    default_F: float = 0.0
    interpolate: int = 2                # 2 = auto, 1 = on, 0 = off
    dumpfile: str | None = None         # -dump only: no implicit Fdump.bin (specs/cli.md)
    stolfile: str | None = None
    water_size_m: float = 0.0

    # --- detector ---
    pixel_size_m: float = 0.1e-3
    fpixels: int = 0
    spixels: int = 0
    detsize_f_m: float = 102.4e-3
    detsize_s_m: float = 102.4e-3
    distance_m: float = 100.0e-3
    close_distance_m: float = NAN
    detector_mu_per_m: float = -1.0
    detector_thick_m: float = 0.0
    detector_thickstep_m: float = -1.0
    detector_thicksteps: int = -1
    fdet_vector: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    sdet_vector: list = field(default_factory=lambda: [0.0, -1.0, 0.0])
    odet_vector: list = field(default_factory=lambda: [1.0, 0.0, 0.0])
    pix0_vector_m: list | None = None   # accepted; overwritten by the pivot logic (as the C)
    detector_rot_rad: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    twotheta_axis: list = field(default_factory=lambda: [0.0, 1.0, 0.0])
    twotheta_rad: float = 0.0
    pivot: str = "beam"                 # beam | sample
    convention: str = "mosflm"          # custom | adxv | mosflm | xds | dials | denzo
    curved_detector: bool = False
    point_pixel: bool = False
    Xbeam_m: float = NAN
    Ybeam_m: float = NAN
    Xclose_m: float = NAN
    Yclose_m: float = NAN
    ORGX_px: float = NAN
    ORGY_px: float = NAN
    roi: list = field(default_factory=lambda: [-1, -1, -1, -1])   # xmin xmax ymin ymax
    maskfile: str | None = None
    imgfile: str | None = None
    oversample: int = -1
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False

    # --- outputs ---
    floatfile: str | None = DEFAULT_FLOATFILE
    intfile: str | None = DEFAULT_INTFILE
    pgmfile: str | None = DEFAULT_PGMFILE
    noisefile: str | None = DEFAULT_NOISEFILE
    npyfile: str | None = None
    pngfile: str | None = None
    write_pgm: bool = True
    calculate_noise: bool = True
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc_offset: float = 40.0
    seed: int | None = None             # stored negated; None = time-based
    printout: bool = False
    printout_pixel: tuple | None = None  # (fpixel, spixel)
    progress: bool = True

    # --- ours: dtype, backend, device, quirks (`RunChoices`) ---

    # --- formats (flags_formats.py): crystallographers' inputs, detector-format outputs ---
    mtzfile: str | None = None
    mtz_column: str | None = None
    modelfile: str | None = None
    model_dmin_m: float = 0.0           # 0: what the detector corners need
    cbffile: str | None = None
    nxsfile: str | None = None
    nxs_dtype: str = "float32"          # float32 photons | int32 counts (as -intfile, 32 bits)
    ponifile: str | None = None
    sensor_material: str = "Si"

    # --- multi-panel detectors (flags_detector.py, panel_render.py) ---
    detector_file: str | None = None    # -detector: .expt/.json, .geom or NXmx geometry
    panels: object = None               # models.panels.PanelSet read from detector_file
    nxmxfile: str | None = None         # NXmx image, one NXdetector_module per panel
    cxifile: str | None = None          # CrystFEL-style HDF5 slab (with -geomfile)
    geomfile: str | None = None         # CrystFEL .geom describing the slab
    exptfile: str | None = None         # dxtbx experiment list of the simulated experiment

    # --- amorphous background components (flags_background.py; nonbragg/components.py) ---
    backgrounds: list = field(default_factory=list)
    # --- detector response (noisify.c; flags_response.py) ---
    response_intfile: str | None = None     # noisify's -intfile (noiseless SMV)
    response_noisefile: str | None = None   # noisify's -noisefile
    response_pgmfile: str | None = None     # noisify's -pgmfile
    response_nonoise: bool = False          # noisify's -nonoise
    response_seed: int | None = None        # noisify's -seed, stored negated; None: nanoBragg's
    response_adc: float = 40.0              # noisify's -adc
    response_scale: float = 1.0             # noisify's -scale
    readout_noise: float = 0.0
    flicker_noise: float = 0.0
    calibration_noise: float = 0.03
    calib_seed: int = 123456789             # the C's default is not negated
    quantum_gain: float = 1.0
    psf_type: str = "none"                  # none | gauss | fiber | unknown:<name>
    psf_fwhm_m: float = 46e-6
    psf_radius: float = 0.0
    bits: int = 16
