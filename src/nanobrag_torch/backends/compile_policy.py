"""When the torch backend runs its fused kernel through ``torch.compile``.

Compiling costs seconds (tens when the on-disk inductor cache is cold) and then runs the
fused chunk several times faster than eager mode, so it only pays for large renders or
repeated ones.  ``NANOBRAG_COMPILE`` selects: ``0`` never, ``1`` always, ``auto``
(default) when the render has at least `COMPILE_MIN_STEPS` pixel-steps or when the same
kind of render (same compiled graph) runs a second time in this process.  If compilation
fails (no C++ compiler, unsupported device) the eager kernel is used and a log line says so.
"""
from __future__ import annotations

import logging
import os

import torch

from . import torch_kernel as tk

log = logging.getLogger("nanobrag_torch")

COMPILE_MIN_STEPS = 2 ** 28     # ~8 s of eager work on 2 cores: worth a warm compile
_seen: dict = {}
_compiled = None
_broken = False


def _key(pre) -> tuple:
    c = pre.cfg
    return (c.crystal.shape, pre.quirks, c.dtype, c.device, pre.sf.table is not None,
            c.beam.polarization_kahn != 0.0, c.beam.nopolar, c.beam.dmin_m > 0,
            c.detector.thick_m != 0.0, c.detector.curved, c.detector.point_pixel,
            c.crystal.water_size_m != 0.0)


def _want(pre) -> bool:
    mode = os.environ.get("NANOBRAG_COMPILE", "auto")
    if mode == "0" or _broken:
        return False
    if mode == "1":
        return True
    key = _key(pre)
    _seen[key] = _seen.get(key, 0) + 1
    work = pre.steps * pre.shape[0] * pre.shape[1]
    return work >= COMPILE_MIN_STEPS or _seen[key] >= 2


def _guarded(fn):
    def run(si, fi, k):
        global _broken
        if _broken:
            return tk.fused_chunk(si, fi, k)
        try:
            return fn(si, fi, k)
        except Exception as exc:  # compiler missing or backend failure: fall back, loudly
            _broken = True
            log.warning("torch.compile unavailable (%s: %s); using the eager kernel",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            return tk.fused_chunk(si, fi, k)
    return run


def fused_for(pre) -> tuple:
    """(fused chunk function for this render, whether it is compiled)."""
    global _compiled
    if not _want(pre):
        return tk.fused_chunk, False
    if _compiled is None:
        _compiled = _guarded(torch.compile(tk.fused_chunk, dynamic=True))
    return _compiled, True
