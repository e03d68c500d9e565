"""The console scripts' (and ``python -m``) entries of the programs that load torch: what
must be set before torch (and its OpenMP runtime) is imported, then the program.

OpenMP threads wait passively between parallel regions (``OMP_WAIT_POLICY=PASSIVE`` unless
the user set it): with the default spinning, a ``-batch`` of 100 W4 renders (whose outputs
are written on a second thread) took 5.8-6.1 s wall and 9.1-9.8 s CPU, passive 5.5-5.7 s
and 6.0-6.1 s; W3 on an empty kernel cache (eager rendering beside the background build)
27.3-27.5 s spinning, 24.6-25.4 s passive; warm W3 renders take the same time either way.
numpy's OpenBLAS runs on one thread unless the user set ``OPENBLAS_NUM_THREADS``: our numpy
products are 3-vectors and small tables, and its worker thread spun after each (2 % of a
``-batch``'s CPU, taken from a render's second OpenMP thread).
"""
from __future__ import annotations

import os


def _before_torch() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def nanoBragg() -> None:
    _before_torch()
    from .cli import entry
    entry()


def nonBragg() -> None:
    _before_torch()
    from .nonbragg.cli import entry
    entry()


def nearBragg() -> None:
    _before_torch()
    from .nearbragg.cli import entry
    entry()
