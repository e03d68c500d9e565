"""Python API of the detector response, on torch tensors.

`detector_response` is noisify.c on a photons/pixel image [S, F] or a panel stack [P, S, F]
(bit-exact with the C for a 2-D image and the same seeds); `psf_image` and `expected_response`
are the differentiable forms (PSF width, gain and ADC offset as tensors) for refinement, as
diffBragg fits a PSF: the mean detector signal, without noise or integer truncation.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import NanoBraggError
from .psf import FIBER_G
from .response import DEFAULT_CALIB_SEED, NoiseState, Response, respond

_SQRT_LN16 = math.sqrt(math.log(16))


def detector_response(image: torch.Tensor, *, seed: int = 1, calib_seed: int | None = None,
                      gain: float = 1.0, adc: float = 40.0, readout: float = 0.0,
                      flicker: float = 0.0, calibration: float = 0.03, psf: str = "none",
                      psf_fwhm: float = 0.0, psf_radius: int = 0, bits: int = 16,
                      noise: bool = True, quirks: str = "c") -> dict:
    """noisify.c's detector response of ``image`` (photons/pixel, [S, F] or [P, S, F]).

    Parameters are noisify's flags: ``seed``/``calib_seed`` as ``-seed``/``-calib_seed``
    (None: the C's default calibration seed), ``psf_fwhm`` in pixels (``-psf_fwhm`` um /
    pixel um), ``psf_radius`` in pixels (0 automatic), ``noise=False`` as ``-nonoise``.
    A panel stack is processed panel by panel (each: noise pass 1, PSF within the panel,
    pass 2) with one random state running on, so the result is deterministic for a seed.

    Returns:
        dict of int64 tensors shaped like ``image``: ``intimage`` (noiseless), ``noiseimage``
        (absent with ``noise=False``), plus ``photons`` (float, sum after the PSF) and
        ``overloads`` (int), summed over panels.

    Raises:
        NanoBraggError: non-finite pixels, negative noise levels or PSF width, bad ``bits``.
    """
    values = image.detach().to("cpu", torch.float32).numpy()
    if values.ndim not in (2, 3):
        raise NanoBraggError(f"image: expected [S, F] or [P, S, F], got shape {tuple(values.shape)}")
    if not np.isfinite(values).all() and (quirks == "fixed" or np.isinf(values).any()):
        raise NanoBraggError("image: non-finite pixel values")
    if min(readout, flicker, calibration, psf_fwhm, psf_radius) < 0 or bits not in (16, 32):
        raise NanoBraggError("negative noise level or PSF width/radius, or bits not 16/32")
    r = Response(gain=gain, adc=adc, readout=readout if noise else 0.0,
                 flicker=flicker if noise else 0.0, calibration=calibration if noise else 0.0,
                 seed=-int(seed), calib_seed=DEFAULT_CALIB_SEED if calib_seed is None
                 else -int(calib_seed), psf=psf, psf_fwhm=float(psf_fwhm),
                 psf_radius=int(psf_radius), bits=bits, noise=noise, quirks=quirks)
    panels = values.reshape(-1, *values.shape[-2:])
    state = NoiseState(r) if noise else None
    ints, noisy, photons, overloads = [], [], 0.0, 0
    for panel in panels:
        height, width = panel.shape
        images = respond(np.array(panel.ravel()), width, height, r, out=lambda *_: None,
                         state=state)
        ints.append(images.int_image.astype(np.int64))
        if noise:
            noisy.append(images.noise_image.astype(np.int64))
            photons += images.photons
            overloads += images.overloads
    result = {"intimage": torch.from_numpy(np.stack(ints).reshape(values.shape))}
    if noise:
        result["noiseimage"] = torch.from_numpy(np.stack(noisy).reshape(values.shape))
        result["photons"], result["overloads"] = photons, overloads
    return result


def psf_kernel_torch(fwhm: torch.Tensor, radius: int, kind: str = "gauss") -> torch.Tensor:
    """The C's PSF kernel [2R+1, 2R+1] (indexed [R + dy, R + dx]): the profile integrated over
    each pixel, zero outside the circle of radius R, not renormalised; differentiable in
    ``fwhm`` (pixels, a 0-d tensor; dtype and device follow it)."""
    offsets = torch.arange(-radius, radius + 1, dtype=fwhm.dtype, device=fwhm.device)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    if kind == "gauss":
        def edge(a):    # 1-D integral of the unit-FWHM Gaussian up to a / fwhm, times 2
            return torch.erf(a / fwhm * _SQRT_LN16)
        kernel = 0.25 * (edge(dx + 0.5) - edge(dx - 0.5)) * (edge(dy + 0.5) - edge(dy - 0.5))
    elif kind == "fiber":
        g = fwhm * FIBER_G

        def corner(x, y):
            return torch.atan(x * y / (g * torch.sqrt(g * g + x * x + y * y))) / (2 * math.pi)
        kernel = (corner(dx + 0.5, dy + 0.5) - corner(dx + 0.5, dy - 0.5)
                  - corner(dx - 0.5, dy + 0.5) + corner(dx - 0.5, dy - 0.5))
    else:
        raise NanoBraggError(f"psf: expected gauss or fiber, got '{kind}'")
    return torch.where(dx * dx + dy * dy <= radius * radius, kernel, torch.zeros_like(kernel))


def psf_image(image: torch.Tensor, fwhm: torch.Tensor, radius: int,
              kind: str = "gauss") -> torch.Tensor:
    """``image`` [..., S, F] blurred by the C's kernel (direct form, zero padding: light off
    the image is lost, none added back), differentiable in ``image`` and ``fwhm``."""
    kernel = psf_kernel_torch(fwhm.to(image.dtype), radius, kind)
    flat = image.reshape(-1, 1, *image.shape[-2:])
    blurred = torch.nn.functional.conv2d(flat, kernel.flip(0, 1)[None, None], padding=radius)
    return blurred.reshape(image.shape)


def expected_response(image: torch.Tensor, gain: torch.Tensor, adc: torch.Tensor,
                      fwhm: torch.Tensor | None = None, radius: int = 0,
                      kind: str = "gauss") -> torch.Tensor:
    """Mean detector signal in ADU: ``psf_image(image) * gain + adc`` (no PSF when ``fwhm``
    is None), differentiable in every tensor argument."""
    blurred = image if fwhm is None else psf_image(image, fwhm, radius, kind)
    return blurred * gain + adc
