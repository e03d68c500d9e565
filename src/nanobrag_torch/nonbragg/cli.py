"""``nonBragg`` command line (``python -m nanobrag_torch.nonbragg``): nonBragg.c's flags and files.

Writes what the C writes: the float image, the SMV int image and the PGM always, the SMV noise
image unless ``-nonoise``, and with ``-img`` the ``-stolout`` table. Output paths are checked
before rendering and all files appear together after it. User errors print one line
``nonBragg: error: ...`` on stderr and exit with status 2, writing no file.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch

from ..conventions import time_seed
from ..errors import NanoBraggError, console, run_command
from ..flags import usage
from ..io.atomic import OutputBatch, check_output_path
from ..models.beam import divergence_points
from . import api, outputs
from .flag_table import NONBRAGG_FLAGS
from .setup import resolve


def _vec(v) -> str:
    return " ".join("%g" % x for x in v.tolist())


def _grid_lines(job) -> list:
    """The generated sources' printout (lines 1290-1316): each kept divergence point, then
    each wavelength; nothing for a -sourcefile."""
    if job.s.sourcefile is not None:
        return []
    points = divergence_points(job.div[0:3], job.div[3:6], job.s.round_div)
    return (["divergence deviation: %g %g" % point for point in points]
            + ["lambda%d = %.15g" % (i, lam) for i, lam in enumerate(job.lambdas)])


def summary_lines(job) -> list:
    """What the C prints before rendering (lines 861-870, 1179-1410), in its order."""
    s, d, h = job.s, job.detector, job.header
    disp, dispsteps = job.div[6], job.div[8]
    lines = ["nonBragg amorphous material diffraction simulator (nanobrag_torch)", *job.warnings,
             "pivoting detector around " + ("sample" if s.pivot == "sample" else "direct beam spot"),
             f"reading {s.stolfile}", *_grid_lines(job),
             f"  created a total of {job.incident.shape[0]} sources:"]
    for xyz, w, lam in zip(job.source_xyz.tolist(), job.weight.tolist(), job.lambda_m.tolist()):
        lines.append("%g %g %g   %g %g" % (*xyz, w, lam))
    lines += [f"  {job.table.rows + 4} initialized F points (will cubic-spline interpolate between them)",
              "  wave=%g meters +/- %g%% in %d steps" % (s.lambda0_m, disp * 100, dispsteps),
              "  polarization effect disabled" if s.nopolar else
              "  Kahn polarization factor: %f" % s.polarization_kahn]
    flags = ((s.curved_detector, "curved detector: all pixels same distance from origin"),
             (s.point_pixel, "pixel obliquity effect disabled"),
             (s.Fmap, "Fmap mode: plotting structure factor at every pixel"))
    lines += ["  " + text for on, text in flags if on]
    lines += [f"  incident fluence: {job.fluence:g} photons/m^2",
              "  sample is %g m thick x %g m high x %g m wide, %g g/cm^3 and %g g/mol (%g molecules)"
              % (*job.sample, job.density / 1e6, s.molecular_weight, job.molecules),
              "  distance=%g detsize=%gx%g  pixel=%g meters (%dx%d pixels)"
              % (h["distance"], *job.detsize, s.pixel_size_m, job.fpixels, job.spixels),
              "  Xbeam=%g Ybeam=%g" % (h["Xbeam"], h["Ybeam"]),
              f"  detector origin: {_vec(d.pix0_m)}",
              f"  DIRECTION_OF_DETECTOR_X-AXIS= {_vec(d.fdet)}",
              f"  DIRECTION_OF_DETECTOR_Y-AXIS= {_vec(d.sdet)}",
              f"  INCIDENT_BEAM_DIRECTION= {_vec(d.beam)}",
              f"  POLARIZATION_PLANE_NORMAL= {_vec(job.polar)}",
              "  roi: %d < x < %d && %d < y < %d" % job.roi,
              "  hdivrange=%g hdivstep=%g  radians" % job.div[0:2],
              "  vdivrange=%g vdivstep=%g  radians" % job.div[3:5],
              f"  {job.divsteps} divergence steps", f"  {job.incident.shape[0]} sources",
              f"  {job.oversample} pixel oversample steps"]
    if s.calculate_noise:
        lines += ["", "  noise image paramters:", f"  seed: {s.seed}"]
    return lines


def printout_lines(job, image: np.ndarray, last: dict) -> list:
    """-printout / -printout_pixel f s: the C's per-pixel block (lines 1587-1600) for pixels
    inside the ROI. The stol of the last evaluation (1/m), then sin(2theta/2)/lambda0 (1/A)
    with 2theta the angle of the last sub-pixel's position from +x; F printed as 0 (the C
    prints an uninitialised variable); I is the weight of the last source."""
    s = job.s
    f0, s0 = s.printout_pixel if s.printout_pixel else (-1, -1)
    xmin, xmax, ymin, ymax = job.roi
    lam_A = s.lambda0_m * 1e10
    lines = []
    for spix in range(max(ymin, 0), min(ymax, job.spixels - 1) + 1):
        for fpix in range(max(xmin, 0), min(xmax, job.fpixels - 1) + 1):
            if f0 >= 0 and (fpix, spix) != (f0, s0):
                continue
            w = float(job.weight[-1])
            x, y, z = (float(v) for v in last["pos"][spix, fpix])
            test = math.sin(math.atan2(math.sqrt(y * y + z * z), x) / 2.0) / lam_A
            lines += [f"{fpix:4d} {spix:4d} : stol = {float(last['stol'][spix, fpix]) * 1e10:g} or {test:g}",
                      " F=0    I = %g" % w, "I/steps %15.10g" % (w / job.steps),
                      "polar   %15.10g" % float(last["polar"][spix, fpix]),
                      "omega   %15.10g" % float(last["omega"][spix, fpix]),
                      "pixel   %15.10g" % float(image[spix, fpix])]
    return lines


def progress_lines(job) -> list:
    """The C's progress meter (lines 1601-1612, on unless -noprogress): 'N% done' at every
    twentieth of progress_pixels = (xmax-xmin+1)*(ymax-ymin+1) (the ROI bounds, xmax = fpixels
    by default), and every hundredth in the first and last tenth, counting rendered pixels."""
    xmin, xmax, ymin, ymax = job.roi
    total = (xmax - xmin + 1) * (ymax - ymin + 1)
    rendered = (max(min(xmax, job.fpixels - 1) - xmin + 1, 0) * max(min(ymax, job.spixels - 1) - ymin + 1, 0))
    if total // 100 <= 0:
        return []
    done = np.arange(rendered, dtype=np.int64)
    show = (done % (total // 20) == 0) | (((10 * done < total) | (10 * done > 9 * total))
                                         & (done % (total // 100) == 0))
    return ["%d%% done" % (k * 100 // total) for k in done[show].tolist()]


def _render(argv: list) -> None:
    s = api.parse(argv)
    job = resolve(s)
    if s.imgfile and s.img_pixels.shape != (job.spixels, job.fpixels):
        raise NanoBraggError(f"-img {s.imgfile}: the image is {s.img_pixels.shape[1]}x"
                             f"{s.img_pixels.shape[0]} pixels but the detector is "
                             f"{job.fpixels}x{job.spixels} (keep the image's pixel count and size)")
    paths = [s.floatfile, s.intfile, s.pgmfile, s.noisefile if s.calculate_noise else None,
             s.stoloutfile if s.imgfile else None]
    for path in filter(None, paths):
        check_output_path(path)
    if s.calculate_noise and s.seed is None:
        s.seed = time_seed()                 # printed and used: the C's -time(NULL)
    if s.imgfile:                            # GetFrame prints these (lines 2541, 2548)
        print(f"reading {s.imgfile}\nmmap({s.imgfile}) = {hex(s.img_pixels.ctypes.data)}")
    for line in summary_lines(job):
        print(line)
    need_last = bool(s.printout or s.imgfile)
    result = api.render_job(job, keep_last=need_last)
    image = result.image.detach().cpu().to(torch.float32).numpy()
    last = {k: v.cpu().numpy() for k, v in result.rendered.last.items() if isinstance(v, torch.Tensor)}
    for line in printout_lines(job, image, last) if s.printout else progress_lines(job) if s.progress else []:
        print(line)
    omega_sum = result.rendered.omega_sum
    print("\nsolid angle subtended by detector = %g steradian ( %g%% sphere)"
          % (omega_sum, 100 * omega_sum / 4 / math.pi))
    stol_lines, n_last = None, None
    if s.imgfile:
        stol_lines, warnings, n_last = outputs.stolout(job, result.rendered.last, s.img_pixels)
        for line in warnings:
            print(line)
    stats = outputs.statistics(job, image, n_last)
    with OutputBatch(durable=False) as batch:
        outputs.write_all(job, image, stats, batch, stol_lines=stol_lines)


USAGE = "usage: nonBragg -stol water.stol [flags]\nflags (as nonBragg.c; see specs/nonbragg.md):"


def main(argv: list | None = None) -> int:
    """Run ``argv`` (default sys.argv[1:]); exit status 0, or 2 after a one-line error."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command("nonBragg", argv, _render, lambda: usage(NONBRAGG_FLAGS, USAGE),
                       "reduce -detpixels or -oversample")


entry = console(main)      # the console script: main(), then a fast exit (errors.exit_now)
