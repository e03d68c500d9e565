"""Kinds of command-line flag: the `Flag` record and the appliers that check a flag's
values and store them on `Settings` (units converted here, e.g. mm -> m, deg -> rad).

The flag tables (`flag_table.py` for nanoBragg.c's own flags, one module per feature for
ours) are lists of `Flag`; `flags.py` parses a command line against them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from .constants import RTD
from .errors import NanoBraggError
from .settings import Settings



def _num(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NanoBraggError(f"{flag}: expected a number, got '{text}'") from None
    if not math.isfinite(value):
        raise NanoBraggError(f"{flag}: expected a finite number, got '{text}'")
    return value


def _int(flag: str, text: str) -> int:
    """An integer flag value; the C reads these with atoi (leading digits only), so a value
    atoi would read as another number (``1e3`` -> 1) is an error, not a silent mismatch."""
    value = _num(flag, text)
    if not math.isfinite(value) or value != int(value):
        raise NanoBraggError(f"{flag}: expected an integer, got '{text}'")
    digits = re.match(r"\s*[+-]?\d+", text)
    atoi = int(digits.group(0)) if digits else 0
    if atoi != value:
        raise NanoBraggError(f"{flag}: expected an integer in digits (the C's atoi reads "
                             f"'{text}' as {atoi})")
    return int(value)


@dataclass(frozen=True)
class Flag:
    names: tuple
    nargs: int
    apply: Callable[[Settings, str, list], None]
    help: str = ""


def _setter(attr: str, scale: float = 1.0, kind: str = "float", nonneg: bool = False,
            positive: bool = False):
    """Set `attr` to the value x `scale` (finite; `nonneg` >= 0, `positive` > 0)."""
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0]) if kind == "int" else _num(flag, vals[0])
        if nonneg and value < 0:
            raise NanoBraggError(f"{flag}: must not be negative, got '{vals[0]}'")
        if positive and not value > 0:
            raise NanoBraggError(f"{flag}: must be positive, got '{vals[0]}'")
        if not math.isfinite(value * scale):
            raise NanoBraggError(f"{flag}: expected a finite number, got '{vals[0]}'")
        setattr(s, attr, value * scale if kind == "float" else value)
    return apply


def _divided(attr: str, divisor: float, nonneg: bool = False, positive: bool = False):
    """Set `attr` to the value / `divisor` (as the C divides, e.g. mm / 1000.0: the last bit of
    x / 1000.0 can differ from x * 1e-3)."""
    check = _setter(attr, nonneg=nonneg, positive=positive)

    def apply(s: Settings, flag: str, vals: list) -> None:
        check(s, flag, vals)
        setattr(s, attr, getattr(s, attr) / divisor)
    return apply


def _switch(**assign):
    def apply(s: Settings, flag: str, vals: list) -> None:
        for key, value in assign.items():
            setattr(s, key, value)
    return apply


def _vector(attr: str, convention_custom: bool = True, direction: bool = True):
    """A 3-vector of finite numbers; a `direction` must not be zero."""
    def apply(s: Settings, flag: str, vals: list) -> None:
        vector = [_num(flag, v) for v in vals]
        if direction and not any(vector):
            raise NanoBraggError(f"{flag}: a direction cannot be the zero vector")
        setattr(s, attr, vector)
        if convention_custom:
            s.convention = "custom"
    return apply


def _path(attr: str, **extra):
    def apply(s: Settings, flag: str, vals: list) -> None:
        setattr(s, attr, vals[0])
        for key, value in extra.items():
            setattr(s, key, value)
    return apply


def _both(*appliers):
    def apply(s: Settings, flag: str, vals: list) -> None:
        for fn in appliers:
            fn(s, flag, vals)
    return apply


def _positive_count(attr: str):
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0])
        if value < 0:
            raise NanoBraggError(f"{flag}: must not be negative, got '{vals[0]}'")
        setattr(s, attr, value)
    return apply


def _N(attrs):
    def apply(s: Settings, flag: str, vals: list) -> None:
        value = _int(flag, vals[0])
        if value < 0:
            raise NanoBraggError(f"{flag}: number of unit cells must not be negative, got '{vals[0]}'")
        for a in attrs:
            setattr(s, a, float(value))
    return apply


def _cell(s: Settings, flag: str, vals: list) -> None:
    nums = [_num(flag, v) for v in vals]
    if nums[0] <= 0:
        raise NanoBraggError(f"{flag}: cell length a must be positive, got '{vals[0]}'")
    angles = (nums[3:6] + [0.0, 0.0, 0.0])[:3]
    if any(x < 0 or x >= 180 for x in angles) or any(x < 0 for x in nums[1:3]):
        raise NanoBraggError(f"{flag}: lengths must be positive and angles in (0, 180) degrees")
    eff = [math.radians(x if x > 0 else 90.0) for x in angles]
    ca, cb, cg = (math.cos(x) for x in eff)
    if 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg <= 0:
        raise NanoBraggError(f"{flag}: impossible unit cell (angles {' '.join(vals[3:6])} "
                             "do not close a parallelepiped)")
    s.user_cell = True
    s.cell_A = (nums[:3] + [0.0, 0.0])[:3]
    s.cell_angles_rad = [(x / RTD) for x in angles]


def _misset(s: Settings, flag: str, vals: list) -> None:
    if len(vals) == 1:
        s.misset_mode = "random"
    else:
        s.misset_mode = "angles"
        s.misset_rad = [_num(flag, v) / RTD for v in vals]


def _seed(attr: str):
    def apply(s: Settings, flag: str, vals: list) -> None:
        setattr(s, attr, -_int(flag, vals[0]))   # the C stores seeds negated (ran1 convention)
    return apply


def _misset_seed(s: Settings, flag: str, vals: list) -> None:
    s.misset_seed = -_int(flag, vals[0])


def _pivot(s: Settings, flag: str, vals: list) -> None:
    if vals[0] not in ("sample", "beam"):
        raise NanoBraggError(f"{flag}: expected 'sample' or 'beam', got '{vals[0]}'")
    s.pivot = vals[0]


def _detector_abs(s: Settings, flag: str, vals: list) -> None:
    text = vals[0]
    if "inf" in text or _num(flag, text) == 0.0:
        s.detector_thick_m = 0.0
        s.detector_mu_per_m = 0.0
    else:
        value = _num(flag, text)
        if value < 0:
            raise NanoBraggError(f"{flag}: attenuation length must be positive, got '{text}'")
        s.detector_mu_per_m = 1.0 / (value * 1e-6)


def _roi(s: Settings, flag: str, vals: list) -> None:
    s.roi = [_int(flag, v) for v in vals]


def _choice(attr: str, choices: tuple):
    def apply(s: Settings, flag: str, vals: list) -> None:
        if vals[0] not in choices:
            raise NanoBraggError(f"{flag}: expected one of {', '.join(choices)}, got '{vals[0]}'")
        setattr(s, attr, vals[0])
    return apply


def _default_F(s: Settings, flag: str, vals: list) -> None:
    value = _num(flag, vals[0])
    if abs(value) > 1e30:
        raise NanoBraggError(f"{flag}: |F| must be at most 1e30, got '{vals[0]}'")
    s.default_F = value


def _energy(s: Settings, flag: str, vals: list) -> None:
    energy = _num(flag, vals[0])
    if not (energy > 0 and math.isfinite(energy)):
        raise NanoBraggError(f"{flag}: photon energy must be positive and finite (eV), got '{vals[0]}'")
    s.lambda0_m = (12398.42 / energy) / 1.0e10


def _printout_pixel(s: Settings, flag: str, vals: list) -> None:
    s.printout_pixel = (_int(flag, vals[0]), _int(flag, vals[1]))
    s.printout = True


def _convention(name: str, pivot: str):
    return _switch(convention=name, pivot=pivot)
