"""noisify.c's command-line flags (every name and alias the C matches), parsed strictly by
`nanobrag_torch.flags.split_args`; nanoBragg's own flags are accepted too, as the C ignores
them when given a nanoBragg command line (in ``-quirks c`` the ones whose names contain a
noisify option fire it, as the C's ``strstr`` does: ``-phisteps N`` sets PHI; so does any other
argument containing an option's text, ``--seed 5`` or ``-psf_rad 3``)."""
from __future__ import annotations

from ..errors import NanoBraggError
from ..flag_kinds import (
    Flag,
    _both,
    _choice,
    _divided,
    _int,
    _path,
    _seed,
    _setter,
    _switch,
)
from ..flag_table import NANOBRAGG_FLAGS


def _psf(s, flag: str, vals: list) -> None:
    """The C: ``gauss`` or ``fiber`` anywhere in the value (fiber wins), else unknown."""
    text = vals[0]
    kind = "fiber" if "fiber" in text else "gauss" if "gauss" in text else f"unknown:{text}"
    s.psf_type = kind


def _bits(s, flag: str, vals: list) -> None:
    value = _int(flag, vals[0])
    if value not in (16, 32):
        raise NanoBraggError(f"{flag}: expected 16 or 32, got '{vals[0]}'")
    s.bits = value


def _psf_radius(s, flag: str, vals: list) -> None:
    """The C: ``psf_radius = atof(...)`` into an int; 2^31 or more does not fit (undefined;
    x86 gives INT_MIN, a negative radius)."""
    _setter("psf_radius", nonneg=True)(s, flag, vals)
    if s.psf_radius >= 2.0**31:
        raise NanoBraggError(f"{flag}: must be below 2^31 pixels (a C int), got '{vals[0]}'")


_mm = _divided
NOISIFY_FLAGS = [
    Flag(("-floatfile", "-floatimage", "-bin"), 1, _path("floatfile"),
         "input float image (photons/pixel); a bare argument containing 'floatimage.bin' too"),
    Flag(("-header",), 1, _path("headerfile"), "copy the SMV header (and size) of this file"),
    Flag(("-intfile", "-intimage"), 1, _path("intfile")),
    Flag(("-pgmfile", "-pgmimage"), 1, _path("pgmfile")),
    Flag(("-noisefile", "-noiseimage"), 1, _path("noisefile")),
    Flag(("-nonoise",), 0, _switch(calculate_noise=False)),
    Flag(("-nopgm",), 0, _switch(write_pgm=False)),
    Flag(("-bits",), 1, _bits, "16 or 32-bit SMV pixels"),
    Flag(("-lambda",), 1, _setter("lambda_A"), "header WAVELENGTH (A)"),
    Flag(("-Xbeam",), 1, _mm("Xbeam_m", 1000.0), "header beam centre (mm)"),
    Flag(("-Ybeam",), 1, _mm("Ybeam_m", 1000.0)),
    Flag(("-distance",), 1, _mm("distance_m", 1000.0), "header distance (mm)"),
    Flag(("-detsize",), 1, _both(_mm("detsize_x_m", 1000.0, nonneg=True),
                                 _mm("detsize_y_m", 1000.0, nonneg=True))),
    Flag(("-detsize_x",), 1, _mm("detsize_x_m", 1000.0, nonneg=True)),
    Flag(("-detsize_y",), 1, _mm("detsize_y_m", 1000.0, nonneg=True)),
    Flag(("-detpixels",), 1, _both(_setter("xpixels", kind="int", nonneg=True),
                                   _setter("ypixels", kind="int", nonneg=True))),
    Flag(("-detpixels_x",), 1, _setter("xpixels", kind="int", nonneg=True)),
    Flag(("-detpixels_y",), 1, _setter("ypixels", kind="int", nonneg=True)),
    Flag(("-pixel",), 1, _mm("pixel_m", 1000.0, positive=True), "pixel size (mm)"),
    Flag(("-phi",), 1, _setter("phi_deg"), "header PHI and OSC_START (deg)"),
    Flag(("-osc",), 1, _setter("osc_deg"), "header OSC_RANGE (deg)"),
    Flag(("-psf",), 1, _psf, "gauss | fiber"),
    Flag(("-psf_fwhm", "-psf_sigma", "-psf_width"), 1, _mm("psf_fwhm_m", 1e6, nonneg=True),
         "PSF full width at half maximum (um)"),
    Flag(("-psf_radius",), 1, _psf_radius,
         "PSF rendering radius (pixels; 0 = automatic)"),
    Flag(("-fluence",), 1, _setter("fluence"), "photons/m^2 (multiplies the input by fluence*r_e^2)"),
    Flag(("-scale",), 1, _setter("photon_scale"), "multiplies the input"),
    Flag(("-readout", "-readout_noise", "-readnoise"), 1, _setter("readout_noise", nonneg=True),
         "Gaussian readout noise (ADU rms)"),
    Flag(("-flicker",), 1, _setter("flicker_noise", nonneg=True), "fractional source noise per pixel"),
    Flag(("-calibration",), 1, _setter("calibration_noise", nonneg=True),
         "static fractional error per pixel (default 0.03)"),
    Flag(("-seed",), 1, _seed("seed"), "noise seed (default: the time)"),
    Flag(("-calib_seed",), 1, _seed("calib_seed"), "calibration-error seed"),
    Flag(("-badpix_seed",), 1, _seed("badpix_seed"), "accepted; unused by the C"),
    Flag(("-hotpix_seed",), 1, _seed("hotpix_seed"), "accepted; unused by the C"),
    Flag(("-adc",), 1, _setter("adc_offset"), "offset added to every pixel (ADU, default 40)"),
    Flag(("-gain",), 1, _setter("quantum_gain"), "ADU per photon (default 1)"),
    Flag(("-quirks",), 1, _choice("quirks", ("c", "fixed")), "c (default) | fixed"),
]


# nanoBragg's flags that noisify does not have: accepted (a nanoBragg command line may be
# passed), without effect except the strstr matches below in -quirks c.
_OWN = {name for flag in NOISIFY_FLAGS for name in flag.names}
FOREIGN_FLAGS = [Flag(tuple(n for n in f.names if n not in _OWN), f.nargs, _switch(),
                      "nanoBragg's; ignored") for f in NANOBRAGG_FLAGS
                 if any(n not in _OWN for n in f.names)]
# noisify.c's strstr: these nanoBragg flags contain a noisify option name and fire it.
STRSTR_ALIASES = {"-phistep": "-phi", "-phisteps": "-phi", "-binary_spots": "-bin"}

TABLE = {name: flag for flag in NOISIFY_FLAGS + FOREIGN_FLAGS for name in flag.names}

# noisify.c's option texts in the order it tests them (161-320), each with our flag. -psf,
# -detsize and -detpixels are absent: the C also checks their length, so only they match.
C_OPTION_TEXTS = (
    ("-lambda", "-lambda"), ("-Xbeam", "-Xbeam"), ("-Ybeam", "-Ybeam"),
    ("-distance", "-distance"), ("-detsize_x", "-detsize_x"), ("-detsize_y", "-detsize_y"),
    ("-detpixels_x", "-detpixels_x"), ("-detpixels_y", "-detpixels_y"), ("-pixel", "-pixel"),
    ("-psf_rad", "-psf_radius"), ("-psf_si", "-psf_fwhm"), ("-psf_fw", "-psf_fwhm"),
    ("-psf_wi", "-psf_fwhm"), ("-fluence", "-fluence"), ("-floatfile", "-floatfile"),
    ("-floatimage", "-floatfile"), ("-bin", "-floatfile"), ("-header", "-header"),
    ("-pgmfile", "-pgmfile"), ("-pgmimage", "-pgmfile"), ("-intfile", "-intfile"),
    ("-intimage", "-intfile"), ("-bits", "-bits"), ("-noisefile", "-noisefile"),
    ("-noiseimage", "-noisefile"), ("-nonoise", "-nonoise"), ("-nopgm", "-nopgm"),
    ("-readout", "-readout"), ("-readnoi", "-readout"), ("-flicker", "-flicker"),
    ("-calibration", "-calibration"), ("-scale", "-scale"), ("-seed", "-seed"),
    ("-calib_seed", "-calib_seed"), ("-badpix_seed", "-badpix_seed"),
    ("-hotpix_seed", "-hotpix_seed"), ("-adc", "-adc"), ("-gain", "-gain"), ("-phi", "-phi"),
    ("-osc", "-osc"))


def strstr_flag(name: str) -> Flag | None:
    """noisify.c's reading of an argument that is none of our names: every option whose text
    it contains fires, with the next argument as the value (``--seed 5``, ``-psf_rad 3``,
    ``-calibration_noise 0.1``); None if it contains none (or contains ``floatimage.bin``,
    which makes it the float file)."""
    if not name.startswith("-") or "floatimage.bin" in name:
        return None
    hits = list(dict.fromkeys(ours for text, ours in C_OPTION_TEXTS if text in name))
    if not hits:
        return None

    def apply(s, flag: str, vals: list) -> None:
        for hit in hits:
            TABLE[hit].apply(s, hit, vals[:TABLE[hit].nargs])
    return Flag((name,), max(TABLE[hit].nargs for hit in hits), apply,
                "noisify.c's strstr match of " + ", ".join(hits))


class StrstrTable(dict):
    """`TABLE` that also answers, for any other argument, its `strstr_flag` (``-quirks c``)."""

    def get(self, name, default=None):
        flag = super().get(name)
        return flag if flag is not None else strstr_flag(name) or default
