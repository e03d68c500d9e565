"""Command-line flags of nanoBragg.c, parsed strictly.

nanoBragg.c matches options with ``strstr`` and silently ignores anything it does not
recognise.  Here every flag has exact names (the C's spellings and aliases), a fixed
number of values that are checked, and an unknown flag is an error that suggests the
closest known one.  Flags are applied in command-line order, like the C, so the last of
two conflicting flags wins.  Deliberate differences from the C are listed in
``specs/cli.md``; two of the C's ``strstr`` side effects are reproduced as quirks in
``-quirks c`` (see ``specs/quirks.md``).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable

from .errors import NanoBraggError
from .settings import Settings

RTD = 180.0 * (1.0 / math.pi)  # as the C: 180.0*M_1_PI


def _num(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NanoBraggError(f"{flag}: expected a number, got '{text}'") from None
    if not math.isfinite(value):
        raise NanoBraggError(f"{flag}: expected a finite number, got '{text}'")
    return value


def _int(flag: str, text: str) -> int:
    value = _num(flag, text)
    if not math.isfinite(value) or value != int(value):
        raise NanoBraggError(f"{flag}: expected an integer, got '{text}'")
    return int(value)


@dataclass(frozen=True)
class Flag:
    names: tuple
    nargs: int
    apply: Callable[[Settings, str, list], None]
    help: str = ""


def _setter(attr: str, scale: float = 1.0, kind: str = "float", nonneg: bool = False,
            positive: bool = False):
    """Set `attr` to the value x `scale` (finite; `nonneg` >= 0, `positive` > 0)."""
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0]) if kind == "int" else _num(flag, vals[0])
        if nonneg and value < 0:
            raise NanoBraggError(f"{flag}: must not be negative, got '{vals[0]}'")
        if positive and not value > 0:
            raise NanoBraggError(f"{flag}: must be positive, got '{vals[0]}'")
        if not math.isfinite(value * scale):
            raise NanoBraggError(f"{flag}: expected a finite number, got '{vals[0]}'")
        setattr(s, attr, value * scale if kind == "float" else value)
    return apply


def _switch(**assign):
    def apply(s: Settings, flag: str, vals: list) -> None:
        for key, value in assign.items():
            setattr(s, key, value)
    return apply


def _vector(attr: str, convention_custom: bool = True, direction: bool = True):
    """A 3-vector of finite numbers; a `direction` must not be zero."""
    def apply(s: Settings, flag: str, vals: list) -> None:
        vector = [_num(flag, v) for v in vals]
        if direction and not any(vector):
            raise NanoBraggError(f"{flag}: a direction cannot be the zero vector")
        setattr(s, attr, vector)
        if convention_custom:
            s.convention = "custom"
    return apply


def _path(attr: str, **extra):
    def apply(s: Settings, flag: str, vals: list) -> None:
        setattr(s, attr, vals[0])
        for key, value in extra.items():
            setattr(s, key, value)
    return apply


def _both(*appliers):
    def apply(s: Settings, flag: str, vals: list) -> None:
        for fn in appliers:
            fn(s, flag, vals)
    return apply


def _positive_count(attr: str):
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0])
        if value < 0:
            raise NanoBraggError(f"{flag}: must not be negative, got '{vals[0]}'")
        setattr(s, attr, value)
    return apply


def _N(attrs):
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0])
        if value < 0:
            raise NanoBraggError(f"{flag}: number of unit cells must not be negative, got '{vals[0]}'")
        for a in attrs:
            setattr(s, a, float(value))
    return apply


def _cell(s: Settings, flag: str, vals: list) -> None:
    nums = [_num(flag, v) for v in vals]
    if nums[0] <= 0:
        raise NanoBraggError(f"{flag}: cell length a must be positive, got '{vals[0]}'")
    angles = (nums[3:6] + [0.0, 0.0, 0.0])[:3]
    if any(x < 0 or x >= 180 for x in angles) or any(x < 0 for x in nums[1:3]):
        raise NanoBraggError(f"{flag}: lengths must be positive and angles in (0, 180) degrees")
    eff = [math.radians(x if x > 0 else 90.0) for x in angles]
    ca, cb, cg = (math.cos(x) for x in eff)
    if 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg <= 0:
        raise NanoBraggError(f"{flag}: impossible unit cell (angles {' '.join(vals[3:6])} "
                             "do not close a parallelepiped)")
    s.user_cell = True
    s.cell_A = (nums[:3] + [0.0, 0.0])[:3]
    s.cell_angles_rad = [(x / RTD) for x in angles]


def _misset(s: Settings, flag: str, vals: list) -> None:
    if len(vals) == 1:
        s.misset_mode = "random"
    else:
        s.misset_mode = "angles"
        s.misset_rad = [_num(flag, v) / RTD for v in vals]


def _seed(attr: str):
    def apply(s: Settings, flag: str, vals: list) -> None:
        setattr(s, attr, -_int(flag, vals[0]))   # the C stores seeds negated (ran1 convention)
    return apply


def _misset_seed(s: Settings, flag: str, vals: list) -> None:
    s.misset_seed = -_int(flag, vals[0])


def _pivot(s: Settings, flag: str, vals: list) -> None:
    if vals[0] not in ("sample", "beam"):
        raise NanoBraggError(f"{flag}: expected 'sample' or 'beam', got '{vals[0]}'")
    s.pivot = vals[0]


def _detector_abs(s: Settings, flag: str, vals: list) -> None:
    text = vals[0]
    if "inf" in text or _num(flag, text) == 0.0:
        s.detector_thick_m = 0.0
        s.detector_mu_per_m = 0.0
    else:
        value = _num(flag, text)
        if value < 0:
            raise NanoBraggError(f"{flag}: attenuation length must be positive, got '{text}'")
        s.detector_mu_per_m = 1.0 / (value * 1e-6)


def _roi(s: Settings, flag: str, vals: list) -> None:
    s.roi = [_int(flag, v) for v in vals]


def _choice(attr: str, choices: tuple):
    def apply(s: Settings, flag: str, vals: list) -> None:
        if vals[0] not in choices:
            raise NanoBraggError(f"{flag}: expected one of {', '.join(choices)}, got '{vals[0]}'")
        setattr(s, attr, vals[0])
    return apply


def _default_F(s: Settings, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    if abs(value) > 1e30:
        raise NanoBraggError(f"{flag}: |F| must be at most 1e30, got '{vals[0]}'")
    s.default_F = value


def _energy(s: Settings, flag: str, vals: list) -> None:
    energy = _num(flag, vals[0])
    if not (energy > 0 and math.isfinite(energy)):
        raise NanoBraggError(f"{flag}: photon energy must be positive and finite (eV), got '{vals[0]}'")
    s.lambda0_m = (12398.42 / energy) / 1.0e10


def _printout_pixel(s: Settings, flag: str, vals: list) -> None:
    s.printout_pixel = (_int(flag, vals[0]), _int(flag, vals[1]))
    s.printout = True


def _convention(name: str, pivot: str):
    return _switch(convention=name, pivot=pivot)


_F = _setter
_FLAGS = [
    Flag(("-img",), 1, _path("imgfile"), "initialise geometry from an SMV header"),
    Flag(("-mask",), 1, _path("maskfile"), "SMV mask: zero pixels are skipped"),
    Flag(("-Na",), 1, _N(("Na",))), Flag(("-Nb",), 1, _N(("Nb",))), Flag(("-Nc",), 1, _N(("Nc",))),
    Flag(("-N",), 1, _N(("Na", "Nb", "Nc")), "unit cells along each axis"),
    Flag(("-cell",), -6, _cell, "a b c alpha beta gamma (A, deg)"),
    Flag(("-misset",), -3, _misset, "crystal rotations about x y z (deg) or 'random'"),
    Flag(("-samplesize", "-sample_size", "-xtalsize", "-xtal_size"), 1,
         _both(_F("sample_x_m", 1e-3, nonneg=True), _F("sample_y_m", 1e-3, nonneg=True),
               _F("sample_z_m", 1e-3, nonneg=True))),
    Flag(("-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x"), 1, _F("sample_x_m", 1e-3, nonneg=True)),
    Flag(("-sample_width", "-sample_y", "-width", "-xtal_width", "-xtal_y"), 1,
         _F("sample_y_m", 1e-3, nonneg=True)),
    Flag(("-sample_height", "-sample_heigh", "-sample_z", "-height", "-heigh", "-xtal_height",
          "-xtal_heigh", "-xtal_z"), 1, _F("sample_z_m", 1e-3, nonneg=True)),
    Flag(("-density", "-sample_density", "-sample_den"), 1, _switch(), "accepted; unused by the C"),
    Flag(("-MW", "-molecular_weight", "-molec"), 1, _switch(), "accepted; unused by the C"),
    Flag(("-Xbeam",), 1, _both(_F("Xbeam_m", 1e-3), _switch(pivot="beam"))),
    Flag(("-Ybeam",), 1, _both(_F("Ybeam_m", 1e-3), _switch(pivot="beam"))),
    Flag(("-Xclose",), 1, _both(_F("Xclose_m", 1e-3), _switch(pivot="sample"))),
    Flag(("-Yclose",), 1, _both(_F("Yclose_m", 1e-3), _switch(pivot="sample"))),
    Flag(("-ORGX",), 1, _both(_F("ORGX_px"), _switch(pivot="sample"))),
    Flag(("-ORGY",), 1, _both(_F("ORGY_px"), _switch(pivot="sample"))),
    Flag(("-pivot",), 1, _pivot),
    Flag(("-mosflm",), 0, _convention("mosflm", "beam")),
    Flag(("-xds",), 0, _convention("xds", "sample")),
    Flag(("-adxv",), 0, _convention("adxv", "beam")),
    Flag(("-denzo",), 0, _convention("denzo", "beam")),
    Flag(("-dials",), 0, _convention("dials", "beam")),
    Flag(("-fdet_vector",), 3, _vector("fdet_vector")),
    Flag(("-sdet_vector",), 3, _vector("sdet_vector")),
    Flag(("-odet_vector",), 3, _vector("odet_vector", direction=False)),
    Flag(("-beam_vector",), 3, _vector("beam_vector")),
    Flag(("-polar_vector",), 3, _vector("polar_vector")),
    Flag(("-spindle_axis",), 3, _vector("spindle_vector")),
    Flag(("-twotheta_axis",), 3, _vector("twotheta_axis")),
    Flag(("-pix0_vector",), 3, _vector("pix0_vector_m", direction=False)),
    Flag(("-distance",), 1, _both(_F("distance_m", 1e-3, positive=True), _switch(pivot="beam"))),
    Flag(("-close_distance",), 1, _both(_F("close_distance_m", 1e-3, positive=True), _switch(pivot="sample"))),
    Flag(("-detector_abs", "-detector_absorb", "-detector_absorption"), 1, _detector_abs),
    Flag(("-detector_thick",), 1, _F("detector_thick_m", 1e-6, nonneg=True)),
    Flag(("-detector_thicksteps", "-thicksteps"), 1, _positive_count("detector_thicksteps")),
    Flag(("-twotheta",), 1, _both(_F("twotheta_rad", 1 / RTD), _switch(pivot="sample"))),
    Flag(("-detector_rotx",), 1, lambda s, f, v: s.detector_rot_rad.__setitem__(0, _num(f, v[0]) / RTD)),
    Flag(("-detector_roty",), 1, lambda s, f, v: s.detector_rot_rad.__setitem__(1, _num(f, v[0]) / RTD)),
    Flag(("-detector_rotz",), 1, lambda s, f, v: s.detector_rot_rad.__setitem__(2, _num(f, v[0]) / RTD)),
    Flag(("-detsize",), 1, _both(_F("detsize_f_m", 1e-3, nonneg=True), _F("detsize_s_m", 1e-3, nonneg=True))),
    Flag(("-detsize_f",), 1, _F("detsize_f_m", 1e-3, nonneg=True)),
    Flag(("-detsize_s",), 1, _F("detsize_s_m", 1e-3, nonneg=True)),
    Flag(("-detpixels",), 1, _both(_positive_count("fpixels"), _positive_count("spixels"))),
    Flag(("-detpixels_f", "-detpixels_x"), 1, _positive_count("fpixels")),
    Flag(("-detpixels_s", "-detpixels_y"), 1, _positive_count("spixels")),
    Flag(("-curved_det", "-curved_detector"), 0, _switch(curved_detector=True)),
    Flag(("-pixel",), 1, _F("pixel_size_m", 1e-3, positive=True)),
    Flag(("-point_pixel",), 0, _switch(point_pixel=True)),
    Flag(("-polar",), 1, _both(_F("polarization_kahn"), _switch(nopolar=False))),
    Flag(("-nopolar",), 0, _switch(nopolar=True)),
    Flag(("-oversample_thick",), 0, _switch(oversample_thick=True)),
    Flag(("-oversample_polar",), 0, _switch(oversample_polar=True)),
    Flag(("-oversample_omega",), 0, _switch(oversample_omega=True)),
    Flag(("-oversample",), 1, _F("oversample", kind="int")),
    Flag(("-roi",), 4, _roi, "xmin xmax ymin ymax (inclusive pixels)"),
    Flag(("-lambda", "-wave", "-wavelength"), 1, _F("lambda0_m", 1e-10, positive=True)),
    Flag(("-energy",), 1, _energy),
    Flag(("-fluence",), 1, _F("fluence_per_m2")),
    Flag(("-flux",), 1, _F("flux_per_s")),
    Flag(("-exposure",), 1, _F("exposure_s")),
    Flag(("-beamsize",), 1, _F("beamsize_m", 1e-3)),
    Flag(("-mosaic", "-mosaicity", "-mosaici", "-mosaic_spread", "-mosaic_spr"), 1,
         _F("mosaic_spread_rad", 1 / RTD)),
    Flag(("-mosaic_domains", "-mosaic_dom"), 1, _F("mosaic_domains", kind="int")),
    Flag(("-dispersion",), 1, _F("dispersion_frac", 1 / 100.0)),
    Flag(("-dispsteps",), 1, _F("dispsteps", kind="int")),
    Flag(("-divergence",), 1, _both(_F("hdivrange_rad", 1e-3), _F("vdivrange_rad", 1e-3))),
    Flag(("-hdivrange",), 1, _F("hdivrange_rad", 1e-3)),
    Flag(("-vdivrange",), 1, _F("vdivrange_rad", 1e-3)),
    Flag(("-hdivstep",), 1, _F("hdivstep_rad", 1e-3)),
    Flag(("-hdivsteps",), 1, _F("hdivsteps", kind="int")),
    Flag(("-vdivstep",), 1, _F("vdivstep_rad", 1e-3)),
    Flag(("-vdivsteps",), 1, _F("vdivsteps", kind="int")),
    Flag(("-divsteps",), 1, _both(_F("hdivsteps", kind="int"), _F("vdivsteps", kind="int"))),
    Flag(("-round_div",), 0, _switch(round_div=True)),
    Flag(("-square_div",), 0, _switch(round_div=False)),
    Flag(("-adc",), 1, _F("adc_offset")),
    Flag(("-phi",), 1, _F("phi0_rad", 1 / RTD)),
    Flag(("-osc",), 1, _F("osc_rad", 1 / RTD)),
    Flag(("-phistep",), 1, _F("phistep_rad", 1 / RTD)),
    Flag(("-phisteps",), 1, _F("phisteps", kind="int")),
    Flag(("-dmin",), 1, _F("dmin_m", 1e-10)),
    Flag(("-mat",), 1, _path("matfile")),
    Flag(("-hkl",), 1, _path("hklfile")),
    Flag(("-default_F",), 1, _default_F),
    Flag(("-dump", "-dumpfile"), 1, _path("dumpfile")),
    Flag(("-stolout",), 1, _switch(), "accepted; the C never writes it"),
    Flag(("-stol", "-4stol", "-Q"), 1, _path("stolfile"), "read by the C, never used"),
    Flag(("-sourcefile",), 1, _path("sourcefile")),
    Flag(("-floatfile", "-floatimage"), 1, _path("floatfile")),
    Flag(("-intfile", "-intimage"), 1, _path("intfile")),
    Flag(("-pgmfile", "-pgmimage"), 1, _path("pgmfile", write_pgm=True)),
    Flag(("-noisefile", "-noiseimage"), 1, _path("noisefile", calculate_noise=True)),
    Flag(("-npyfile",), 1, _path("npyfile"), "ours: float image as .npy"),
    Flag(("-pngfile",), 1, _path("pngfile"), "ours: PNG preview"),
    Flag(("-nonoise",), 0, _switch(calculate_noise=False)),
    Flag(("-nopgm",), 0, _switch(write_pgm=False)),
    Flag(("-scale",), 1, _F("intfile_scale")),
    Flag(("-pgmscale",), 1, _both(_F("pgm_scale"), _switch(write_pgm=True))),
    Flag(("-coherent",), 0, _switch(coherent=True), "accepted; unused by the C"),
    Flag(("-printout",), 0, _switch(printout=True)),
    Flag(("-printout_pixel",), 2, _printout_pixel),
    Flag(("-noprogress",), 0, _switch(progress=False)),
    Flag(("-progress",), 0, _switch(progress=True)),
    Flag(("-interpolate",), 0, _switch(interpolate=1)),
    Flag(("-nointerpolate",), 0, _switch(interpolate=0)),
    Flag(("-round_xtal",), 0, _switch(xtal_shape="round")),
    Flag(("-square_xtal",), 0, _switch(xtal_shape="square")),
    Flag(("-gauss_xtal",), 0, _switch(xtal_shape="gauss")),
    Flag(("-tophat_spots", "-binary_spots"), 0, _switch(xtal_shape="tophat")),
    Flag(("-fudge",), 1, _F("fudge")),
    Flag(("-seed",), 1, _seed("seed")),
    Flag(("-mosaic_seed",), 1, _seed("mosaic_seed")),
    Flag(("-misset_seed",), 1, _misset_seed),
    Flag(("-water",), 1, _F("water_size_m", 1e-6, nonneg=True)),
    # ours
    Flag(("-dtype",), 1, _choice("dtype", ("float32", "float64"))),
    Flag(("-backend",), 1, _choice("backend", ("auto", "torch", "triton"))),
    Flag(("-device",), 1, _choice("device", ("cpu", "cuda"))),
    Flag(("-quirks",), 1, _choice("quirks", ("c", "fixed"))),
]

FLAGS: dict = {name: flag for flag in _FLAGS for name in flag.names}


def _take_values(argv: list, i: int, flag: Flag, name: str) -> list:
    """Values of the flag at argv[i]; nargs < 0 means 'up to -nargs numbers' (C-like)."""
    rest = argv[i + 1:]
    if flag.nargs >= 0:
        if len(rest) < flag.nargs:
            raise NanoBraggError(f"{name}: expects {flag.nargs} value(s), got {len(rest)}")
        return rest[:flag.nargs]
    if name == "-misset":
        if rest and "rand" in rest[0]:
            return rest[:1]
        if len(rest) < 3:
            raise NanoBraggError(f"{name}: expects three angles (deg) or 'random'")
        return rest[:3]
    # -cell: the C reads values until one starts with '-'
    vals = []
    for text in rest[:-flag.nargs]:
        if text.startswith("-"):
            break
        vals.append(text)
    if not vals:
        raise NanoBraggError(f"{name}: expects up to six values (a b c alpha beta gamma)")
    return vals


def split_args(argv: list) -> list:
    """Split an argument list into [(flag_name, values)] in order; unknown flags are errors."""
    out, i = [], 0
    argv = [str(a) for a in argv]
    while i < len(argv):
        name = argv[i]
        flag = FLAGS.get(name)
        if flag is None:
            if not name.startswith("-"):
                raise NanoBraggError(f"unexpected argument '{name}' (values must follow their flag)")
            close = difflib.get_close_matches(name, list(FLAGS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise NanoBraggError(f"unknown flag {name}{hint}")
        vals = _take_values(argv, i, flag, name)
        out.append((name, vals, i == len(argv) - 1 - len(vals)))
        i += 1 + len(vals)
    return out


def apply_flags(settings: Settings, parsed: list, quirks: str) -> None:
    """Apply parsed flags in order.  In ``c`` mode reproduce the C's strstr side effects:
    ``-misset_seed N a b`` also runs the ``-misset`` parser, ``-twotheta_axis x y z`` also
    runs ``-twotheta`` (angle x, pivot sample), and ``-curved_det`` as the last argument
    is ignored."""
    for name, vals, is_last in parsed:
        if quirks == "c" and name in ("-curved_det", "-curved_detector") and is_last:
            continue
        FLAGS[name].apply(settings, name, vals)
        if quirks == "c" and name == "-twotheta_axis":
            FLAGS["-twotheta"].apply(settings, "-twotheta", vals[:1])
        if quirks == "c" and name == "-misset_seed":
            # strstr("-misset_seed", "-misset") fires: angles (N, argv[i+2], argv[i+3]) read with atof
            nxt = _raw_after(parsed, name, vals)
            if nxt is not None:
                settings.misset_mode = "angles"
                settings.misset_rad = [c_atof(t) / RTD for t in [vals[0]] + nxt]


def c_atof(text: str) -> float:
    """C atof: the longest leading decimal number, 0.0 if there is none."""
    m = re.match(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)", text, re.I)
    return float(m.group(0)) if m else 0.0


def _raw_after(parsed, name, vals):
    """The two raw arguments after a flag's value (argv[i+2], argv[i+3]), None past the end."""
    raw = []
    for n, v, _ in parsed:
        raw.extend([n] + list(v))
    for k, tok in enumerate(raw):
        if tok == name and raw[k + 1] == vals[0]:
            return raw[k + 2:k + 4] if k + 3 < len(raw) else None
    return None


def quirks_mode(parsed: list) -> str:
    mode = "c"
    for name, vals, _ in parsed:
        if name == "-quirks":
            mode = vals[0]
    return mode


def usage() -> str:
    """One line per flag (aliases together), for -h."""
    lines = ["usage: nanoBragg -cell a b c al be ga | -mat A.mat  -hkl F.hkl | -default_F F  [flags]",
             "flags (as nanoBragg.c; see specs/cli.md):"]
    for flag in _FLAGS:
        arity = {0: "", -6: " a [b c al be ga]", -3: " x y z|random"}.get(flag.nargs, " V" * flag.nargs)
        lines.append(f"  {' | '.join(flag.names)}{arity}" + (f"   ({flag.help})" if flag.help else ""))
    return "\n".join(lines)
