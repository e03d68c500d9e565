"""nanoBragg command-line flags of the amorphous background (spots plus background in one
render). ``-bg_stol TABLE`` (or ``-bg_4stol``/``-bg_Q``) starts a component; the ``-bg_*``
flags after it set that component's sample (nonBragg.c's units and defaults: 0.1 mm cube,
1 g/cm^3, 18 g/mol). Repeat ``-bg_stol`` for more components (e.g. water and air). The
C's own flags are untouched, so C command lines work unchanged."""
from __future__ import annotations

from .errors import NanoBraggError
from .flag_kinds import Flag, _num


def _start(unit: str):
    def apply(s, flag: str, vals: list) -> None:
        from .nonbragg.components import Component   # torch: imported only when used
        s.backgrounds.append(Component(table=vals[0], unit=unit))
    return apply


def _set(*attrs, scale: float = 1.0, positive: bool = False, kind=float):
    def apply(s, flag: str, vals: list) -> None:
        if not s.backgrounds:
            raise NanoBraggError(f"{flag}: give -bg_stol TABLE first (the component it applies to)")
        value = _num(flag, vals[0])
        if value < 0 or (positive and value == 0):
            raise NanoBraggError(f"{flag}: must be {'positive' if positive else 'non-negative'}, "
                                 f"got '{vals[0]}'")
        if kind is int and value != int(value):
            raise NanoBraggError(f"{flag}: expected an integer, got '{vals[0]}'")
        for attr in attrs:
            setattr(s.backgrounds[-1], attr, kind(value * scale))
    return apply


FLAGS = [
    Flag(("-bg_stol",), 1, _start("stol"), "amorphous component: table 'stol F' (or water, air, ice, ...)"),
    Flag(("-bg_4stol",), 1, _start("4stol"), "amorphous component: table '4*stol F'"),
    Flag(("-bg_Q",), 1, _start("Q"), "amorphous component: table 'Q F'"),
    Flag(("-bg_thick", "-bg_thickness"), 1, _set("sample_x_m", scale=1e-3), "component thickness along the beam (mm)"),
    Flag(("-bg_width",), 1, _set("sample_y_m", scale=1e-3), "component width (mm)"),
    Flag(("-bg_height",), 1, _set("sample_z_m", scale=1e-3), "component height (mm)"),
    Flag(("-bg_samplesize",), 1, _set("sample_x_m", "sample_y_m", "sample_z_m", scale=1e-3), "component cube (mm)"),
    Flag(("-bg_density",), 1, _set("density_g_m3", scale=1e6), "component density (g/cm^3)"),
    Flag(("-bg_MW",), 1, _set("molecular_weight", positive=True), "component molecular weight (g/mol)"),
    Flag(("-bg_molecules",), 1, _set("molecules"), "component molecule count (overrides -bg_density)"),
    Flag(("-bg_oversample",), 1, _set("oversample", positive=True, kind=int), "component sub-pixels per axis"),
]
