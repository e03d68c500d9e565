"""Refuse, before allocating anything, a run that cannot fit in memory.

`check_fits(cfg)` estimates the peak memory of a run from its resolved configuration and
raises a one-line NanoBraggError naming the flags and the size needed when it exceeds the
memory available (``MemAvailable``, capped by a cgroup limit when there is one).
"""
from __future__ import annotations

import os

from .config import SimulationConfig
from .errors import NanoBraggError

# Peak bytes per detector pixel: float64 accumulation + image + float32 copy + the int, PGM and
# noise conversions (float64 temporaries) and the output byte strings; measured ~35 B for a
# float-only 4096^2 render (reports/memory.md), rounded up for every output.
BYTES_PER_PIXEL = 64
# Working bytes per (sub-pixel x source x phi x mosaic) step of one pixel chunk in the engine.
BYTES_PER_STEP = 100
CHUNK_STEPS = 1 << 21        # the engine's chunk works on at least this many steps at a time
# ... and per step when one pixel alone has more steps than a chunk: measured 220-250 B for
# one-pixel blocks of 2e6-6e6 steps (float64, eager), over 400 B for 5.9e7 (killed by the
# system at 24 GB), so 500.
BYTES_PER_PIXEL_STEP = 500

_CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _read_int(path: str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def available_bytes() -> int | None:
    """Bytes this process can still allocate, or None when the platform does not tell."""
    found = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            found.append(max(limit - usage, 0))
    return min(found) if found else None


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_fits(cfg: SimulationConfig, available: int | None = None, oversample: int | None = None,
               sources: int | None = None) -> None:
    """Raise NanoBraggError when the detector or one pixel's step block cannot fit.

    Without `oversample` and `sources` (known after `precompute`: the auto-selected
    oversampling, the -sourcefile's rows) steps per pixel are a lower bound (auto oversample
    counts as 1, a -sourcefile as one source), so only runs that certainly cannot fit are
    refused; `simulate` checks again with both (an auto oversample of thousands, e.g. a
    0.3 mm -sample_size, once took 24 GB before the system killed it).
    """
    available = available_bytes() if available is None else available
    if available is None:
        return
    d, b, c = cfg.detector, cfg.beam, cfg.crystal
    pixels = d.fpixels * d.spixels
    image = pixels * BYTES_PER_PIXEL
    if image > available:
        raise NanoBraggError(
            f"-detpixels/-detsize: a {d.fpixels}x{d.spixels}-pixel detector needs about "
            f"{_size(image)} of memory, more than the {_size(available)} available")
    if sources is None:
        sources = 1 if b.sourcefile else b.hdivsteps * b.vdivsteps * b.dispsteps
    oversample = max(d.oversample, 1) if oversample is None else oversample
    steps = d.thicksteps * oversample ** 2 * sources * c.phisteps * c.mosaic_domains
    block = max(steps * BYTES_PER_PIXEL_STEP, CHUNK_STEPS * BYTES_PER_STEP)
    if image + block > available:
        raise NanoBraggError(
            f"-oversample/-detector_thicksteps/divergence/dispersion/-phisteps/-mosaic_domains: "
            f"{steps} steps per pixel need about {_size(block)} of working memory, more than "
            f"the {_size(available - image)} available")
