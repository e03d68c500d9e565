"""``noisify`` command line: noisify.c's flags, printed lines and output files.

Reads a float image (photons/pixel, e.g. nanoBragg's ``-floatfile``), writes the noiseless SMV
image, the PGM and the noise SMV image exactly as noisify.c does (golden suite
tests/golden/noisify). All files appear together after the run, or none. User errors print one
line ``noisify: error: ...`` on stderr and exit with status 9 (the C's exit code).
"""
from __future__ import annotations

import math
import sys
import threading
import time

import numpy as np

from ..errors import NanoBraggError, console
from ..flags import quirks_mode, split_args, usage
from ..io.atomic import OutputBatch, check_output_path, read_input
from ..io.pgm import write_pgm
from ..io.smv import _g, format_smv_header, read_smv_header, value_of, write_smv
from . import engine
from .flag_table import NOISIFY_FLAGS, STRSTR_ALIASES, TABLE, StrstrTable
from .response import Response, respond
from .settings import R_E_SQR, NoisifySettings, guess_size

BANNER = "noisify - add noise to pixels - James Holton 3-19-16"
_FLOATFILE_FLAGS = ("-floatfile", "-floatimage", "-bin")


def parse(argv: list) -> NoisifySettings:
    """Flags -> settings, applied in order (the C's strstr side effects in ``-quirks c``)."""
    table = StrstrTable(TABLE)
    parsed = split_args(argv, table, positional=lambda arg: "floatimage.bin" in arg)
    s = NoisifySettings(quirks=quirks_mode(parsed))
    for name, vals, _ in parsed:
        if name and name not in TABLE and s.quirks == "fixed":
            raise NanoBraggError(f"unknown flag {name} (-quirks c takes it as the C does: "
                                 f"{table.get(name).help})")
        if name:
            table.get(name).apply(s, name, vals)
        if s.quirks == "c" and name in STRSTR_ALIASES:
            if not vals:
                raise NanoBraggError(f"{name}: noisify.c would read the next argument as the "
                                     f"value of {STRSTR_ALIASES[name]}; not supported")
            TABLE[STRSTR_ALIASES[name]].apply(s, STRSTR_ALIASES[name], vals)
        if name in ("-seed", "-calib_seed") and abs(getattr(s, name[1:])) > 2147483647:
            raise NanoBraggError(f"{name}: must fit a C int (|N| <= 2147483647), got '{vals[0]}'")
        for value in vals:        # the C: any argument containing floatimage.bin names the input
            if "floatimage.bin" in value and (not name or s.quirks == "c"):
                s.floatfile = value
    return s


def _apply_header(s: NoisifySettings, out) -> bytes:
    """The ``-header`` file: size, pixel, distance and beam centre from it; its bytes."""
    out(f"taking header from {s.headerfile}")
    raw, text = read_smv_header(s.headerfile)
    if "BYTE_ORDER=" not in text:          # GetFrame: strstr(header, "BYTE_ORDER=")+11, a crash
        raise NanoBraggError(f"{s.headerfile}: SMV header has no BYTE_ORDER= key")
    width, height = value_of(text, "SIZE1"), value_of(text, "SIZE2")
    if width == 0:
        width = height = value_of(text, "DETECTOR_DIMENSIONS")
    if not all(math.isfinite(n) and 1 <= n < 2**31 for n in (width, height)):
        raise NanoBraggError(f"{s.headerfile}: SMV header lacks valid SIZE1/SIZE2")
    s.xpixels, s.ypixels = int(width), int(height)
    out(f"reading {s.headerfile}")
    for key, attr, scale in (("PIXEL_SIZE", "pixel_m", 1000.0), ("DISTANCE", "distance_m", 1000.0),
                             ("BEAM_CENTER_X", "Xbeam_m", 1000.0)):
        if not math.isnan(value_of(text, key)):
            setattr(s, attr, value_of(text, key) / scale)
    if not s.pixel_m > 0:
        raise NanoBraggError(f"{s.headerfile}: PIXEL_SIZE must be positive")
    s.detsize_x_m, s.detsize_y_m = s.pixel_m * s.xpixels, s.pixel_m * s.ypixels
    if not math.isnan(value_of(text, "BEAM_CENTER_Y")):
        s.Ybeam_m = s.detsize_y_m - value_of(text, "BEAM_CENTER_Y") / 1000.0
    return raw


def _read_floats(s: NoisifySettings, raw: bytes, pixels: int) -> np.ndarray:
    """The C's ``fread(buf, pixels, 4)``: all bytes up to 4*pixels, zero tail; in ``fixed``
    the file must hold exactly one float per pixel."""
    if len(raw) < pixels or pixels == 0:
        raise NanoBraggError(f"{s.floatfile}: {len(raw) // 4} floats, fewer than the "
                             f"{pixels} pixels of the detector")
    if s.quirks == "fixed" and len(raw) != 4 * pixels:
        raise NanoBraggError(f"{s.floatfile}: {len(raw) / 4:g} floats for a detector of "
                             f"{pixels} pixels (give -detpixels_x/-detpixels_y to match)")
    if len(raw) >= 4 * pixels:
        return np.frombuffer(raw, dtype="<f4", count=pixels)      # read-only view, no copy
    buf = bytearray(4 * pixels)
    buf[:len(raw)] = raw
    return np.frombuffer(buf, dtype="<f4")


def _check_values(s: NoisifySettings, values: np.ndarray) -> None:
    """Infinite pixels are errors; NaN and negative pixels too in ``fixed`` (the C warns:
    `_warn_negative`)."""
    bad = np.isinf(values)
    if bad.any():
        raise NanoBraggError(f"{s.floatfile}: {int(bad.sum())} infinite pixel value(s)")
    if s.quirks == "fixed":
        for what, mask in (("NaN", np.isnan(values)), ("negative", values < 0)):
            if mask.any():
                raise NanoBraggError(f"{s.floatfile}: {int(mask.sum())} {what} pixel value(s)")


def _warn_negative(s: NoisifySettings, values: np.ndarray, out) -> None:
    """The C's warning for each negative pixel, printed after the settings (its photon loop)."""
    for value in values[values < 0]:
        out(f"WARNING: negative intensity in {s.floatfile}: {_g(float(value))}")


def header_bytes(s: NoisifySettings, X: int, Y: int) -> bytes:
    """noisify.c's own 512-byte SMV header (both outputs)."""
    fields = [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "little_endian"),
              ("TYPE", "long_integer" if s.bits == 32 else "unsigned_short"),
              ("SIZE1", "%d" % X), ("SIZE2", "%d" % Y), ("PIXEL_SIZE", _g(s.pixel_m * 1000.0)),
              ("DISTANCE", _g(s.distance_m * 1000.0)), ("WAVELENGTH", _g(s.lambda_A)),
              ("BEAM_CENTER_X", _g(s.Xbeam_m * 1000.0)),
              ("BEAM_CENTER_Y", _g((s.detsize_y_m - s.Ybeam_m) * 1000)),
              ("PHI", _g(s.phi_deg)), ("OSC_START", _g(s.phi_deg)), ("OSC_RANGE", _g(s.osc_deg)),
              ("DETECTOR_SN", "000"), ("BEAMLINE", "fake")]
    return format_smv_header(fields)


def response_of(s: NoisifySettings, pixel_m: float) -> Response:
    """The `Response` of the settings (``-nonoise`` zeroes the noise levels, as the C)."""
    noise = s.calculate_noise
    fwhm_f32 = float(np.float32(s.psf_fwhm_m))
    kind = s.psf_type if s.psf_type in ("gauss", "fiber") else "none"
    return Response(gain=s.quantum_gain, adc=s.adc_offset, readout=s.readout_noise if noise else 0.0,
                    flicker=s.flicker_noise if noise else 0.0,
                    calibration=s.calibration_noise if noise else 0.0,
                    seed=s.seed if s.seed is not None else -int(time.time()),  # the C's default
                    calib_seed=s.calib_seed, psf=kind if fwhm_f32 > 0 else "none",
                    psf_fwhm=fwhm_f32 / pixel_m, psf_radius=int(s.psf_radius), bits=s.bits,
                    noise=noise, quirks=s.quirks, psf_fwhm_um=fwhm_f32 * 1e6)


def run(argv: list, out=print) -> None:
    """The whole program; raises NanoBraggError on bad input (no file written then)."""
    s = parse(argv)
    if s.psf_type.startswith("unknown:"):
        if s.quirks == "fixed":
            raise NanoBraggError(f"-psf: unknown PSF type '{s.psf_type[8:]}' (gauss or fiber)")
        out(f"WARNING: unknown psf type: {s.psf_type[8:]}")
    out(BANNER)
    if s.floatfile is None:
        out(usage(NOISIFY_FLAGS, "usage: noisify -floatfile floatimage.bin [flags]"))
        raise NanoBraggError("no float file named (-floatfile FILE)")
    raw = read_input(s.floatfile)
    header = _apply_header(s, out) if s.headerfile else None
    if not s.xpixels and not s.ypixels:
        out("WARNING: guessing xy pixel dimensions.")
    X, Y = guess_size(s, len(raw) // 4)
    outputs = [s.intfile] + ([s.pgmfile] if s.write_pgm else []) + \
        ([s.noisefile] if s.calculate_noise else [])
    for path in outputs:
        check_output_path(path)
    out(f"importing {X * Y} pixel intensites: {s.floatfile}")
    values = _read_floats(s, raw, X * Y)
    _check_values(s, values)
    s.Xbeam_m = s.detsize_x_m / 2.0 if s.Xbeam_m is None else s.Xbeam_m
    s.Ybeam_m = s.detsize_y_m / 2.0 if s.Ybeam_m is None else s.Ybeam_m
    r = response_of(s, s.pixel_m)
    _print_settings(s, r, X, Y, out)
    _warn_negative(s, values, out)
    photon = np.empty_like(values)
    max_I = engine.photon_image(values, s.fluence * R_E_SQR, s.photon_scale, photon)
    out(f"maximum value in input file: {_g(max_I)} "
        f"( {_g(max_I * s.photon_scale * s.fluence * R_E_SQR)} on photon scale)")
    if np.isinf(photon).any():
        raise NanoBraggError("-scale/-fluence: the photon image overflows float32")
    if not r.noise and r.psf != "none":
        out(f"  applying PSF to noiseless image width = {_g(r.psf_fwhm)} pixels")
    head = header if header is not None else header_bytes(s, X, Y)
    size = 4 if s.bits == 32 else 2
    with OutputBatch(durable=False) as batch:
        with _Staging(s, X, Y, head, batch) as staging:
            def noiseless(int_image: np.ndarray, int16: np.ndarray) -> None:
                out(f"writing {s.intfile} as {X * Y} {size}-byte integers")   # before the noise,
                if s.write_pgm:                                                 # as in the C
                    out(f"writing {s.pgmfile} as 1-byte integers")
                staging.start(int_image, int16)
            images = respond(photon, X, Y, r, out, noiseless=noiseless)
        if images.noise_image is not None:
            out(f"writing {s.noisefile} as {size}-byte integers")
            write_smv(s.noisefile, images.noise_image.reshape(Y, X), [], batch, header=head)


class _Staging:
    """Stages the int image and the PGM into ``batch`` on a thread while the noise is drawn
    (the files appear with the rest when the batch commits); exiting waits for it and
    re-raises its error."""

    def __init__(self, s: NoisifySettings, X: int, Y: int, head: bytes, batch: OutputBatch):
        self.s, self.X, self.Y, self.head, self.batch = s, X, Y, head, batch
        self.thread, self.error = None, None

    def __enter__(self) -> "_Staging":
        return self

    def start(self, int_image: np.ndarray, int16: np.ndarray) -> None:
        pgm = None
        if self.s.write_pgm:
            pgm = np.empty(int16.size, dtype=np.uint8)
            engine.pgm_bytes(int16, pgm)           # here: numba's parallel loops, one thread
        self.thread = threading.Thread(target=self._write, args=(int_image, pgm))
        self.thread.start()

    def _write(self, int_image: np.ndarray, pgm: np.ndarray | None) -> None:
        s, X, Y = self.s, self.X, self.Y
        try:
            write_smv(s.intfile, int_image.reshape(Y, X), [], self.batch, header=self.head)
            if pgm is not None:
                write_pgm(s.pgmfile, pgm.reshape(Y, X), 1.0, self.batch)
        except Exception as exc:          # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc

    def __exit__(self, *exc) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


def _print_settings(s: NoisifySettings, r: Response, X: int, Y: int, out) -> None:
    out(f"  distance={_g(s.distance_m)} detsize={_g(s.detsize_x_m)}x{_g(s.detsize_y_m)}  "
        f"pixel={_g(s.pixel_m)} meters ({X}x{Y} pixels)")
    out(f"  Xbeam={_g(s.Xbeam_m)} Ybeam={_g(s.Ybeam_m)}")
    if s.psf_type in ("gauss", "fiber"):
        name = "Gaussian" if s.psf_type == "gauss" else "fiber"
        line = f"  {name} PSF fwhm = {_g(r.psf_fwhm_um)} um "
        if int(s.psf_radius) == 0:
            out(line + "  with automatic rendering radius")
            line = ""
        out(line + f"  with rendering radius: {int(s.psf_radius)}")
    out(f"  seed: {r.seed}")
    out(f"  calibration noise seed: {s.calib_seed}")
    for text in (f"calibration_noise = {_g(r.calibration * 100)} %",
                 f"input file scale = {_g(s.photon_scale)}",
                 f"readout_noise = {_g(r.readout)} ADU", f"flicker_noise = {_g(r.flicker * 100)} %",
                 f"quantum_gain = {_g(r.gain)} ADU/photon", f"adc_offset = {_g(r.adc)} ADU", ""):
        out(f"  {text}" if text else "")


def main(argv: list | None = None) -> int:
    """Run the command line ``argv`` (default sys.argv[1:]); returns the exit status: 0, or 9
    after a one-line ``noisify: error: ...`` on stderr, with no file written."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv in (["-h"], ["--help"], ["-help"]):
        print(usage(NOISIFY_FLAGS, "usage: noisify -floatfile floatimage.bin [flags]"))
        return 0
    try:
        run(argv)
    except NanoBraggError as exc:
        sys.stdout.flush()
        print(f"noisify: error: {exc}", file=sys.stderr)
        return 9
    return 0


entry = console(main)      # the console script: main(), then a fast exit (errors.exit_now)
