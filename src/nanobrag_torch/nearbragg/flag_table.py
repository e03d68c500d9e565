"""nearBragg.c's command-line flags (lines 150-405; every alias its ``strstr`` tests accept
as a whole word) and ours (`-dtype`, `-device`, `-backend`, `-quirks`, `-adc`, `-npyfile`).

Units are converted here as the C does: mm -> m, mrad -> rad, percent -> fraction, A -> m for
`-source_depth`, deg -> rad with its truncated PI.  Five flags the C does not parse at all
(`-hdiv`, `-vdiv`, `-dispstep`, `-depthstep`, `-square_div`: mentioned in its usage text or
header) are accepted and do nothing, as in the C, with a log line saying so.
"""
from __future__ import annotations

import logging

from ..errors import NanoBraggError
from ..flag_kinds import (
    Flag,
    _both,
    _choice,
    _divided,
    _num,
    _path,
    _printout_pixel,
    _roi,
    _setter,
    _switch,
    _vector,
)

log = logging.getLogger("nanobrag_torch")

PI_C = 3.14159265358979          # nearBragg.c line 22 (truncated)
RTD_C = 180.0 / PI_C             # line 24

_F = _setter
_D = _divided       # the C divides (x/1000.0, x/RTD): x*1e-3 can differ in the last bit


def _count(attr: str):
    """An integer count as the C's atoi: any sign (the C's step rules treat <= 0 as unset)."""
    return _F(attr, kind="int")


def _source_distance(s, flag: str, vals: list) -> None:
    """mm, or any word containing "far" (250-259): far also zeroes the source depth.  In
    ``-quirks c`` far is sticky as in the C (a later distance in mm sets the unused distance
    but never clears far_source; quirk N13); ``fixed``: the last one wins."""
    if "far" in vals[0]:
        s.far_source, s.source_distance_m, s.source_depth_m = True, 0.0, 0.0
        return
    value = _num(flag, vals[0])
    if not value > 0:
        raise NanoBraggError(f"{flag}: must be positive (mm) or 'far', got '{vals[0]}'")
    s.source_distance_m = value / 1000.0
    if s.quirks != "c":
        s.far_source = False


def _not_parsed(flag: str, nargs: int) -> Flag:
    def apply(s, name: str, vals: list) -> None:
        log.info("%s is not a nearBragg.c option (the C ignores it): no effect", name)
    return Flag((flag,), nargs, apply, "not parsed by nearBragg.c: no effect")


def _energy(s, flag: str, vals: list) -> None:
    energy = _num(flag, vals[0])
    if not energy > 0:
        raise NanoBraggError(f"{flag}: photon energy must be positive (eV), got '{vals[0]}'")
    s.lambda0_m = (12398.42 / energy) / 1.0e10


NEARBRAGG_FLAGS = [
    Flag(("-file",), 1, _path("atomfile"), "atom list: X Y Z [occ [B [phase]]] per line (A, A^2, deg)"),
    Flag(("-atoms",), 1, _count("atoms_ignored"), "parsed and ignored, as in the C"),
    Flag(("-Xbeam",), 1, _D("Xbeam_m", 1000.0), "fast beam position (mm)"),
    Flag(("-Ybeam",), 1, _D("Ybeam_m", 1000.0), "slow beam position (mm)"),
    Flag(("-fdet_vector",), 3, _vector("fdet_vector", convention_custom=False)),
    Flag(("-sdet_vector",), 3, _vector("sdet_vector", convention_custom=False)),
    Flag(("-odet_vector",), 3, _vector("odet_vector", convention_custom=False, direction=False)),
    Flag(("-beam_vector",), 3, _vector("beam_vector", convention_custom=False), "parsed, unused by the C"),
    Flag(("-polar_vector",), 3, _vector("polar_vector", convention_custom=False), "parsed, unused by the C"),
    Flag(("-spindle_axis",), 3, _vector("spindle_vector", convention_custom=False), "two-theta axis"),
    Flag(("-pix0_vector",), 3, _vector("pix0_vector_m", convention_custom=False, direction=False),
         "detector origin (m), honoured"),
    Flag(("-divergence",), 1, _both(_D("hdivrange_rad", 1000.0), _D("vdivrange_rad", 1000.0)), "mrad"),
    Flag(("-hdivrange",), 1, _D("hdivrange_rad", 1000.0), "mrad"),
    Flag(("-vdivrange",), 1, _D("vdivrange_rad", 1000.0), "mrad"),
    Flag(("-hdivstep",), 1, _D("hdivstep_rad", 1000.0), "mrad"),
    Flag(("-vdivstep",), 1, _D("vdivstep_rad", 1000.0), "mrad"),
    Flag(("-hdivsteps",), 1, _count("hdivsteps")),
    Flag(("-vdivsteps",), 1, _count("vdivsteps")),
    Flag(("-divsteps",), 1, _both(_count("hdivsteps"), _count("vdivsteps"))),
    Flag(("-distance",), 1, _D("distance_m", 1000.0, positive=True), "mm"),
    Flag(("-twotheta",), 1, _D("twotheta_rad", RTD_C), "deg, about -spindle_axis"),
    Flag(("-source_distance", "-source_dist"), 1, _source_distance, "mm, or far"),
    Flag(("-source_depth",), 1, _F("source_depth_m", 1e-10), "Angstrom"),
    Flag(("-depthsteps",), 1, _count("depthsteps")),
    Flag(("-detsize",), 1, _both(_D("detsize_x_m", 1000.0, nonneg=True), _D("detsize_y_m", 1000.0, nonneg=True)), "mm"),
    Flag(("-detsize_x",), 1, _D("detsize_x_m", 1000.0, nonneg=True), "mm"),
    Flag(("-detsize_y",), 1, _D("detsize_y_m", 1000.0, nonneg=True), "mm"),
    Flag(("-detpixels",), 1, _both(_F("xpixels", kind="int", nonneg=True), _F("ypixels", kind="int", nonneg=True))),
    Flag(("-detpixels_x",), 1, _F("xpixels", kind="int", nonneg=True)),
    Flag(("-detpixels_y",), 1, _F("ypixels", kind="int", nonneg=True)),
    Flag(("-curved_det", "-curved_detector"), 0, _switch(curved_detector=True)),
    Flag(("-pixel",), 1, _D("pixel_m", 1000.0, positive=True), "mm"),
    Flag(("-point_pixel",), 0, _switch(point_pixel=True)),
    Flag(("-nopolar",), 0, _switch(nopolar=True), "no effect in -quirks c (no polarization)"),
    Flag(("-oversample",), 1, _count("oversample"), "sub-pixels per axis; <= 0: auto"),
    Flag(("-roi",), 4, _roi, "xmin xmax ymin ymax (inclusive; negative: default)"),
    Flag(("-lambda", "-wave", "-wavelength"), 1, _D("lambda0_m", 1.0e10, positive=True), "A"),
    Flag(("-energy",), 1, _energy, "eV"),
    Flag(("-fluence",), 1, _F("fluence"), "photons/m^2"),
    Flag(("-dispersion",), 1, _D("dispersion", 100.0), "percent"),
    Flag(("-dispsteps",), 1, _count("dispsteps")),
    Flag(("-phi",), 1, _D("phi0_rad", RTD_C), "deg (SMV header only)"),
    Flag(("-floatfile",), 1, _path("floatfile")),
    Flag(("-sinfile",), 1, _path("sinfile")),
    Flag(("-cosfile",), 1, _path("cosfile")),
    Flag(("-intfile",), 1, _path("intfile")),
    Flag(("-scale",), 1, _F("intfile_scale"), "int-file counts per photon; <= 0: auto"),
    Flag(("-coherent",), 0, _switch(coherent=True)),
    Flag(("-printout",), 0, _switch(printout=True)),
    Flag(("-printout_pixel",), 2, _printout_pixel, "fast slow"),
    Flag(("-noprogress",), 0, _switch(progress=False)),
    Flag(("-progress",), 0, _switch(progress=True)),
    Flag(("-debug",), 0, _switch(debug=True)),
    Flag(("-accumulate",), 0, _switch(accumulate=True), "add to the existing float (or sin/cos) files"),
    _not_parsed("-hdiv", 1), _not_parsed("-vdiv", 1), _not_parsed("-dispstep", 1),
    _not_parsed("-depthstep", 1), _not_parsed("-square_div", 0),
    # ours
    Flag(("-adc",), 1, _F("adc_offset"), "int-file offset (counts, default 40)"),
    Flag(("-npyfile",), 1, _path("npyfile"), "also write the float image as .npy"),
    Flag(("-dtype",), 1, _choice("dtype", ("float32", "float64"))),
    Flag(("-device",), 1, _choice("device", ("cpu", "cuda"))),
    Flag(("-backend",), 1, _choice("backend", ("auto", "torch", "triton"))),
    Flag(("-quirks",), 1, _choice("quirks", ("c", "fixed"))),
]

FLAGS = {name: flag for flag in NEARBRAGG_FLAGS for name in flag.names}
