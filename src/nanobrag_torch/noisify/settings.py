"""noisify.c's settings: the values it holds after reading its command line (lengths in
metres, as the C stores them), with the C's defaults, and the detector-size rules that turn a
float file's length into a detector (NOTES.md section 3 of the golden suite)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import NanoBraggError
from .response import DEFAULT_CALIB_SEED

# 1 / (r_e^2) in photons/m^2: fluence * r_e^2 == 1.0 exactly in double by default.
R_E_SQR = 7.94079248018965e-30
DEFAULT_FLUENCE = 125932015286227086360700780544.0


@dataclass
class NoisifySettings:
    """Every quantity noisify.c reads from its command line, with the C's defaults."""

    floatfile: str | None = None
    headerfile: str | None = None
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_pgm: bool = True
    calculate_noise: bool = True
    bits: int = 16
    # header and geometry
    lambda_A: float = 1.0
    Xbeam_m: float | None = None
    Ybeam_m: float | None = None
    distance_m: float = 100.0e-3
    detsize_x_m: float = 102.4e-3
    detsize_y_m: float = 102.4e-3
    xpixels: int = 0
    ypixels: int = 0
    pixel_m: float = 0.1e-3
    phi_deg: float = 0.0
    osc_deg: float = 1.0
    # response
    psf_type: str = "none"               # none | gauss | fiber | unknown:<name>
    psf_fwhm_m: float = 46e-6            # the C stores it as a float (cli.response_of)
    psf_radius: float = 0.0              # pixels; truncated to int as the C does
    fluence: float = DEFAULT_FLUENCE
    photon_scale: float = 1.0
    readout_noise: float = 0.0
    flicker_noise: float = 0.0
    calibration_noise: float = 0.03
    adc_offset: float = 40.0
    quantum_gain: float = 1.0
    seed: int | None = None              # stored negated; None = -time(NULL)
    calib_seed: int = DEFAULT_CALIB_SEED
    badpix_seed: int = -1234             # parsed, never used (as the C)
    hotpix_seed: int = -5678
    quirks: str = "c"


def guess_size(s: NoisifySettings, n_floats: int) -> tuple[int, int]:
    """(fast, slow) pixels from the settings and the float file's length (noisify.c 389-433);
    also sets ``detsize_x_m``/``detsize_y_m`` as the C does.

    Raises:
        NanoBraggError: an empty file (the C divides by zero), or a size that stays 0.
    """
    x, y = s.xpixels, s.ypixels
    if not x and not y:
        if n_floats == 0:
            raise NanoBraggError(f"{s.floatfile}: empty float file, cannot guess the detector size")
        x = int(math.sqrt(n_floats))
        y = n_floats // x
        while n_floats != x * y and x > 0:
            x -= 1
            y = n_floats // x
        if n_floats != x * y:
            x, y = n_floats, 1
    if x and not y:
        y = n_floats // x
    if not x and y:
        x = n_floats // y
    if x:
        s.detsize_x_m = s.pixel_m * x
    else:
        x = _c_ceil_int(s.detsize_x_m / s.pixel_m - 0.5)
    if y:
        s.detsize_y_m = s.pixel_m * y
    else:
        y = _c_ceil_int(s.detsize_y_m / s.pixel_m - 0.5)
    if x <= 0 or y <= 0:
        raise NanoBraggError(f"{s.floatfile}: detector size {x}x{y} pixels: give -detpixels")
    return x, y


def _c_ceil_int(value: float) -> int:
    return int(math.ceil(value)) if math.isfinite(value) and abs(value) < 2**31 else 0
