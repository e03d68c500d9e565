"""The C's printed image statistics (``mean= %g rms= %g rmsd= %g``) without its sequential sums.

nanoBragg.c sums the pixels left to right in double; reproducing that order to the last bit
(`noise.image_stats`) is a dependent chain of additions per pixel (~1 ns each), or numba's
compiled loop, whose import and start-up cost a ``-batch`` ~0.5 s.  Where the values are only
printed with ``%g`` (six significant digits), a vectorised sum with a proven error bound
gives the same text: any order of summing n terms is within gamma_{n-1} sum |x_i| of the exact
sum (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 4.6), so the C's
sum and ours lie within twice that of each other; the C's value is then inside an interval
around ours, and when both ends of the interval print the same, so does the C's value (the
division, square root and ``%g`` are all monotone).  When an end prints differently (a value
within ~1e-10 of a rounding boundary of ``%g``: about 1 image in 10^4), or a sum is not
finite, `printed_sums` returns None and the caller runs the sequential sums.
"""
from __future__ import annotations

import math

import numpy as np

_U = 2.0 ** -53          # unit roundoff of double


def _g(x: float) -> str:
    return "%g" % x


def _interval(value: float, bound: float) -> tuple[float, float]:
    """[value - bound, value + bound] rounded outwards (a floor at 0 for sums of squares is
    the caller's)."""
    return (float(np.nextafter(value - bound, -np.inf)), float(np.nextafter(value + bound, np.inf)))


def _printed(lo: float, hi: float, f) -> float | None:
    """f(lo) when f(lo) and f(hi) print the same with ``%g`` (every value between then does,
    `f` being monotone), else None."""
    a, b = f(lo), f(hi)
    return a if _g(a) == _g(b) else None


@np.errstate(all="ignore")
def printed_sums(values: np.ndarray) -> tuple[float, float, float] | None:
    """(mean, rms, rmsd) of float32 pixels ``values`` [n] (n >= 2) whose ``%g`` texts equal
    those of `noise.image_stats` (the C's: mean = sum/n, rms = sqrt(sum of float32 squares
    / (n-1)), rmsd = sqrt(sum of (I - mean)^2 / (n-1)), each sum sequential in double), or None
    when that is not proven (see the module docstring: the caller then sums sequentially).
    The returned numbers themselves may differ from the C's in the last bits."""
    n = values.size
    if n < 2 or 4.0 * n * _U > 1e-6:
        return None
    wide = values.astype(np.float64)           # exact; summed pairwise by numpy
    total = float(wide.sum())
    if not math.isfinite(total):
        return None
    squares = float(np.multiply(values, values).astype(np.float64).sum())   # the C's float32 products
    if not math.isfinite(squares):
        return None
    absolute = total if float(values.min()) >= 0.0 else float(np.abs(wide).sum())
    slack = 2.02 * n * _U                      # 2 gamma_n, with room for the bound's own rounding
    lo, hi = _interval(total, slack * absolute)
    mean = _printed(lo, hi, lambda s: s / n)
    rms = _printed(*_interval(squares, slack * squares), lambda q: math.sqrt(max(q, 0.0) / (n - 1)))
    if mean is None or rms is None:
        return None
    # rmsd: the C's mean m_c and ours m_o lie in [lo/n, hi/n], width w; sum (x - m)^2 moves by
    # |m_c - m_o| |n (m_c + m_o) - 2 sum x| <= w (2 n w + 2 |n m_o - sum x|) between them, and
    # each side's rounded terms and sum are within gamma_{n+2} of its exact sum.
    m = total / n
    w = hi / n - lo / n
    shift = w * (2.0 * n * w + 2.0 * (_U * abs(total) + slack * absolute)) * 1.01
    wide -= m
    spread = float(np.dot(wide, wide))
    if not math.isfinite(spread):
        return None
    bound = 2.02 * (n + 3) * _U * (spread + shift) + shift
    rmsd = _printed(*_interval(spread, bound), lambda d: math.sqrt(max(d, 0.0) / (n - 1)))
    return None if rmsd is None else (mean, rms, rmsd)
