"""The detector response of noisify.c on a photons/pixel image: PSF, noise, integer images.

`respond` runs noisify.c's pipeline after its photon scaling, on flat float32 pixels (C pixel
order), with one random state for the whole call; the CLI, the Python API (`api.py`) and the
nanoBragg command line (`flags_response.py`) all call it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..crandom import _OLDM, CRandom
from ..io.smv import _g
from . import engine
from .overlap import noise_then_psf
from .psf import FIBER, GAUSS, apply_psf
from .pipeline import PipedNoise

_PSF_KINDS = {"gauss": GAUSS, "fiber": FIBER}
DEFAULT_CALIB_SEED = 123456789          # the C's default calib_seed (positive: not negated)


@dataclass
class Response:
    """noisify.c's detector-response parameters.

    gain: ADU per photon; adc: offset (ADU); readout: Gaussian readout noise (ADU rms);
    flicker, calibration: fractional noise per pixel (calibration is static in ``fixed``);
    seed, calib_seed: the C's seed variables, i.e. the NEGATED ``-seed``/``-calib_seed``
    values (``-seed 5`` is ``seed=-5``); psf: 'none' | 'gauss' | 'fiber'; psf_fwhm: pixels;
    psf_radius: pixels, 0 = automatic; bits: 16 | 32; noise: False = noiseless only
    (``-nonoise``: PSF on the noiseless image); quirks: 'c' | 'fixed' (specs/quirks.md).
    """

    gain: float = 1.0
    adc: float = 40.0
    readout: float = 0.0
    flicker: float = 0.0
    calibration: float = 0.03
    seed: int = -1
    calib_seed: int = DEFAULT_CALIB_SEED
    psf: str = "none"
    psf_fwhm: float = 0.0
    psf_radius: int = 0
    bits: int = 16
    noise: bool = True
    quirks: str = "c"
    psf_fwhm_um: float = math.nan        # only for the printed "applying PSF" line


class NoiseState:
    """The random state of one run: the C's generator (one ran1 table, gaussdev spare and
    poidev cache) and its two seed variables ``seeds`` (int64 [2]: seed, calib_seed). In
    ``fixed`` the calibration draws get a generator of their own and poidev's cache starts
    empty (no -1.0 quirk)."""

    def __init__(self, r: Response):
        self.rng = CRandom(r.seed)
        self.calib = CRandom(r.calib_seed) if r.quirks == "fixed" else self.rng
        if r.quirks == "fixed":
            for gen in (self.rng, self.calib):
                gen.floats[_OLDM] = math.nan
        self.seeds = np.array([r.seed, r.calib_seed], dtype=np.int64)


@dataclass
class ResponseImages:
    """Outputs of `respond`, flat in pixel order: ``int_image`` (uint16/uint32, noiseless),
    ``int16`` (its 16-bit form, which the PGM shows), ``noise_image`` (uint16/uint32, None
    with ``noise=False``), photon sums before and after the PSF, overloads."""

    int_image: np.ndarray
    int16: np.ndarray
    noise_image: np.ndarray | None
    photons_before_psf: float
    photons: float
    overloads: int


def _psf(image: np.ndarray, X: int, Y: int, r: Response, out) -> np.ndarray:
    return apply_psf(image, X, Y, _PSF_KINDS[r.psf], r.psf_fwhm, int(r.psf_radius),
                     fixed=r.quirks == "fixed", out=out)


def psf_active(r: Response) -> bool:
    """The C applies a PSF only for a known type and a positive width."""
    return r.psf in _PSF_KINDS and r.psf_fwhm > 0.0


def respond(photon: np.ndarray, X: int, Y: int, r: Response, out=print,
            state: NoiseState | None = None, noiseless=None) -> ResponseImages:
    """noisify.c from its photon image on: ``photon`` float32 [X*Y] (fast index fastest) is
    consumed (overwritten). ``state`` carries the random state across calls (panels); a new
    one from ``r`` otherwise. ``out`` receives the C's printed lines; ``noiseless(int_image,
    int16)``, if given, as soon as the noiseless images exist (before the noise)."""
    fixed = r.quirks == "fixed"
    if not r.noise and psf_active(r):
        photon = _psf(photon, X, Y, r, out)
    wide = np.empty(photon.size, dtype=np.uint32) if r.bits == 32 else None
    int16 = np.empty(photon.size, dtype=np.uint16)
    engine.noiseless_ints(photon, float(r.gain), float(r.adc), not fixed, int16, wide)
    int_image = wide if wide is not None else int16
    if noiseless is not None:
        noiseless(int_image, int16)
    if not r.noise:
        return ResponseImages(int_image, int16, None, math.nan, math.nan, 0)
    st = NoiseState(r) if state is None else state
    with PipedNoise(r.flicker, r.calibration, st, photon.size) as draws:
        if psf_active(r):
            before, photon = noise_then_psf(photon, X, Y, r, _PSF_KINDS[r.psf], draws, out)
        else:
            before = draws(photon, 0.0)
        noisy = np.empty(photon.size, dtype=np.uint32 if r.bits == 32 else np.uint16)
        total, overloads = engine.noise_pass2(photon, float(r.gain), float(r.adc),
                                              float(r.readout), r.bits, st.rng.floats,
                                              draws.readout_pairs, noisy)
    out(f"{_g(total, '%.0f')} photons on noise image ({overloads} overloads)")
    return ResponseImages(int_image, int16, noisy, before, total, int(overloads))
