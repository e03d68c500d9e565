"""``nanoBragg`` command line: the C program's flags, summary and output files.

Writes what nanoBragg.c writes (float image, SMV int image, PGM, SMV noise image; each
can be renamed or turned off with the C's flags) plus ``-npyfile``.  User errors print one
line ``nanoBragg: error: ...`` on stderr and exit with status 2, writing no file.
"""
from __future__ import annotations

import logging
import sys

import numpy as np
import torch

from .errors import NanoBraggError
from .io.pgm import write_pgm
from .io.raw import write_floatfile, write_npy
from .io.smv import smv_fields, write_smv
from .noise import auto_int_scale, auto_pgm_scale, int_image, noise_image, pgm_image
from .conventions import time_seed
from .simulate import RTD, run
from .summary import header_lines, result_lines


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


def write_outputs(r, image: np.ndarray, stats: tuple, out=print) -> None:
    """Write every requested file from the float32 image [slow, fast]."""
    s = r.settings
    roi = r.config.detector.roi
    max_I, _, _, rmsd = stats
    if s.floatfile:
        out(f"writing {s.floatfile} as {image.size} 4-byte floats")
        write_floatfile(s.floatfile, image)
    if s.npyfile:
        write_npy(s.npyfile, image)
    scale = s.intfile_scale if s.intfile_scale > 0 else auto_int_scale(max_I)
    out(f"intfile_scale = {scale:g}")
    if s.intfile:
        out(f"writing {s.intfile} as 2-byte integers")
        write_smv(s.intfile, int_image(image, scale, s.adc_offset, roi), _smv_fields(r, False))
    if s.write_pgm and s.pgmfile:
        pgm_scale = s.pgm_scale if s.pgm_scale > 0 else auto_pgm_scale(rmsd, scale)
        out(f"pgm_scale = {pgm_scale:g}")
        write_pgm(s.pgmfile, pgm_image(image, pgm_scale, roi), pgm_scale)
    if s.calculate_noise and s.noisefile:
        seed = s.seed if s.seed is not None else time_seed()
        out(f"  noise seed: {-seed} (reproduce with -seed {-seed})")
        noisy, photons, overloads = noise_image(image, seed, s.adc_offset, roi)
        out(f"{photons:.0f} photons on noise image ({overloads} overloads)")
        out(f"writing {s.noisefile} as 2-byte integers")
        write_smv(s.noisefile, noisy, _smv_fields(r, True))


def main(argv: list | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="nanoBragg: %(message)s", stream=sys.stderr)
    if argv in ([], ["-h"], ["--help"], ["-help"]):
        from .flags import usage
        print(usage())
        return 0 if argv else 2
    try:
        r = run(argv)
        for line in header_lines(r):
            print(line)
        image = r.image.detach().cpu().to(torch.float32).numpy()
        lines, stats = result_lines(r, image)
        for line in lines:
            print(line)
        write_outputs(r, image, stats)
    except NanoBraggError as exc:
        print(f"nanoBragg: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("nanoBragg: error: out of memory (reduce -detpixels or -oversample)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
