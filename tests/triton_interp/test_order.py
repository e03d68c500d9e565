"""Order-dependent C semantics, checked image against image (no eager reference needed).

- global interpolation switch-off (-quirks c): one pixel, in image order, is where the
  first out-of-range stencil occurs; every pixel before it equals the fixed-mode render
  (tricubic wherever the stencil fits) and every pixel from it on equals -nointerpolate.
- phi = 0 carry-over: only the first sweep of the image uses the unrotated cell
  (`inputs.A_first`, `flags.first_visit`), so dropping it changes exactly one pixel, the first rendered one,
  or with -dmin the first pixel that has a step left (the C's first executed sweep).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from golden_util import in_golden_dir
from nanobrag_torch.backends import triton as triton_backend
from nanobrag_torch.precompute import precompute
from nanobrag_torch.simulate import parse, resolve, run

BASE = ("-cell 50 60 70 90 90 90 -misset 5 10 15 -default_F 100 -N 5 -lambda 1.5 -distance 80 "
        "-detpixels 32 -pixel 0.6 -oversample 1 -backend triton").split()
HKL = ("-hkl inputs/P1_pub.hkl -cell 41 52 63 90 90 90 -misset -15 7 33 -lambda 1.0 -pixel 1.2 "
       "-Xbeam 1 -Ybeam 1 -distance 100").split()
CARRY = "-phi 0 -osc 2 -phisteps 2".split()          # phi = 0 first: the carry-over


def _image(extra) -> torch.Tensor:
    with in_golden_dir():
        return run(BASE + HKL + extra, dtype="float64").image.reshape(-1)


def _close(a, b):
    return (a - b).abs() <= 1e-12 * b.abs().max()


def test_interpolation_switch_off_is_global():
    c, near = _image(["-interpolate"]), _image(["-nointerpolate"])
    fixed = _image(["-interpolate", "-quirks", "fixed"])
    p = int(torch.nonzero(~_close(c, fixed))[0])
    assert 0 < p < c.numel() - 1                         # the switch happens mid-image here
    assert _close(c[p:], near[p:]).all()                 # from the switch on: nearest F only
    assert not _close(c[:p], near[:p]).all()             # before it: tricubic really used
    assert not _close(c, near).all() and not _close(fixed[p:], near[p:]).all()


def _first_visit_diff(args) -> tuple:
    """(pixels where A_first matters, the image rendered without it)."""
    pre = precompute(resolve(parse(BASE + CARRY + args)))
    assert pre.flags.first_visit
    with_first, _ = triton_backend.accumulate(pre.inputs, pre.flags, torch.float64)
    without, _ = triton_backend.accumulate(pre.inputs, replace(pre.flags, first_visit=False), torch.float64)
    return torch.nonzero((with_first != without).reshape(-1))[:, 0].tolist(), without.reshape(-1)


def test_carry_over_first_visit_is_the_first_pixel():
    changed, _ = _first_visit_diff(["-roi", "3", "20", "2", "30"])
    assert changed == [2 * 32 + 3]


def test_carry_over_first_visit_skips_dmin_pixels():
    changed, without = _first_visit_diff(["-dmin", "10"])
    first_lit = int(torch.nonzero(without)[0])
    assert first_lit > 0 and changed == [first_lit]
