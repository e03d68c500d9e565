"""Regressions found by differential fuzzing of nearBragg.c against our nearBragg command
line; expected values follow the C's code (line numbers of upstream nearBragg.c)."""
from __future__ import annotations

import math

from nanobrag_torch.nearbragg.geometry import setup
from nanobrag_torch.nearbragg.run import parse

PI = 3.14159265358979            # nearBragg.c line 22
RTD = 180.0 / PI                 # line 24


def test_units_are_divided_as_the_c_does():
    """The C converts with a division (``atof(x)/1000.0``, ``/RTD``, ``/1.0e10``, ``/100.0``;
    lines 157-338); ``x*1e-3`` differs in the last bit for ~13 % of 3-decimal values, which
    moved the pixel count (``ceil(detsize/pixel)``, line 485: 6.536/0.172 mm gives 38 pixels,
    not 39) and the phase of every atom (a 1-ulp change of twotheta, Xbeam or lambda)."""
    argv = ["-file", "x", "-pixel", "0.172", "-detsize", "6.536", "-distance", "100.3",
            "-Xbeam", "1.766", "-Ybeam", "2.501", "-twotheta", "18.61", "-wave", "0.558",
            "-dispersion", "0.3", "-hdivrange", "0.7", "-vdivrange", "0.9", "-hdivstep", "0.3",
            "-vdivstep", "0.1", "-phi", "12.3"]
    s = parse(argv)
    assert (s.pixel_m, s.detsize_x_m, s.detsize_y_m) == (0.172 / 1000.0, 6.536 / 1000.0, 6.536 / 1000.0)
    assert (s.distance_m, s.Xbeam_m, s.Ybeam_m) == (100.3 / 1000.0, 1.766 / 1000.0, 2.501 / 1000.0)
    assert (s.twotheta_rad, s.phi0_rad) == (18.61 / RTD, 12.3 / RTD)
    assert (s.lambda0_m, s.dispersion) == (0.558 / 1.0e10, 0.3 / 100.0)
    assert (s.hdivrange_rad, s.vdivrange_rad, s.hdivstep_rad, s.vdivstep_rad) == (
        0.7 / 1000.0, 0.9 / 1000.0, 0.3 / 1000.0, 0.1 / 1000.0)
    g = setup(s, 10.0)
    assert g.xpixels == g.ypixels == math.ceil((6.536 / 1000.0) / (0.172 / 1000.0)) == 38
    d = parse(["-file", "x", "-divergence", "0.7"])
    assert d.hdivrange_rad == d.vdivrange_rad == 0.7 / 1000.0
