"""Raw settings of nonBragg.c: its variables after reading the command line (lines 150-787),
before the defaults and auto rules (`setup.resolve`). Metres, radians, g/m^3 as the C stores
them; NaN = not given, -1 = auto.

nonBragg.c declares the beam, detector, output and header variables of nanoBragg.c with the
same defaults, so `NonBraggSettings` extends nanoBragg's `Settings` (the flags both programs
share set the same attributes; nanoBragg-only fields stay unused) with the sample and table
variables, the -img inverse path, and the defaults that differ (a 0.1 mm sample cube).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import Settings


@dataclass
class Sample:
    """nonBragg.c's amorphous sample and its defaults: sizes (m; x along the beam), density
    (g/m^3), molecular weight (g/mol), molecules (0: from the density)."""

    sample_x_m: float = 1e-4
    sample_y_m: float = 1e-4
    sample_z_m: float = 1e-4
    density_g_m3: float = 1.0e6
    molecular_weight: float = 18.0
    molecules: float = 0.0


@dataclass
class NonBraggSettings(Sample, Settings):
    """Every user-settable quantity of nonBragg.c, with the C defaults (the sample block of
    `Sample`, first in the bases so its defaults win over nanoBragg's crystal size of 0)."""

    # table (stolfile is nanoBragg's field)
    stol_unit: str = "stol"              # stol | 4stol | Q (file units)
    source_distance_m: float = 10.0      # printed source positions only
    Fmap: bool = False
    # -img inverse path
    ignore_values: list = field(default_factory=list)
    stoloutfile: str = "output.stol"
    gain: float = 1.0
    img_pixels: object = None            # uint16 [slow, fast] of the -img file (read first)
    reject: bool = False                 # -noreject: accepted, no effect
