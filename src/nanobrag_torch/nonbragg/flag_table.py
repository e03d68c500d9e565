"""nonBragg.c's command-line flags (every name and alias its strstr parser answers to, lines
362-787) and ours (`-dtype`, `-device`, `-quirks`), as `Flag` records parsed by `flags.py`.

Units converted here as the C does (mm -> m, deg -> rad, mrad -> rad, percent -> fraction,
g/cm^3 -> g/m^3). Unlike the C, values are checked: sample sizes, density and molecule count
must not be negative, the molecular weight must be positive.
"""
from __future__ import annotations

import re

from ..errors import NanoBraggError
from ..flag_kinds import Flag, _both, _num, _path, _positive_count, _setter as _F, _switch, _vector
from ..flag_table import NANOBRAGG_FLAGS


def _table(unit: str):
    return _path("stolfile", stol_unit=unit)


def _ignore(s, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    s.ignore_values.append(int(value) & 0xFFFF)      # the C stores it as unsigned short


def _molecular_weight(s, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    if not value > 0:
        raise NanoBraggError(f"{flag}: molecular weight must be positive (g/mol), got '{vals[0]}'")
    s.molecular_weight = value


_size = dict(scale=1e-3, nonneg=True)
# flags that mean the same in nanoBragg.c (names, units, variables): nanoBragg's own records
_C = {flag.names[0]: flag for flag in NANOBRAGG_FLAGS}
NONBRAGG_FLAGS = [
    Flag(("-stol",), 1, _table("stol"), "table 'stol F' (stol = sin(theta)/lambda, 1/A); "
         "water, air, ice, nanoice, shortwater, unity are built in"),
    Flag(("-4stol",), 1, _table("4stol"), "table '4*stol F'"),
    Flag(("-Q",), 1, _table("Q"), "table 'Q F' (Q = 4 pi stol)"),
    Flag(("-samplesize", "-sample_size"), 1,
         _both(_F("sample_x_m", **_size), _F("sample_y_m", **_size), _F("sample_z_m", **_size)),
         "sample cube edge (mm)"),
    Flag(("-thickness", "-thick", "-sample_thick", "-sample_thickness", "-sample_x"), 1,
         _F("sample_x_m", **_size), "sample size along the beam (mm)"),
    Flag(("-sample_width", "-sample_y", "-width"), 1, _F("sample_y_m", **_size)),
    Flag(("-sample_height", "-sample_heigh", "-sample_z", "-height", "-heigh"), 1,
         _F("sample_z_m", **_size)),
    Flag(("-density", "-sample_density", "-sample_den"), 1,
         _F("density_g_m3", 1e6, nonneg=True), "g/cm^3"),
    Flag(("-molecules", "-sample_molecules"), 1, _F("molecules", nonneg=True),
         "molecules in the sample (overrides -density)"),
    Flag(("-MW", "-molecular", "-molecular_weight"), 1, _molecular_weight, "g/mol"),
    _C["-Xbeam"],
    _C["-Ybeam"],
    _C["-Xclose"],
    _C["-Yclose"],
    _C["-ORGX"],
    _C["-ORGY"],
    _C["-pivot"],
    Flag(("-fdet_vector",), 3, _vector("fdet_vector", convention_custom=False)),
    Flag(("-sdet_vector",), 3, _vector("sdet_vector", convention_custom=False)),
    Flag(("-odet_vector",), 3, _vector("odet_vector", False, direction=False), "ignored (as the C)"),
    Flag(("-beam_vector",), 3, _vector("beam_vector", convention_custom=False)),
    Flag(("-polar_vector",), 3, _vector("polar_vector", convention_custom=False)),
    Flag(("-spindle_axis",), 3, _vector("spindle_vector", False, direction=False), "ignored (as the C)"),
    Flag(("-twotheta_axis",), 3, _vector("twotheta_axis", convention_custom=False)),
    Flag(("-pix0_vector",), 3, _vector("pix0_vector_m", False, direction=False), "ignored (as the C)"),
    _C["-distance"],
    Flag(("-close_distance",), 1,
         _both(_F("close_distance_m", 1e-3, positive=True), _switch(pivot="sample"))),
    Flag(("-source_distance",), 1, _F("source_distance_m", 1e-3, positive=True)),
    _C["-twotheta"],
    _C["-detector_rotx"], _C["-detector_roty"],
    _C["-detector_rotz"],
    _C["-detsize"],
    Flag(("-detsize_x",), 1, _F("detsize_f_m", **_size)),
    Flag(("-detsize_y",), 1, _F("detsize_s_m", **_size)),
    _C["-detpixels"],
    Flag(("-detpixels_x", "-detpixels_f"), 1, _positive_count("fpixels")),
    Flag(("-detpixels_y", "-detpixels_s"), 1, _positive_count("spixels")),
    _C["-curved_det"],
    _C["-pixel"],
    _C["-point_pixel"],
    Flag(("-Fmap",), 0, _switch(Fmap=True), "pixel = interpolated F"),
    _C["-polar"],
    _C["-nopolar"],
    _C["-oversample"],
    _C["-roi"],
    _C["-lambda"],
    _C["-energy"],
    Flag(("-fluence",), 1, _F("fluence_per_m2", nonneg=True)),
    Flag(("-flux",), 1, _F("flux_per_s", nonneg=True)),
    _C["-exposure"],
    _C["-beamsize"],
    _C["-dispersion"],
    _C["-dispsteps"],
    _C["-divergence"],
    _C["-hdivrange"],
    _C["-vdivrange"],
    _C["-hdivstep"],
    _C["-hdivsteps"],
    _C["-vdivstep"],
    _C["-vdivsteps"],
    _C["-divsteps"],
    _C["-round_div"],
    _C["-square_div"],
    _C["-adc"],
    Flag(("-gain",), 1, _F("gain", positive=True), "-img only"),
    _C["-phi"],
    _C["-osc"],
    _C["-phistep"],
    _C["-phisteps"],
    _C["-img"],
    Flag(("-ignore",), 1, _ignore, "-img pixel value to skip (repeatable)"),
    Flag(("-stolout",), 1, _path("stoloutfile"), "-img only: stol vs F table written here"),
    _C["-sourcefile"],
    _C["-floatfile"],
    _C["-intfile"],
    Flag(("-pgmfile", "-pgmimage"), 1, _path("pgmfile")),
    _C["-noisefile"],
    _C["-nonoise"],
    Flag(("-nopgm",), 0, _switch(write_pgm=False), "ignored in -quirks c (the C always writes it)"),
    Flag(("-noreject",), 0, _switch(reject=False), "accepted; no effect (as the C)"),
    _C["-scale"],
    Flag(("-pgmscale",), 1, _F("pgm_scale")),
    _C["-coherent"],
    _C["-printout"],
    _C["-printout_pixel"],
    _C["-noprogress"],
    _C["-progress"],
    _C["-seed"],
    # ours
    _C["-dtype"],
    _C["-device"],
    _C["-quirks"],
]

# nanoBragg's flags that nonBragg does not have: accepted (a nanoBragg command line may be
# passed) and ignored, as the C ignores them, except the strstr matches of `c_strstr_effects`.
_OWN = {name for flag in NONBRAGG_FLAGS for name in flag.names}
FOREIGN_FLAGS = [Flag(tuple(n for n in f.names if n not in _OWN), f.nargs, _switch(),
                      "nanoBragg's; ignored (as the C)") for f in NANOBRAGG_FLAGS
                 if any(n not in _OWN for n in f.names)]
FLAGS: dict = {name: flag for flag in NONBRAGG_FLAGS + FOREIGN_FLAGS for name in flag.names}
_OVERSAMPLE_ALIASES = ("-oversample_thick", "-oversample_polar", "-oversample_omega")


def c_strstr_effects(parsed: list) -> list:
    """The parsed flags with what nonBragg.c's strstr adds for nanoBragg's flags (c mode):
    ``-thicksteps V`` contains ``-thick`` and sets the sample thickness to V mm (line 371);
    ``-oversample_thick|_polar|_omega`` contain ``-oversample`` and set it to atoi of the next
    argument when there is one (line 562; a following flag reads as 0, i.e. 1 sub-pixel)."""
    from ..flags import c_atof
    raw = [tok for name, vals, _ in parsed for tok in (name, *vals)]
    out, pos = [], 0
    for name, vals, last in parsed:
        out.append((name, vals, last))
        if name in _OVERSAMPLE_ALIASES and pos + 1 < len(raw):
            count = re.match(r"\s*[+-]?\d+", raw[pos + 1])          # C atoi: 0 without digits
            out.append(("-oversample", [count.group(0).strip() if count else "0"], last))
        if name == "-thicksteps":
            out.append(("-thick", ["%.17g" % c_atof(vals[0])], last))
        pos += 1 + len(vals)
    return out
