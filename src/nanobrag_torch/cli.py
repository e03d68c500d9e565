"""``nanoBragg`` command line: the C program's flags, summary and output files.

Writes what nanoBragg.c writes (float image, SMV int image, PGM, SMV noise image; each
can be renamed or turned off with the C's flags, and ``-dump`` with ``-hkl``) plus ``-npyfile``
and ``-pngfile``.  Output paths are checked before rendering and all files are renamed into
place together after it.  User errors print one line ``nanoBragg: error: ...`` on stderr and
exit with status 2, writing no file.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from .conventions import time_seed
from .errors import NanoBraggError, console, oom_guard, run_command
from .io.atomic import OutputBatch, check_output_path
from .io.hkl import write_fdump
from .io.pgm import write_pgm
from .io.png import write_png
from .io.raw import write_floatfile, write_npy
from .io.smv import smv_fields, smv_overrun, write_smv
from .models.structure_factors import hkl_table
from . import outputs_formats
from .panel_outputs import output_paths as panel_output_paths
from .panel_outputs import write_geometry_outputs, write_panel_images
from . import flags_response
from .noise import auto_int_scale, auto_pgm_scale, int_image, noise_image, pgm_image
from .progress import progress_bar
from .constants import RTD
from .simulate import parse, run
from .summary import header_lines, result_lines
from .trace import trace_lines


def _smv_fields(r, noise: bool) -> list:
    pre, cfg = r.pre, r.config
    d, det, cr = pre.detector, cfg.detector, cfg.crystal
    return smv_fields(fpixels=det.fpixels, spixels=det.spixels, pixel_size_m=det.pixel_size_m,
                      distance_m=float(d.distance_m), lambda_m=cfg.beam.lambda0_m,
                      Xbeam_m=det.Xbeam_m, Ybeam_m=det.Ybeam_m, Fbeam_m=float(d.Fbeam_m),
                      Sbeam_m=float(d.Sbeam_m), detsize_s_m=det.detsize_s_m,
                      dials_origin_mm=tuple(float(x) for x in d.dials_origin_mm),
                      ORGX=float(d.ORGX), ORGY=float(d.ORGY),
                      close_distance_m=float(d.close_distance_m), phi0_deg=cr.phi0_rad * RTD,
                      osc_deg=cr.osc_rad * RTD, twotheta_deg=det.twotheta_rad * RTD, noise=noise)


def output_paths(s) -> list:
    """Every file the run will write, from the settings (checked before rendering)."""
    paths = [s.floatfile, s.npyfile, s.pngfile, s.intfile, s.pgmfile if s.write_pgm else None,
             s.noisefile if s.calculate_noise else None,
             s.dumpfile if s.hklfile or s.mtzfile or s.modelfile else None]
    return ([p for p in paths if p] + outputs_formats.output_paths(s) + panel_output_paths(s)
            + flags_response.output_paths(s))


def write_outputs(r, image: np.ndarray, stats: tuple, batch: OutputBatch, out=print,
                  argv=()) -> None:
    """Stage every requested file from the float32 image [slow, fast] into `batch`."""
    s = r.settings
    roi = r.config.detector.roi
    max_I, _, _, rmsd = stats
    if (s.hklfile or s.mtzfile or s.modelfile) and s.dumpfile:
        out(f"writing dump file {s.dumpfile}")
        write_fdump(s.dumpfile, hkl_table(r.pre.sf), batch)
    if s.floatfile:
        out(f"writing {s.floatfile} as {image.size} 4-byte floats")
        write_floatfile(s.floatfile, image, batch)
    if s.npyfile:
        write_npy(s.npyfile, image, batch)
    if s.pngfile:
        write_png(s.pngfile, image, batch)
    scale = s.intfile_scale if s.intfile_scale > 0 else auto_int_scale(max_I)
    out(f"intfile_scale = {scale:g}")
    if s.intfile:
        out(f"writing {s.intfile} as 2-byte integers")
        fields = _smv_fields(r, False)
        write_smv(s.intfile, int_image(image, scale, s.adc_offset, roi), fields, batch,
                  overrun=smv_overrun(fields, r.config.quirks))
    if s.write_pgm and s.pgmfile:
        pgm_scale = s.pgm_scale if s.pgm_scale > 0 else auto_pgm_scale(rmsd, scale)
        out(f"pgm_scale = {pgm_scale:g}")
        write_pgm(s.pgmfile, pgm_image(image, pgm_scale, roi), pgm_scale, batch)
    if s.calculate_noise and s.noisefile:
        seed = s.seed if s.seed is not None else time_seed()
        out(f"  noise seed: {-seed} (reproduce with -seed {-seed})")
        noisy, photons, overloads = noise_image(image, seed, s.adc_offset, roi)
        out(f"{photons:.0f} photons on noise image ({overloads} overloads)")
        out(f"writing {s.noisefile} as 2-byte integers")
        fields = _smv_fields(r, True)
        write_smv(s.noisefile, noisy, fields, batch, overrun=smv_overrun(fields, r.config.quirks))
    outputs_formats.write_outputs(r, image, scale, batch, argv, out)
    if flags_response.requested(s):     # noisify.c on the scaled float image
        from .noisify.chain import write_response    # numba: only for response runs
        write_response(s, image, batch, out)


def _render(argv: list) -> None:
    """Check the outputs can be written, render (with a progress bar on a terminal), print the
    summary (and traces), then write every file together."""
    _start(argv)()


def _start(argv: list):
    """Parse, check the outputs can be written and render; returns the rest of the run (summary
    and files) as a function of no argument, which prints nothing before it is called: ``-batch``
    calls it on a thread while the next line renders."""
    settings = parse(argv)
    for path in output_paths(settings):
        check_output_path(path)
    bar = progress_bar(settings.progress and not settings.printout)
    try:
        r = run(argv, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    return lambda: _finish(argv, settings, r)


def _finish(argv: list, settings, r) -> None:
    """Print the summary (and traces) of the render `r`, then write every file together."""
    if getattr(r, "panel_set", None) is not None:       # -detector FILE: panel_outputs.py
        print(f"{len(r.panel_set)} panels from {settings.detector_file}")
        with OutputBatch(durable=False) as batch:
            write_panel_images(r, batch, _smv_fields)
            write_geometry_outputs(r, batch)
        return
    for line in header_lines(r):
        print(line)
    image = r.image.detach().cpu().to(torch.float32).numpy()
    if settings.printout:
        for line in trace_lines(r.pre.inputs, r.pre.flags, image, settings.printout_pixel,
                                r.config.beam.lambda0_m):
            print(line)
    auto_pgm = settings.write_pgm and settings.pgmfile and not settings.pgm_scale > 0
    lines, stats = result_lines(r, image, exact=bool(auto_pgm))    # rmsd sets the PGM scale
    for line in lines:
        print(line)
    with OutputBatch(durable=False) as batch:
        write_outputs(r, image, stats, batch, argv=argv)
        write_geometry_outputs(r, batch)


_OOM_HINT = "reduce -detpixels, -oversample or the steps per pixel"


def _usage() -> str:
    from .flags import usage
    return usage() + ("\n  -batch FILE   (alone: every non-empty, non-# line of FILE is one run, "
                      "all in this process)")


def _render_or_batch(argv: list) -> int | None:
    """`_render` the command line, or ``-batch FILE``: every line of FILE (`batch`)."""
    if "-batch" not in argv:
        return _render(argv)
    from .batch import run_batch
    if len(argv) != 2 or argv[0] != "-batch":
        raise NanoBraggError("-batch FILE takes no other flags (put them on each line)")
    return run_batch(argv[1], oom_guard(lambda line: oom_guard(_start(line), _OOM_HINT),
                                        _OOM_HINT))


def main(argv: list | None = None) -> int:
    """Run the command line ``argv`` (default sys.argv[1:]); returns the exit status (0, or 2
    after a one-line ``nanoBragg: error: ...`` on stderr, with no file written).
    ``-batch FILE`` (alone) runs every line of FILE in this process (see `batch`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command("nanoBragg", argv, _render_or_batch, _usage, _OOM_HINT)


entry = console(main)      # the console script: main(), then a fast exit (errors.exit_now)


if __name__ == "__main__":  # pragma: no cover
    entry()
