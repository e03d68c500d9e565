"""``nearBragg`` command line (``python -m nanobrag_torch.nearbragg``): nearBragg.c's flags,
its printed summary and its files (float image, SMV int image, sin/cos images with
``-coherent``), plus ``-npyfile``.  Output paths are checked before rendering and all files
appear together after it; a user error prints one line ``nearBragg: error: ...`` on stderr,
exits with status 2 and writes nothing.
"""
from __future__ import annotations

import math
import sys

from ..errors import console, run_command
from ..flags import usage
from ..io.atomic import OutputBatch
from ..io.raw import write_floatfile, write_npy
from ..io.smv import _g, write_smv
from ..progress import checked_render
from .flag_table import NEARBRAGG_FLAGS, PI_C, RTD_C
from .render import positions
from .run import NearRun, int_pixels, parse, roi_stats, simulate_near
from .trace import atom_trace

USAGE = "usage: nearBragg -file atom_list.txt [flags]\nflags (as nearBragg.c; see specs/nearbragg.md):"


def header_lines(r: NearRun) -> list:
    """What the C prints before rendering (lines 468-953)."""
    s, g, gr = r.settings, r.setup, r.setup.grids
    blanks = ["blank"] * r.atoms.blank_lines if s.debug else []
    out = blanks + [f"counted {r.atoms.count} atoms in {s.atomfile}", f"reading {s.atomfile}"]
    if s.debug:
        at = list(r.atoms.blank_at)
        for n, v in enumerate(r.atoms.values):
            out += ["blank"] * at.count(n)
            out.append(f"initializing: {n} {v[0]:g} {v[1]:g} {v[2]:g} with Z={v[3]:g} B={v[4]:g}")
        out += ["blank"] * at.count(r.atoms.count)
    if g.oversample != s.oversample:
        out.append(f"auto-selected {g.oversample}-fold oversampling")
    if g.oversample < g.recommended_oversample:
        out += [r.warnings[0],
                f"         but reciprocal pixel size is {s.lambda0_m * g.distance / g.pixel * 1e10:g} A",
                "         intensity may vary significantly across a pixel!",
                f"         recommend -oversample {g.recommended_oversample} to work around this"]
    out += r.notes
    out += [f"divergence deviation: {h:g} {v:g}" for h, v in g.divs]
    out += [f"lambda{i} = {lam:.15g}" for i, lam in enumerate(g.lambdas)]
    out += [f"depth{i} = {d * 1e10:g} A" for i, d in enumerate(g.depths)]
    source = ("  source is VERY far away" if g.far_source else
              f"  source at {g.source_distance:g} meters and {gr['source_depth']:g} deep in "
              f"{len(g.depths)} depth steps")
    return out + [
        f"  {r.atoms.count} atoms",
        f"  wave={s.lambda0_m:g} meters +/- {gr['dispersion'] * 100:g}% in {len(g.lambdas)} steps",
        f"  distance={g.distance:g} detsize={g.detsize_x:g}x{g.detsize_y:g}  pixel={g.pixel:g} "
        f"meters ({g.xpixels}x{g.ypixels} pixels)",
        f"  Xbeam={g.Xbeam:g} Ybeam={g.Ybeam:g}",
        "  roi: %d < z < %d && %d < y < %d" % g.roi_c,
        f"  hdivrange={gr['hdivrange']:g} hdivstep={gr['hdivstep']:g}  radians",
        f"  vdivrange={gr['vdivrange']:g} vdivstep={gr['vdivstep']:g}  radians",
        f"  {len(g.divs)} divergence steps", source,
        f"  {g.oversample} pixel oversample steps", f"  coherent source: {int(s.coherent)}",
        f"  backend: {r.backend}, {s.dtype}, quirks {s.quirks}"]


def printout_lines(r: NearRun) -> list:
    """The C's per-pixel printout (1183-1196) for the -printout_pixel pixel or every ROI pixel."""
    import torch
    s, g = r.settings, r.setup
    S, F = r.floatimage.shape
    xmin, xmax, ymin, ymax = g.roi
    out = []
    for y in range(ymin, ymax + 1):
        for x in range(xmin, xmax + 1):
            if s.printout_pixel is not None and s.printout_pixel[0] >= 0 and (x, y) != tuple(s.printout_pixel):
                continue
            j = y * F + x
            if s.debug:
                v = r.atoms.values
                out += atom_trace(g, x, y, v[:, :3] / 1e10, v[:, 3], v[:, 4], v[:, 5] / RTD_C,
                                  s.coherent, s.quirks == "fixed")
            last = g.oversample - 1
            p, omega, R = positions(g, torch.tensor([x]), torch.tensor([y]), last, last,
                                    s.quirks == "fixed")
            px, py, pz = (float(v) for v in p[0])
            stol = math.sin(math.atan2(math.sqrt(py * py + pz * pz), px) / 2.0) / (s.lambda0_m * 1e10)
            fa = fb = 0.0
            if s.coherent:
                fa = float(r.result.F_re[j]) * math.sqrt(g.steps)
                fb = float(r.result.F_im[j]) * math.sqrt(g.steps)
            cos = float(r.cosimage[y, x]) if s.coherent else 0.0
            sin = float(r.sinimage[y, x]) if s.coherent else 0.0
            om = float(omega[0]) / float(R[0]) / float(R[0])      # omega_Rsqr/airpath/airpath
            pix = float(r.floatimage[y, x])
            out += [f"{x:4d} {y:4d} : stol = {stol:g}", f" Fa={fa:g}  Fb={fb:g}   I = {float(r.result.I_raw[j]):g}",
                    f"cos={cos:g} sin={sin:g}", f"I/sr   {pix / om:15.10g}", f"omega  {om:15.10g}",
                    f"pixel  {pix:15.10g}"]
    return out


def smv_fields(r: NearRun) -> list:
    """nearBragg's SMV header keys (1263-1268), %g values."""
    s, g = r.settings, r.setup
    return [("HEADER_BYTES", "512"), ("DIM", "2"), ("BYTE_ORDER", "little_endian"),
            ("TYPE", "unsigned_short"), ("SIZE1", "%d" % g.xpixels), ("SIZE2", "%d" % g.ypixels),
            ("PIXEL_SIZE", _g(g.pixel * 1000.0)), ("DISTANCE", _g(g.distance * 1000.0)),
            ("WAVELENGTH", _g(s.lambda0_m * 1e10)), ("BEAM_CENTER_X", _g(g.Xbeam * 1000.0)),
            ("BEAM_CENTER_Y", _g((g.detsize_y - g.Ybeam) * 1000)), ("PHI", _g(s.phi0_rad * RTD_C)),
            ("OSC_START", _g(s.phi0_rad * RTD_C)), ("OSC_RANGE", "0"), ("DETECTOR_SN", "000"),
            ("BEAMLINE", "fake")]


def output_paths(s) -> list:
    paths = [s.floatfile, s.intfile, s.npyfile]
    if s.coherent:
        paths += [s.sinfile, s.cosfile]
    return [p for p in paths if p]


def _run(argv: list) -> None:
    settings = parse(argv)
    r = checked_render(settings, output_paths(settings), lambda bar: simulate_near(argv, progress=bar))
    print("nearBragg assumption-free diffraction simulator - James Holton 11-21-17 (nanobrag-torch)")
    for line in header_lines(r):
        print(line)
    if settings.printout:
        for line in printout_lines(r):
            print(line)
    om = r.result.omega_sum
    print(f"\nsolid angle subtended by detector = {om:g} steradian ( {100 * om / 4 / PI_C:g}% sphere)")
    stats = roi_stats(r)
    ints, scale = int_pixels(r, stats["max_I"])
    pixels = r.floatimage.size
    with OutputBatch(durable=False) as batch:
        print(f"writing {settings.floatfile} as {pixels} 4-byte floats")
        write_floatfile(settings.floatfile, r.floatimage, batch)
        if settings.coherent:
            for path, image in ((settings.sinfile, r.sinimage), (settings.cosfile, r.cosimage)):
                print(f"writing {path} as {pixels} 4-byte floats")
                write_floatfile(path, image, batch)
        print(f"max_I = {stats['max_I']:g}  at {stats['max_at'][0]:g} {stats['max_at'][1]:g}")
        print(f"mean= {stats['mean']:g} rms= {stats['rms']:g}")
        print(f"intfile_scale = {scale:g}")
        print(f"writing {settings.intfile} as 2-byte integers")
        write_smv(settings.intfile, ints, smv_fields(r), batch)
        if settings.npyfile:
            write_npy(settings.npyfile, r.floatimage, batch)


def main(argv: list | None = None) -> int:
    """Run ``argv`` (default sys.argv[1:]); 0, or 2 after a one-line error (no file written)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command("nearBragg", argv, _run, lambda: usage(NEARBRAGG_FLAGS, USAGE),
                       "reduce -detpixels, -oversample or the atoms")


entry = console(main)      # the console script: main(), then a fast exit (errors.exit_now)


if __name__ == "__main__":  # pragma: no cover
    entry()
