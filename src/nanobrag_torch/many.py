"""Many shots of one nanoBragg command line: ``simulate_many(args, shots)``.

A *shot* is a dict keyed like `simulate`'s ``params`` (specs/params.md, flag units: e.g.
``misset`` (3,) deg, ``fluence`` photons/m^2, ``lambda`` A) plus one reserved key, ``seed``:
the ``-seed`` of the shot's Poisson noise image (the CLI's ``-noisefile`` image, uint16).
Orientations are given as ``misset`` angles; `misset_from_rotation` turns any rotation
matrix into them, and `random_shots` draws uniformly random orientations, fluence and
wavelength jitter and noise seeds, deterministically from (job seed, shot index).

The flags are parsed and resolved once, and the detector, sources, structure-factor table
and mask are built once (`precompute`'s ``shared`` pieces) and reused by every shot that
does not override them; each shot then runs the same `simulate.render` as `simulate`, so
shot k is byte-identical to ``simulate(args, params=shot_k)`` under the same
``NANOBRAG_COMPILE`` decision.  (In the backend's default ``auto`` mode a process compiles
the second render of a kind, and compiled and eager kernels differ in the last bits, so
even two `simulate` calls in one process can differ: pin ``NANOBRAG_COMPILE=0`` or ``1``
for reproducible bytes; the dataset job does.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from .errors import NanoBraggError
from .noise import noise_image, panel_noise
from .simulate import Result, configure, render

RESERVED = ("seed",)


@dataclass
class ShotImage:
    """One rendered shot."""
    index: int                     # position in the shot sequence
    shot: dict                     # the shot as given (overrides + "seed")
    result: Result                 # as `run(args, params=overrides)` returns it
    noise: np.ndarray | None       # [slow, fast] uint16 noise image when the shot has a "seed"

    @property
    def image(self) -> torch.Tensor:
        """[slow, fast] photons per pixel, working dtype (== `simulate(args, params=...)`)."""
        return self.result.image


def split_shot(shot: dict) -> tuple[dict, int | None]:
    """(params overrides, noise seed or None) of a shot dict."""
    params = {k: v for k, v in shot.items() if k not in RESERVED}
    seed = shot.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise NanoBraggError(f"shot seed must be an integer, got {seed!r}")
    return params, None if seed is None else int(seed)


class ShotRenderer:
    """A configured command line that renders shots, sharing everything shots do not change.

    Args:
        args: nanoBragg flags (as `simulate`).
        dtype, device: as `simulate` (override ``-dtype`` / ``-device``).
    """

    def __init__(self, args, *, dtype: str | torch.dtype | None = None, device: str | None = None):
        self.args = list(args)
        self.settings, self.cfg = configure(self.args, dtype, device)
        self.shared: dict = {}

    def render(self, shot: dict, index: int = 0) -> ShotImage:
        """Render one shot (raises NanoBraggError for a bad shot, like `simulate`)."""
        params, seed = split_shot(shot)
        result = render(self.settings, self.cfg, params, shared=self.shared)
        noise = None
        if seed is not None:
            image = result.image.detach().cpu().to(torch.float32).numpy()
            if image.ndim == 3:          # -detector: [panels, slow, fast]
                noise = np.stack(panel_noise(list(image), -seed, self.settings.adc_offset))
            else:
                noise, _, _ = noise_image(image, -seed, self.settings.adc_offset, self.cfg.detector.roi)
        return ShotImage(index=index, shot=dict(shot), result=result, noise=noise)


def simulate_many(args, shots: Iterable[dict], *, dtype: str | torch.dtype | None = None,
                  device: str | None = None) -> Iterator[ShotImage]:
    """Yield a `ShotImage` per shot, in order; ``.image`` [slow, fast] (photons/pixel) equals
    ``simulate(args, params=overrides, dtype=dtype, device=device)`` byte for byte, ``.noise``
    the uint16 noise image of a shot with a ``seed`` (as ``nanoBragg ... -seed S -noisefile``).

    The command line is parsed once and the shot-independent inputs are built once; a bad
    shot raises NanoBraggError (use `ShotRenderer.render` to carry on past one)."""
    renderer = ShotRenderer(args, dtype=dtype, device=device)
    for index, shot in enumerate(shots):
        yield renderer.render(shot, index)


def misset_from_rotation(U) -> list[float]:
    """Misset angles (deg, about x then y then z, as ``-misset``) of the rotation matrix U
    (3, 3): ``rotate_xyz(v, *radians(misset)) == U @ v``, i.e. U = Rz Ry Rx."""
    U = np.asarray(U, dtype=np.float64)
    beta = math.atan2(-U[2, 0], math.hypot(U[0, 0], U[1, 0]))
    alpha = math.atan2(U[2, 1], U[2, 2])
    gamma = math.atan2(U[1, 0], U[0, 0])
    return [math.degrees(alpha), math.degrees(beta), math.degrees(gamma)]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation (3, 3) from a normalised Gaussian quaternion."""
    w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def random_shot(job_seed: int, index: int, *, orientation: bool = True, fluence: float | None = None,
                fluence_jitter: float = 0.0, wavelength_A: float | None = None,
                wavelength_jitter: float = 0.0, noise: bool = False) -> dict:
    """Shot `index` of a job, a pure function of (job_seed, index).

    Draws (always, in this order, so switching one option off leaves the others unchanged):
    a uniform random orientation -> ``misset`` (deg); fluence x exp(fluence_jitter x N(0,1))
    (lognormal, photons/m^2, needs `fluence`); wavelength x (1 + wavelength_jitter x N(0,1))
    (A, needs `wavelength_A`); a noise ``seed`` in [1, 2^31 - 1).  Values are Python floats,
    so the same dict given to `simulate(params=...)` renders the same image."""
    rng = np.random.default_rng([int(job_seed), int(index)])
    misset = misset_from_rotation(_random_rotation(rng))
    g_fluence, g_lambda = rng.standard_normal(2)
    seed = int(rng.integers(1, 2 ** 31 - 1))
    shot: dict = {}
    if orientation:
        shot["misset"] = misset
    if fluence_jitter and fluence is not None:
        shot["fluence"] = float(fluence * math.exp(fluence_jitter * g_fluence))
    if wavelength_jitter and wavelength_A is not None:
        shot["lambda"] = float(wavelength_A * (1.0 + wavelength_jitter * g_lambda))
    if noise:
        shot["seed"] = seed
    return shot
