"""The detector-response stage of a nanoBragg render (flags in `flags_response.py`): what
noisify.c writes when given nanoBragg.c's ``-floatfile`` and the same geometry.

Mapping (noisify.c flag <- nanoBragg value): ``-detpixels_x/-detpixels_y`` <- the detector's
pixels; ``-pixel``, ``-distance`` (mm), ``-lambda`` (A), ``-phi``, ``-osc`` (deg) <- nanoBragg's
values as typed (``-osc`` only when given, noisify's default 1 otherwise); ``-Xbeam/-Ybeam``
(mm) <- nanoBragg's when given, else noisify's centre; ``-seed`` <- ``-response_seed`` (default
nanoBragg's ``-seed``); ``-adc``/``-scale``/``-nonoise``/``-intfile``/``-noisefile``/``-pgmfile`` <-
the ``-response_*`` flags; the other noisify flags have their own names. Values are passed on
as the decimal text a user typed (``%.15g`` of the stored double), so ``-pixel 0.1`` gives
noisify's pixel of exactly 0.1/1000.0.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import NanoBraggError
from ..io.atomic import OutputBatch
from ..io.pgm import write_pgm
from ..io.smv import write_smv
from . import engine
from .cli import header_bytes, response_of
from .response import respond
from .settings import R_E_SQR, NoisifySettings

RTD = 180.0 * (1.0 / math.pi)


def _typed(value: float) -> float:
    """The decimal a user typed for a stored double (``x*1e-3`` back to ``x``)."""
    return float("%.15g" % value)


def noisify_settings(s, fpixels: int, spixels: int) -> NoisifySettings:
    """The noisify.c settings of the chain for nanoBragg settings ``s`` (module docstring)."""
    n = NoisifySettings(xpixels=fpixels, ypixels=spixels, quirks=s.quirks, bits=s.bits)
    n.pixel_m = _typed(s.pixel_size_m * 1000.0) / 1000.0
    n.distance_m = _typed(s.distance_m * 1000.0) / 1000.0
    n.lambda_A = _typed(s.lambda0_m * 1e10)
    n.phi_deg = _typed(s.phi0_rad * RTD)
    n.osc_deg = _typed(s.osc_rad * RTD) if s.osc_rad >= 0 else 1.0
    n.detsize_x_m, n.detsize_y_m = n.pixel_m * fpixels, n.pixel_m * spixels
    n.Xbeam_m = n.detsize_x_m / 2.0 if math.isnan(s.Xbeam_m) else _typed(s.Xbeam_m * 1e3) / 1e3
    n.Ybeam_m = n.detsize_y_m / 2.0 if math.isnan(s.Ybeam_m) else _typed(s.Ybeam_m * 1e3) / 1e3
    for attr in ("readout_noise", "flicker_noise", "calibration_noise", "calib_seed",
                 "quantum_gain", "psf_type", "psf_fwhm_m", "psf_radius"):
        setattr(n, attr, getattr(s, attr))
    n.adc_offset, n.photon_scale = s.response_adc, s.response_scale
    n.calculate_noise = not s.response_nonoise
    n.seed = s.response_seed if s.response_seed is not None else s.seed
    if n.seed is None:
        n.seed = -int(time.time())
    return n


def respond_to(s, image: np.ndarray, out=print):
    """noisify.c's pipeline on the float32 image [slow, fast] (photons/pixel, as nanoBragg's
    ``-floatfile``) with the response flags of nanoBragg settings ``s`` (e.g.
    ``respond_to(r.settings, r.image.numpy())`` after ``simulate.run``): (ResponseImages, the
    noisify settings used)."""
    spixels, fpixels = image.shape
    n = noisify_settings(s, fpixels, spixels)
    if n.psf_type.startswith("unknown:"):
        if n.quirks == "fixed":
            raise NanoBraggError(f"-psf: unknown PSF type '{n.psf_type[8:]}' (gauss or fiber)")
        out(f"WARNING: unknown psf type: {n.psf_type[8:]}")
    values = np.ascontiguousarray(image, dtype=np.float32).ravel()
    photon = np.empty_like(values)
    engine.photon_image(values, n.fluence * R_E_SQR, n.photon_scale, photon)
    return respond(photon, fpixels, spixels, response_of(n, n.pixel_m), out), n


def write_response(s, image: np.ndarray, batch: OutputBatch, out=print) -> None:
    """`respond_to` and stage its files (``-response_intfile/_noisefile/_pgmfile``) into
    ``batch``, as noisify.c writes them."""
    spixels, fpixels = image.shape
    images, n = respond_to(s, image, out)
    head = header_bytes(n, fpixels, spixels)
    if s.response_intfile:
        write_smv(s.response_intfile, images.int_image.reshape(spixels, fpixels), [], batch, head)
    if s.response_pgmfile:
        pgm = np.empty(images.int16.size, dtype=np.uint8)
        engine.pgm_bytes(images.int16, pgm)
        write_pgm(s.response_pgmfile, pgm.reshape(spixels, fpixels), 1.0, batch)
    if s.response_noisefile and images.noise_image is not None:
        write_smv(s.response_noisefile, images.noise_image.reshape(spixels, fpixels), [], batch,
                  head)
