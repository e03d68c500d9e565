"""Physical and numerical constants, with nanoBragg.c's values (one copy for the package)."""
from __future__ import annotations

import math

RTD = 180.0 * (1.0 / math.pi)        # degrees per radian, as the C's 180.0*M_1_PI
R_E_SQR = 7.94079248018965e-30       # classical electron radius squared (Thomson), m^2
AVOGADRO = 6.02214179e23             # 1/mol
WATER_F = 2.57                       # |F| of one water molecule (electrons, forward)
WATER_MW = 18.0                      # g/mol
