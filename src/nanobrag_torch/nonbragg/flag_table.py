"""nonBragg.c's command-line flags (every name and alias its strstr parser answers to, lines
362-787) and ours (`-dtype`, `-device`, `-quirks`), as `Flag` records parsed by `flags.py`.

Units converted here as the C does (mm -> m, deg -> rad, mrad -> rad, percent -> fraction,
g/cm^3 -> g/m^3). Unlike the C, values are checked: sample sizes, density and molecule count
must not be negative, the molecular weight must be positive.
"""
from __future__ import annotations

from ..errors import NanoBraggError
from ..flag_kinds import (
    RTD, Flag, _both, _choice, _energy, _num, _path, _pivot, _positive_count, _printout_pixel,
    _roi, _seed, _setter as _F, _switch, _vector,
)


def _table(unit: str):
    return _path("stolfile", stol_unit=unit)


def _ignore(s, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    s.ignore_values.append(int(value) & 0xFFFF)      # the C stores it as unsigned short


def _rot(axis: int):
    def apply(s, flag: str, vals: list) -> None:
        s.detector_rot_rad[axis] = _num(flag, vals[0]) / RTD
    return apply


def _molecular_weight(s, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    if not value > 0:
        raise NanoBraggError(f"{flag}: molecular weight must be positive (g/mol), got '{vals[0]}'")
    s.molecular_weight = value


_size = dict(scale=1e-3, nonneg=True)
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
    Flag(("-Xbeam",), 1, _both(_F("Xbeam_m", 1e-3), _switch(pivot="beam"))),
    Flag(("-Ybeam",), 1, _both(_F("Ybeam_m", 1e-3), _switch(pivot="beam"))),
    Flag(("-Xclose",), 1, _both(_F("Xclose_m", 1e-3), _switch(pivot="sample"))),
    Flag(("-Yclose",), 1, _both(_F("Yclose_m", 1e-3), _switch(pivot="sample"))),
    Flag(("-ORGX",), 1, _both(_F("ORGX_px"), _switch(pivot="sample"))),
    Flag(("-ORGY",), 1, _both(_F("ORGY_px"), _switch(pivot="sample"))),
    Flag(("-pivot",), 1, _pivot),
    Flag(("-fdet_vector",), 3, _vector("fdet_vector", convention_custom=False)),
    Flag(("-sdet_vector",), 3, _vector("sdet_vector", convention_custom=False)),
    Flag(("-odet_vector",), 3, _vector("odet_vector", False, direction=False), "ignored (as the C)"),
    Flag(("-beam_vector",), 3, _vector("beam_vector", convention_custom=False)),
    Flag(("-polar_vector",), 3, _vector("polar_vector", convention_custom=False)),
    Flag(("-spindle_axis",), 3, _vector("spindle_vector", False, direction=False), "ignored (as the C)"),
    Flag(("-twotheta_axis",), 3, _vector("twotheta_axis", convention_custom=False)),
    Flag(("-pix0_vector",), 3, _vector("pix0_vector_m", False, direction=False), "ignored (as the C)"),
    Flag(("-distance",), 1, _both(_F("distance_m", 1e-3, positive=True), _switch(pivot="beam"))),
    Flag(("-close_distance",), 1,
         _both(_F("close_distance_m", 1e-3, positive=True), _switch(pivot="sample"))),
    Flag(("-source_distance",), 1, _F("source_distance_m", 1e-3, positive=True)),
    Flag(("-twotheta",), 1, _both(_F("twotheta_rad", 1 / RTD), _switch(pivot="sample"))),
    Flag(("-detector_rotx",), 1, _rot(0)), Flag(("-detector_roty",), 1, _rot(1)),
    Flag(("-detector_rotz",), 1, _rot(2)),
    Flag(("-detsize",), 1, _both(_F("detsize_f_m", **_size), _F("detsize_s_m", **_size))),
    Flag(("-detsize_x",), 1, _F("detsize_f_m", **_size)),
    Flag(("-detsize_y",), 1, _F("detsize_s_m", **_size)),
    Flag(("-detpixels",), 1, _both(_positive_count("fpixels"), _positive_count("spixels"))),
    Flag(("-detpixels_x", "-detpixels_f"), 1, _positive_count("fpixels")),
    Flag(("-detpixels_y", "-detpixels_s"), 1, _positive_count("spixels")),
    Flag(("-curved_det", "-curved_detector"), 0, _switch(curved_detector=True)),
    Flag(("-pixel",), 1, _F("pixel_size_m", 1e-3, positive=True)),
    Flag(("-point_pixel",), 0, _switch(point_pixel=True)),
    Flag(("-Fmap",), 0, _switch(Fmap=True), "pixel = interpolated F"),
    Flag(("-polar",), 1, _both(_F("polarization_kahn"), _switch(nopolar=False))),
    Flag(("-nopolar",), 0, _switch(nopolar=True)),
    Flag(("-oversample",), 1, _F("oversample", kind="int")),
    Flag(("-roi",), 4, _roi, "xmin xmax ymin ymax (inclusive pixels)"),
    Flag(("-lambda", "-wave", "-wavelength"), 1, _F("lambda0_m", 1e-10, positive=True)),
    Flag(("-energy",), 1, _energy),
    Flag(("-fluence",), 1, _F("fluence_per_m2", nonneg=True)),
    Flag(("-flux",), 1, _F("flux_per_s", nonneg=True)),
    Flag(("-exposure",), 1, _F("exposure_s")),
    Flag(("-beamsize",), 1, _F("beamsize_m", 1e-3)),
    Flag(("-dispersion",), 1, _F("dispersion_frac", 1 / 100.0)),
    Flag(("-dispsteps",), 1, _F("dispsteps", kind="int")),
    Flag(("-divergence",), 1, _both(_F("hdivrange_rad", 1e-3), _F("vdivrange_rad", 1e-3))),
    Flag(("-hdivrange",), 1, _F("hdivrange_rad", 1e-3)),
    Flag(("-vdivrange",), 1, _F("vdivrange_rad", 1e-3)),
    Flag(("-hdivstep",), 1, _F("hdivstep_rad", 1e-3), "mrad"),
    Flag(("-hdivsteps",), 1, _F("hdivsteps", kind="int")),
    Flag(("-vdivstep",), 1, _F("vdivstep_rad", 1e-3), "mrad"),
    Flag(("-vdivsteps",), 1, _F("vdivsteps", kind="int")),
    Flag(("-divsteps",), 1, _both(_F("hdivsteps", kind="int"), _F("vdivsteps", kind="int"))),
    Flag(("-round_div",), 0, _switch(round_div=True)),
    Flag(("-square_div",), 0, _switch(round_div=False)),
    Flag(("-adc",), 1, _F("adc_offset")),
    Flag(("-gain",), 1, _F("gain", positive=True), "-img only"),
    Flag(("-phi",), 1, _F("phi0_rad", 1 / RTD), "header only"),
    Flag(("-osc",), 1, _F("osc_rad", 1 / RTD), "header only"),
    Flag(("-phistep",), 1, _F("phistep_rad", 1 / RTD), "header only"),
    Flag(("-phisteps",), 1, _F("phisteps", kind="int"), "header only"),
    Flag(("-img",), 1, _path("imgfile"), "SMV image: header geometry, then -stolout from its pixels"),
    Flag(("-ignore",), 1, _ignore, "-img pixel value to skip (repeatable)"),
    Flag(("-stolout",), 1, _path("stoloutfile"), "-img only: stol vs F table written here"),
    Flag(("-sourcefile",), 1, _path("sourcefile")),
    Flag(("-floatfile", "-floatimage"), 1, _path("floatfile")),
    Flag(("-intfile", "-intimage"), 1, _path("intfile")),
    Flag(("-pgmfile", "-pgmimage"), 1, _path("pgmfile")),
    Flag(("-noisefile", "-noiseimage"), 1, _path("noisefile", calculate_noise=True)),
    Flag(("-nonoise",), 0, _switch(calculate_noise=False)),
    Flag(("-nopgm",), 0, _switch(write_pgm=False), "ignored in -quirks c (the C always writes it)"),
    Flag(("-noreject",), 0, _switch(reject=False), "accepted; no effect (as the C)"),
    Flag(("-scale",), 1, _F("intfile_scale")),
    Flag(("-pgmscale",), 1, _F("pgm_scale")),
    Flag(("-coherent",), 0, _switch(coherent=True), "accepted; no effect (as the C)"),
    Flag(("-printout",), 0, _switch(printout=True)),
    Flag(("-printout_pixel",), 2, _printout_pixel),
    Flag(("-noprogress",), 0, _switch(progress=False)),
    Flag(("-progress",), 0, _switch(progress=True)),
    Flag(("-seed",), 1, _seed("seed")),
    # ours
    Flag(("-dtype",), 1, _choice("dtype", ("float32", "float64"))),
    Flag(("-device",), 1, _choice("device", ("cpu", "cuda"))),
    Flag(("-quirks",), 1, _choice("quirks", ("c", "fixed"))),
]

FLAGS: dict = {name: flag for flag in NONBRAGG_FLAGS for name in flag.names}
