"""Noise pass 1 and the PSF at the same time: pass 1 is one sequential random stream (one
core; `pipeline.PipedNoise` draws its ran1 outputs ahead on another thread), so the PSF deposits
of the finished rows run beside it on a second thread, in source order, and only the
lost-light add-back waits for the end. Same bytes as pass 1 followed by `psf.apply_psf`:
each output pixel still receives its deposits in source order, the lost light is summed in
source order, and when a source's radius exceeds the C's kernel radius (known only at the
end) the PSF is redone the plain way.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from ..io.smv import _g
from . import psf

_ROWS_PER_CHUNK = 64


def _psf_worker(photon, X, Y, kind, fwhm, user_radius, fixed, chunks, result, box):
    """Deposit the sources of each finished chunk; ``box`` gets (lost light, largest radius)."""
    maxwidth = max(X, Y)
    tables = psf.radius_tables(kind, fwhm, user_radius, maxwidth, fixed)
    radii = np.zeros(photon.size, dtype=np.int32)
    lost = np.zeros(photon.size)
    total, rmax, kernel_radius, kernel, lists, done = 0.0, 0, -1, None, None, 0
    xmax = X - 1 if fixed else X
    while (end := chunks.get()) is not None:
        total, chunk_rmax = psf.source_radii_serial(photon, done, end, kind, fwhm, user_radius,
                                                    maxwidth, fixed, tables, radii, lost, total)
        rmax = max(rmax, int(chunk_rmax))
        if rmax > kernel_radius:                # kernel entries do not depend on its radius
            kernel_radius = rmax
            kernel = psf.psf_kernel(kind, fwhm, kernel_radius)
            lists = psf._offset_lists(kernel, min(kernel_radius, psf._LIST_RMAX), X)
        psf.deposit_serial(photon, X, Y, kernel, radii, rmax, xmax, lists, result, done, end)
        done = end
    box.extend([total, rmax])


def noise_then_psf(photon, X, Y, r, kind, pass1, out):
    """Pass 1 on ``photon`` (in place; ``pass1``: a `pipeline.PipedNoise`) and the PSF of its
    counts: (photon sum before the PSF, the PSF image), as `stream.noise_pass1` then
    `psf.apply_psf` (printing the same lines)."""
    fixed = r.quirks == "fixed"
    user_radius = int(r.psf_radius)
    result = np.zeros(photon.size, dtype=np.float32)
    chunks, box = queue.Queue(), []
    worker = threading.Thread(target=_psf_worker, args=(photon, X, Y, kind, r.psf_fwhm,
                                                        user_radius, fixed, chunks, result, box))
    worker.start()
    before, step = 0.0, _ROWS_PER_CHUNK * X
    try:
        for begin in range(0, photon.size, step):
            end = min(photon.size, begin + step)
            before = pass1(photon[begin:end], before)
            chunks.put(end)
    finally:
        chunks.put(None)
        worker.join()
    total_lost, rmax = box
    out(f"{_g(before, '%.0f')} photons on noise image before PSF")
    out(f"  applying PSF width = {_g(r.psf_fwhm_um)} um")
    radius = user_radius
    if radius <= 0:
        finite = photon[~np.isnan(photon)]
        max_I = max(0.0, float(finite.max())) if finite.size else 0.0
        if max_I <= 0.0 or rmax > max(1, psf.auto_radius(kind, r.psf_fwhm, max_I)):
            return before, psf.apply_psf(photon, X, Y, kind, r.psf_fwhm, user_radius, fixed, out)
        out(f"  maximum input photon/pixel: {max_I:g}")
        out(f"  auto-selected psf_radius = {int(psf.auto_radius(kind, r.psf_fwhm, max_I))} pixels")
    return before, psf.finish(result, total_lost, X, Y, out)
